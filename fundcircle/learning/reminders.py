"""Reminders of learning reports, sent by the worker: "your report is due in N days" once before the due date, and
"your report is overdue" once after it, to the proposal's authors and co-authors, until the report is written.

Each reminder is a `ReportReminder` row whose UNIQUE constraint (proposal, kind, stage, due date) is what makes it go
out once, even if two workers run at the same moment; a round that moves its due date makes new ones.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from flask_babel import gettext, ngettext
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from fundcircle import unit_of_work
from fundcircle.auth.models import User
from fundcircle.circles.services import queue_notices_in_their_language
from fundcircle.extensions import db
from fundcircle.i18n import moment_text
from fundcircle.learning.models import LearningReport, ReportReminder
from fundcircle.learning.services import DueReport, due_reports
from fundcircle.ledger.record import record
from fundcircle.mail import external_url
from fundcircle.payouts.models import Payout
from fundcircle.proposals.authorship import author_ids
from fundcircle.proposals.models import Proposal
from fundcircle.proposals.services import current_version
from fundcircle.rounds.models import Round

#: How long before its due date a report is reminded of, at the least: writing one takes longer than casting a
#: ballot. A round whose `remind_before_hours` is longer reminds that much earlier; one with 0 sends no reminders.
REPORT_REMINDER_LEAD = timedelta(days=7)


def reminder_lead(round_: Round) -> timedelta:
    return max(REPORT_REMINDER_LEAD, timedelta(hours=round_.remind_before_hours))


def stage_at(round_: Round, due: DueReport, now: datetime) -> str | None:
    """Which reminder a report not yet written is due for at `now`: before its date, after it, or none yet."""
    if now >= due.due_at:
        return "overdue"
    if due.due_at - reminder_lead(round_) <= now:
        return "due_soon"
    return None


def _wanted(now: datetime) -> list[tuple[int, str, str, datetime]]:
    """(proposal id, kind, stage, due date) of every reminder due at `now` and not sent: bounded by the paid payouts
    of rounds that ask for reports, in three queries."""
    rows = db.session.execute(
        select(Payout.proposal_id, Payout.status_changed_at, Round)
        .join(Round, Round.id == Payout.round_id)
        .where(Payout.status == "paid", Round.report_due_days > 0, Round.remind_before_hours > 0)
        .order_by(Payout.proposal_id)
    ).all()
    if not rows:
        return []
    proposal_ids = [row.proposal_id for row in rows]
    written = {
        (row.proposal_id, row.kind)
        for row in db.session.execute(
            select(LearningReport.proposal_id, LearningReport.kind).where(LearningReport.proposal_id.in_(proposal_ids))
        )
    }
    sent = {
        (row.proposal_id, row.kind, row.stage, row.due_at)
        for row in db.session.execute(
            select(ReportReminder.proposal_id, ReportReminder.kind, ReportReminder.stage, ReportReminder.due_at).where(
                ReportReminder.proposal_id.in_(proposal_ids)
            )
        )
    }
    wanted = []
    for proposal_id, paid_at, round_ in rows:
        for due in due_reports(round_, paid_at):
            stage = stage_at(round_, due, now)
            key = (proposal_id, due.kind, stage, due.due_at)
            if stage is not None and (proposal_id, due.kind) not in written and key not in sent:
                wanted.append((proposal_id, due.kind, stage, due.due_at))
    return wanted


def _words(kind: str, stage: str, title: str, due_at: datetime, now: datetime, zone: str) -> tuple[str, str]:
    """The subject and the first lines of a reminder, in the language in force: whole sentences for each kind of
    report (its name takes another form inside a German or Spanish sentence)."""
    due = moment_text(due_at, zone)
    midway = kind == "midway"
    if stage == "due_soon":
        days = max(1, round((due_at - now).total_seconds() / 86400))
        if midway:
            subject = ngettext(
                "Your mid-way update on “%(title)s” is due in %(num)d day",
                "Your mid-way update on “%(title)s” is due in %(num)d days",
                days,
                title=title,
            )
            body = gettext(
                "The circle asks what happened with “%(title)s” and what you learned: your mid-way update is due by "
                "%(due)s.",
                title=title,
                due=due,
            )
        else:
            subject = ngettext(
                "Your learning report on “%(title)s” is due in %(num)d day",
                "Your learning report on “%(title)s” is due in %(num)d days",
                days,
                title=title,
            )
            body = gettext(
                "The circle asks what happened with “%(title)s” and what you learned: your learning report is due "
                "by %(due)s.",
                title=title,
                due=due,
            )
        return subject, body
    if midway:
        subject = gettext("Your mid-way update on “%(title)s” is overdue", title=title)
        body = gettext(
            "Your mid-way update on “%(title)s” was due by %(due)s. The circle still wants to hear what happened and "
            "what you learned: a few lines are enough.",
            title=title,
            due=due,
        )
    else:
        subject = gettext("Your learning report on “%(title)s” is overdue", title=title)
        body = gettext(
            "Your learning report on “%(title)s” was due by %(due)s. The circle still wants to hear what happened "
            "and what you learned: a few lines are enough.",
            title=title,
            due=due,
        )
    return subject, body


def _tell(
    authors: list[User], proposal: Proposal, title: str, kind: str, stage: str, due_at: datetime, now: datetime
) -> None:
    link = external_url("learning.write", proposal_id=proposal.id, kind=kind)
    circle = proposal.round.circle

    def compose() -> tuple[str, str]:
        subject, lines = _words(kind, stage, title, due_at, now, circle.time_zone)
        return subject, f"{lines}\n\n" + gettext("Write it here:") + f"\n{link}\n"

    queue_notices_in_their_language(
        authors, circle, compose, kind=f"report.{stage}", url=link, round_id=proposal.round_id
    )


def send_report_reminders(now: datetime) -> int:
    """Send every learning report reminder due at `now` and not sent yet, each committed on its own with its row and
    ledger entry (then its notices). Returns how many were sent."""
    wanted = _wanted(now)
    db.session.rollback()
    sent = 0
    for proposal_id, kind, stage, due_at in wanted:
        reminder = ReportReminder(proposal_id=proposal_id, kind=kind, stage=stage, due_at=due_at, sent_at=now)
        try:
            with db.session.begin_nested():
                db.session.add(reminder)
        except IntegrityError:
            db.session.rollback()  # another run sent it
            continue
        proposal = db.session.get_one(Proposal, proposal_id)
        authors = list(db.session.scalars(select(User).where(User.id.in_(author_ids(proposal))).order_by(User.id)))
        reminder.recipients = len(authors)
        _tell(authors, proposal, current_version(proposal).title, kind, stage, due_at, now)
        record(
            "learning.report_reminder_sent",
            actor=None,
            circle_id=proposal.round.circle_id,
            subject=proposal,
            data={"kind": kind, "stage": stage, "due": due_at.isoformat(), "recipients": len(authors)},
            at=now,
        )
        unit_of_work.commit()  # and then the notices
        sent += 1
    return sent
