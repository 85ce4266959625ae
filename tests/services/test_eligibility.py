"""Who counts when a round is decided: only the people who hold the "circle" role at that moment. Ballots and consent
answers of people who left the circle change neither the winner nor the turnout (which never passes 100 %), the
published result names what it left out so that it still adds up from the ledger, and an objection of someone who
left lapses, in the ledger, instead of blocking.

Through the services, on the real database (SQLite and PostgreSQL).
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask
from sqlalchemy import delete, select

from fundcircle.auth.models import User
from fundcircle.circles.models import Circle, Membership
from fundcircle.circles.services import set_member_roles
from fundcircle.consent.services import (
    answer_consent,
    answers_of,
    close_consent_round,
    current_outcome,
    get_consent_round,
    open_consent_round,
)
from fundcircle.db import utcnow
from fundcircle.extensions import db
from fundcircle.ledger.models import LedgerEntry
from fundcircle.ledger.reading import verify_ledger
from fundcircle.proposals.models import Proposal
from fundcircle.rounds.models import Round
from fundcircle.rounds.services import advance_round
from fundcircle.voting.models import Ballot
from fundcircle.voting.pabulib_export import pabulib_round
from fundcircle.voting.services import cast_ballot, open_ballots, result_of, turnout
from tests.factories import add_member, make_circle, make_proposal, make_round, make_user


@dataclass
class World:
    circle_id: int
    round_id: int
    admin_id: int
    #: Circle members (role "circle"), by name.
    people: dict[str, int]
    proposals: dict[str, int]


def _get(model: type, key: int) -> object:
    row = db.session.get(model, key, populate_existing=True)
    assert row is not None
    return row


def _user(user_id: int) -> User:
    user = _get(User, user_id)
    assert isinstance(user, User)
    return user


def _round(world: World) -> Round:
    round_ = _get(Round, world.round_id)
    assert isinstance(round_, Round)
    return round_


def _circle(world: World) -> Circle:
    circle = _get(Circle, world.circle_id)
    assert isinstance(circle, Circle)
    return circle


def build_world(method: str, names: tuple[str, ...], *, quorum_percent: int, budget_minor: int = 40_000) -> World:
    """A circle whose admin (not a decider) runs one round, moved to deciding, with two proposals of 25,000 each:
    the budget funds one of them. Every name is a circle member."""
    admin = make_user(name="Facilitator")
    circle = make_circle(admin)
    extra = {"consent_rules": "sociocratic", "categories": []} if method == "consent" else {}
    round_ = make_round(
        circle,
        admin,
        method=method,
        budget_minor=budget_minor,
        per_proposal_cap_minor=budget_minor,
        quorum_percent=quorum_percent,
        **extra,
    )
    advance_round(admin, round_, "proposals", utcnow())
    db.session.commit()
    author = make_user(name="Author")
    add_member(circle, author, ["member"], by=admin)
    people = {}
    for name in names:
        person = make_user(name=name)
        add_member(circle, person, ["member", "circle"], by=admin)
        people[name] = person.id
    proposals = {}
    for title in ("Seed library", "Bike repair"):
        category = None if method == "consent" else "Tools"
        proposals[title] = make_proposal(
            _round_by_id(round_.id), _user(author.id), title=title, category=category, payee_slug=None,
            payee_name="Payee", payee_email="payee@example.org",
        ).id  # fmt: skip
    for phase in ("deliberation", "deciding"):
        advance_round(_user(admin.id), _round_by_id(round_.id), phase, utcnow())
    db.session.commit()
    return World(circle.id, round_.id, admin.id, people, proposals)


def _round_by_id(round_id: int) -> Round:
    round_ = db.session.get(Round, round_id)
    assert round_ is not None
    return round_


def leave(world: World, name: str, roles: list[str]) -> None:
    """The admin takes the "circle" role from `name` (roles left: `roles`; none removes them from the circle)."""
    set_member_roles(_user(world.admin_id), _circle(world), world.people[name], roles)
    db.session.commit()


def _ledger_verifies(circle_id: int) -> bool:
    return all(report.result.ok for report in verify_ledger([circle_id]))


def _published(world: World) -> dict[str, object]:
    data = db.session.scalars(
        select(LedgerEntry.data).where(
            LedgerEntry.action == "round.result_published", LedgerEntry.subject_id == world.round_id
        )
    ).one()
    assert isinstance(data, dict)
    return data


# -- quadratic voting ----------------------------------------------------------------------------------------------


def test_ballots_of_people_who_left_change_neither_the_winner_nor_the_turnout(ctx: Flask) -> None:
    world = build_world("quadratic", ("Ann", "Ben", "Cleo", "Dan"), quorum_percent=50)
    seed, bike = world.proposals["Seed library"], world.proposals["Bike repair"]
    # Ann and Ben prefer the bike repair strongly; Cleo the seed library; Dan does not vote.
    for name, votes in (("Ann", {bike: 5}), ("Ben", {bike: 5}), ("Cleo", {seed: 3})):
        cast_ballot(_user(world.people[name]), _round(world), votes, utcnow())
        db.session.commit()
    receipts = {
        name: db.session.scalars(
            select(Ballot.receipt).where(Ballot.round_id == world.round_id, Ballot.user_id == world.people[name])
        ).one()
        for name in ("Ann", "Ben", "Cleo")
    }
    leave(world, "Ann", ["member"])  # stays in the community, no longer decides
    leave(world, "Ben", [])  # leaves altogether

    # The turnout shown while voting is open already counts only the circle as it is.
    assert turnout(_round(world)) == (1, 2)

    advance_round(_user(world.admin_id), _round(world), "decided", utcnow())
    db.session.commit()

    stored = result_of(_round(world))
    assert stored is not None
    tally, rows = stored
    assert (tally.ballots_cast, tally.eligible_voters) == (1, 2)  # 50 %, not 150 %
    assert tally.ballots_cast <= tally.eligible_voters and tally.quorum_met
    assert [(row.proposal_id, row.funded) for row in rows] == [(seed, True), (bike, False)]

    published = _published(world)
    assert (published["ballots_cast"], published["eligible_voters"]) == (1, 2)
    not_counted = published["not_counted"]
    assert isinstance(not_counted, list)
    assert sorted(item["receipt"] for item in not_counted) == sorted([receipts["Ann"], receipts["Ben"]])
    assert {item["reason"] for item in not_counted} == {"not a circle member when the round was decided"}
    # The published result adds up from the ledger: every ballot entry is counted or named as not counted.
    voters = set(
        db.session.scalars(
            select(LedgerEntry.actor_id).where(
                LedgerEntry.action == "ballot.cast", LedgerEntry.circle_id == world.circle_id
            )
        )
    )
    assert len(voters) == published["ballots_cast"] + len(not_counted)
    assert _ledger_verifies(world.circle_id)

    # The Pabulib export and the list of open ballots hold the counted ballots only: they agree with the result.
    exported = pabulib_round(_round(world))
    assert [votes for _, votes in exported.ballots] == [{seed: 3}]
    assert open_ballots(_round(world)) == [("Cleo", {seed: 3})]


# -- consent -------------------------------------------------------------------------------------------------------


def _open_on(world: World, title: str) -> int:
    proposal = db.session.get(Proposal, world.proposals[title])
    assert proposal is not None
    consent_round = open_consent_round(_user(world.admin_id), proposal, utcnow())
    db.session.commit()
    return consent_round.id


def _answer(world: World, consent_round_id: int, name: str, position: str, argument: str = "") -> None:
    answer_consent(_user(world.people[name]), get_consent_round(consent_round_id), position, argument, utcnow())
    db.session.commit()


def test_an_objection_of_someone_who_left_lapses_in_the_ledger_and_stops_blocking(ctx: Flask) -> None:
    world = build_world("consent", ("Ann", "Ben", "Cleo"), quorum_percent=50)
    consent_round_id = _open_on(world, "Seed library")
    _answer(world, consent_round_id, "Ann", "objection", "The shelf has no room.")
    _answer(world, consent_round_id, "Ben", "consent")
    _answer(world, consent_round_id, "Cleo", "consent")
    assert current_outcome(get_consent_round(consent_round_id)).reason == "1 objection open"

    leave(world, "Ann", ["member"])

    lapses = db.session.scalars(
        select(LedgerEntry).where(
            LedgerEntry.action == "consent.objection_lapsed", LedgerEntry.circle_id == world.circle_id
        )
    ).all()
    assert len(lapses) == 1
    assert lapses[0].data["user"] == world.people["Ann"] and lapses[0].subject_id == consent_round_id
    (ann,) = [row for row in answers_of(get_consent_round(consent_round_id)) if row.name == "Ann"]
    assert ann.lapsed_at is not None and ann.withdrawn_at is None  # shown as lapsed, not as withdrawn by her
    assert current_outcome(get_consent_round(consent_round_id)).consented

    close_consent_round(_user(world.admin_id), get_consent_round(consent_round_id), utcnow())
    db.session.commit()
    assert get_consent_round(consent_round_id).outcome == "consented"
    assert _ledger_verifies(world.circle_id)


def test_an_answer_of_someone_who_left_does_not_make_up_the_quorum(ctx: Flask) -> None:
    world = build_world("consent", ("Ann", "Ben", "Cleo", "Dan"), quorum_percent=100)
    consent_round_id = _open_on(world, "Seed library")
    for name in ("Ann", "Ben", "Cleo"):
        _answer(world, consent_round_id, name, "consent")
    leave(world, "Ann", [])

    # Three answers but only two of them from the three circle members left: the quorum (all three) is not met.
    outcome = current_outcome(get_consent_round(consent_round_id))
    assert not outcome.consented and outcome.reason == "waiting for 1 of 3 members"


def test_deciding_ignores_answers_of_non_members_even_if_nothing_lapsed_them(ctx: Flask) -> None:
    world = build_world("consent", ("Ann", "Ben", "Cleo"), quorum_percent=50)
    consent_round_id = _open_on(world, "Seed library")
    _answer(world, consent_round_id, "Ann", "objection", "The shelf has no room.")
    _answer(world, consent_round_id, "Ben", "consent")
    _answer(world, consent_round_id, "Cleo", "consent")
    # Ann's membership goes without the circles service (a data fix by hand): nothing lapsed her objection.
    db.session.execute(
        delete(Membership).where(Membership.circle_id == world.circle_id, Membership.user_id == world.people["Ann"])
    )
    db.session.commit()

    advance_round(_user(world.admin_id), _round(world), "decided", utcnow())
    db.session.commit()

    assert get_consent_round(consent_round_id).outcome == "consented"
    closed = db.session.scalars(select(LedgerEntry.data).where(LedgerEntry.action == "consent_round.closed")).one()
    assert closed["not_counted"] == [
        {"user": world.people["Ann"], "reason": "not a circle member when the round was decided"}
    ]
    stored = result_of(_round(world))
    assert stored is not None
    tally, rows = stored
    assert (tally.ballots_cast, tally.eligible_voters) == (2, 2)
    funded = {row.proposal_id: row.funded for row in rows}
    assert funded[world.proposals["Seed library"]] is True
    published = _published(world)
    assert published["not_counted"] == [
        {"user": world.people["Ann"], "reason": "not a circle member when the round was decided"}
    ]
