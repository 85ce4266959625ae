"""The inbox: every notice is kept for its person (mail or no mail), "your turn" follows the state for every role,
and reminders go out once per deadline and at most once an hour from the facilitator."""

# ruff: noqa: F811
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event, func, select, update

from fundcircle import unit_of_work
from fundcircle.auth.models import User
from fundcircle.consent.services import answer_consent, open_consent_round, withdraw_objection
from fundcircle.db import utcnow
from fundcircle.deliberation.services import add_comment
from fundcircle.errors import PermissionDenied, RateLimited
from fundcircle.extensions import db
from fundcircle.inbox.models import Notification, RoundReminder
from fundcircle.inbox.services import remind_undecided, send_deadline_reminders, your_turn
from fundcircle.ledger.models import LedgerEntry
from fundcircle.payouts.models import Payout
from fundcircle.payouts.requesting import submit_due_payouts
from fundcircle.payouts.services import apply_expense_status, approve_payout, get_payout, retry_payout
from fundcircle.proposals.models import Proposal
from fundcircle.rounds.models import Round
from fundcircle.rounds.services import advance_round
from fundcircle.voting.services import cast_ballot
from tests.concurrency import all_at_once
from tests.factories import add_member, make_circle, make_proposal, make_round, make_user, totp_code
from tests.smtp import Inbox, running_smtp
from tests.worlds.treasury import Treasury


@dataclass
class People:
    admin: User
    cara: User  # circle member: deliberates and decides
    mo: User  # community member: proposes
    circle_id: int


def _people() -> People:
    admin = make_user(name="Ada Admin")
    circle = make_circle(admin)
    cara, mo = make_user(name="Cara"), make_user(name="Mo")
    add_member(circle, cara, ["circle"], by=admin)
    add_member(circle, mo, ["member"], by=admin)
    return People(admin, cara, mo, circle.id)


def _kinds(user: User, **kwargs: Any) -> list[str]:
    return [item.kind for item in your_turn(user, utcnow(), **kwargs)]


def _move(admin: User, round_: Round, *phases: str) -> None:
    for phase in phases:
        advance_round(admin, round_, phase, utcnow())
    db.session.commit()


def test_quadratic_round_items_appear_for_each_role_and_disappear_when_done(ctx: Flask) -> None:
    people = _people()
    round_ = make_round(_circle(people), people.admin)
    assert _kinds(people.cara) == _kinds(people.mo) == []  # a draft asks nothing of anyone

    _move(people.admin, round_, "proposals")
    assert _kinds(people.cara) == ["round.open_for_proposals"]
    assert _kinds(people.mo) == ["round.open_for_proposals"]
    tina = make_user(name="Tina")
    add_member(_circle(people), tina, ["treasurer"], by=people.admin)
    assert _kinds(tina) == []  # a treasurer alone is neither a community nor a circle member
    proposal = make_proposal(round_, people.mo)
    assert _kinds(people.mo) == []  # proposed: done

    add_comment(people.cara, proposal, "How many seeds?", parent_id=None, question=True, now=utcnow())
    db.session.commit()
    assert _kinds(people.mo) == ["proposal.question_to_answer"]
    question = db.session.scalars(select(Proposal).where(Proposal.id == proposal.id)).one()
    _move(people.admin, round_, "deliberation")
    assert "proposal.question_to_answer" in _kinds(people.mo)
    parent_id = _question_id(question.id)
    add_comment(people.mo, question, "About two hundred.", parent_id=parent_id, question=False, now=utcnow())
    db.session.commit()
    assert _kinds(people.mo) == []  # answered

    _move(people.admin, round_, "deciding")
    assert _kinds(people.cara) == ["round.ballot_to_cast"]
    assert _kinds(people.mo) == []  # a community member does not vote
    cast_ballot(people.cara, round_, {proposal.id: 1}, utcnow())
    db.session.commit()
    assert _kinds(people.cara) == []


def _circle(people: People) -> Any:
    from fundcircle.circles.models import Circle

    return db.session.get_one(Circle, people.circle_id)


def _question_id(proposal_id: int) -> int:
    from fundcircle.deliberation.models import Comment

    return db.session.scalars(select(Comment.id).where(Comment.proposal_id == proposal_id)).one()


def test_consent_answers_and_objections_appear_and_disappear(ctx: Flask) -> None:
    people = _people()
    round_ = make_round(_circle(people), people.admin, method="consent", quorum_percent=0)
    _move(people.admin, round_, "proposals")
    proposal = make_proposal(round_, people.mo)
    _move(people.admin, round_, "deliberation", "deciding")
    assert _kinds(people.cara) == []  # no consent round open yet
    consent_round = open_consent_round(people.admin, proposal, utcnow())
    db.session.commit()
    item = your_turn(people.cara, utcnow())[0]
    assert item.kind == "consent.answer_to_give" and item.url == f"/consent-rounds/{consent_round.id}"

    answer_consent(people.cara, consent_round, "objection", "It costs too much for one shelf.", utcnow())
    db.session.commit()
    assert _kinds(people.cara) == []  # answered
    assert _kinds(people.mo) == ["proposal.objection_to_integrate"]  # the author integrates it
    withdraw_objection(people.cara, consent_round, utcnow())
    db.session.commit()
    assert _kinds(people.mo) == []


def test_your_turn_on_one_circle_leaves_the_others_out(ctx: Flask) -> None:
    people = _people()
    other_admin = make_user()
    other = make_circle(other_admin)
    add_member(other, people.cara, ["circle"], by=other_admin)
    for circle, admin in ((_circle(people), people.admin), (other, other_admin)):
        _move(admin, make_round(circle, admin), "proposals")
    assert len(your_turn(people.cara, utcnow())) == 2
    assert [item.circle_id for item in your_turn(people.cara, utcnow(), circle_id=other.id)] == [other.id]


class QueryCounter:
    def __init__(self) -> None:
        self.statements: list[str] = []

    def __call__(self, *args: Any) -> None:
        self.statements.append(args[2])


@pytest.fixture
def queries(ctx: Flask) -> Iterator[QueryCounter]:
    counter = QueryCounter()
    event.listen(db.engine, "before_cursor_execute", counter)
    yield counter
    event.remove(db.engine, "before_cursor_execute", counter)


def test_your_turn_costs_the_same_queries_for_one_item_as_for_many(ctx: Flask, queries: QueryCounter) -> None:
    people = _people()
    circle = _circle(people)
    first = make_round(circle, people.admin)
    _move(people.admin, first, "proposals")
    db.session.expire_all()
    queries.statements.clear()
    assert len(your_turn(people.cara, utcnow())) == 1
    one = len(queries.statements)
    for _ in range(6):
        _move(people.admin, make_round(circle, people.admin), "proposals")
    db.session.expire_all()
    queries.statements.clear()
    assert len(your_turn(people.cara, utcnow())) == 7
    assert len(queries.statements) == one <= 12, queries.statements


def test_payouts_waiting_follow_the_approval_rules_and_disappear_once_approved(treasury: Treasury) -> None:
    with treasury.app.app_context():
        people = {name: _user(treasury, name) for name in ("tomas", "tess", "author", "eli", "bea")}
        seed, bike = treasury.payout_ids["Seed library"], treasury.payout_ids["Bike repair"]

        def waiting(name: str) -> list[str]:
            return [item.url for item in your_turn(people[name], utcnow()) if item.kind == "payout.approval_waiting"]

        assert sorted(waiting("tomas")) == sorted([f"/payouts/{seed}", f"/payouts/{bike}"])
        assert waiting("tess") == [f"/payouts/{seed}"]  # the payee of the bike repair may not approve it
        assert waiting("author") == [f"/payouts/{bike}"]  # nor the author of the seed library approve theirs
        assert waiting("bea") == waiting("eli") == []  # not treasurers

        approve_payout(people["tomas"], get_payout(seed), totp_code(treasury.totp_secrets["tomas"]), utcnow())
        db.session.commit()
        assert waiting("tomas") == [f"/payouts/{bike}"]
        assert waiting("tess") == []


def test_failed_payouts_wait_for_treasurers_until_retried(treasury: Treasury) -> None:
    with treasury.app.app_context():
        tomas, bea = _user(treasury, "tomas"), _user(treasury, "bea")
        seed = treasury.payout_ids["Seed library"]
        # As a request Open Collective refused leaves it (payouts/requesting.py), set directly for the test.
        db.session.execute(update(Payout).where(Payout.id == seed).values(status="failed"))
        db.session.commit()
        assert "payout.needs_treasurer" in _kinds(tomas)
        assert "payout.needs_treasurer" not in _kinds(bea)
        retry_payout(tomas, get_payout(seed), utcnow())
        db.session.commit()
        assert "payout.needs_treasurer" not in _kinds(tomas)


def test_my_payout_invited_then_paid_is_shown_to_its_author_and_payee(treasury: Treasury) -> None:
    with treasury.app.app_context():
        tomas, eli, tess = (_user(treasury, name) for name in ("tomas", "eli", "tess"))
        bike = treasury.payout_ids["Bike repair"]
        approve_payout(tomas, get_payout(bike), totp_code(treasury.totp_secrets["tomas"]), utcnow())
        db.session.commit()
        submit_due_payouts()
        payout = treasury.payout("Bike repair")
        assert payout.status == "invited"
        assert "payout.yours_invited" in _kinds(eli)  # the author
        assert "payout.yours_invited" in _kinds(tess)  # the payee, by e-mail address
        assert "payout.yours_invited" not in _kinds(tomas)
        assert payout.expense_id is not None
        apply_expense_status(payout, payout.expense_id, "PAID", utcnow(), via="test")
        db.session.commit()
        assert "payout.yours_paid" in _kinds(eli) and "payout.yours_invited" not in _kinds(eli)
        assert "payout.yours_paid" not in [item.kind for item in your_turn(eli, utcnow() + timedelta(days=8))]


def _user(treasury: Treasury, name: str) -> User:
    return db.session.scalars(select(User).where(User.email == treasury.emails[name])).one()


# --- notices kept in the inbox ------------------------------------------------------------------------------------


def _notices(user: User, kind: str | None = None) -> list[Notification]:
    query = select(Notification).where(Notification.user_id == user.id)
    if kind is not None:
        query = query.where(Notification.kind == kind)
    return list(db.session.scalars(query.order_by(Notification.id)))


def test_a_phase_change_is_kept_in_the_inbox_without_a_mail_server_and_with_mail_turned_off(ctx: Flask) -> None:
    people = _people()
    people.cara.email_notices = False
    db.session.commit()
    round_ = make_round(_circle(people), people.admin)
    _move(people.admin, round_, "proposals")
    kept = _notices(people.cara, "round.phase_changed")
    assert [notice.url for notice in kept] == [f"http://localhost/rounds/{round_.id}"]
    assert kept[0].circle_id == people.circle_id and kept[0].read_at is None
    assert "now open for proposals" in kept[0].text


def test_a_change_that_rolls_back_keeps_no_notice(ctx: Flask) -> None:
    people = _people()
    round_ = make_round(_circle(people), people.admin)
    advance_round(people.admin, round_, "proposals", utcnow())
    db.session.rollback()
    assert _notices(people.cara) == []


# --- reminders ----------------------------------------------------------------------------------------------------


@pytest.fixture
def smtp() -> Iterator[tuple[int, Inbox]]:
    with running_smtp() as server:
        yield server


def _deciding_round(people: People, **overrides: Any) -> tuple[Round, Proposal]:
    now = utcnow()
    round_ = make_round(_circle(people), people.admin, **overrides)
    _move(people.admin, round_, "proposals")
    proposal = make_proposal(round_, people.mo)
    _move(people.admin, round_, "deliberation", "deciding")
    round_.deciding_close_at = now + timedelta(hours=3)  # the deadline is near
    db.session.commit()
    return round_, proposal


def test_deadline_reminders_go_once_per_deadline_to_those_with_something_left(
    make_app: Any, smtp: tuple[int, Inbox]
) -> None:
    port, mailbox = smtp
    app = make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=port)
    with app.app_context():
        people = _people()
        dora = make_user(name="Dora")
        add_member(_circle(people), dora, ["circle"], by=people.admin)
        round_, proposal = _deciding_round(people)
        cast_ballot(dora, round_, {proposal.id: 1}, utcnow())
        unit_of_work.commit()  # and the notices of the set-up's phase changes
        mailbox.clear()

        assert send_deadline_reminders(utcnow() - timedelta(hours=22)) == 0  # 25 hours before: not yet
        assert send_deadline_reminders(utcnow()) == 1
        assert send_deadline_reminders(utcnow()) == 0  # the same deadline, again: nothing
        assert [n.kind for n in _notices(people.cara, "round.deadline_reminder")] == ["round.deadline_reminder"]
        assert _notices(dora, "round.deadline_reminder") == []  # she voted
        assert _notices(people.mo, "round.deadline_reminder") == []  # a community member does not vote
        assert mailbox.recipients() == [people.cara.email]
        assert "cast your ballot" in str(mailbox.messages[0]["Subject"])
        assert _ledger_actions(people.circle_id).count("round.deadline_reminder_sent") == 1

        round_.deciding_close_at = utcnow() + timedelta(hours=2)  # the deadline moved: a new one to remind of
        db.session.commit()
        assert send_deadline_reminders(utcnow()) == 1
        assert db.session.scalar(select(func.count()).select_from(RoundReminder)) == 2


def test_a_round_set_to_remind_never_sends_no_reminder(ctx: Flask) -> None:
    people = _people()
    _deciding_round(people, remind_before_hours=0)
    assert send_deadline_reminders(utcnow()) == 0
    assert _notices(people.cara, "round.deadline_reminder") == []


def test_the_facilitator_reminds_the_undecided_at_most_once_an_hour(ctx: Flask) -> None:
    people = _people()
    round_, proposal = _deciding_round(people)
    now = utcnow()
    with pytest.raises(PermissionDenied):
        remind_undecided(people.cara, round_, now)
    db.session.rollback()
    assert remind_undecided(people.admin, round_, now) == 1
    db.session.commit()
    assert len(_notices(people.cara, "round.facilitator_reminder")) == 1
    with pytest.raises(RateLimited, match="the next one can be sent from"):
        remind_undecided(people.admin, round_, now + timedelta(minutes=59))
    db.session.rollback()
    assert remind_undecided(people.admin, round_, now + timedelta(minutes=61)) == 1
    db.session.commit()
    assert len(_notices(people.cara, "round.facilitator_reminder")) == 2
    assert _ledger_actions(people.circle_id).count("round.reminder_sent") == 2


def _ledger_actions(circle_id: int) -> list[str]:
    from fundcircle.ledger.models import LedgerChain

    chain = db.session.scalars(select(LedgerChain.id).where(LedgerChain.circle_id == circle_id)).one()
    return list(db.session.scalars(select(LedgerEntry.action).where(LedgerEntry.chain_id == chain)))


def test_two_reminder_runs_at_the_same_moment_remind_once(app: Flask) -> None:
    with app.app_context():
        people = _people()
        _deciding_round(people)
        cara_id = people.cara.id
    now = utcnow()
    results = all_at_once([lambda: send_deadline_reminders(now)] * 4, app=app, reraise=True)
    assert sorted(results) == [0, 0, 0, 1]
    with app.app_context():
        kept = db.session.scalar(
            select(func.count()).select_from(Notification).where(
                Notification.user_id == cara_id, Notification.kind == "round.deadline_reminder")
        )  # fmt: skip
        assert kept == 1
