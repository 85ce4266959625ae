from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, Integer, String, UniqueConstraint
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
