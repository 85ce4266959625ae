"""The site's Ed25519 key and signed checkpoints of a chain's Merkle tree: the ground floor, beside record.py, so
that every area that decides something (a result, a payout request) signs a checkpoint in its own transaction.

Checkpoints are not themselves ledger entries: a checkpoint is a signed statement *about* the log at a size, checked
by its signature, and recording it would grow the log it describes.
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from flask import current_app
from flask_babel import gettext
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from fundcircle.errors import NotFound
from fundcircle.extensions import db
from fundcircle.ledger.merkle import decode_frontier, root_of_frontier
from fundcircle.ledger.models import LedgerChain, LedgerCheckpoint
from fundcircle.ledger.note import checkpoint_body, sign_note, verifier_key

# --- the site key -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SiteKey:
    name: str
    private: Ed25519PrivateKey
    public: bytes

    @property
    def verifier(self) -> str:
        return verifier_key(self.name, self.public)


def _key_name() -> str:
    configured = current_app.config.get("LEDGER_KEY_NAME")
    if configured:
        return str(configured)
    return urlsplit(str(current_app.config.get("BASE_URL") or "")).netloc or "fundcircle"


def site_key() -> SiteKey:
    """The site's signing key: LEDGER_SIGNING_KEY (base64 of a 32-byte Ed25519 seed) when set, otherwise the one in
    the instance folder, generated there on first use (readable by its owner only)."""
    cached = current_app.extensions.get("ledger_site_key")
    if isinstance(cached, SiteKey):
        return cached
    configured = current_app.config.get("LEDGER_SIGNING_KEY")
    if configured:
        seed = base64.b64decode(str(configured))
    else:
        path = Path(current_app.instance_path) / "ledger_signing_key"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "w") as file:
                file.write(base64.b64encode(os.urandom(32)).decode("ascii"))
        seed = base64.b64decode(path.read_text().strip())
    private = Ed25519PrivateKey.from_private_bytes(seed)
    public = private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    key = SiteKey(_key_name(), private, public)
    current_app.extensions["ledger_site_key"] = key
    return key


def origin_of(circle_id: int | None) -> str:
    return f"{site_key().name}/circles/{circle_id}" if circle_id is not None else f"{site_key().name}/site"


def chain_of(circle_id: int) -> LedgerChain:
    """:raises NotFound: for a circle without a chain."""
    chain = db.session.scalar(select(LedgerChain).where(LedgerChain.circle_id == circle_id))
    if chain is None:
        raise NotFound(gettext("There is no such circle."))
    return chain


@dataclass(frozen=True)
class SignedHead:
    """A checkpoint as served: stored, or signed on the spot for a log that grew since the latest stored one (a
    signature is cheap and needs no write, so a GET never writes)."""

    size: int
    root_hash: str
    made_at: datetime
    reason: str
    note: str


def _sign(chain: LedgerChain, now: datetime) -> tuple[str, str]:
    root = root_of_frontier(decode_frontier(chain.tree_frontier, chain.head_seq))
    key = site_key()
    body = checkpoint_body(origin_of(chain.circle_id), chain.head_seq, root, now)
    return root.hex(), sign_note(body, key.name, key.public, key.private.sign)


def current_checkpoint(circle_id: int, now: datetime) -> SignedHead:
    """The signed head of the circle's log as it stands: the stored checkpoint of that size, or one signed now."""
    chain = chain_of(circle_id)
    stored = latest_checkpoint(circle_id)
    if stored is not None and stored.size == chain.head_seq:
        return SignedHead(stored.size, stored.root_hash, stored.made_at, stored.reason, stored.note)
    root_hash, note = _sign(chain, now)
    return SignedHead(chain.head_seq, root_hash, now, "asked", note)


# --- checkpoints --------------------------------------------------------------------------------------------------


def make_checkpoint(chain_id: int, reason: str, now: datetime) -> LedgerCheckpoint:
    """Sign the chain's head as it stands in this transaction (after the caller's appends), unless a checkpoint of
    that size exists already; the caller commits. The witnesses receive it after the commit
    (`deliver_to_witnesses`)."""
    chain = db.session.get(LedgerChain, chain_id, populate_existing=True)
    if chain is None:
        raise LookupError(f"no ledger chain {chain_id}")
    existing = db.session.scalar(
        select(LedgerCheckpoint).where(LedgerCheckpoint.chain_id == chain_id, LedgerCheckpoint.size == chain.head_seq)
    )
    if existing is not None:
        return existing
    root_hash, note = _sign(chain, now)
    checkpoint = LedgerCheckpoint(
        chain_id=chain_id, size=chain.head_seq, root_hash=root_hash, made_at=now, reason=reason, note=note
    )
    try:
        with db.session.begin_nested():  # another request may sign the same size at the same moment
            db.session.add(checkpoint)
    except IntegrityError:
        made = db.session.scalar(
            select(LedgerCheckpoint).where(
                LedgerCheckpoint.chain_id == chain_id, LedgerCheckpoint.size == chain.head_seq
            )
        )
        if made is None:
            raise
        return made
    return checkpoint


def checkpoint_circle(circle_id: int, reason: str, now: datetime) -> LedgerCheckpoint:
    """`make_checkpoint` for a circle's chain: called where a result is decided and a payout is requested."""
    return make_checkpoint(chain_of(circle_id).id, reason, now)


def latest_checkpoint(circle_id: int) -> LedgerCheckpoint | None:
    return db.session.scalar(
        select(LedgerCheckpoint)
        .join(LedgerChain, LedgerChain.id == LedgerCheckpoint.chain_id)
        .where(LedgerChain.circle_id == circle_id)
        .order_by(LedgerCheckpoint.size.desc())
        .limit(1)
    )
