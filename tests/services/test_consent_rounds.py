"""Consent decisions end to end, on SQLite and PostgreSQL: both rule sets through the services and the API, objections
resolved by amendment or by withdrawal, the budget rule (also when consent rounds close at the same moment), who may
do what, the deciding deadline, the results and the ledger."""

from __future__ import annotations

import csv
import io
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select, update

from fundcircle.auth.models import User
from fundcircle.circles.models import Circle
from fundcircle.consent.models import ConsentAnswer, ConsentRound
from fundcircle.consent.services import (
    add_reaction,
    answer_consent,
    close_consent_round,
    current_outcome,
    open_consent_round,
    withdraw_objection,
)
from fundcircle.db import utcnow
from fundcircle.errors import Conflict, PermissionDenied, ValidationFailed
from fundcircle.extensions import db
from fundcircle.ledger.models import LedgerEntry
from fundcircle.payouts.models import Payout
from fundcircle.proposals.models import Proposal
from fundcircle.proposals.services import ProposalInput, current_version, update_proposal, withdraw_proposal
from fundcircle.rounds.models import Round
from fundcircle.rounds.phases import format_time
from fundcircle.rounds.services import advance_round
from tests.concurrency import all_at_once
from tests.conftest import Client
from tests.factories import add_member, make_circle, make_proposal, make_round, make_token, make_user

#: The three kinds of answer of each rule set: the one that consents, the one recorded without blocking, the one
#: that stops the version.
POSITIONS = {
    "sociocratic": {"yes": "consent", "aside": "concern", "stop": "objection"},
    "consensus": {"yes": "agree", "aside": "stand_aside", "stop": "block"},
}
#: Why a version with one open objection (or block) is not consented.
STOPPED_BY_ONE = {"sociocratic": "1 objection open", "consensus": "blocked by 1"}
STOPPED_STATE = {"sociocratic": "open", "consensus": "stopped"}
RULES = ["sociocratic", "consensus"]


@dataclass
class Person:
    id: int
    email: str
    token: str


@dataclass
class ConsentWorld:
    round_id: int
    circle_id: int
    admin: Person
    deciders: list[Person]
    author: Person
    member: Person
    treasurer: Person
    outsider: Person
    proposals: dict[str, int]
    amounts: dict[str, int]


def _person(user: User) -> Person:
    return Person(user.id, user.email, make_token(user))


def _consent_world(
    app: Flask,
    *,
    rules: str = "sociocratic",
    deciders: int = 5,
    budget_minor: int = 100_000,
    amounts: dict[str, int] | None = None,
    quorum_percent: int = 50,
    to: str = "deciding",
) -> ConsentWorld:
    """A private circle with a facilitator (admin, not a decider), `deciders` circle members, a proposals' author
    and a community member (role member), a treasurer and an outsider; a consent round moved to `to`."""
    amounts = amounts if amounts is not None else {"fridge": 60_000, "tools": 50_000}
    with app.app_context():
        admin = make_user(name="Facilitator")
        circle = make_circle(admin)
        round_ = make_round(
            circle,
            admin,
            method="consent",
            consent_rules=rules,
            categories=[],
            budget_minor=budget_minor,
            per_proposal_cap_minor=budget_minor,
            quorum_percent=quorum_percent,
            max_proposals_per_member=max(3, len(amounts)),
        )
        advance_round(admin, round_, "proposals", utcnow())
        db.session.commit()
        author = make_user(name="Author")
        add_member(circle, author, ["member"], by=admin)
        member = make_user(name="Community member")
        add_member(circle, member, ["member"], by=admin)
        treasurer = make_user(name="Treasurer")
        add_member(circle, treasurer, ["member", "treasurer"], by=admin)
        outsider = make_user(name="Outsider")
        circle_members = []
        for number in range(deciders):
            decider = make_user(name=f"Decider {number + 1}")
            add_member(circle, decider, ["member", "circle"], by=admin)
            circle_members.append(decider)
        round_ = db.session.get(Round, round_.id)
        author = db.session.get(User, author.id)
        proposals = {}
        for name, amount in amounts.items():
            proposals[name] = make_proposal(
                round_,
                author,
                title=f"Proposal {name}",
                amount_minor=amount,
                category=None,
                payee_slug=f"payee-{name}",
            ).id
            round_ = db.session.get(Round, round_.id)
            author = db.session.get(User, author.id)
        if to in ("deliberation", "deciding"):
            advance_round(admin, round_, "deliberation", utcnow())
        if to == "deciding":
            advance_round(admin, round_, "deciding", utcnow())
        db.session.commit()
        return ConsentWorld(
            round_id=round_.id,
            circle_id=circle.id,
            admin=_person(db.session.get(User, admin.id)),
            deciders=[_person(db.session.get(User, d.id)) for d in circle_members],
            author=_person(db.session.get(User, author.id)),
            member=_person(db.session.get(User, member.id)),
            treasurer=_person(db.session.get(User, treasurer.id)),
            outsider=_person(db.session.get(User, outsider.id)),
            proposals=proposals,
            amounts=amounts,
        )


def _api(app: Flask, method: str, url: str, token: str | None, body: Any = None) -> Any:
    client: Client = app.test_client()  # type: ignore[assignment]
    return client.json_call(method, url, body, token=token)


def _open_api(app: Flask, world: ConsentWorld, name: str) -> dict[str, Any]:
    response = _api(app, "POST", f"/api/v1/proposals/{world.proposals[name]}/consent-rounds", world.admin.token)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def _answer_api(app: Flask, person: Person, consent_round_id: int, position: str, argument: str = "") -> Any:
    body = {"position": position, "argument": argument}
    return _api(app, "PUT", f"/api/v1/consent-rounds/{consent_round_id}/answer", person.token, body)


def _close_api(app: Flask, world: ConsentWorld, consent_round_id: int) -> dict[str, Any]:
    response = _api(app, "POST", f"/api/v1/consent-rounds/{consent_round_id}/close", world.admin.token)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def _amend_api(app: Flask, world: ConsentWorld, name: str, note: str, **changes: Any) -> Any:
    return _api(
        app, "PATCH", f"/api/v1/proposals/{world.proposals[name]}", world.author.token, {**changes, "change_note": note}
    )


def _user(user_id: int) -> User:
    user = db.session.get(User, user_id)
    assert user is not None
    return user


def _consent_round(consent_round_id: int) -> ConsentRound:
    consent_round = db.session.get(ConsentRound, consent_round_id)
    assert consent_round is not None
    return consent_round


def _proposal(proposal_id: int) -> Proposal:
    proposal = db.session.get(Proposal, proposal_id)
    assert proposal is not None
    return proposal


def _amendment(proposal: Proposal, **changes: Any) -> ProposalInput:
    version = current_version(proposal)
    values = {
        "title": version.title,
        "summary": version.summary,
        "body": version.body,
        "amount_minor": version.amount_minor,
        "category": version.category,
        "payee_slug": version.payee_slug,
        "payee_name": version.payee_name,
        "payee_email": version.payee_email,
    }
    values.update(changes)
    return ProposalInput(**values)


def _actions() -> Counter[str]:
    return Counter(db.session.scalars(select(LedgerEntry.action)))


def _entries(action: str) -> list[LedgerEntry]:
    return list(db.session.scalars(select(LedgerEntry).where(LedgerEntry.action == action).order_by(LedgerEntry.id)))


def _committed(round_id: int) -> int:
    return db.session.scalar(select(Round.committed_minor).where(Round.id == round_id))  # type: ignore[return-value]


def _ledger_verifies(app: Flask) -> None:
    result = app.test_cli_runner().invoke(args=["ledger", "verify"])
    assert result.exit_code == 0, result.output


def _results_csv(app: Flask, world: ConsentWorld) -> list[dict[str, str]]:
    response = _api(app, "GET", f"/api/v1/rounds/{world.round_id}/results.csv", world.admin.token)
    assert response.status_code == 200 and response.mimetype == "text/csv"
    return list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))


# --- both rule sets, end to end ----------------------------------------------------------------------------------


@pytest.mark.parametrize("rules", RULES)
def test_a_stopping_answer_keeps_a_version_from_consent_until_an_amended_version_is_consented_through_the_services(
    app: Flask, rules: str
) -> None:
    world = _consent_world(app, rules=rules, amounts={"fridge": 60_000})
    say = POSITIONS[rules]
    with app.app_context():
        admin, author = _user(world.admin.id), _user(world.author.id)
        deciders = [_user(person.id) for person in world.deciders]
        first = open_consent_round(admin, _proposal(world.proposals["fridge"]), utcnow())
        db.session.commit()
        assert (first.version, first.amount_minor) == (1, 60_000)
        for decider in deciders[:3]:
            answer_consent(decider, first, say["yes"], "", utcnow())
        answer_consent(deciders[3], first, say["aside"], "The timeline is tight.", utcnow())
        with pytest.raises(ValidationFailed) as missing:
            answer_consent(deciders[4], first, say["stop"], "   ", utcnow())
        assert "argument" in missing.value.fields
        answer_consent(deciders[4], first, say["stop"], "Nobody is named to keep it clean.", utcnow())
        db.session.commit()
        now = current_outcome(first)
        assert (now.state, now.reason) == (STOPPED_STATE[rules], STOPPED_BY_ONE[rules])
        closed = close_consent_round(admin, first, utcnow())
        db.session.commit()
        assert (closed.outcome, closed.reason) == ("not_consented", STOPPED_BY_ONE[rules])
        assert _committed(world.round_id) == 0

        # nobody can run a second consent round on the same version: the author amends first
        with pytest.raises(Conflict, match="amends the proposal first"):
            open_consent_round(admin, _proposal(world.proposals["fridge"]), utcnow())
        db.session.rollback()
        proposal = _proposal(world.proposals["fridge"])
        with pytest.raises(ValidationFailed) as no_note:
            update_proposal(author, proposal, _amendment(proposal, amount_minor=55_000), change_note=" ", now=utcnow())
        assert "change_note" in no_note.value.fields
        db.session.rollback()
        proposal = _proposal(world.proposals["fridge"])
        note = "Two named people keep it clean: this integrates the objection."
        version = update_proposal(
            author, proposal, _amendment(proposal, amount_minor=55_000), change_note=note, now=utcnow()
        )
        db.session.commit()
        assert version.number == 2 and version.change_note == note

        second = open_consent_round(admin, _proposal(world.proposals["fridge"]), utcnow())
        db.session.commit()
        assert (second.version, second.amount_minor) == (2, 55_000)
        for decider in deciders[:4]:
            answer_consent(decider, second, say["yes"], "", utcnow())
        answer_consent(deciders[4], second, say["aside"], "Still a little worried.", utcnow())
        db.session.commit()
        assert current_outcome(second).consented
        closed = close_consent_round(admin, second, utcnow())
        db.session.commit()
        assert (closed.outcome, closed.reason) == ("consented", "consented")
        assert _committed(world.round_id) == 55_000
        with pytest.raises(Conflict, match="consented already"):
            open_consent_round(admin, _proposal(world.proposals["fridge"]), utcnow())
        db.session.rollback()

        round_ = db.session.get(Round, world.round_id)
        advance_round(admin, round_, "decided", utcnow())
        db.session.commit()
        payouts = db.session.scalars(select(Payout)).all()
        assert [(p.proposal_id, p.proposal_version, p.amount_minor) for p in payouts] == [
            (world.proposals["fridge"], 2, 55_000)
        ]
        published = _entries("round.result_published")[-1].data
        assert published["funded_minor"] == 55_000
        assert [(r["proposal"], r["version"], r["funded"], r["reason"]) for r in published["results"]] == [
            (world.proposals["fridge"], 2, True, "consented")
        ]
    _ledger_verifies(app)


@pytest.mark.parametrize("rules", RULES)
def test_both_rule_sets_through_the_api_record_every_answer_and_fund_only_the_consented_version(
    app: Flask, rules: str
) -> None:
    world = _consent_world(app, rules=rules, amounts={"fridge": 60_000, "tools": 30_000})
    say = POSITIONS[rules]
    other_rules = "consensus" if rules == "sociocratic" else "sociocratic"
    first = _open_api(app, world, "fridge")
    assert (first["version"], first["amount_minor"], first["currency"], first["rules"]) == (1, 60_000, "EUR", rules)
    assert (first["state"], first["reason"], first["closed"], first["answers"]) == (
        "open",
        "nobody has answered yet, 0 of 5",
        False,
        [],
    )
    cr = first["id"]
    # the other rule set's words, and a stopping answer without a reason, are refused
    wrong = _answer_api(app, world.deciders[0], cr, POSITIONS[other_rules]["yes"])
    assert wrong.status_code == 422 and "position" in wrong.get_json()["error"]["fields"]
    bare = _answer_api(app, world.deciders[4], cr, say["stop"], "  ")
    assert bare.status_code == 422 and "argument" in bare.get_json()["error"]["fields"]
    for person in world.deciders[:3]:
        assert _answer_api(app, person, cr, say["yes"]).status_code == 200
    assert _answer_api(app, world.deciders[3], cr, say["aside"]).status_code == 200  # a reason is optional here
    stop = _answer_api(app, world.deciders[4], cr, say["stop"], "Spoiled food would cost us the venue.")
    assert stop.status_code == 200
    body = stop.get_json()
    assert (body["state"], body["reason"]) == (STOPPED_STATE[rules], STOPPED_BY_ONE[rules])
    assert sorted((a["user_id"], a["position"], a["argument"], a["withdrawn"]) for a in body["answers"]) == sorted(
        [(p.id, say["yes"], "", False) for p in world.deciders[:3]]
        + [
            (world.deciders[3].id, say["aside"], "", False),
            (world.deciders[4].id, say["stop"], "Spoiled food would cost us the venue.", False),
        ]
    )
    # the whole circle (community members and treasurers too) reads the answers with their arguments
    for reader in (world.member, world.treasurer, world.deciders[0]):
        seen = _api(app, "GET", f"/api/v1/consent-rounds/{cr}", reader.token)
        assert seen.status_code == 200 and seen.get_json()["answers"] == body["answers"]
    closed = _close_api(app, world, cr)
    assert (closed["state"], closed["reason"], closed["closed"]) == ("not_consented", STOPPED_BY_ONE[rules], True)
    again = _api(app, "POST", f"/api/v1/proposals/{world.proposals['fridge']}/consent-rounds", world.admin.token)
    assert again.status_code == 409

    amended = _amend_api(app, world, "fridge", "Two people now look after it.", amount_minor=55_000)
    assert amended.status_code == 200, amended.get_json()
    assert (amended.get_json()["version"], amended.get_json()["amount_minor"]) == (2, 55_000)
    second = _open_api(app, world, "fridge")
    assert (second["version"], second["amount_minor"]) == (2, 55_000)
    for person in world.deciders:
        assert _answer_api(app, person, second["id"], say["yes"]).status_code == 200
    assert _close_api(app, world, second["id"])["state"] == "consented"

    # "tools" gets a consent round in which the circle stops it, and is never consented
    tools = _open_api(app, world, "tools")
    for person in world.deciders[:4]:
        _answer_api(app, person, tools["id"], say["yes"])
    _answer_api(app, world.deciders[4], tools["id"], say["stop"], "Not what this fund is for.")
    decided = _api(app, "POST", f"/api/v1/rounds/{world.round_id}/advance", world.admin.token, {"to": "decided"})
    assert decided.status_code == 200, decided.get_json()
    results = _api(app, "GET", f"/api/v1/rounds/{world.round_id}/results", world.admin.token).get_json()
    assert results["decided"] is True and results["method"] == "consent"
    assert results["funded_minor"] == 55_000 and results["budget_minor"] == 100_000
    assert [
        (p["proposal_id"], p["version"], p["amount_minor"], p["funded"], p["reason"]) for p in results["proposals"]
    ] == [
        (world.proposals["fridge"], 2, 55_000, True, "consented"),
        (world.proposals["tools"], 1, 30_000, False, f"not consented: {STOPPED_BY_ONE[rules]}"),
    ]
    with app.app_context():
        assert [(p.proposal_id, p.amount_minor) for p in db.session.scalars(select(Payout))] == [
            (world.proposals["fridge"], 55_000)
        ]
    _ledger_verifies(app)


@pytest.mark.parametrize("rules", RULES)
def test_concerns_and_stand_asides_are_recorded_without_blocking(app: Flask, rules: str) -> None:
    world = _consent_world(app, rules=rules, deciders=3, amounts={"garden": 20_000})
    cr = _open_api(app, world, "garden")["id"]
    say = POSITIONS[rules]
    _answer_api(app, world.deciders[0], cr, say["yes"])
    _answer_api(app, world.deciders[1], cr, say["aside"], "I would rather fund tools.")
    _answer_api(app, world.deciders[2], cr, say["aside"])
    closed = _close_api(app, world, cr)
    assert (closed["state"], closed["reason"]) == ("consented", "consented")
    assert {a["argument"] for a in closed["answers"]} == {"", "I would rather fund tools."}


def test_too_few_answers_for_the_quorum_leave_the_version_not_consented(app: Flask) -> None:
    world = _consent_world(app, deciders=5, quorum_percent=60, amounts={"garden": 20_000})
    cr = _open_api(app, world, "garden")["id"]
    for person in world.deciders[:2]:
        _answer_api(app, person, cr, "consent")
    shown = _api(app, "GET", f"/api/v1/consent-rounds/{cr}", world.deciders[0].token).get_json()
    assert (shown["state"], shown["reason"]) == ("open", "waiting for 1 of 5 members")
    closed = _close_api(app, world, cr)
    assert (closed["state"], closed["reason"]) == ("not_consented", "waiting for 1 of 5 members")
    with app.app_context():
        assert _committed(world.round_id) == 0


# --- objections resolved -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("rules", RULES)
def test_only_the_objector_can_withdraw_an_objection_and_then_the_version_can_be_consented(
    app: Flask, rules: str
) -> None:
    world = _consent_world(app, rules=rules, deciders=4, amounts={"fridge": 60_000})
    say = POSITIONS[rules]
    with app.app_context():
        circle_admin = make_user(name="Admin who also decides")
        circle = db.session.get(Circle, world.circle_id)
        add_member(circle, circle_admin, ["admin", "circle"], by=_user(world.admin.id))
        deciding_admin = _person(_user(circle_admin.id))
    cr = _open_api(app, world, "fridge")["id"]
    for person in world.deciders[:3]:
        _answer_api(app, person, cr, say["yes"])
    _answer_api(app, deciding_admin, cr, say["yes"])
    objector = world.deciders[3]
    _answer_api(app, objector, cr, say["stop"], "Who cleans it?")
    url = f"/api/v1/consent-rounds/{cr}/answer/withdraw-objection"
    # nobody else can dismiss it: another circle member, an admin who decides, the facilitator, or anyone else
    assert _api(app, "POST", url, world.deciders[0].token).status_code == 409
    assert _api(app, "POST", url, deciding_admin.token).status_code == 409
    assert _api(app, "POST", url, world.admin.token).status_code == 403
    assert _api(app, "POST", url, world.member.token).status_code == 403
    assert _api(app, "POST", url, world.treasurer.token).status_code == 403
    assert _api(app, "POST", url, world.outsider.token).status_code == 404
    assert _api(app, "POST", url, None).status_code == 401
    with app.app_context():
        with pytest.raises(Conflict):
            withdraw_objection(_user(world.admin.id), _consent_round(cr), utcnow())
        db.session.rollback()
        answer = db.session.get(ConsentAnswer, (cr, objector.id))
        assert answer is not None and answer.withdrawn_at is None
        assert _actions()["consent.objection_withdrawn"] == 0
    still = _api(app, "GET", f"/api/v1/consent-rounds/{cr}", world.admin.token).get_json()
    assert (still["state"], still["reason"]) == (STOPPED_STATE[rules], STOPPED_BY_ONE[rules])

    # the pages say the same: only the objector is offered the button, and another member's click changes nothing
    noun = "objection" if rules == "sociocratic" else "block"
    browser: Client = app.test_client()  # type: ignore[assignment]
    browser.login(world.deciders[0].email)
    assert f"Withdraw my {noun}" not in browser.get(f"/consent-rounds/{cr}").get_data(as_text=True)
    refused = browser.post_form(f"/consent-rounds/{cr}/withdraw-objection", follow_redirects=True)
    assert "You have no open objection" in refused.get_data(as_text=True)
    objector_browser: Client = app.test_client()  # type: ignore[assignment]
    objector_browser.login(objector.email)
    assert f"Withdraw my {noun}" in objector_browser.get(f"/consent-rounds/{cr}").get_data(as_text=True)

    withdrawn = _api(app, "POST", url, objector.token)
    assert withdrawn.status_code == 200
    body = withdrawn.get_json()
    mine = next(a for a in body["answers"] if a["user_id"] == objector.id)
    assert (mine["position"], mine["argument"], mine["withdrawn"]) == (say["stop"], "Who cleans it?", True)
    assert (body["state"], body["reason"]) == ("consented", "consented")
    assert _api(app, "POST", url, objector.token).status_code == 409  # withdrawn already
    assert _close_api(app, world, cr)["state"] == "consented"
    with app.app_context():
        [entry] = _entries("consent.objection_withdrawn")
        assert entry.actor_id == objector.id and entry.data == {
            "proposal": world.proposals["fridge"],
            "version": 1,
        }
        assert _committed(world.round_id) == 60_000
    _ledger_verifies(app)


def test_an_objector_who_answers_again_after_withdrawing_objects_again(app: Flask) -> None:
    world = _consent_world(app, deciders=3, amounts={"fridge": 60_000})
    cr = _open_api(app, world, "fridge")["id"]
    for person in world.deciders[:2]:
        _answer_api(app, person, cr, "consent")
    _answer_api(app, world.deciders[2], cr, "objection", "Who cleans it?")
    _api(app, "POST", f"/api/v1/consent-rounds/{cr}/answer/withdraw-objection", world.deciders[2].token)
    again = _answer_api(app, world.deciders[2], cr, "objection", "Still: who cleans it?").get_json()
    assert (again["state"], again["reason"]) == ("open", "1 objection open")
    assert next(a for a in again["answers"] if a["user_id"] == world.deciders[2].id)["withdrawn"] is False


def test_amendments_while_deciding_are_the_authors_alone_with_a_note_and_never_during_an_open_consent_round(
    app: Flask,
) -> None:
    world = _consent_world(app, deciders=3, amounts={"fridge": 60_000})
    note = "Two people look after it."
    url = f"/api/v1/proposals/{world.proposals['fridge']}"
    # the facilitator, a circle member or a community member cannot amend someone else's proposal
    for person in (world.admin, world.deciders[0], world.member):
        other = _api(app, "PATCH", url, person.token, {"amount_minor": 50_000, "change_note": note})
        assert other.status_code == 403, person
    cr = _open_api(app, world, "fridge")["id"]
    during = _amend_api(app, world, "fridge", note, amount_minor=55_000)
    assert during.status_code == 409
    _answer_api(app, world.deciders[0], cr, "objection", "Who cleans it?")
    _close_api(app, world, cr)
    without_note = _amend_api(app, world, "fridge", "", amount_minor=55_000)
    assert without_note.status_code == 422 and "change_note" in without_note.get_json()["error"]["fields"]
    assert _amend_api(app, world, "fridge", note, amount_minor=55_000).status_code == 200
    versions = _api(app, "GET", f"{url}/versions", world.deciders[0].token).get_json()["items"]
    assert [(v["number"], v["amount_minor"], v["change_note"]) for v in versions] == [
        (1, 60_000, ""),
        (2, 55_000, note),
    ]
    second = _open_api(app, world, "fridge")
    for person in world.deciders:
        _answer_api(app, person, second["id"], "consent")
    _close_api(app, world, second["id"])
    after = _amend_api(app, world, "fridge", "One more change.", amount_minor=50_000)
    assert after.status_code == 409
    with app.app_context():
        [entry] = _entries("proposal.amended")
        assert entry.actor_id == world.author.id
        assert entry.data["version"] == 2 and entry.data["change_note"] == note


def test_two_admins_opening_a_consent_round_on_one_proposal_at_once_open_exactly_one(app: Flask) -> None:
    world = _consent_world(app, deciders=2, amounts={"fridge": 60_000})
    with app.app_context():
        circle = db.session.get(Circle, world.circle_id)
        tokens = [world.admin.token]
        for _ in range(5):
            admin = make_user()
            add_member(circle, admin, ["admin"], by=_user(world.admin.id))
            circle = db.session.get(Circle, world.circle_id)
            tokens.append(make_token(admin))
    url = f"/api/v1/proposals/{world.proposals['fridge']}/consent-rounds"
    statuses = Counter(
        response.status_code if not isinstance(response, Exception) else repr(response)
        for response in all_at_once([lambda token=token: _api(app, "POST", url, token) for token in tokens])
    )
    assert statuses[201] == 1 and set(statuses) <= {201, 409}, statuses
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(ConsentRound)) == 1
        assert _actions()["consent_round.opened"] == 1


def test_consent_rounds_are_opened_only_on_submitted_proposals_of_a_consent_round_that_is_deciding(
    app: Flask,
) -> None:
    world = _consent_world(app, deciders=2, to="deliberation", amounts={"fridge": 60_000, "tools": 20_000})
    early = _api(app, "POST", f"/api/v1/proposals/{world.proposals['fridge']}/consent-rounds", world.admin.token)
    assert early.status_code == 409
    with app.app_context():
        advance_round(_user(world.admin.id), db.session.get(Round, world.round_id), "deciding", utcnow())
        withdraw_proposal(_user(world.author.id), _proposal(world.proposals["tools"]), utcnow())
        db.session.commit()
    withdrawn = _api(app, "POST", f"/api/v1/proposals/{world.proposals['tools']}/consent-rounds", world.admin.token)
    assert withdrawn.status_code == 409
    assert _open_api(app, world, "fridge")["version"] == 1


# --- the budget rule ---------------------------------------------------------------------------------------------


def test_a_consent_that_does_not_fit_what_is_left_is_not_consented_until_amended_to_fit(app: Flask) -> None:
    world = _consent_world(app, deciders=3, amounts={"fridge": 55_000, "tools": 50_000})
    fridge = _open_api(app, world, "fridge")["id"]
    for person in world.deciders:
        _answer_api(app, person, fridge, "consent")
    _close_api(app, world, fridge)
    tools = _open_api(app, world, "tools")["id"]
    for person in world.deciders:
        shown = _answer_api(app, person, tools, "consent").get_json()
    assert (shown["state"], shown["reason"]) == ("no_budget", "needs 500.00 EUR, 450.00 EUR left")
    closed = _close_api(app, world, tools)
    assert (closed["state"], closed["reason"]) == ("not_consented", "needs 500.00 EUR, 450.00 EUR left")
    with app.app_context():
        assert _committed(world.round_id) == 55_000
        assert _entries("consent_round.closed")[-1].data["reason"] == "needs 500.00 EUR, 450.00 EUR left"

    # amended to exactly what is left, it fits
    assert (
        _amend_api(app, world, "tools", "Half the tools, all the budget left.", amount_minor=45_000).status_code == 200
    )
    again = _open_api(app, world, "tools")["id"]
    for person in world.deciders:
        _answer_api(app, person, again, "consent")
    assert _close_api(app, world, again)["state"] == "consented"
    with app.app_context():
        round_ = db.session.get(Round, world.round_id)
        assert round_.committed_minor == round_.budget_minor == 100_000
    _api(app, "POST", f"/api/v1/rounds/{world.round_id}/advance", world.admin.token, {"to": "decided"})
    results = _api(app, "GET", f"/api/v1/rounds/{world.round_id}/results", world.admin.token).get_json()
    assert results["funded_minor"] == 100_000
    assert [(p["proposal_id"], p["version"], p["funded"]) for p in results["proposals"]] == [
        (world.proposals["fridge"], 1, True),
        (world.proposals["tools"], 2, True),
    ]


CONCURRENT_AMOUNTS = {
    "a": 40_000,
    "b": 35_000,
    "c": 30_000,
    "d": 25_000,
    "e": 20_000,
    "f": 45_000,
    "g": 40_000,
    "h": 15_000,
}


def _all_consented_and_open(app: Flask, world: ConsentWorld) -> dict[str, int]:
    """A consent round on every proposal, with every circle member consenting; none closed yet."""
    rounds = {}
    for name in world.proposals:
        rounds[name] = _open_api(app, world, name)["id"]
        for person in world.deciders:
            assert _answer_api(app, person, rounds[name], "consent").status_code == 200
    return rounds


def _check_never_over_committed(app: Flask, world: ConsentWorld, rounds: dict[str, int]) -> None:
    with app.app_context():
        round_ = db.session.get(Round, world.round_id)
        closed = {name: _consent_round(cr) for name, cr in rounds.items()}
        assert all(cr.closed_at is not None for cr in closed.values())
        consented = [name for name, cr in closed.items() if cr.outcome == "consented"]
        assert consented, "at least one proposal fits"
        assert round_.committed_minor <= round_.budget_minor
        assert round_.committed_minor == sum(world.amounts[name] for name in consented)
        left = round_.budget_minor - round_.committed_minor
        for name, cr in closed.items():
            if cr.outcome != "consented":
                # refused only because it did not fit, and it would not fit in what is left at the end either
                assert cr.reason is not None and cr.reason.startswith(f"needs {world.amounts[name] // 100}.00 EUR, ")
                assert world.amounts[name] > left
        reserved = [e.data for e in _entries("consent_round.closed") if e.data["outcome"] == "consented"]
        assert sorted(d["amount_minor"] for d in reserved) == sorted(world.amounts[n] for n in consented)
        assert max(d["committed_minor"] for d in reserved) == round_.committed_minor
    _api(app, "POST", f"/api/v1/rounds/{world.round_id}/advance", world.admin.token, {"to": "decided"})
    results = _api(app, "GET", f"/api/v1/rounds/{world.round_id}/results", world.admin.token).get_json()
    funded = [p for p in results["proposals"] if p["funded"]]
    assert results["funded_minor"] == sum(p["amount_minor"] for p in funded) <= results["budget_minor"]
    with app.app_context():
        payouts = db.session.scalars(select(Payout)).all()
        assert sorted(p.proposal_id for p in payouts) == sorted(p["proposal_id"] for p in funded)
    _ledger_verifies(app)


def test_consent_rounds_closed_at_the_same_moment_through_the_api_never_together_exceed_the_budget(
    app: Flask,
) -> None:
    world = _consent_world(app, deciders=2, amounts=CONCURRENT_AMOUNTS)
    rounds = _all_consented_and_open(app, world)

    def close(consent_round_id: int) -> int:
        return _api(app, "POST", f"/api/v1/consent-rounds/{consent_round_id}/close", world.admin.token).status_code

    statuses = all_at_once([lambda cr=cr: close(cr) for cr in rounds.values()])
    assert statuses == [200] * len(rounds), statuses
    _check_never_over_committed(app, world, rounds)


def test_consent_rounds_closed_at_the_same_moment_through_the_services_never_together_exceed_the_budget(
    app: Flask,
) -> None:
    world = _consent_world(app, deciders=2, amounts=CONCURRENT_AMOUNTS)
    rounds = _all_consented_and_open(app, world)

    def close(consent_round_id: int) -> str:
        with app.app_context():
            try:
                closed = close_consent_round(_user(world.admin.id), _consent_round(consent_round_id), utcnow())
                outcome = closed.outcome
                db.session.commit()
            except BaseException:
                db.session.rollback()
                raise
            assert outcome is not None
            return outcome

    outcomes = all_at_once([lambda cr=cr: close(cr) for cr in rounds.values()])
    assert all(isinstance(outcome, str) for outcome in outcomes), outcomes
    _check_never_over_committed(app, world, rounds)


def test_one_consent_round_closed_by_many_at_once_is_closed_and_reserved_exactly_once(app: Flask) -> None:
    world = _consent_world(app, deciders=2, amounts={"fridge": 60_000})
    with app.app_context():
        tokens = [world.admin.token]
        for _ in range(7):
            admin = make_user()
            add_member(db.session.get(Circle, world.circle_id), admin, ["admin"], by=_user(world.admin.id))
            tokens.append(make_token(admin))
    cr = _all_consented_and_open(app, world)["fridge"]
    statuses = Counter(
        all_at_once(
            [
                lambda token=token: _api(app, "POST", f"/api/v1/consent-rounds/{cr}/close", token).status_code
                for token in tokens
            ]
        )
    )
    assert statuses[200] == 1 and set(statuses) <= {200, 409}, statuses
    with app.app_context():
        assert _committed(world.round_id) == 60_000
        assert _actions()["consent_round.closed"] == 1
    _ledger_verifies(app)


def test_a_consented_proposal_withdrawn_before_the_result_is_not_counted_in_the_funded_total(app: Flask) -> None:
    world = _consent_world(app, deciders=2, amounts={"fridge": 60_000, "tools": 30_000})
    rounds = _all_consented_and_open(app, world)
    for cr in rounds.values():
        assert _close_api(app, world, cr)["state"] == "consented"
    withdrawn = _api(app, "POST", f"/api/v1/proposals/{world.proposals['fridge']}/withdraw", world.author.token)
    # Either withdrawing a consented proposal is refused, or its reservation goes back to the pot; what may never
    # happen is a funded total that counts money no funded proposal receives.
    _api(app, "POST", f"/api/v1/rounds/{world.round_id}/advance", world.admin.token, {"to": "decided"})
    results = _api(app, "GET", f"/api/v1/rounds/{world.round_id}/results", world.admin.token).get_json()
    funded = [p for p in results["proposals"] if p["funded"]]
    assert results["funded_minor"] == sum(p["amount_minor"] for p in funded), (withdrawn.status_code, results)
    with app.app_context():
        assert _committed(world.round_id) == sum(p["amount_minor"] for p in funded)


def test_a_consent_round_on_a_proposal_withdrawn_meanwhile_reserves_nothing(app: Flask) -> None:
    world = _consent_world(app, deciders=2, amounts={"fridge": 60_000, "tools": 50_000})
    rounds = _all_consented_and_open(app, world)
    withdrawn = _api(app, "POST", f"/api/v1/proposals/{world.proposals['fridge']}/withdraw", world.author.token)
    _api(app, "POST", f"/api/v1/consent-rounds/{rounds['fridge']}/close", world.admin.token)
    tools = _close_api(app, world, rounds["tools"])
    with app.app_context():
        # Either the withdrawal is refused while a consent round is open, or the withdrawn proposal holds no money
        # and keeps no other proposal from the budget it fits in.
        holding = [
            name
            for name, cr in rounds.items()
            if _consent_round(cr).outcome == "consented" and _proposal(world.proposals[name]).status == "submitted"
        ]
        assert _committed(world.round_id) == sum(world.amounts[name] for name in holding), (
            withdrawn.status_code,
            tools["reason"],
        )
        if withdrawn.status_code == 200:
            assert (tools["state"], tools["reason"]) == ("consented", "consented")


def test_consent_rounds_still_open_when_the_facilitator_decides_the_round_are_closed_in_their_name(
    app: Flask,
) -> None:
    world = _consent_world(app, deciders=2, amounts={"fridge": 60_000})
    cr = _all_consented_and_open(app, world)["fridge"]
    decided = _api(app, "POST", f"/api/v1/rounds/{world.round_id}/advance", world.admin.token, {"to": "decided"})
    assert decided.status_code == 200
    with app.app_context():
        [moved] = [e for e in _entries("round.phase_changed") if e.data["to"] == "decided"]
        assert moved.actor_id == world.admin.id and moved.data["by"] == "admin"
        [closed] = _entries("consent_round.closed")
        assert closed.subject_id == cr and closed.data["outcome"] == "consented"
        # the deadline has not passed: the ledger must not say it closed the consent round
        assert closed.actor_id == world.admin.id and closed.data["by"] != "deadline", (closed.actor_id, closed.data)


# --- who may do what ---------------------------------------------------------------------------------------------


def test_only_admins_open_and_close_consent_rounds_and_only_circle_members_answer(app: Flask) -> None:
    world = _consent_world(app, deciders=2, amounts={"fridge": 60_000})
    open_url = f"/api/v1/proposals/{world.proposals['fridge']}/consent-rounds"
    for person, status in (
        (world.deciders[0], 403),
        (world.member, 403),
        (world.author, 403),
        (world.treasurer, 403),
        (world.outsider, 404),
    ):
        assert _api(app, "POST", open_url, person.token).status_code == status, person
    assert _api(app, "POST", open_url, None).status_code == 401
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(ConsentRound)) == 0
    cr = _open_api(app, world, "fridge")["id"]

    # answering: circle members only; the facilitator (an admin, not a circle member) neither
    for person, status in (
        (world.admin, 403),
        (world.member, 403),
        (world.author, 403),
        (world.treasurer, 403),
        (world.outsider, 404),
    ):
        assert _answer_api(app, person, cr, "consent").status_code == status, person
    assert _answer_api(app, world.deciders[0], cr, "consent").status_code == 200
    # reading: anyone in the circle, nobody outside it
    for person, status in ((world.member, 200), (world.treasurer, 200), (world.outsider, 404)):
        assert _api(app, "GET", f"/api/v1/consent-rounds/{cr}", person.token).status_code == status, person
    assert _api(app, "GET", f"/api/v1/consent-rounds/{cr}", None).status_code == 401
    # closing: admins only
    for person, status in (
        (world.deciders[0], 403),
        (world.member, 403),
        (world.treasurer, 403),
        (world.outsider, 404),
    ):
        assert _api(app, "POST", f"/api/v1/consent-rounds/{cr}/close", person.token).status_code == status, person
    with app.app_context():
        consent_round = _consent_round(cr)
        assert consent_round.closed_at is None
        assert [a.user_id for a in db.session.scalars(select(ConsentAnswer))] == [world.deciders[0].id]
        # the services say the same
        proposal = _proposal(world.proposals["fridge"])
        for user_id in (world.deciders[0].id, world.treasurer.id, world.member.id):
            with pytest.raises(PermissionDenied):
                close_consent_round(_user(user_id), consent_round, utcnow())
            with pytest.raises(PermissionDenied):
                open_consent_round(_user(user_id), proposal, utcnow())
        for user_id in (world.admin.id, world.treasurer.id, world.member.id, world.outsider.id):
            with pytest.raises(PermissionDenied):
                answer_consent(_user(user_id), consent_round, "consent", "", utcnow())
        db.session.rollback()
    # nobody outside learns that the ids exist
    assert _api(app, "GET", f"/api/v1/rounds/{world.round_id}/results", world.outsider.token).status_code == 404
    assert _api(app, "GET", "/api/v1/consent-rounds/999999", world.admin.token).status_code == 404


def test_answers_change_until_the_consent_round_closes_and_not_after(app: Flask) -> None:
    world = _consent_world(app, deciders=3, amounts={"fridge": 60_000})
    cr = _open_api(app, world, "fridge")["id"]
    decider = world.deciders[0]
    assert _answer_api(app, decider, cr, "consent").status_code == 200
    assert _answer_api(app, decider, cr, "concern", "The timeline is tight.").status_code == 200
    changed = _answer_api(app, decider, cr, "objection", "Nobody cleans it.").get_json()
    assert [(a["position"], a["argument"]) for a in changed["answers"]] == [("objection", "Nobody cleans it.")]
    assert _answer_api(app, decider, cr, "consent").status_code == 200
    for person in world.deciders[1:]:
        _answer_api(app, person, cr, "consent")
    _close_api(app, world, cr)

    late = _answer_api(app, decider, cr, "objection", "Too late?")
    assert late.status_code == 409 and late.get_json()["error"]["code"] == "conflict"
    first_time = _answer_api(app, world.deciders[1], cr, "concern", "Also late.")
    assert first_time.status_code == 409
    assert _api(app, "POST", f"/api/v1/consent-rounds/{cr}/close", world.admin.token).status_code == 409
    assert _api(app, "POST", f"/api/v1/consent-rounds/{cr}/answer/withdraw-objection", decider.token).status_code == 409
    shown = _api(app, "GET", f"/api/v1/consent-rounds/{cr}", decider.token).get_json()
    assert shown["state"] == "consented" and {a["position"] for a in shown["answers"]} == {"consent"}
    with app.app_context():
        answered = _entries("consent.answered")
        changes = _entries("consent.answer_changed")
        assert len(answered) == 3
        assert [(e.actor_id, e.data["previous"], e.data["position"], e.data["argument"]) for e in changes] == [
            (decider.id, "consent", "concern", "The timeline is tight."),
            (decider.id, "concern", "objection", "Nobody cleans it."),
            (decider.id, "objection", "consent", ""),
        ]
        with pytest.raises(Conflict):
            answer_consent(_user(decider.id), _consent_round(cr), "objection", "Late", utcnow())
        db.session.rollback()


def test_reactions_decide_nothing_and_come_from_the_circle_while_the_consent_round_is_open(app: Flask) -> None:
    world = _consent_world(app, deciders=2, amounts={"fridge": 60_000})
    cr = _open_api(app, world, "fridge")["id"]
    with app.app_context():
        add_reaction(_user(world.member.id), _consent_round(cr), "Love the idea!", utcnow())
        db.session.commit()
        with pytest.raises(PermissionDenied):
            add_reaction(_user(world.outsider.id), _consent_round(cr), "Me too", utcnow())
        db.session.rollback()
        with pytest.raises(ValidationFailed):
            add_reaction(_user(world.member.id), _consent_round(cr), "   ", utcnow())
        db.session.rollback()
        assert current_outcome(_consent_round(cr)).reason == "nobody has answered yet, 0 of 2"
        [entry] = _entries("consent.reaction_added")
        assert entry.actor_id == world.member.id and entry.data["body"] == "Love the idea!"
    _close_api(app, world, cr)
    with app.app_context():
        with pytest.raises(Conflict):
            add_reaction(_user(world.member.id), _consent_round(cr), "After the close", utcnow())
        db.session.rollback()


# --- deadlines and results ---------------------------------------------------------------------------------------


def _deadline_world(app: Flask) -> tuple[ConsentWorld, dict[str, int]]:
    """Four proposals when the deciding deadline passes: "fridge" consented by the facilitator earlier, "tools" with
    an open consent round the circle consents to, "garden" with an open consent round and an objection, "bikes"
    with no consent round at all."""
    amounts = {"fridge": 40_000, "tools": 30_000, "garden": 20_000, "bikes": 10_000}
    world = _consent_world(app, deciders=3, amounts=amounts)
    rounds = {name: _open_api(app, world, name)["id"] for name in ("fridge", "tools", "garden")}
    for person in world.deciders:
        _answer_api(app, person, rounds["fridge"], "consent")
        _answer_api(app, person, rounds["tools"], "consent")
    _answer_api(app, world.deciders[0], rounds["garden"], "consent")
    _answer_api(app, world.deciders[1], rounds["garden"], "objection", "The council will not allow it.")
    _close_api(app, world, rounds["fridge"])
    past = utcnow() - timedelta(minutes=1)
    with app.app_context():
        db.session.execute(
            update(Round)
            .where(Round.id == world.round_id)
            .values(
                proposals_close_at=past - timedelta(hours=2),
                deliberation_close_at=past - timedelta(hours=1),
                deciding_close_at=past,
            )
        )
        db.session.commit()
    return world, rounds


def _check_decided_by_the_deadline(app: Flask, world: ConsentWorld, rounds: dict[str, int]) -> None:
    with app.app_context():
        round_ = db.session.get(Round, world.round_id)
        assert round_.phase == "decided"
        [moved] = [e.data for e in _entries("round.phase_changed") if e.data["to"] == "decided"]
        assert moved["by"] == "deadline"
        closes = {e.subject_id: e for e in _entries("consent_round.closed")}
        assert closes[rounds["fridge"]].data["by"] == "facilitator"
        assert closes[rounds["fridge"]].actor_id == world.admin.id
        for name in ("tools", "garden"):
            assert closes[rounds[name]].data["by"] == "deadline" and closes[rounds[name]].actor_id is None
        assert _consent_round(rounds["tools"]).outcome == "consented"
        garden = _consent_round(rounds["garden"])
        assert (garden.outcome, garden.reason) == ("not_consented", "1 objection open")
        assert round_.committed_minor == 70_000
        assert _actions()["round.result_published"] == 1
        payouts = db.session.scalars(select(Payout).order_by(Payout.proposal_id)).all()
        assert sorted((p.proposal_id, p.amount_minor, p.status) for p in payouts) == sorted(
            [
                (world.proposals["fridge"], 40_000, "awaiting_approval"),
                (world.proposals["tools"], 30_000, "awaiting_approval"),
            ]
        )
    results = _api(app, "GET", f"/api/v1/rounds/{world.round_id}/results", world.deciders[0].token).get_json()
    assert results["decided"] is True
    assert (results["funded_minor"], results["budget_minor"], results["currency"]) == (70_000, 100_000, "EUR")
    expected = [
        (world.proposals["fridge"], 40_000, True, "consented"),
        (world.proposals["tools"], 30_000, True, "consented"),
        (world.proposals["garden"], 20_000, False, "not consented: 1 objection open"),
        (world.proposals["bikes"], 10_000, False, "not consented: no consent round was held"),
    ]
    assert [(p["proposal_id"], p["amount_minor"], p["funded"], p["reason"]) for p in results["proposals"]] == expected
    assert [p["rank"] for p in results["proposals"]] == [1, 2, 3, 4]
    page_client: Client = app.test_client()  # type: ignore[assignment]
    page_client.login(world.member.email)
    page = " ".join(page_client.get(f"/rounds/{world.round_id}/results").get_data(as_text=True).split())
    assert "Funded 700.00 EUR of 1,000.00 EUR; 300.00 EUR left." in page
    assert "not consented: 1 objection open" in page and "not consented: no consent round was held" in page
    rows = _results_csv(app, world)
    assert [
        (int(r["proposal_id"]), int(r["amount_minor"]), r["funded"] == "yes", r["reason"]) for r in rows
    ] == expected
    assert {r["currency"] for r in rows} == {"EUR"} and rows[0]["amount"] == "400.00"
    _ledger_verifies(app)


def _deciding_closed_message(app: Flask, world: ConsentWorld) -> str:
    with app.app_context():
        closed_at = db.session.get(Round, world.round_id).deciding_close_at
    return (
        f"Deciding closed at {format_time(closed_at)}; nothing was saved. The result will be published when it is "
        "counted."
    )


def test_after_the_deciding_deadline_nothing_more_is_decided_before_the_tick_and_the_tick_funds_what_was(
    app: Flask,
) -> None:
    world, rounds = _deadline_world(app)
    with app.app_context():
        entries_before = db.session.scalar(select(func.count()).select_from(LedgerEntry))
    message = _deciding_closed_message(app, world)
    # no tick has run: the stored phase is still deciding, but the deadline has closed it
    late = _answer_api(app, world.deciders[2], rounds["garden"], "consent")
    assert late.status_code == 409, late.get_json()
    assert late.get_json()["error"]["message"] == message
    withdraw = f"/api/v1/consent-rounds/{rounds['garden']}/answer/withdraw-objection"
    assert _api(app, "POST", withdraw, world.deciders[1].token).status_code == 409
    close = _api(app, "POST", f"/api/v1/consent-rounds/{rounds['garden']}/close", world.admin.token)
    assert close.status_code == 409 and close.get_json()["error"]["message"] == message
    reopen = _api(app, "POST", f"/api/v1/proposals/{world.proposals['bikes']}/consent-rounds", world.admin.token)
    assert reopen.status_code == 409 and reopen.get_json()["error"]["message"] == message
    react = _api(app, "POST", f"/api/v1/consent-rounds/{rounds['garden']}/reactions", world.member.token, {"body": "!"})
    assert react.status_code == 409
    read = _api(app, "GET", f"/api/v1/rounds/{world.round_id}", world.admin.token).get_json()
    assert (read["phase"], read["effective_phase"]) == ("deciding", "counting")
    assert "cancelled" not in read["next_phases"]
    with app.app_context():
        assert db.session.get(ConsentAnswer, (rounds["garden"], world.deciders[2].id)) is None
        assert db.session.get(ConsentAnswer, (rounds["garden"], world.deciders[1].id)).withdrawn_at is None
        assert db.session.scalar(select(func.count()).select_from(LedgerEntry)) == entries_before
        assert db.session.get(Round, world.round_id).phase == "deciding"
        assert _consent_round(rounds["garden"]).closed_at is None
    # the circle's cron: the deadline closes what is open and the result is stored
    result = app.test_cli_runner().invoke(args=["rounds", "tick"])
    assert result.exit_code == 0 and "1 round(s) moved on." in result.output, result.output
    _check_decided_by_the_deadline(app, world, rounds)
    # and nothing opens or closes any more
    assert _api(app, "POST", f"/api/v1/consent-rounds/{rounds['garden']}/close", world.admin.token).status_code == 409
    reopen = _api(app, "POST", f"/api/v1/proposals/{world.proposals['bikes']}/consent-rounds", world.admin.token)
    assert reopen.status_code == 409


def test_a_consent_answer_on_the_page_after_the_deciding_deadline_is_refused_and_says_why(app: Flask) -> None:
    world, rounds = _deadline_world(app)
    message = _deciding_closed_message(app, world)
    client: Client = app.test_client()  # type: ignore[assignment]
    client.login(world.deciders[2].email)
    with app.app_context():
        entries_before = db.session.scalar(select(func.count()).select_from(LedgerEntry))
    view = client.get(f"/consent-rounds/{rounds['garden']}").get_data(as_text=True)
    assert "No more answers are taken" in view and "Record my answer" not in view
    refused = client.post_form(f"/consent-rounds/{rounds['garden']}/answer", {"position": "consent", "argument": ""})
    assert refused.status_code == 409
    assert message in refused.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(ConsentAnswer, (rounds["garden"], world.deciders[2].id)) is None
        assert db.session.scalar(select(func.count()).select_from(LedgerEntry)) == entries_before
        assert db.session.get(Round, world.round_id).phase == "deciding"


def test_the_deadline_closes_open_consent_rounds_on_rounds_tick(app: Flask) -> None:
    world, rounds = _deadline_world(app)
    result = app.test_cli_runner().invoke(args=["rounds", "tick"])
    assert result.exit_code == 0, result.output
    assert "1 round(s) moved on." in result.output
    _check_decided_by_the_deadline(app, world, rounds)
    again = app.test_cli_runner().invoke(args=["rounds", "tick"])
    assert "0 round(s) moved on." in again.output
    with app.app_context():
        assert _actions()["round.result_published"] == 1


def test_a_proposal_amended_after_its_last_consent_round_is_not_reported_with_that_rounds_objection(
    app: Flask,
) -> None:
    world = _consent_world(app, deciders=2, amounts={"fridge": 60_000})
    cr = _open_api(app, world, "fridge")["id"]
    _answer_api(app, world.deciders[0], cr, "objection", "Who cleans it?")
    _close_api(app, world, cr)
    assert _amend_api(app, world, "fridge", "Two people clean it.", amount_minor=50_000).status_code == 200
    _api(app, "POST", f"/api/v1/rounds/{world.round_id}/advance", world.admin.token, {"to": "decided"})
    [row] = _api(app, "GET", f"/api/v1/rounds/{world.round_id}/results", world.admin.token).get_json()["proposals"]
    assert row["funded"] is False
    # The objection was to version 1: either the row reports version 1 with it, or it reports version 2 with a
    # reason that says version 2 was never put to consent; not version 2 "stopped" by an objection nobody made to it.
    if row["version"] == 1:
        assert (row["amount_minor"], row["reason"]) == (60_000, "not consented: 1 objection open")
    else:
        assert row["version"] == 2 and row["amount_minor"] == 50_000
        assert "objection" not in row["reason"] and "version 2" in row["reason"], row["reason"]


def test_results_are_empty_until_decided(app: Flask) -> None:
    world = _consent_world(app, deciders=2, amounts={"fridge": 60_000})
    results = _api(app, "GET", f"/api/v1/rounds/{world.round_id}/results", world.member.token).get_json()
    assert results["decided"] is False and results["proposals"] == [] and results["funded_minor"] is None
    assert _results_csv(app, world) == []


# --- the ledger --------------------------------------------------------------------------------------------------


def test_every_opening_answer_change_withdrawal_amendment_and_outcome_is_a_ledger_entry(app: Flask) -> None:
    world = _consent_world(app, deciders=3, amounts={"fridge": 60_000, "tools": 30_000})
    fridge = _open_api(app, world, "fridge")["id"]
    _answer_api(app, world.deciders[0], fridge, "consent")
    _answer_api(app, world.deciders[0], fridge, "concern", "Tight timeline.")
    _answer_api(app, world.deciders[1], fridge, "consent")
    _answer_api(app, world.deciders[2], fridge, "objection", "Who cleans it?")
    _close_api(app, world, fridge)
    _amend_api(app, world, "fridge", "Two people clean it.", amount_minor=55_000)
    fridge2 = _open_api(app, world, "fridge")["id"]
    for person in world.deciders:
        _answer_api(app, person, fridge2, "consent")
    _close_api(app, world, fridge2)
    tools = _open_api(app, world, "tools")["id"]
    _answer_api(app, world.deciders[0], tools, "objection", "Too expensive.")
    _api(app, "POST", f"/api/v1/consent-rounds/{tools}/answer/withdraw-objection", world.deciders[0].token)
    _answer_api(app, world.deciders[1], tools, "consent")
    _close_api(app, world, tools)
    _api(app, "POST", f"/api/v1/rounds/{world.round_id}/advance", world.admin.token, {"to": "decided"})

    with app.app_context():
        actions = _actions()
        assert actions["consent_round.opened"] == 3
        assert actions["consent.answered"] == 3 + 3 + 2
        assert actions["consent.answer_changed"] == 1
        assert actions["consent.objection_withdrawn"] == 1
        assert actions["proposal.amended"] == 1
        assert actions["consent_round.closed"] == 3
        assert actions["round.result_published"] == 1
        assert actions["payout.created"] == 2
        opened = [(e.actor_id, e.subject_id, e.data) for e in _entries("consent_round.opened")]
        assert opened == [
            (world.admin.id, fridge, {"proposal": world.proposals["fridge"], "version": 1, "amount_minor": 60_000}),
            (world.admin.id, fridge2, {"proposal": world.proposals["fridge"], "version": 2, "amount_minor": 55_000}),
            (world.admin.id, tools, {"proposal": world.proposals["tools"], "version": 1, "amount_minor": 30_000}),
        ]
        objection = next(e for e in _entries("consent.answered") if e.data["position"] == "objection")
        assert objection.actor_id == world.deciders[2].id and objection.data["argument"] == "Who cleans it?"
        outcomes = [
            (e.subject_id, e.data["outcome"], e.data["reason"], e.data["committed_minor"])
            for e in _entries("consent_round.closed")
        ]
        assert outcomes == [
            (fridge, "not_consented", "1 objection open", 0),
            (fridge2, "consented", "consented", 55_000),
            (tools, "consented", "consented", 85_000),
        ]
        published = _entries("round.result_published")[0].data
        assert published["method"] == "consent" and published["funded_minor"] == 85_000
        # all of it in the circle's chain, which anyone who may see the circle can check
        consent_actions = ("consent_round.opened", "consent.answered", "consent.answer_changed",
                           "consent.objection_withdrawn", "proposal.amended", "consent_round.closed",
                           "round.result_published")  # fmt: skip
        circles = set(db.session.scalars(select(LedgerEntry.circle_id).where(LedgerEntry.action.in_(consent_actions))))
        assert circles == {world.circle_id}
    _ledger_verifies(app)
