"""The inbox's rows: a notice kept for one person, and the reminders sent about a round."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from fundcircle.db import Base, UTCDateTime, utcnow

REMINDER_KINDS = ("deadline", "manual")


class Notification(Base):
    """One notice to one person, written in the transaction of the change it tells about (whatever becomes of the
    e-mail): the inbox lists these, newest first, and the page header counts the unread ones."""

    __tablename__ = "notifications"
    __table_args__ = (
        # The inbox pages by (user, id) newest first; the header counts (user, unread) on every page.
        Index("ix_notifications_user_id_id", "user_id", "id"),
        Index("ix_notifications_user_id_read_at", "user_id", "read_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(40))
    circle_id: Mapped[int | None] = mapped_column(ForeignKey("circles.id", ondelete="CASCADE"))
    text: Mapped[str] = mapped_column(Text)
    url: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class RoundReminder(Base):
    """A reminder sent about a round: one per round, phase and deadline for the automatic ones (the UNIQUE
    constraint is what makes `send_deadline_reminders` send each once, even run twice at the same moment), and one
    per click for a facilitator's, which may come at most once an hour."""

    __tablename__ = "round_reminders"
    __table_args__ = (
        CheckConstraint("kind IN ('deadline', 'manual')", name="kind_known"),
        CheckConstraint("kind = 'manual' OR deadline_at IS NOT NULL", name="deadline_reminder_has_deadline"),
        UniqueConstraint("round_id", "kind", "phase", "deadline_at", name="uq_round_reminders_once_per_deadline"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    phase: Mapped[str] = mapped_column(String(16))
    #: The deadline the reminder was about (automatic ones); None for a facilitator's.
    deadline_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    sent_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    recipients: Mapped[int] = mapped_column(Integer, default=0)
