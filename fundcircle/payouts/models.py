from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from fundcircle.db import Base, UTCDateTime, utcnow
from fundcircle.proposals.models import ONE_KIND_OF_PAYEE

PAYOUT_STATUSES = (
    "awaiting_approval",
    "approved",
    "requested",
    "invited",
    "approved_on_oc",
    "paid",
    "rejected",
    "failed",
    "cancelled",
)


class Payout(Base):
    """What a funded proposal is owed: created when its round is decided, one per proposal."""

    __tablename__ = "payouts"
    __table_args__ = (
        CheckConstraint("amount_minor > 0", name="amount_positive"),
        CheckConstraint(
            "status IN (" + ", ".join(f"'{status}'" for status in PAYOUT_STATUSES) + ")", name="status_known"
        ),
        CheckConstraint(ONE_KIND_OF_PAYEE, name="one_kind_of_payee"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    proposal_id: Mapped[int] = mapped_column(ForeignKey("proposals.id"), unique=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id"), index=True)
    circle_id: Mapped[int] = mapped_column(ForeignKey("circles.id"), index=True)
    proposal_version: Mapped[int] = mapped_column(Integer)
    amount_minor: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    payee_slug: Mapped[str | None] = mapped_column(String(100))
    payee_name: Mapped[str | None] = mapped_column(String(120))
    payee_email: Mapped[str | None] = mapped_column(String(254))
    status: Mapped[str] = mapped_column(String(24), default="awaiting_approval")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
