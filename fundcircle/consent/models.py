"""Consent rounds on proposal versions, the circle members' answers and the reactions shared in them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fundcircle.auth.models import User
from fundcircle.db import Base, UTCDateTime, utcnow


class ConsentRound(Base):
    """One consent round on one version of a proposal, opened by the facilitator (an admin)."""

    __tablename__ = "consent_rounds"
    __table_args__ = (
        CheckConstraint("outcome IS NULL OR outcome IN ('consented', 'not_consented')", name="outcome_known"),
        # At most one open consent round per proposal.
        Index(
            "uq_consent_rounds_open_per_proposal",
            "proposal_id",
            unique=True,
            sqlite_where=text("closed_at IS NULL"),
            postgresql_where=text("closed_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id"), index=True)
    proposal_id: Mapped[int] = mapped_column(ForeignKey("proposals.id"))
    version: Mapped[int] = mapped_column(Integer)
    amount_minor: Mapped[int] = mapped_column(Integer)
    opened_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    outcome: Mapped[str | None] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)


class ConsentAnswer(Base):
    """A circle member's answer in a consent round; it may change until the round closes."""

    __tablename__ = "consent_answers"

    consent_round_id: Mapped[int] = mapped_column(ForeignKey("consent_rounds.id"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    position: Mapped[str] = mapped_column(String(16))
    argument: Mapped[str] = mapped_column(Text, default="")
    answered_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: The person stopped being a circle member while the consent round was open: their objection stops nothing.
    lapsed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ConsentReaction(Base):
    """A short reaction in a consent round: heard by the circle, decides nothing."""

    __tablename__ = "consent_reactions"

    id: Mapped[int] = mapped_column(primary_key=True)
    consent_round_id: Mapped[int] = mapped_column(ForeignKey("consent_rounds.id"), index=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    body: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    author: Mapped[User] = relationship()
