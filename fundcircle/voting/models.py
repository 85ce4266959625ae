from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fundcircle.db import Base, UTCDateTime, utcnow


class Ballot(Base):
    """A circle member's ballot in a quadratic round. Saving replaces it whole; the last one saved counts."""

    __tablename__ = "ballots"
    __table_args__ = (
        UniqueConstraint("round_id", "user_id"),
        CheckConstraint("credits_spent >= 0", name="credits_spent_not_negative"),
        CheckConstraint("revision >= 1", name="revision_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    revision: Mapped[int] = mapped_column(Integer, default=1)
    credits_spent: Mapped[int] = mapped_column(Integer)
    saved_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    #: For a secret ballot: the random salt of the commitment the ledger holds instead of the votes.
    salt: Mapped[str | None] = mapped_column(String(64))
    #: The hash of the ledger entry that recorded this revision: the voter's receipt.
    receipt: Mapped[str | None] = mapped_column(String(64))

    votes: Mapped[list[BallotVote]] = relationship(cascade="all, delete-orphan", lazy="selectin")


class BallotVote(Base):
    __tablename__ = "ballot_votes"
    __table_args__ = (CheckConstraint("votes <> 0", name="votes_not_zero"),)

    ballot_id: Mapped[int] = mapped_column(ForeignKey("ballots.id", ondelete="CASCADE"), primary_key=True)
    proposal_id: Mapped[int] = mapped_column(ForeignKey("proposals.id"), primary_key=True)
    votes: Mapped[int] = mapped_column(Integer)


class RoundTally(Base):
    """The result of a decided round, computed once and never again."""

    __tablename__ = "round_tallies"

    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id"), primary_key=True)
    ballots_cast: Mapped[int] = mapped_column(Integer)
    eligible_voters: Mapped[int] = mapped_column(Integer)
    quorum_percent: Mapped[int] = mapped_column(Integer)
    quorum_met: Mapped[bool] = mapped_column(Boolean)
    budget_minor: Mapped[int] = mapped_column(Integer)
    funded_minor: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    #: The ledger's head hash and count right after the result was published: a checkpoint to copy elsewhere.
    checkpoint_seq: Mapped[int] = mapped_column(Integer)
    checkpoint_hash: Mapped[str] = mapped_column(String(64))


class ProposalResult(Base):
    __tablename__ = "proposal_results"
    __table_args__ = (UniqueConstraint("round_id", "rank"),)

    round_id: Mapped[int] = mapped_column(ForeignKey("round_tallies.round_id"), primary_key=True)
    proposal_id: Mapped[int] = mapped_column(ForeignKey("proposals.id"), primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(120))
    score: Mapped[int] = mapped_column(Integer)
    amount_minor: Mapped[int] = mapped_column(Integer)
    funded: Mapped[bool] = mapped_column(Boolean)
    reason: Mapped[str] = mapped_column(Text)
    rank: Mapped[int] = mapped_column(Integer)
