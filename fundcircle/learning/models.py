"""Learning reports from funded proposals, their comments, and the reminders sent about them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fundcircle.auth.models import User
from fundcircle.db import Base, UTCDateTime, utcnow
from fundcircle.i18n import lazy_gettext
from fundcircle.proposals.models import Proposal

#: A proposal's report at the end, and the optional update its round may ask for on the way.
REPORT_KINDS = ("final", "midway")
KIND_LABELS = {"final": lazy_gettext("Learning report"), "midway": lazy_gettext("Mid-way update")}
#: The reminders a report gets: once before it is due, once when it is overdue.
REMINDER_STAGES = ("due_soon", "overdue")


class LearningReport(Base):
    """What a funded proposal's authors wrote about it: one answer (Markdown) per guiding question of the round, as
    the questions were when they wrote it. A row exists once written: what is due is read from the payout."""

    __tablename__ = "learning_reports"
    __table_args__ = (
        CheckConstraint("kind IN ('final', 'midway')", name="kind_known"),
        CheckConstraint("received_at IS NULL OR received_by_id IS NOT NULL", name="received_by_someone"),
        UniqueConstraint("proposal_id", "kind", name="uq_learning_reports_proposal_id_kind"),
        # The "what we learned" page lists a circle's reports newest first.
        Index("ix_learning_reports_circle_id_submitted_at", "circle_id", "submitted_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    proposal_id: Mapped[int] = mapped_column(ForeignKey("proposals.id"))
    circle_id: Mapped[int] = mapped_column(ForeignKey("circles.id"))
    kind: Mapped[str] = mapped_column(String(8))
    #: Each guiding question and its answer in Markdown, in the round's order: [{"question": ..., "answer": ...}].
    answers: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    #: The questions and answers as one plain text, which the search of the "what we learned" page reads.
    search_text: Mapped[str] = mapped_column(Text, default="")
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    submitted_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    received_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    received_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    proposal: Mapped[Proposal] = relationship()
    submitted_by: Mapped[User] = relationship(foreign_keys=[submitted_by_id])


class ReportComment(Base):
    """A member's comment on a learning report. Deliberation's comments belong to a proposal's discussion (questions,
    answers, moderation by phase), which a report read months later has none of."""

    __tablename__ = "learning_report_comments"

    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("learning_reports.id", ondelete="CASCADE"), index=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    author: Mapped[User] = relationship()


class ReportReminder(Base):
    """A reminder sent to a proposal's authors about one of its reports: the UNIQUE constraint is what makes each
    stage go out once for each due date, even if the worker runs twice at the same moment."""

    __tablename__ = "learning_report_reminders"
    __table_args__ = (
        CheckConstraint("kind IN ('final', 'midway')", name="kind_known"),
        CheckConstraint("stage IN ('due_soon', 'overdue')", name="stage_known"),
        UniqueConstraint("proposal_id", "kind", "stage", "due_at", name="uq_learning_report_reminders_once"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    proposal_id: Mapped[int] = mapped_column(ForeignKey("proposals.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(8))
    stage: Mapped[str] = mapped_column(String(8))
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    recipients: Mapped[int] = mapped_column(default=0)
