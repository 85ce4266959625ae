from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import JSON, Boolean, CheckConstraint, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fundcircle.auth.models import User
from fundcircle.circles.models import Circle
from fundcircle.db import Base, UTCDateTime, utcnow
from fundcircle.phrases import N_
from fundcircle.rounds.phases import ALL_PHASES, PHASE_DEADLINES, effective_phase

#: How a round decides: a ballot type (each circle member's ballot, then an allocation rule) or consent.
VOTING_METHODS = ("quadratic", "approval", "cumulative")
METHODS = (*VOTING_METHODS, "consent")
CONSENT_RULES = ("sociocratic", "consensus")
#: How a voting round turns ballots into funded proposals: greedy by score, or the method of equal shares.
ALLOCATION_RULES = ("greedy", "equal_shares")
#: What a learning report asks the authors of a funded proposal, unless the round asks otherwise (issue 19). A
#: round stores its questions as written when it was made: the forms and the API offer these in the language of
#: the person making it (`gettext` of each), so a German circle's reports ask in German.
DEFAULT_REPORT_QUESTIONS = (
    N_("What happened?"),
    N_("What did you learn?"),
    N_("What would you do differently?"),
    N_("What can others reuse?"),
)
#: A report is due this many days after its payout is paid, unless the round says otherwise (0: no reports).
DEFAULT_REPORT_DUE_DAYS = 90


def _in(values: tuple[str, ...]) -> str:
    return ", ".join(f"'{value}'" for value in values)


class Round(Base):
    """One call for proposals against one pot of money, in the circle's currency."""

    __tablename__ = "rounds"
    __table_args__ = (
        CheckConstraint(f"phase IN ({_in(ALL_PHASES)})", name="phase_known"),
        CheckConstraint(f"method IN ({_in(METHODS)})", name="method_known"),
        CheckConstraint(f"consent_rules IN ({_in(CONSENT_RULES)})", name="consent_rules_known"),
        CheckConstraint(f"allocation_rule IN ({_in(ALLOCATION_RULES)})", name="allocation_rule_known"),
        CheckConstraint(
            "max_approvals IS NULL OR (method = 'approval' AND max_approvals > 0)", name="max_approvals_of_approval"
        ),
        CheckConstraint("budget_minor > 0", name="budget_positive"),
        CheckConstraint(
            "per_proposal_cap_minor > 0 AND per_proposal_cap_minor <= budget_minor", name="cap_within_budget"
        ),
        CheckConstraint("credits > 0", name="credits_positive"),
        CheckConstraint("quorum_percent >= 0 AND quorum_percent <= 100", name="quorum_is_percent"),
        CheckConstraint("max_proposals_per_member > 0", name="max_proposals_positive"),
        CheckConstraint("remind_before_hours >= 0", name="remind_before_hours_not_negative"),
        CheckConstraint("length(currency) = 3", name="currency_is_iso_code"),
        CheckConstraint("report_due_days >= 0", name="report_due_days_not_negative"),
        CheckConstraint("midway_update_days IS NULL OR midway_update_days > 0", name="midway_update_days_positive"),
        CheckConstraint("committed_minor >= 0 AND committed_minor <= budget_minor", name="committed_within_budget"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    circle_id: Mapped[int] = mapped_column(ForeignKey("circles.id"), index=True)
    title: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(Text, default="")
    currency: Mapped[str] = mapped_column(String(3))
    budget_minor: Mapped[int] = mapped_column(Integer)
    per_proposal_cap_minor: Mapped[int] = mapped_column(Integer)
    #: In a consent round, the money reserved by proposals consented so far; never above the budget.
    committed_minor: Mapped[int] = mapped_column(Integer, default=0)
    method: Mapped[str] = mapped_column(String(16))
    credits: Mapped[int] = mapped_column(Integer, default=100)
    allow_negative: Mapped[bool] = mapped_column(Boolean, default=False)
    quorum_percent: Mapped[int] = mapped_column(Integer, default=50)
    consent_rules: Mapped[str] = mapped_column(String(16), default="sociocratic")
    #: For a voting round: greedy by score, or the method of equal shares (fixed once the round is deciding).
    allocation_rule: Mapped[str] = mapped_column(String(16), default="greedy")
    #: For an approval round: the most proposals one ballot may approve (None: any number). In a cumulative round
    #: `credits` is the points each member spreads.
    max_approvals: Mapped[int | None] = mapped_column(Integer)
    secret_ballot: Mapped[bool] = mapped_column(Boolean, default=False)
    categories: Mapped[list[str]] = mapped_column(JSON, default=list)
    max_proposals_per_member: Mapped[int] = mapped_column(Integer, default=3)
    #: How many hours before each deadline the people who still have something to do are reminded (0: never).
    remind_before_hours: Mapped[int] = mapped_column(Integer, default=24, server_default="24")
    #: Days after a funded proposal's payout is paid when its learning report is due (0: the round asks none).
    report_due_days: Mapped[int] = mapped_column(
        Integer, default=DEFAULT_REPORT_DUE_DAYS, server_default=str(DEFAULT_REPORT_DUE_DAYS)
    )
    #: Days after the payout when an optional mid-way update is due (None: the round asks none).
    midway_update_days: Mapped[int | None] = mapped_column(Integer)
    #: The guiding questions of the round's learning reports, in order.
    report_questions: Mapped[list[str]] = mapped_column(
        JSON, default=lambda: list(DEFAULT_REPORT_QUESTIONS), server_default=json.dumps(list(DEFAULT_REPORT_QUESTIONS))
    )
    proposals_close_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    deliberation_close_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    deciding_close_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    phase: Mapped[str] = mapped_column(String(16), default="draft")
    phase_changed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    circle: Mapped[Circle] = relationship()

    def deadline_of(self, phase: str) -> datetime | None:
        field = PHASE_DEADLINES.get(phase)
        return getattr(self, field) if field else None

    def phase_at(self, now: datetime) -> str:
        """The phase the round is really in at `now`: its stored phase moved past every deadline that has passed,
        though `rounds tick` has not stored the move yet (see fundcircle.rounds.phases.effective_phase). Pages
        show it and services check it; the stored `phase` is what the tick and admins move."""
        return effective_phase(self.phase, {field: getattr(self, field) for field in PHASE_DEADLINES.values()}, now)

    def passed_deadline(self, phase: str, now: datetime) -> datetime | None:
        """The deadline of `phase`, if it has one and it has passed at `now` (for messages: "closed at ...")."""
        deadline = self.deadline_of(phase)
        return deadline if deadline is not None and deadline <= now else None


class RetrospectiveAnswer(Base):
    """One member's answer to a closed round's retrospective: what worked, what to change, and two ratings.

    An anonymous answer stores no user id; one answer per member and round still holds through `voter_key`, a
    commitment to (round, member) that is unique per round (see fundcircle/rounds/retrospective.py)."""

    __tablename__ = "retrospective_answers"
    __table_args__ = (
        UniqueConstraint("round_id", "voter_key"),
        CheckConstraint("fairness BETWEEN 1 AND 5", name="fairness_in_range"),
        CheckConstraint("effort BETWEEN 1 AND 5", name="effort_in_range"),
        CheckConstraint("length(worked) <= 2000 AND length(change) <= 2000", name="texts_short"),
        # The user is stored exactly when the answer is not anonymous.
        CheckConstraint(
            "(anonymous AND user_id IS NULL) OR (NOT anonymous AND user_id IS NOT NULL)", name="user_unless_anonymous"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id"), index=True)
    voter_key: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    anonymous: Mapped[bool] = mapped_column(Boolean, default=False)
    worked: Mapped[str] = mapped_column(Text, default="")
    change: Mapped[str] = mapped_column(Text, default="")
    fairness: Mapped[int] = mapped_column(Integer)
    effort: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    user: Mapped[User | None] = relationship()
