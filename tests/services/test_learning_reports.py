"""Learning reports from funded proposals, through the services on the real database (SQLite and PostgreSQL): when
they are due, who may write them (authors and co-authors) and mark them received (the circle, never the authors),
edits ledgered with the text's hash, comments, search, and the worker's reminders, each sent once."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from flask import Flask
from sqlalchemy import select, update

from fundcircle.auth.models import User
from fundcircle.circles.models import Circle
from fundcircle.db import utcnow
from fundcircle.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from fundcircle.extensions import db
from fundcircle.inbox.models import Notification
from fundcircle.learning.models import LearningReport, ReportReminder
from fundcircle.learning.reminders import send_report_reminders
from fundcircle.learning.services import (
    add_comment,
    due_reports_of,
    learned_in,
    mark_received,
    text_hash,
    write_report,
)
from fundcircle.ledger.models import LedgerEntry
from fundcircle.ledger.reading import verify_ledger
from fundcircle.notices import OutboxNotice
from fundcircle.payouts.models import Payout
from fundcircle.proposals.coauthors import accept_coauthorship, invite_coauthor
from fundcircle.proposals.models import Proposal
from fundcircle.proposals.services import create_proposal
from fundcircle.rounds.models import DEFAULT_REPORT_QUESTIONS, Round
from fundcircle.rounds.services import RoundInput, advance_round, update_round
from fundcircle.voting.services import cast_ballot
from tests.factories import add_member, make_circle, make_funded_round, make_round, make_user, sample_proposal

ANSWERS = ["We built the shed.", "Volunteers need a rota.", "Start earlier.", "The plans are on our wiki."]


class People:
    def __init__(self, *, public: bool = False, cora_roles: tuple[str, ...] = ("member",)) -> None:
        self.admin = make_user(name="Ana Admin", email="ana@example.org")
        self.circle = make_circle(self.admin, public=public)
        self.author = make_user(name="Aurora Author", email="aurora@example.org")
        self.cora = make_user(name="Cora Coauthor", email="cora@example.org")
        self.dan = make_user(name="Dan Decider", email="dan@example.org")
        self.mia = make_user(name="Mia Member", email="mia@example.org")
        self.tess = make_user(name="Tess Treasurer", email="tess@example.org")
        self.outsider = make_user(name="Olaf Outsider", email="olaf@example.org")
        add_member(self.circle, self.author, ["member"], by=self.admin)
        add_member(self.circle, self.cora, list(cora_roles), by=self.admin)
        add_member(self.circle, self.dan, ["member", "circle"], by=self.admin)
        add_member(self.circle, self.mia, ["member"], by=self.admin)
        add_member(self.circle, self.tess, ["treasurer"], by=self.admin)
        db.session.commit()


def funded(people: People, *, coauthor: bool = True, **round_settings: object) -> Proposal:
    """A funded proposal "Tool shed" by Aurora (with Cora as co-author), its round asking `round_settings`, decided
    through the services as the co-authors' own tests do."""
    round_ = make_round(people.circle, people.admin, quorum_percent=0, **round_settings)
    advance_round(people.admin, round_, "proposals", utcnow())
    shed = create_proposal(people.author, round_, sample_proposal(title="Tool shed"), submit=True, now=utcnow())
    if coauthor:
        invite_coauthor(people.author, shed, people.cora, utcnow())
        accept_coauthorship(people.cora, shed, utcnow())
    for phase in ("deliberation", "deciding"):
        advance_round(people.admin, round_, phase, utcnow())
    db.session.commit()
    cast_ballot(people.dan, round_, {shed.id: 1}, utcnow())
    advance_round(people.admin, round_, "decided", utcnow())
    db.session.commit()
    return shed


def pay(proposal: Proposal, at: datetime) -> None:
    """Open Collective paid the payout at `at` (the treasury's own tests cover how a payout gets there)."""
    db.session.execute(
        update(Payout).where(Payout.proposal_id == proposal.id).values(status="paid", status_changed_at=at)
    )
    db.session.commit()


def actions(circle: Circle) -> list[str]:
    return list(
        db.session.scalars(
            select(LedgerEntry.action).where(LedgerEntry.circle_id == circle.id).order_by(LedgerEntry.seq)
        )
    )


def test_nothing_is_due_before_the_payout_is_paid_then_the_report_and_the_midway_update_are(ctx: Flask) -> None:
    people = People()
    shed = funded(people, midway_update_days=30)
    assert due_reports_of(shed) == []
    with pytest.raises(NotFound):
        write_report(people.author, shed, "final", ANSWERS, utcnow())
    paid_at = utcnow() - timedelta(days=1)
    pay(shed, paid_at)
    due = due_reports_of(shed)
    assert [(item.kind, item.due_at) for item in due] == [
        ("midway", paid_at + timedelta(days=30)),
        ("final", paid_at + timedelta(days=90)),
    ]


def test_a_round_that_asks_no_reports_owes_none(ctx: Flask) -> None:
    people = People()
    shed = funded(people, coauthor=False, report_due_days=0)
    pay(shed, utcnow())
    assert due_reports_of(shed) == []


def test_the_author_and_the_coauthor_write_and_edit_nobody_else_does(ctx: Flask) -> None:
    people = People()
    shed = funded(people)
    pay(shed, utcnow())
    for stranger in (people.dan, people.mia, people.admin, people.outsider):
        with pytest.raises(PermissionDenied):
            write_report(stranger, shed, "final", ANSWERS, utcnow())
    report = write_report(people.author, shed, "final", ANSWERS, utcnow())
    db.session.commit()
    assert [item["question"] for item in report.answers] == list(DEFAULT_REPORT_QUESTIONS)
    edited = [*ANSWERS[:3], "The plans and the cutting list are on our wiki."]
    write_report(people.cora, shed, "final", edited, utcnow())
    db.session.commit()
    assert report.answers[3]["answer"] == "The plans and the cutting list are on our wiki."
    entries = list(
        db.session.scalars(
            select(LedgerEntry).where(LedgerEntry.action.like("learning.report_%")).order_by(LedgerEntry.seq)
        )
    )
    assert [entry.action for entry in entries] == ["learning.report_submitted", "learning.report_edited"]
    assert entries[1].data["sha256"] == text_hash(report.answers) != entries[0].data["sha256"]
    assert entries[1].actor_id == people.cora.id
    # Saving the same text again changes nothing and writes nothing.
    write_report(people.author, shed, "final", edited, utcnow())
    db.session.commit()
    assert actions(people.circle).count("learning.report_edited") == 1
    assert all(chain.result.ok for chain in verify_ledger([people.circle.id]))


def test_answers_must_fit_the_questions_and_an_empty_report_is_refused(ctx: Flask) -> None:
    people = People()
    shed = funded(people, coauthor=False)
    pay(shed, utcnow())
    with pytest.raises(ValidationFailed, match="4 questions"):
        write_report(people.author, shed, "final", ANSWERS[:2], utcnow())
    with pytest.raises(ValidationFailed, match="empty"):
        write_report(people.author, shed, "final", ["", " ", "", ""], utcnow())
    with pytest.raises(ValidationFailed) as refused:
        write_report(people.author, shed, "final", ["x" * 20_001, "", "", ""], utcnow())
    assert "answer_0" in refused.value.fields
    db.session.rollback()
    assert db.session.scalars(select(LearningReport)).all() == []


def test_the_circle_marks_received_the_authors_cannot_and_then_it_no_longer_changes(ctx: Flask) -> None:
    # Cora co-authors and is also a deciding member: she still may not mark her own report received.
    people = People(cora_roles=("member", "circle"))
    shed = funded(people)
    pay(shed, utcnow())
    report = write_report(people.author, shed, "final", ANSWERS, utcnow())
    db.session.commit()
    for author in (people.author, people.cora):
        with pytest.raises(PermissionDenied, match="cannot mark their own"):
            mark_received(author, report, utcnow())
    for other in (people.mia, people.tess, people.outsider):
        with pytest.raises(PermissionDenied):
            mark_received(other, report, utcnow())
    mark_received(people.dan, report, utcnow())
    db.session.commit()
    assert report.received_by_id == people.dan.id
    with pytest.raises(Conflict):
        mark_received(people.admin, report, utcnow())
    with pytest.raises(Conflict):
        write_report(people.author, shed, "final", ANSWERS[::-1], utcnow())
    assert actions(people.circle)[-1] == "learning.report_received"


def test_members_comment_outsiders_do_not(ctx: Flask) -> None:
    people = People(public=True)
    shed = funded(people, coauthor=False)
    pay(shed, utcnow())
    report = write_report(people.author, shed, "final", ANSWERS, utcnow())
    comment = add_comment(people.mia, report, "Could we borrow the plans?", utcnow())
    db.session.commit()
    assert comment.id is not None
    with pytest.raises(PermissionDenied):
        add_comment(people.outsider, report, "Nice!", utcnow())
    with pytest.raises(ValidationFailed):
        add_comment(people.mia, report, "   ", utcnow())
    assert actions(people.circle)[-1] == "learning.report_commented"


def test_the_search_finds_words_and_takes_percent_and_underscore_literally(ctx: Flask) -> None:
    people = People()
    _, proposals = make_funded_round(
        people.circle,
        people.admin,
        people.dan,
        [{"author": people.author, "title": "Tool shed"}, {"author": people.mia, "title": "Seed swap"}],
    )
    for proposal in proposals:
        pay(proposal, utcnow())
    write_report(people.author, proposals[0], "final", ["We reached 100% of the goal", "", "", ""], utcnow())
    write_report(people.mia, proposals[1], "final", ["Seeds_swapped: 40", "", "", ""], utcnow())
    db.session.commit()
    assert [r.proposal_id for r in learned_in(people.circle).reports] == [proposals[1].id, proposals[0].id]
    assert [r.proposal_id for r in learned_in(people.circle, query="100%").reports] == [proposals[0].id]
    assert learned_in(people.circle, query="0%").reports  # "100%" holds "0%"
    assert learned_in(people.circle, query="1_0").reports == []  # _ is not a wildcard
    assert [r.proposal_id for r in learned_in(people.circle, query="SEEDS_").reports] == [proposals[1].id]
    other = make_circle(people.admin, name="Another circle")
    assert learned_in(other).reports == []
    with pytest.raises(ValidationFailed):
        learned_in(people.circle, query="x" * 201)


def test_report_settings_are_checked_and_may_change_after_the_round_is_decided(ctx: Flask) -> None:
    people = People()
    base = {
        "title": "Autumn",
        "budget_minor": 10_000,
        "per_proposal_cap_minor": 5_000,
        "method": "quadratic",
    }
    from fundcircle.rounds.services import create_round

    for settings, field in (
        ({"report_due_days": -1}, "report_due_days"),
        ({"midway_update_days": 90}, "midway_update_days"),
        ({"report_questions": []}, "report_questions"),
        ({"report_questions": [f"Question {n}?" for n in range(9)]}, "report_questions"),
        ({"report_questions": ["x" * 201]}, "report_questions"),
        ({"report_questions": ["Why?", "why?"]}, "report_questions"),
    ):
        with pytest.raises(ValidationFailed) as refused:
            create_round(people.admin, people.circle, RoundInput(**base, **settings))  # type: ignore[arg-type]
        assert field in refused.value.fields, settings
    db.session.rollback()
    shed = funded(people, coauthor=False)
    round_ = db.session.get_one(Round, shed.round_id)
    assert round_.phase == "decided"
    values = {name: getattr(round_, name) for name in RoundInput.__dataclass_fields__}
    values.update(report_due_days=60, report_questions=["What happened?"])
    update_round(people.admin, round_, RoundInput(**values), now=utcnow())
    db.session.commit()
    assert (round_.report_due_days, round_.report_questions) == (60, ["What happened?"])
    values.update(credits=50)
    with pytest.raises(ValidationFailed, match="cannot change any more"):
        update_round(people.admin, round_, RoundInput(**values), now=utcnow())


def _reminders_of(user: User) -> list[str]:
    return list(
        db.session.scalars(
            select(Notification.kind)
            .where(Notification.user_id == user.id, Notification.kind.like("report.%"))
            .order_by(Notification.id)
        )
    )


def test_reminders_go_to_the_authors_once_before_and_once_after_the_due_date(ctx: Flask) -> None:
    people = People()
    shed = funded(people)
    paid_at = utcnow() - timedelta(days=85)  # due in 5 days: within the 7 days' lead
    pay(shed, paid_at)
    now = utcnow()
    assert send_report_reminders(now) == 1
    assert send_report_reminders(now) == 0  # once
    assert _reminders_of(people.author) == _reminders_of(people.cora) == ["report.due_soon"]
    assert _reminders_of(people.dan) == []
    subject = db.session.scalars(
        select(OutboxNotice.subject).where(
            OutboxNotice.user_id == people.author.id, OutboxNotice.kind == "report.due_soon"
        )
    ).one()
    assert subject == "Your learning report on “Tool shed” is due in 5 days"
    later = now + timedelta(days=6)
    assert send_report_reminders(later) == 1
    assert send_report_reminders(later + timedelta(days=1)) == 0
    assert _reminders_of(people.author) == ["report.due_soon", "report.overdue"]
    assert db.session.scalars(select(ReportReminder.stage).order_by(ReportReminder.id)).all() == ["due_soon", "overdue"]
    assert actions(people.circle).count("learning.report_reminder_sent") == 2


def test_a_written_report_is_not_reminded_of(ctx: Flask) -> None:
    people = People()
    shed = funded(people, coauthor=False)
    pay(shed, utcnow() - timedelta(days=100))
    write_report(people.author, shed, "final", ANSWERS, utcnow())
    db.session.commit()
    assert send_report_reminders(utcnow()) == 0
    assert _reminders_of(people.author) == []


def test_the_worker_tick_sends_the_reminders(ctx: Flask) -> None:
    from fundcircle.worker import PERIODIC_JOBS

    people = People()
    shed = funded(people, coauthor=False)
    pay(shed, utcnow() - timedelta(days=95))
    (job,) = [job for job in PERIODIC_JOBS if job.name == "reports remind"]
    assert job.run(utcnow()) == "1 learning report reminder(s) sent"
    assert _reminders_of(people.author) == ["report.overdue"]
