from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from fundcircle.db import Base, UTCDateTime, utcnow
from fundcircle.ledger.chain import GENESIS_HASH


class LedgerChain(Base):
    """The head of one chain: a circle's, or the site's (circle_id NULL, created by the first migration).

    Appending locks this row (UPDATE ... RETURNING), which serialises appends to a chain across transactions.
    """

    __tablename__ = "ledger_chains"
    __table_args__ = (CheckConstraint("head_seq >= 0", name="head_seq_not_negative"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    circle_id: Mapped[int | None] = mapped_column(ForeignKey("circles.id"), unique=True)
    head_seq: Mapped[int] = mapped_column(Integer, default=0)
    head_hash: Mapped[str] = mapped_column(String(64), default=GENESIS_HASH)
    #: The Merkle tree's frontier at head_seq leaves (ledger/merkle.py): one hex hash per set bit of head_seq,
    #: largest subtree first. Moved with the head, so an append reads it in the same UPDATE ... RETURNING. Empty by
    #: default (server-side too), the frontier of an empty tree, so a chain made by plain SQL starts right.
    tree_frontier: Mapped[str] = mapped_column(Text, default="", server_default="")


class LedgerEntry(Base):
    """One appended fact. Never updated or deleted by any code path."""

    __tablename__ = "ledger_entries"
    __table_args__ = (
        UniqueConstraint("chain_id", "seq"),
        CheckConstraint("seq >= 1", name="seq_positive"),
        # The ledger page's filters walk one chain by seq: these find a person's or an action's entries without
        # reading the whole chain (a circle's ledger of years holds hundreds of thousands of entries).
        Index("ix_ledger_entries_chain_actor_seq", "chain_id", "actor_id", "seq"),
        Index("ix_ledger_entries_chain_action_seq", "chain_id", "action", "seq"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    chain_id: Mapped[int] = mapped_column(ForeignKey("ledger_chains.id"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    circle_id: Mapped[int | None] = mapped_column(ForeignKey("circles.id"))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    action: Mapped[str] = mapped_column(String(64))
    subject_type: Mapped[str | None] = mapped_column(String(32))
    subject_id: Mapped[int | None] = mapped_column(Integer)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class LedgerTreeNode(Base):
    """A perfect subtree of a chain's Merkle tree: leaves [index * 2**level, (index + 1) * 2**level), stored when
    its last leaf is appended, in the append's transaction. Never updated or deleted."""

    __tablename__ = "ledger_tree_nodes"

    chain_id: Mapped[int] = mapped_column(ForeignKey("ledger_chains.id"), primary_key=True)
    level: Mapped[int] = mapped_column(Integer, primary_key=True)
    index: Mapped[int] = mapped_column("idx", Integer, primary_key=True)
    hash: Mapped[str] = mapped_column(String(64))


class LedgerCheckpoint(Base):
    """A signed tree head: the site key's signature over (circle's log, size, root, time) in the signed-note format
    (ledger/checkpoints.py). Sent to the circle's witnesses after the commit (`witnessed_at`)."""

    __tablename__ = "ledger_checkpoints"
    __table_args__ = (
        UniqueConstraint("chain_id", "size"),
        CheckConstraint("size >= 0", name="size_not_negative"),
        CheckConstraint("reason IN ('result', 'payout', 'daily', 'asked')", name="reason_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    chain_id: Mapped[int] = mapped_column(ForeignKey("ledger_chains.id"), index=True)
    size: Mapped[int] = mapped_column(Integer)
    root_hash: Mapped[str] = mapped_column(String(64))
    made_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    reason: Mapped[str] = mapped_column(String(16))
    note: Mapped[str] = mapped_column(Text)
    witnessed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
