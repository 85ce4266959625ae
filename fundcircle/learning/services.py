"""The learning reports' use cases: what is due when, writing and editing a report, marking it received, comments,
and the circle's "what we learned" collection with its search.

A report is due for every funded proposal whose payout is paid: the round's `report_due_days` after the payout
turned paid, and its optional mid-way update `midway_update_days` after it. What is due is read from the payout and
the round, never stored ahead: a report's row exists once its authors wrote it, so a page that shows what is due
writes nothing.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask_babel import format_decimal, gettext, ngettext
from sqlalchemy import func, select

from fundcircle.auth.models import User
from fundcircle.circles.models import Circle
from fundcircle.circles.services import membership_of
from fundcircle.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from fundcircle.extensions import db
from fundcircle.learning.models import KIND_LABELS, REPORT_KINDS, LearningReport, ReportComment
from fundcircle.ledger.record import record
from fundcircle.markdown import too_many_lines
from fundcircle.payouts.models import Payout
from fundcircle.proposals.authorship import is_author
from fundcircle.proposals.models import Proposal
from fundcircle.rounds.models import Round

#: The longest answer to one question, and the longest comment.
MAX_ANSWER_LENGTH = 20_000
MAX_COMMENT_LENGTH = 5_000
#: Reports on one page of "what we learned".
PAGE_SIZE = 20
#: The longest search text taken from `q=`.
MAX_QUERY_LENGTH = 200
#: Who, besides its admins, may mark a report received: the circle members who decide.
RECEIVING_ROLES = frozenset({"admin", "circle"})


@dataclass(frozen=True)
class DueReport:
    """A report a funded proposal owes: which, and by when."""

    kind: str
    due_at: datetime

    @property
    def label(self) -> str:
        return str(KIND_LABELS[self.kind])


def _may_write_report(user: User | None, proposal: Proposal) -> bool:
    """Who may write and edit a proposal's reports: its author and its accepted co-authors, nobody else (the one
    rule, asked by the pages, the API and the services alike)."""
    return is_author(proposal, user)


def may_write_report(user: User | None, proposal: Proposal) -> bool:
    return _may_write_report(user, proposal)


def may_mark_received(user: User | None, proposal: Proposal) -> bool:
    """The circle's admins and deciding members may mark a report received, unless they author the proposal: the
    circle acknowledges the report, its authors cannot acknowledge their own."""
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    membership = membership_of(user, proposal.round.circle)
    return membership is not None and bool(RECEIVING_ROLES & membership.roles) and not is_author(proposal, user)


def may_comment(user: User | None, circle: Circle) -> bool:
    """Members of the circle comment on its reports (a public circle's visitors read them only)."""
    return membership_of(user, circle) is not None


def paid_payout_of(proposal: Proposal) -> Payout | None:
    """The proposal's payout if it is paid (the time it turned paid starts the reports' clock)."""
    payout = db.session.scalar(select(Payout).where(Payout.proposal_id == proposal.id))
    return payout if payout is not None and payout.status == "paid" else None


def due_reports(round_: Round, paid_at: datetime | None) -> list[DueReport]:
    """The reports a proposal of `round_` whose payout was paid at `paid_at` owes (none before it is paid, and none
    when the round asks no reports), the mid-way update first."""
    if paid_at is None or round_.report_due_days <= 0:
        return []
    due = []
    if round_.midway_update_days is not None and round_.midway_update_days < round_.report_due_days:
        due.append(DueReport("midway", paid_at + timedelta(days=round_.midway_update_days)))
    due.append(DueReport("final", paid_at + timedelta(days=round_.report_due_days)))
    return due


def due_reports_of(proposal: Proposal) -> list[DueReport]:
    payout = paid_payout_of(proposal)
    return due_reports(proposal.round, payout.status_changed_at if payout is not None else None)


def reports_of(proposal: Proposal) -> dict[str, LearningReport]:
    """The proposal's written reports, by kind."""
    rows = db.session.scalars(select(LearningReport).where(LearningReport.proposal_id == proposal.id))
    return {report.kind: report for report in rows}


def get_report(report_id: int) -> LearningReport:
    """:raises NotFound: for an unknown id."""
    report = db.session.get(LearningReport, report_id)
    if report is None:
        raise NotFound(gettext("There is no such report."))
    return report


def questions_for(proposal: Proposal, kind: str) -> list[str]:
    """The questions a report answers: those it answered when written, else the round's now."""
    report = reports_of(proposal).get(kind)
    if report is not None:
        return [item["question"] for item in report.answers]
    return list(proposal.round.report_questions)


def text_hash(answers: list[dict[str, str]]) -> str:
    """The SHA-256 of a report's questions and answers, which its ledger entries keep (the text stays off the
    ledger; the hash shows which text each edit left)."""
    text = "\n\n".join(f"{item['question']}\n{item['answer']}" for item in answers)
    return hashlib.sha256(text.encode()).hexdigest()


def _checked_answers(questions: list[str], answers: list[str]) -> list[dict[str, str]]:
    """:raises ValidationFailed: for a number of answers other than the questions', an answer too long, or all
    empty."""
    if len(answers) != len(questions):
        raise ValidationFailed(
            ngettext(
                "Answer the report's %(num)d question (an answer may be empty).",
                "Answer the report's %(num)d questions (an answer may be empty).",
                len(questions),
            ),
            field="answers",
        )
    errors: dict[str, list[str]] = {}
    cleaned = []
    for number, (question, answer) in enumerate(zip(questions, answers, strict=True)):
        answer = answer.replace("\r\n", "\n").strip()
        if len(answer) > MAX_ANSWER_LENGTH:
            errors[f"answer_{number}"] = [
                gettext("Keep each answer to %(max)s characters.", max=format_decimal(MAX_ANSWER_LENGTH))
            ]
        elif (lines := too_many_lines(answer)) is not None:
            errors[f"answer_{number}"] = [lines]
        cleaned.append({"question": question, "answer": answer})
    if errors:
        raise ValidationFailed(gettext("Some answers are too long."), fields=errors)
    if not any(item["answer"] for item in cleaned):
        raise ValidationFailed(gettext("Write at least one answer: the report is empty."), field="answer_0")
    return cleaned


def write_report(actor: User, proposal: Proposal, kind: str, answers: list[str], now: datetime) -> LearningReport:
    """An author (or co-author) writes the proposal's report of `kind`, one answer per question, or edits it until
    the circle marked it received. Each write is a ledger entry with the hash of the text; an edit that changes
    nothing writes nothing.

    :raises NotFound: for a kind the proposal does not owe (unpaid, or the round asks none).
    :raises PermissionDenied: unless the actor authors the proposal.
    :raises Conflict: once the report is marked received.
    :raises ValidationFailed: for answers that do not fit the questions.
    """
    if not _may_write_report(actor, proposal):
        raise PermissionDenied(gettext("Only the proposal's authors can write its report."))
    due = {item.kind: item for item in due_reports_of(proposal)}
    if kind not in REPORT_KINDS or kind not in due:
        raise NotFound(gettext("This proposal owes no such report."))
    report = reports_of(proposal).get(kind)
    if report is not None and report.received_at is not None:
        raise Conflict(gettext("The circle has marked this report received: it can no longer change."))
    questions = [item["question"] for item in report.answers] if report else list(proposal.round.report_questions)
    cleaned = _checked_answers(questions, answers)
    if report is None:
        report = LearningReport(
            proposal_id=proposal.id,
            circle_id=proposal.round.circle_id,
            kind=kind,
            due_at=due[kind].due_at,
            submitted_at=now,
            submitted_by_id=actor.id,
            updated_at=now,
        )
        db.session.add(report)
        action = "learning.report_submitted"
    elif report.answers == cleaned:
        return report
    else:
        action = "learning.report_edited"
    report.answers = cleaned
    report.search_text = "\n".join(f"{item['question']}\n{item['answer']}" for item in cleaned).lower()
    report.updated_at = now
    db.session.flush()
    record(
        action,
        actor=actor,
        circle_id=report.circle_id,
        subject=report,
        data={"proposal": proposal.id, "kind": kind, "sha256": text_hash(cleaned), "late": now > report.due_at},
        at=now,
    )
    db.session.flush()
    return report


def mark_received(actor: User, report: LearningReport, now: datetime) -> LearningReport:
    """The circle (an admin or a deciding member who does not author the proposal) acknowledges the report; from
    then on it no longer changes.

    :raises PermissionDenied: for anybody else, and for the proposal's own authors.
    :raises Conflict: if it was marked received already.
    """
    proposal = report.proposal
    if not may_mark_received(actor, proposal):
        if is_author(proposal, actor):
            raise PermissionDenied(gettext("The circle marks a report received: its authors cannot mark their own."))
        raise PermissionDenied(gettext("Only the circle's admins and circle members can mark a report received."))
    if report.received_at is not None:
        raise Conflict(gettext("This report was marked received already."))
    report.received_at, report.received_by_id = now, actor.id
    record(
        "learning.report_received",
        actor=actor,
        circle_id=report.circle_id,
        subject=report,
        data={"proposal": proposal.id, "kind": report.kind, "sha256": text_hash(report.answers)},
        at=now,
    )
    db.session.flush()
    return report


def add_comment(actor: User, report: LearningReport, body: str, now: datetime) -> ReportComment:
    """A member of the circle comments on a report.

    :raises PermissionDenied: unless the actor is a member of the report's circle.
    :raises ValidationFailed: for an empty or too long comment.
    """
    if not may_comment(actor, report.proposal.round.circle):
        raise PermissionDenied(gettext("Only members of the circle can comment on its reports."))
    body = body.replace("\r\n", "\n").strip()
    if not body:
        raise ValidationFailed(gettext("Write a comment."), field="body")
    if len(body) > MAX_COMMENT_LENGTH:
        raise ValidationFailed(
            gettext("Keep a comment to %(max)s characters.", max=format_decimal(MAX_COMMENT_LENGTH)), field="body"
        )
    if (lines := too_many_lines(body)) is not None:
        raise ValidationFailed(lines, field="body")
    comment = ReportComment(report_id=report.id, author_id=actor.id, body=body, created_at=now)
    db.session.add(comment)
    db.session.flush()
    record(
        "learning.report_commented",
        actor=actor,
        circle_id=report.circle_id,
        subject=report,
        data={"proposal": report.proposal_id, "comment": comment.id},
        at=now,
    )
    db.session.flush()
    return comment


def comments_of(report: LearningReport) -> list[ReportComment]:
    return list(
        db.session.scalars(select(ReportComment).where(ReportComment.report_id == report.id).order_by(ReportComment.id))
    )


def _like_pattern(query: str) -> str:
    """`query` as a LIKE pattern that matches it anywhere, its own % and _ (and the escape) taken literally."""
    escaped = query.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


@dataclass(frozen=True)
class LearnedPage:
    reports: list[LearningReport]
    page: int
    more: bool
    query: str


def learned_in(circle: Circle, *, query: str = "", page: int = 1) -> LearnedPage:
    """The circle's reports, newest first, those whose text holds `query` (any case) if one is given, a page at a
    time.

    :raises ValidationFailed: for a search text too long or a page below 1.
    """
    query = query.strip()
    if len(query) > MAX_QUERY_LENGTH:
        raise ValidationFailed(gettext("Search for at most %(max)d characters.", max=MAX_QUERY_LENGTH), field="q")
    if page < 1:
        raise ValidationFailed(gettext("Pages are numbered from 1."), field="page")
    where: list[Any] = [LearningReport.circle_id == circle.id]
    if query:
        where.append(LearningReport.search_text.like(_like_pattern(query), escape="\\"))
    rows = list(
        db.session.scalars(
            select(LearningReport)
            .where(*where)
            .order_by(LearningReport.submitted_at.desc(), LearningReport.id.desc())
            .offset((page - 1) * PAGE_SIZE)
            .limit(PAGE_SIZE + 1)
        )
    )
    return LearnedPage(rows[:PAGE_SIZE], page, len(rows) > PAGE_SIZE, query)


def count_in(circle: Circle) -> int:
    return db.session.scalar(select(func.count()).where(LearningReport.circle_id == circle.id)) or 0
