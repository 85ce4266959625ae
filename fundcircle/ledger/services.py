"""Appending to and verifying the ledger. `record` is the one function every state change calls."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update

from fundcircle.auth.models import User
from fundcircle.db import utcnow
from fundcircle.extensions import db
from fundcircle.ledger.chain import EntryContent, StoredEntry, VerifyResult, canonical_json, entry_hash, verify_chain
from fundcircle.ledger.models import LedgerChain, LedgerEntry

_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


def subject_type_of(subject: object) -> str:
    """`ProposalVersion` -> "proposal_version"."""
    return _CAMEL.sub("_", type(subject).__name__).lower()


def create_chain(circle_id: int) -> LedgerChain:
    """Start a circle's own chain; call in the transaction that creates the circle."""
    chain = LedgerChain(circle_id=circle_id, head_seq=0)
    db.session.add(chain)
    db.session.flush()
    return chain


def record(
    action: str,
    *,
    actor: User | None,
    circle_id: int | None,
    subject: Any = None,
    data: Mapping[str, Any] | None = None,
    at: datetime | None = None,
) -> LedgerEntry:
    """Append one entry to the circle's chain (or the site's when `circle_id` is None), in the caller's transaction.

    The chain's head row is updated first (`UPDATE ... SET head_seq = head_seq + 1 ... RETURNING`), which takes a
    row lock on PostgreSQL (SQLite's BEGIN IMMEDIATE already serialises writers), so two transactions can never
    take the same `seq` or fork the chain; the UNIQUE (chain_id, seq) constraint backs that up. The caller commits.

    :raises CanonicalJSONError: if `data` holds a float or another value with no canonical JSON form.
    """
    db.session.flush()  # the subject needs its id
    canonical_json(dict(data or {}))  # refuse a float before the head moves, not after
    where = LedgerChain.circle_id == circle_id if circle_id is not None else LedgerChain.circle_id.is_(None)
    head = db.session.execute(
        update(LedgerChain)
        .where(where)
        .values(head_seq=LedgerChain.head_seq + 1)
        .returning(LedgerChain.id, LedgerChain.head_seq, LedgerChain.head_hash),
        execution_options={"synchronize_session": False},
    ).one_or_none()
    if head is None:
        raise LookupError(f"no ledger chain for circle {circle_id!r}")
    content = EntryContent(
        seq=head.head_seq,
        at=at or utcnow(),
        circle_id=circle_id,
        actor_id=actor.id if actor is not None else None,
        action=action,
        subject_type=subject_type_of(subject) if subject is not None else None,
        subject_id=getattr(subject, "id", None) if subject is not None else None,
        data=dict(data or {}),
    )
    new_hash = entry_hash(head.head_hash, content)
    entry = LedgerEntry(
        chain_id=head.id,
        seq=content.seq,
        at=content.at,
        circle_id=circle_id,
        actor_id=content.actor_id,
        action=action,
        subject_type=content.subject_type,
        subject_id=content.subject_id,
        data=content.data,
        prev_hash=head.head_hash,
        hash=new_hash,
    )
    db.session.add(entry)
    db.session.execute(
        update(LedgerChain).where(LedgerChain.id == head.id).values(head_hash=new_hash),
        execution_options={"synchronize_session": False},
    )
    db.session.flush()
    return entry


def stored_entries(chain_id: int, batch_size: int = 2000) -> Iterator[StoredEntry]:
    """A chain's entries in `seq` order, read in batches so that a long ledger fits in constant memory."""
    columns = (
        LedgerEntry.seq,
        LedgerEntry.at,
        LedgerEntry.circle_id,
        LedgerEntry.actor_id,
        LedgerEntry.action,
        LedgerEntry.subject_type,
        LedgerEntry.subject_id,
        LedgerEntry.data,
        LedgerEntry.prev_hash,
        LedgerEntry.hash,
    )
    result = db.session.execute(
        select(*columns).where(LedgerEntry.chain_id == chain_id).order_by(LedgerEntry.seq),
        execution_options={"yield_per": batch_size},
    )
    try:
        for row in result:
            yield StoredEntry(
                content=EntryContent(
                    seq=row.seq,
                    at=row.at,
                    circle_id=row.circle_id,
                    actor_id=row.actor_id,
                    action=row.action,
                    subject_type=row.subject_type,
                    subject_id=row.subject_id,
                    data=row.data,
                ),
                prev_hash=row.prev_hash,
                hash=row.hash,
            )
    finally:
        result.close()  # verification may stop early, at the first bad entry


@dataclass(frozen=True)
class ChainReport:
    chain_id: int
    circle_id: int | None
    label: str
    result: VerifyResult


def verify_ledger(circle_id: int | None = None, *, all_chains: bool = True) -> list[ChainReport]:
    """Recompute every chain (or only the circle's when `all_chains` is False) against its stored head."""
    from fundcircle.circles.models import Circle

    query = select(LedgerChain, Circle.slug).outerjoin(Circle, Circle.id == LedgerChain.circle_id)
    if not all_chains:
        query = query.where(
            LedgerChain.circle_id == circle_id if circle_id is not None else LedgerChain.circle_id.is_(None)
        )
    reports = []
    for chain, slug in db.session.execute(query.order_by(LedgerChain.id)).all():
        label = f"circle {slug}" if slug is not None else "site"
        result = verify_chain(stored_entries(chain.id), expected_head=(chain.head_seq, chain.head_hash))
        reports.append(ChainReport(chain.id, chain.circle_id, label, result))
    return reports
