"""The transparency log over each chain, as people and programs use it: proofs read from the stored tree
(ledger/merkle.py) in one query each, the daily checkpoints, the witnesses, and naming a witness.

Why the hash chain stays beside the tree: `ledger verify`, every export and every existing checkpoint COUNT:HASH
speak of it, and it verifies an export in one pass with nothing stored; the tree adds what the chain cannot give,
proofs about one entry, and about one log being a prefix of another, that cost O(log n) and not the whole chain.
Both cover the same canonical entry bytes. Signing lives on the ground floor, in ledger/signing.py.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from flask_babel import gettext
from sqlalchemy import func, select, union_all, update

from fundcircle.circles.models import Circle
from fundcircle.circles.services import require_role
from fundcircle.errors import ValidationFailed
from fundcircle.extensions import db
from fundcircle.i18n import in_language
from fundcircle.ledger.merkle import (
    EMPTY_ROOT,
    NodeKey,
    NodeReader,
    consistency_ranges,
    hashes_of_ranges,
    inclusion_ranges,
)
from fundcircle.ledger.models import LedgerChain, LedgerCheckpoint, LedgerEntry, LedgerTreeNode
from fundcircle.ledger.record import record
from fundcircle.ledger.signing import chain_of, make_checkpoint
from fundcircle.mail import deliver, mail_configured
from fundcircle.payouts.outbound import AddressPolicy, AddressRefused, check_url, check_url_and_host, pinned_session

log = logging.getLogger(__name__)

#: A checkpoint is made at least this often while the log grows (`make_due_checkpoints`).
CHECKPOINT_EVERY = timedelta(days=1)
#: The shape of an e-mail address a witness may be (the mail server says the rest).
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


# --- reading the tree ---------------------------------------------------------------------------------------------


def _reader(chain_id: int) -> NodeReader:
    """Reads the nodes a proof needs in one query (at most a few dozen keys, by primary key)."""

    def read(keys: set[NodeKey]) -> dict[NodeKey, bytes]:
        if not keys:
            return {}
        # One primary-key lookup per level (chain, level, idx IN ...), joined by UNION ALL into one statement: an
        # OR of them, or a row-value IN, made SQLite search by the chain alone and scan its nodes.
        by_level: dict[int, list[int]] = {}
        for level, index in keys:
            by_level.setdefault(level, []).append(index)
        lookups = [
            select(LedgerTreeNode.level, LedgerTreeNode.index, LedgerTreeNode.hash).where(
                LedgerTreeNode.chain_id == chain_id,
                LedgerTreeNode.level == level,
                LedgerTreeNode.index.in_(sorted(indexes)),
            )
            for level, indexes in sorted(by_level.items())
        ]
        rows = db.session.execute(union_all(*lookups) if len(lookups) > 1 else lookups[0]).all()
        return {(row[0], row[1]): bytes.fromhex(row[2]) for row in rows}

    return read


def _check_size(chain: LedgerChain, size: int, what: str) -> None:
    if not 0 <= size <= chain.head_seq:
        raise ValidationFailed(
            gettext(
                "The ledger has %(count)s entries: %(what)s must be 0 to %(count)s, not %(size)s.",
                count=chain.head_seq,
                what=what,
                size=size,
            ),
            field=what,
        )


def inclusion_proof(circle_id: int, seq: int, size: int | None) -> dict[str, object]:
    """Entry `seq` is leaf seq-1 of the tree of `size` entries (the current size when None): its leaf hash, the
    audit path (RFC 9162, deepest first) and the root. Reads the chain, the entry and O(log n) nodes.

    :raises ValidationFailed: if seq or size is out of range; NotFound for an unknown circle.
    """
    chain = chain_of(circle_id)
    size = chain.head_seq if size is None else size
    _check_size(chain, size, "size")
    if not 1 <= seq <= size:
        raise ValidationFailed(
            gettext("There is no entry %(seq)s in the first %(size)s entries.", seq=seq, size=size), field="seq"
        )
    ranges = inclusion_ranges(seq - 1, size)
    hashes = hashes_of_ranges([(seq - 1, seq), (0, size), *ranges], _reader(chain.id))
    entry_hash = db.session.scalar(
        select(LedgerEntry.hash).where(LedgerEntry.chain_id == chain.id, LedgerEntry.seq == seq)
    )
    return {
        "seq": seq,
        "size": size,
        "entry_hash": entry_hash,
        "leaf_hash": hashes[0].hex(),
        "root_hash": hashes[1].hex(),
        "proof": [digest.hex() for digest in hashes[2:]],
    }


def consistency_proof(circle_id: int, first: int, second: int | None) -> dict[str, object]:
    """The tree of `first` entries is a prefix of the tree of `second` (the current size when None): both roots and
    the RFC 9162 consistency proof, from O(log n) nodes in one query.

    :raises ValidationFailed: if the sizes are out of range or in the wrong order.
    """
    chain = chain_of(circle_id)
    second = chain.head_seq if second is None else second
    _check_size(chain, first, "from")
    _check_size(chain, second, "to")
    if first > second:
        raise ValidationFailed(
            gettext("`from` (%(first)s) must not be larger than `to` (%(second)s).", first=first, second=second),
            field="from",
        )
    ranges = consistency_ranges(first, second)
    roots = [(0, first)] if first else []
    roots += [(0, second)] if second else []
    hashes = hashes_of_ranges([*roots, *ranges], _reader(chain.id))
    return {
        "from": first,
        "to": second,
        "from_root": (hashes[0] if first else EMPTY_ROOT).hex(),
        "to_root": (hashes[len(roots) - 1] if second else EMPTY_ROOT).hex(),
        "proof": [digest.hex() for digest in hashes[len(roots) :]],
    }


def make_due_checkpoints(now: datetime) -> int:
    """A checkpoint for every chain that grew since its latest one, when that is CHECKPOINT_EVERY old or there is
    none; each committed on its own. Then the pending checkpoints go to the witnesses. Returns how many were made."""
    latest = (
        select(
            LedgerCheckpoint.chain_id,
            func.max(LedgerCheckpoint.size).label("size"),
            func.max(LedgerCheckpoint.made_at).label("made_at"),
        )
        .group_by(LedgerCheckpoint.chain_id)
        .subquery()
    )
    due = db.session.scalars(
        select(LedgerChain.id)
        .outerjoin(latest, latest.c.chain_id == LedgerChain.id)
        .where(
            LedgerChain.head_seq > func.coalesce(latest.c.size, 0),
            (latest.c.made_at.is_(None)) | (latest.c.made_at <= now - CHECKPOINT_EVERY),
        )
        .order_by(LedgerChain.id)
    ).all()
    db.session.rollback()
    for chain_id in due:
        make_checkpoint(chain_id, "daily", now)
        db.session.commit()
    deliver_to_witnesses(now)
    return len(due)


def _witness_subject(circle_name: str, language: str | None) -> str:
    with in_language(language):
        return gettext("Ledger checkpoint of %(circle)s", circle=circle_name)


def deliver_to_witnesses(now: datetime) -> tuple[int, int]:
    """Send every checkpoint not yet sent to its circle's witness (an e-mail address, or an https URL posted to
    through payouts/outbound.py's address policy), after the commit that made it; each marked sent on its own.
    Returns (sent, failed); a failure is logged and tried again on the next run."""
    pending = db.session.execute(
        select(LedgerCheckpoint.id, LedgerCheckpoint.note, Circle.ledger_witness, Circle.name, Circle.language)
        .join(LedgerChain, LedgerChain.id == LedgerCheckpoint.chain_id)
        .join(Circle, Circle.id == LedgerChain.circle_id)
        .where(LedgerCheckpoint.witnessed_at.is_(None), Circle.ledger_witness.is_not(None))
        .order_by(LedgerCheckpoint.id)
    ).all()
    db.session.rollback()  # no transaction is held while a witness answers
    sent = failed = 0
    policy = AddressPolicy(allow_loopback=bool(current_app.config.get("OPENCOLLECTIVE_ALLOW_LOOPBACK")))
    for checkpoint_id, note, witness, circle_name, circle_language in pending:
        problem: str | None
        if "@" in witness and not witness.startswith(("http://", "https://")):
            problem = (
                # The witness has no account, so no language of their own: they read the circle's.
                deliver(witness, _witness_subject(circle_name, circle_language), note)
                if mail_configured()
                else "no mail server is configured"
            )
        else:
            try:
                check_url_and_host(witness, policy)
                with pinned_session(policy) as session:
                    response = session.post(
                        witness,
                        data=note.encode("utf-8"),
                        headers={"Content-Type": "text/plain; charset=utf-8"},
                        timeout=10,
                        allow_redirects=False,
                    )
                problem = None if response.status_code < 300 else f"the witness answered {response.status_code}"
            except (AddressRefused, OSError, Exception) as error:  # noqa: BLE001 - any failure is retried later
                problem = str(error)
        if problem is not None:
            log.warning("checkpoint %s could not be sent to the witness %s: %s", checkpoint_id, witness, problem)
            failed += 1
            continue
        db.session.execute(
            update(LedgerCheckpoint).where(LedgerCheckpoint.id == checkpoint_id).values(witnessed_at=now)
        )
        db.session.commit()
        sent += 1
    return sent, failed


def set_ledger_witness(actor: Any, circle: Any, witness: str) -> None:
    """An admin names who receives each signed checkpoint of the circle's log: an e-mail address, or an https URL
    that the checkpoint note is posted to (checked by payouts/outbound.py's address policy when posted), or nothing.

    :raises PermissionDenied: unless the actor is the circle's admin.
    :raises ValidationFailed: for something that is neither an e-mail address nor an allowed URL.
    """
    require_role(actor, circle, "admin")
    value = witness.strip() or None
    if value is not None:
        if len(value) > 500:
            raise ValidationFailed(gettext("Use at most 500 characters."), field="witness")
        if value.startswith(("http://", "https://")):
            policy = AddressPolicy(allow_loopback=bool(current_app.config.get("OPENCOLLECTIVE_ALLOW_LOOPBACK")))
            try:
                check_url(value, policy)
            except AddressRefused as error:
                raise ValidationFailed(
                    gettext("The witness address: %(problem)s", problem=error), field="witness"
                ) from None
        elif not _EMAIL.fullmatch(value):
            raise ValidationFailed(
                gettext("Give an e-mail address (name@example.org) or an address starting with https://."),
                field="witness",
            )
    if value == circle.ledger_witness:
        return
    record(
        "circle.witness_set",
        actor=actor,
        circle_id=circle.id,
        subject=circle,
        data={"from": circle.ledger_witness, "to": value},
    )
    circle.ledger_witness = value
    db.session.flush()
