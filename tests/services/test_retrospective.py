"""Round retrospectives through the services, on both databases: only the circle's members answer, only once the
round is closed, once per member even when anonymous; an anonymous answer leaves no user in its row nor in the
ledger; answers change until the next round opens."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import select

from fundcircle.auth.models import User
from fundcircle.circles.models import Circle
from fundcircle.db import utcnow
from fundcircle.errors import Conflict, PermissionDenied, ValidationFailed
from fundcircle.extensions import db
from fundcircle.ledger.models import LedgerChain, LedgerEntry
from fundcircle.rounds import retrospective
from fundcircle.rounds.models import RetrospectiveAnswer, Round
from fundcircle.rounds.retrospective import RetrospectiveInput
from fundcircle.rounds.services import advance_round
from fundcircle.unit_of_work import commit
from tests.factories import add_member, make_circle, make_round, make_user


def close(round_: Round, admin: User) -> Round:
    for phase in ("proposals", "deliberation", "deciding", "decided", "closed"):
        advance_round(admin, round_, phase, utcnow())
    commit()
    return round_


def _entries(circle: Circle, prefix: str) -> list[LedgerEntry]:
    chain = db.session.scalar(select(LedgerChain).where(LedgerChain.circle_id == circle.id))
    assert chain is not None
    return [
        entry
        for entry in db.session.scalars(select(LedgerEntry).where(LedgerEntry.chain_id == chain.id))
        if entry.action.startswith(prefix)
    ]


class World:
    def __init__(self) -> None:
        self.admin = make_user(superuser=True)
        self.circle = make_circle(self.admin)
        self.member = make_user(name="Ana")
        self.decider = make_user(name="Bo")
        add_member(self.circle, self.member, ["member"], by=self.admin)
        add_member(self.circle, self.decider, ["circle"], by=self.admin)
        self.outsider = make_user()
        self.round = make_round(self.circle, self.admin)


@pytest.fixture
def world(ctx: Flask) -> World:
    return World()


def answer(text: str = "the deliberation", *, anonymous: bool = False, fairness: int = 4) -> RetrospectiveInput:
    return RetrospectiveInput(worked=text, change="shorter deadlines", fairness=fairness, effort=3, anonymous=anonymous)


def test_a_member_answers_a_closed_round_and_the_ledger_has_the_ratings_and_a_hash_of_the_texts(world: World) -> None:
    close(world.round, world.admin)
    retrospective.answer_retrospective(world.member, world.round, answer(), utcnow())
    commit()
    row = db.session.scalars(select(RetrospectiveAnswer)).one()
    assert (row.user_id, row.fairness, row.effort, row.worked) == (world.member.id, 4, 3, "the deliberation")
    (entry,) = _entries(world.circle, "retrospective.")
    assert entry.actor_id == world.member.id
    assert entry.data["fairness"] == 4 and entry.data["round"] == world.round.id
    assert "the deliberation" not in str(entry.data) and len(entry.data["texts_sha256"]) == 64


def test_nobody_answers_before_the_round_is_closed(world: World) -> None:
    with pytest.raises(Conflict, match="once the round is closed"):
        retrospective.answer_retrospective(world.member, world.round, answer(), utcnow())
    db.session.rollback()
    assert db.session.scalars(select(RetrospectiveAnswer)).all() == []


@pytest.mark.parametrize("who", ["member", "decider", "admin"])
def test_every_role_in_the_circle_may_answer(world: World, who: str) -> None:
    close(world.round, world.admin)
    retrospective.answer_retrospective(getattr(world, who), world.round, answer(), utcnow())
    commit()
    assert len(db.session.scalars(select(RetrospectiveAnswer)).all()) == 1


def test_someone_outside_the_circle_cannot_answer(world: World) -> None:
    close(world.round, world.admin)
    with pytest.raises(PermissionDenied):
        retrospective.answer_retrospective(world.outsider, world.round, answer(), utcnow())


def test_an_anonymous_answer_has_no_user_in_its_row_nor_in_the_ledger(world: World) -> None:
    close(world.round, world.admin)
    retrospective.answer_retrospective(world.member, world.round, answer(anonymous=True), utcnow())
    commit()
    row = db.session.scalars(select(RetrospectiveAnswer)).one()
    assert row.user_id is None and row.anonymous
    (entry,) = _entries(world.circle, "retrospective.")
    assert entry.actor_id is None and entry.data["anonymous"] is True
    assert world.member.id not in entry.data.values()
    assert "Ana" not in str(entry.data)
    summary = retrospective.summary_of(world.round)
    assert [point.name for point in summary.worked] == [None]


def test_a_second_answer_changes_the_first_even_when_anonymous(world: World) -> None:
    close(world.round, world.admin)
    retrospective.answer_retrospective(world.member, world.round, answer("first", anonymous=True), utcnow())
    commit()
    retrospective.answer_retrospective(
        world.member, world.round, answer("second", anonymous=True, fairness=2), utcnow()
    )
    commit()
    (row,) = db.session.scalars(select(RetrospectiveAnswer)).all()
    assert (row.worked, row.fairness) == ("second", 2)
    assert [entry.action for entry in _entries(world.circle, "retrospective.")] == [
        "retrospective.answered",
        "retrospective.changed",
    ]


def test_the_database_refuses_a_second_row_for_the_same_member(world: World) -> None:
    close(world.round, world.admin)
    retrospective.answer_retrospective(world.member, world.round, answer(anonymous=True), utcnow())
    commit()
    db.session.add(
        RetrospectiveAnswer(
            round_id=world.round.id,
            voter_key=retrospective.voter_key(world.round.id, world.member.id),
            anonymous=False,
            user_id=world.member.id,
            worked="again",
            change="",
            fairness=1,
            effort=1,
        )
    )
    with pytest.raises(Exception, match="(?i)unique"):
        db.session.flush()
    db.session.rollback()


def test_answers_are_final_once_the_next_round_opens(world: World) -> None:
    close(world.round, world.admin)
    retrospective.answer_retrospective(world.member, world.round, answer(), utcnow())
    commit()
    later = make_round(world.circle, world.admin, title="Autumn")
    advance_round(world.admin, later, "proposals", utcnow())
    commit()
    with pytest.raises(Conflict, match="next round has opened"):
        retrospective.answer_retrospective(world.member, world.round, answer("changed"), utcnow())
    db.session.rollback()
    assert db.session.scalars(select(RetrospectiveAnswer)).one().worked == "the deliberation"


@pytest.mark.parametrize(
    ("data", "field"),
    [
        (RetrospectiveInput("x", "y", 0, 3), "fairness"),
        (RetrospectiveInput("x", "y", 3, 6), "effort"),
        (RetrospectiveInput("x" * 2001, "y", 3, 3), "worked"),
    ],
)
def test_bad_input_is_refused_and_stores_nothing(world: World, data: RetrospectiveInput, field: str) -> None:
    close(world.round, world.admin)
    with pytest.raises(ValidationFailed) as caught:
        retrospective.answer_retrospective(world.member, world.round, data, utcnow())
    assert field in caught.value.fields
    db.session.rollback()
    assert db.session.scalars(select(RetrospectiveAnswer)).all() == []


def test_the_last_retrospective_is_the_latest_closed_round_with_answers(world: World) -> None:
    assert retrospective.last_retrospective(world.circle) is None
    close(world.round, world.admin)
    retrospective.answer_retrospective(world.decider, world.round, answer(), utcnow())
    commit()
    found = retrospective.last_retrospective(world.circle)
    assert found is not None
    round_, summary = found
    assert round_.id == world.round.id
    assert [(point.text, point.name) for point in summary.change] == [("shorter deadlines", "Bo")]
