"""The JSON API under /api/v1/, through the test client, on SQLite and PostgreSQL.

Every operation's success path (with the documented fields: integer ids, integer `*_minor` money with `currency`
beside it, ISO 8601 UTC times) and the ledger entry each change writes; the one error shape
`{"error": {"code", "message", "fields"}}` on every error path (400, 401, 403, 404, 405, 409, 415, 422, 500); CSRF
for cookie sessions and none for bearer tokens; a refused request changes nothing; and the OpenAPI document.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest
import sqlalchemy as sa
from flask import Flask

import fundcircle
import tests.conftest
from fundcircle.auth.models import User
from fundcircle.auth.services import create_api_token, create_user, revoke_api_token
from fundcircle.circles.models import Circle, Invitation, Membership, MembershipRole
from fundcircle.db import utcnow
from fundcircle.extensions import db
from fundcircle.ledger.models import LedgerEntry
from fundcircle.rounds.models import Round
from tests.conftest import TEST_PASSWORD, Client
from tests.factories import add_member, make_circle, make_round, make_token, make_user

API = "/api/v1"
UNKNOWN_ID = 987654

ROUND_BODY: dict[str, Any] = {
    "title": "Autumn micro-grants",
    "budget_minor": 250_000,
    "per_proposal_cap_minor": 50_000,
    "method": "quadratic",
}


# --- the world every test starts from ------------------------------------------------------------------------


@dataclass(frozen=True)
class World:
    """A private circle (GBP) with a superuser admin, a member holding the roles member and circle, and a draft
    round; an outsider who is admin of their own private circle (with its own round) but not of this one."""

    circle_id: int
    circle_name: str
    circle_slug: str
    round_id: int
    round_title: str
    admin_id: int
    admin_email: str
    admin_token: str
    member_id: int
    member_email: str
    member_token: str
    outsider_id: int
    outsider_email: str
    outsider_token: str
    other_circle_id: int
    other_round_id: int


@pytest.fixture
def world(app: Flask) -> World:
    with app.app_context():
        admin = make_user(name="Ada Admin", superuser=True)
        circle = make_circle(admin, name="Riverside Learning", slug="riverside-learning", currency="GBP")
        member = make_user(name="Mo Member")
        add_member(circle, member, ["member", "circle"], by=admin)
        round_ = make_round(circle, admin, title="Riverside spring grants")
        outsider = make_user(name="Otto Outsider")
        other = make_circle(outsider, name="Hilltop Makers", slug="hilltop-makers")
        other_round = make_round(other, outsider, title="Hilltop secret grants")
        return World(
            circle_id=circle.id,
            circle_name=circle.name,
            circle_slug=circle.slug,
            round_id=round_.id,
            round_title=round_.title,
            admin_id=admin.id,
            admin_email=admin.email,
            admin_token=make_token(admin),
            member_id=member.id,
            member_email=member.email,
            member_token=make_token(member),
            outsider_id=outsider.id,
            outsider_email=outsider.email,
            outsider_token=make_token(outsider),
            other_circle_id=other.id,
            other_round_id=other_round.id,
        )


def operation(world: World, name: str) -> tuple[str, str, Any]:
    """(method, url, a valid body) of each state-changing operation, acting in the world's circle."""
    return {
        "create_circle": (
            "POST",
            f"{API}/circles",
            {"name": "Harbour Circle", "slug": "harbour-circle", "currency": "EUR", "public": False},
        ),
        "add_member": (
            "POST",
            f"{API}/circles/{world.circle_id}/members",
            {"email": "new@example.org", "roles": ["member"]},
        ),
        "set_roles": ("PUT", f"{API}/circles/{world.circle_id}/members/{world.member_id}", {"roles": ["member"]}),
        "create_round": ("POST", f"{API}/circles/{world.circle_id}/rounds", ROUND_BODY),
        "advance_round": ("POST", f"{API}/rounds/{world.round_id}/advance", {"to": "proposals"}),
    }[name]


WRITE_OPERATIONS = ["create_circle", "add_member", "set_roles", "create_round", "advance_round"]
SUCCESS_STATUS = {"create_circle": 201, "add_member": 201, "set_roles": 200, "create_round": 201, "advance_round": 200}


# --- helpers ---------------------------------------------------------------------------------------------------


def assert_error(response: Any, status: int, code: str | None = None, fields: Iterable[str] = ()) -> dict[str, Any]:
    """The one error shape, with the status; returns the `error` object."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert isinstance(body, dict) and set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == {"code", "message", "fields"}, error
    assert isinstance(error["code"], str) and error["code"]
    assert isinstance(error["message"], str) and error["message"].strip()
    assert isinstance(error["fields"], dict)
    if code is not None:
        assert error["code"] == code, error
    for name in fields:
        assert name in error["fields"], error
    return error


def assert_utc_time(value: Any) -> datetime:
    """An ISO 8601 time with its zone, and that zone UTC."""
    assert isinstance(value, str), value
    parsed = datetime.fromisoformat(value)
    assert parsed.tzinfo is not None and parsed.utcoffset() == timedelta(0), value
    return parsed


def assert_int(value: Any) -> int:
    assert isinstance(value, int) and not isinstance(value, bool), value
    return value


def raw_call(client: Client, method: str, url: str, data: str | bytes, content_type: str, token: str) -> Any:
    return client.open(
        url, method=method, data=data, content_type=content_type, headers={"Authorization": f"Bearer {token}"}
    )


def ledger(app: Flask, circle_id: int) -> list[Any]:
    """The circle's ledger entries in order: (action, actor_id, subject_type, subject_id, data)."""
    with app.app_context():
        return list(
            db.session.execute(
                sa.select(
                    LedgerEntry.action,
                    LedgerEntry.actor_id,
                    LedgerEntry.subject_type,
                    LedgerEntry.subject_id,
                    LedgerEntry.data,
                )
                .where(LedgerEntry.circle_id == circle_id)
                .order_by(LedgerEntry.seq)
            ).all()
        )


def actions(app: Flask, circle_id: int) -> list[str]:
    return [entry.action for entry in ledger(app, circle_id)]


def snapshot(app: Flask) -> dict[str, Any]:
    """Everything a request could change, so that "nothing changed" can be compared whole."""
    with app.app_context():
        counts = {
            model.__tablename__: db.session.scalar(sa.select(sa.func.count()).select_from(model))
            for model in (User, Circle, Membership, MembershipRole, Invitation, Round, LedgerEntry)
        }
        roles = db.session.execute(
            sa.select(Membership.circle_id, Membership.user_id, MembershipRole.role)
            .join(MembershipRole, MembershipRole.membership_id == Membership.id)
            .order_by(Membership.circle_id, Membership.user_id, MembershipRole.role)
        ).all()
        rounds = db.session.execute(
            sa.select(Round.id, Round.phase, Round.budget_minor, Round.per_proposal_cap_minor).order_by(Round.id)
        ).all()
        circles = db.session.execute(sa.select(Circle.id, Circle.slug, Circle.public).order_by(Circle.id)).all()
    return {
        "counts": counts,
        "roles": [tuple(row) for row in roles],
        "rounds": [tuple(row) for row in rounds],
        "circles": [tuple(row) for row in circles],
    }


# --- success paths and their ledger entries ------------------------------------------------------------------


def test_a_superuser_creates_a_circle_and_becomes_its_admin(app: Flask, client: Client, world: World) -> None:
    body = {
        "name": "Harbour Circle",
        "slug": "harbour-circle",
        "currency": "eur",
        "public": True,
        "description": "Small grants by the harbour.",
    }
    response = client.json_call("POST", f"{API}/circles", body, token=world.admin_token)

    assert response.status_code == 201, response.get_data(as_text=True)
    circle = response.get_json()
    assert set(circle) == {"id", "name", "slug", "description", "currency", "public", "created_at", "my_roles",
                           "approvals_required", "two_approvals_from_minor", "time_zone", "language"}  # fmt: skip
    assert circle["time_zone"] == "UTC"
    circle_id = assert_int(circle["id"])
    assert circle["name"] == "Harbour Circle"
    assert circle["slug"] == "harbour-circle"
    assert circle["currency"] == "EUR"
    assert circle["public"] is True
    assert circle["description"] == "Small grants by the harbour."
    assert "admin" in circle["my_roles"], "the creator becomes the circle's admin"
    assert abs(assert_utc_time(circle["created_at"]) - datetime.now(UTC)) < timedelta(minutes=5)

    me = client.json_call("GET", f"{API}/me", token=world.admin_token).get_json()
    mine = [c for c in me["circles"] if c["id"] == circle_id]
    assert len(mine) == 1 and mine[0]["roles"] == circle["my_roles"]
    read = client.json_call("GET", f"{API}/circles/{circle_id}", token=world.admin_token)
    assert read.status_code == 200 and read.get_json() == circle

    entries = ledger(app, circle_id)
    assert [entry.action for entry in entries] == ["circle.created", "member.added"]
    assert all(entry.actor_id == world.admin_id for entry in entries)
    assert entries[0].data["slug"] == "harbour-circle"
    assert entries[1].data["user"] == world.admin_id and entries[1].data["roles"] == circle["my_roles"]


def test_me_describes_the_signed_in_user_with_each_circle_and_their_roles(client: Client, world: World) -> None:
    response = client.json_call("GET", f"{API}/me", token=world.member_token)

    assert response.status_code == 200
    me = response.get_json()
    assert set(me) == {"id", "email", "name", "is_superuser", "created_at", "circles"}
    assert assert_int(me["id"]) == world.member_id
    assert me["email"] == world.member_email
    assert me["name"] == "Mo Member"
    assert me["is_superuser"] is False
    assert_utc_time(me["created_at"])
    assert me["circles"] == [
        {
            "id": world.circle_id,
            "name": "Riverside Learning",
            "slug": "riverside-learning",
            "currency": "GBP",
            "public": False,
            "roles": ["member", "circle"],
        }
    ]

    outsider = client.json_call("GET", f"{API}/me", token=world.outsider_token).get_json()
    assert [c["id"] for c in outsider["circles"]] == [world.other_circle_id]
    assert "admin" in outsider["circles"][0]["roles"]


def test_a_member_reads_their_circle_with_their_roles(client: Client, world: World) -> None:
    response = client.json_call("GET", f"{API}/circles/{world.circle_id}", token=world.member_token)

    assert response.status_code == 200
    circle = response.get_json()
    assert assert_int(circle["id"]) == world.circle_id
    assert circle["currency"] == "GBP"
    assert circle["public"] is False
    assert circle["my_roles"] == ["member", "circle"]
    assert_utc_time(circle["created_at"])


def test_a_public_circle_is_readable_by_visitors_and_outsiders(app: Flask, client: Client, world: World) -> None:
    with app.app_context():
        public_id = make_circle(name="Open Commons", slug="open-commons", public=True).id

    visitor = client.json_call("GET", f"{API}/circles/{public_id}")
    outsider = client.json_call("GET", f"{API}/circles/{public_id}", token=world.outsider_token)

    for response in (visitor, outsider):
        assert response.status_code == 200
        assert response.get_json()["slug"] == "open-commons"
        assert response.get_json()["my_roles"] == []


def test_an_admin_invites_an_existing_user_who_joins_only_by_accepting(
    app: Flask, client: Client, world: World
) -> None:
    with app.app_context():
        newcomer = make_user(name="Nia Newcomer")
        newcomer_id, newcomer_email, newcomer_token = newcomer.id, newcomer.email, make_token(newcomer)

    response = client.json_call(
        "POST",
        f"{API}/circles/{world.circle_id}/members",
        {"email": newcomer_email.upper(), "roles": ["circle", "member"]},
        token=world.admin_token,
    )

    assert response.status_code == 201, response.get_data(as_text=True)
    body = response.get_json()
    # The same answer as for an address without an account: nothing about the person, and no membership yet.
    assert body["member"] is None
    assert set(body["invitation"]) == {"url", "email", "roles", "expires_at"}
    assert "Nia" not in response.get_data(as_text=True)
    assert ledger(app, world.circle_id)[-1].action == "invitation.created"
    me = client.json_call("GET", f"{API}/me", token=newcomer_token).get_json()
    assert me["circles"] == []

    pending = client.json_call("GET", f"{API}/me/invitations", token=newcomer_token).get_json()["items"]
    assert [(item["circle_id"], item["roles"]) for item in pending] == [(world.circle_id, ["member", "circle"])]
    accepted = client.json_call("POST", f"{API}/me/invitations/{pending[0]['id']}/accept", token=newcomer_token)
    assert accepted.status_code == 200, accepted.get_data(as_text=True)
    member = accepted.get_json()
    assert set(member) == {"user_id", "name", "email", "roles", "joined_at"}
    assert assert_int(member["user_id"]) == newcomer_id
    assert member["roles"] == ["member", "circle"]
    assert_utc_time(member["joined_at"])

    last = ledger(app, world.circle_id)[-1]
    assert last.action == "member.joined"
    assert last.actor_id == newcomer_id
    assert last.data["user"] == newcomer_id and last.data["roles"] == ["member", "circle"]
    me = client.json_call("GET", f"{API}/me", token=newcomer_token).get_json()
    assert [(c["id"], c["roles"]) for c in me["circles"]] == [(world.circle_id, ["member", "circle"])]
    again = client.json_call("POST", f"{API}/me/invitations/{pending[0]['id']}/accept", token=newcomer_token)
    assert again.status_code == 404


def test_an_admin_invites_a_new_address_and_the_link_opens_the_sign_up_page(
    app: Flask, client: Client, world: World
) -> None:
    before = snapshot(app)
    response = client.json_call(
        "POST",
        f"{API}/circles/{world.circle_id}/members",
        {"email": "newcomer@example.org", "roles": ["member"]},
        token=world.admin_token,
    )

    assert response.status_code == 201, response.get_data(as_text=True)
    body = response.get_json()
    assert body["member"] is None
    invitation = body["invitation"]
    assert set(invitation) == {"url", "email", "roles", "expires_at"}
    assert invitation["email"] == "newcomer@example.org"
    assert invitation["roles"] == ["member"]
    valid_for = assert_utc_time(invitation["expires_at"]) - datetime.now(UTC)
    assert timedelta(days=13, hours=23) < valid_for <= timedelta(days=14)
    url = urlsplit(invitation["url"])
    assert url.scheme in {"http", "https"} and url.netloc

    after = snapshot(app)
    assert after["counts"]["invitations"] == before["counts"]["invitations"] + 1
    assert after["counts"]["memberships"] == before["counts"]["memberships"]
    last = ledger(app, world.circle_id)[-1]
    assert last.action == "invitation.created"
    assert last.actor_id == world.admin_id
    assert "newcomer@example.org" not in repr(last.data), "the address stays out of the circle's ledger"

    page = app.test_client().get(url.path)
    assert page.status_code == 200
    assert page.mimetype == "text/html"
    text = page.get_data(as_text=True)
    assert "Create your account" in text
    assert "newcomer@example.org" in text
    assert "Riverside Learning" in text


def test_an_admin_sets_a_members_roles(app: Flask, client: Client, world: World) -> None:
    response = client.json_call(
        "PUT",
        f"{API}/circles/{world.circle_id}/members/{world.member_id}",
        {"roles": ["treasurer", "member"]},
        token=world.admin_token,
    )

    assert response.status_code == 200, response.get_data(as_text=True)
    member = response.get_json()["member"]
    assert assert_int(member["user_id"]) == world.member_id
    assert member["roles"] == ["member", "treasurer"]
    assert_utc_time(member["joined_at"])

    last = ledger(app, world.circle_id)[-1]
    assert last.action == "member.roles_changed"
    assert last.actor_id == world.admin_id
    assert last.data["from"] == ["member", "circle"] and last.data["to"] == ["member", "treasurer"]
    me = client.json_call("GET", f"{API}/me", token=world.member_token).get_json()
    assert me["circles"][0]["roles"] == ["member", "treasurer"]


def test_an_admin_removes_a_member_by_giving_them_no_roles(app: Flask, client: Client, world: World) -> None:
    response = client.json_call(
        "PUT", f"{API}/circles/{world.circle_id}/members/{world.member_id}", {"roles": []}, token=world.admin_token
    )

    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json() == {"member": None}
    last = ledger(app, world.circle_id)[-1]
    assert last.action == "member.removed"
    assert last.data["user"] == world.member_id and last.data["to"] == []
    assert client.json_call("GET", f"{API}/me", token=world.member_token).get_json()["circles"] == []
    gone = client.json_call("GET", f"{API}/circles/{world.circle_id}", token=world.member_token)
    assert_error(gone, 404, "not_found")


@pytest.mark.parametrize("roles", [[], ["member"], ["member", "circle", "treasurer"]])
def test_the_last_admin_can_be_neither_removed_nor_demoted(
    app: Flask, client: Client, world: World, roles: list[str]
) -> None:
    before = snapshot(app)

    response = client.json_call(
        "PUT", f"{API}/circles/{world.circle_id}/members/{world.admin_id}", {"roles": roles}, token=world.admin_token
    )

    assert_error(response, 422, "invalid", fields=["roles"])
    assert snapshot(app) == before
    circle = client.json_call("GET", f"{API}/circles/{world.circle_id}", token=world.admin_token).get_json()
    assert "admin" in circle["my_roles"]


def test_an_admin_may_step_down_once_another_admin_exists(app: Flask, client: Client, world: World) -> None:
    """Through the other admin: nobody changes their own roles (see the test below)."""
    promoted = client.json_call(
        "PUT",
        f"{API}/circles/{world.circle_id}/members/{world.member_id}",
        {"roles": ["member", "admin"]},
        token=world.admin_token,
    )
    assert promoted.status_code == 200

    response = client.json_call(
        "PUT", f"{API}/circles/{world.circle_id}/members/{world.admin_id}", {"roles": []}, token=world.member_token
    )

    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json() == {"member": None}
    assert actions(app, world.circle_id)[-2:] == ["member.roles_changed", "member.removed"]


@pytest.mark.parametrize(
    "roles", [["member", "circle", "treasurer", "admin"], ["member", "treasurer", "admin"], ["member"], []]
)
def test_nobody_changes_their_own_roles(app: Flask, client: Client, world: World, roles: list[str]) -> None:
    """Not even an admin of a circle with another admin: an admin making themselves treasurer would approve payouts
    alone; roles are given by somebody else."""
    promoted = client.json_call(
        "PUT",
        f"{API}/circles/{world.circle_id}/members/{world.member_id}",
        {"roles": ["member", "circle", "admin"]},
        token=world.admin_token,
    )
    assert promoted.status_code == 200
    before = snapshot(app)

    response = client.json_call(
        "PUT", f"{API}/circles/{world.circle_id}/members/{world.admin_id}", {"roles": roles}, token=world.admin_token
    )

    error = assert_error(response, 403, "forbidden", fields=["roles"])
    assert "cannot change your own roles" in error["message"] and "another admin" in error["message"]
    assert snapshot(app) == before
    me = client.json_call("GET", f"{API}/circles/{world.circle_id}", token=world.admin_token).get_json()
    assert sorted(me["my_roles"]) == ["admin", "member"]


def test_an_admin_creates_a_round_with_money_in_minor_units_and_deadlines_in_utc(
    app: Flask, client: Client, world: World
) -> None:
    body = {
        "title": "Autumn micro-grants",
        "description": "Tools and learning for the autumn.",
        "budget_minor": 250_000,
        "per_proposal_cap_minor": 50_000,
        "method": "consent",
        "credits": 64,
        "allow_negative": True,
        "quorum_percent": 60,
        "consent_rules": "consensus",
        "secret_ballot": True,
        "categories": ["Learning", "Tools"],
        "max_proposals_per_member": 2,
        "deadlines": {
            "proposals": "2031-03-01T12:00:00+02:00",
            "deliberation": "2031-03-08T10:00:00Z",
            "deciding": "2031-03-15T10:00:00",
        },
    }

    response = client.json_call("POST", f"{API}/circles/{world.circle_id}/rounds", body, token=world.admin_token)

    assert response.status_code == 201, response.get_data(as_text=True)
    round_ = response.get_json()
    assert set(round_) == {
        "id",
        "circle_id",
        "title",
        "description",
        "currency",
        "budget_minor",
        "per_proposal_cap_minor",
        "method",
        "allocation_rule",
        "max_approvals",
        "credits",
        "allow_negative",
        "quorum_percent",
        "consent_rules",
        "secret_ballot",
        "categories",
        "max_proposals_per_member",
        "remind_before_hours",
        "report_due_days",
        "midway_update_days",
        "report_questions",
        "phase",
        "effective_phase",
        "next_phases",
        "deadlines",
        "phase_changed_at",
        "created_at",
    }
    round_id = assert_int(round_["id"])
    assert assert_int(round_["circle_id"]) == world.circle_id
    assert assert_int(round_["budget_minor"]) == 250_000
    assert assert_int(round_["per_proposal_cap_minor"]) == 50_000
    assert round_["currency"] == "GBP", "money is in the circle's currency, given beside it"
    assert assert_int(round_["credits"]) == 64
    assert assert_int(round_["quorum_percent"]) == 60
    assert assert_int(round_["max_proposals_per_member"]) == 2
    assert round_["method"] == "consent" and round_["consent_rules"] == "consensus"
    # Votes against exist only on quadratic ballots: a consent round keeps none, whatever was sent.
    assert round_["allow_negative"] is False and round_["secret_ballot"] is True
    assert round_["categories"] == ["Learning", "Tools"]
    assert round_["phase"] == round_["effective_phase"] == "draft"
    assert round_["next_phases"] == ["proposals", "cancelled"]
    deadlines = {name: assert_utc_time(value) for name, value in round_["deadlines"].items()}
    assert deadlines == {
        "proposals": datetime(2031, 3, 1, 10, 0, tzinfo=UTC),
        "deliberation": datetime(2031, 3, 8, 10, 0, tzinfo=UTC),
        "deciding": datetime(2031, 3, 15, 10, 0, tzinfo=UTC),
    }
    assert_utc_time(round_["created_at"])
    assert_utc_time(round_["phase_changed_at"])

    last = ledger(app, world.circle_id)[-1]
    assert last.action == "round.created"
    assert last.actor_id == world.admin_id
    assert last.subject_id == round_id
    assert last.data["budget_minor"] == 250_000 and last.data["currency"] == "GBP"
    with app.app_context():
        stored = db.session.get(Round, round_id)
        assert stored is not None
        assert (stored.budget_minor, stored.per_proposal_cap_minor, stored.currency) == (250_000, 50_000, "GBP")


def test_an_admin_reads_a_draft_round_with_its_phase_and_deadlines(client: Client, world: World) -> None:
    # A draft is the admins' work in progress: to other members it does not exist yet.
    hidden = client.json_call("GET", f"{API}/rounds/{world.round_id}", token=world.member_token)
    assert hidden.status_code == 404
    response = client.json_call("GET", f"{API}/rounds/{world.round_id}", token=world.admin_token)

    assert response.status_code == 200
    round_ = response.get_json()
    assert assert_int(round_["id"]) == world.round_id
    assert assert_int(round_["circle_id"]) == world.circle_id
    assert round_["title"] == world.round_title
    assert assert_int(round_["budget_minor"]) == 100_000
    assert assert_int(round_["per_proposal_cap_minor"]) == 40_000
    assert round_["currency"] == "GBP"
    assert round_["phase"] == "draft"
    assert round_["next_phases"] == ["proposals", "cancelled"]
    assert set(round_["deadlines"]) == {"proposals", "deliberation", "deciding"}
    times = [assert_utc_time(round_["deadlines"][name]) for name in ("proposals", "deliberation", "deciding")]
    assert times == sorted(times)


def test_an_admin_advances_a_round_from_draft_to_proposals(app: Flask, client: Client, world: World) -> None:
    response = client.json_call(
        "POST", f"{API}/rounds/{world.round_id}/advance", {"to": "proposals"}, token=world.admin_token
    )

    assert response.status_code == 200, response.get_data(as_text=True)
    round_ = response.get_json()
    assert round_["phase"] == "proposals"
    assert round_["next_phases"] == ["deliberation", "cancelled"]
    assert assert_utc_time(round_["phase_changed_at"]) >= assert_utc_time(round_["created_at"])

    last = ledger(app, world.circle_id)[-1]
    assert last.action == "round.phase_changed"
    assert last.actor_id == world.admin_id
    assert last.subject_id == world.round_id
    assert last.data == {"from": "draft", "to": "proposals", "by": "admin"}
    read = client.json_call("GET", f"{API}/rounds/{world.round_id}", token=world.member_token).get_json()
    assert read["phase"] == "proposals"


@pytest.mark.parametrize("to", ["deliberation", "deciding", "decided", "closed", "draft"])
def test_advancing_a_round_may_not_skip_a_phase(app: Flask, client: Client, world: World, to: str) -> None:
    before = snapshot(app)

    response = client.json_call("POST", f"{API}/rounds/{world.round_id}/advance", {"to": to}, token=world.admin_token)

    error = assert_error(response, 422, "invalid", fields=["to"])
    assert "proposals" in " ".join(error["fields"]["to"]), "the message names the move that is possible"
    assert snapshot(app) == before


def test_every_change_through_the_api_is_in_the_circles_ledger_in_order(
    app: Flask, client: Client, world: World
) -> None:
    token = world.admin_token
    circle_id = client.json_call(
        "POST", f"{API}/circles", {"name": "Ledger Circle", "slug": "ledger-circle", "currency": "EUR"}, token=token
    ).get_json()["id"]
    client.json_call(
        "POST", f"{API}/circles/{circle_id}/members", {"email": world.member_email, "roles": ["member"]}, token=token
    )
    (waiting,) = client.json_call("GET", f"{API}/me/invitations", token=world.member_token).get_json()["items"]
    accepted = client.json_call("POST", f"{API}/me/invitations/{waiting['id']}/accept", token=world.member_token)
    assert accepted.status_code == 200
    client.json_call(
        "POST", f"{API}/circles/{circle_id}/members", {"email": "x@example.org", "roles": ["member"]}, token=token
    )
    client.json_call("PUT", f"{API}/circles/{circle_id}/members/{world.member_id}", {"roles": ["circle"]}, token=token)
    client.json_call("PUT", f"{API}/circles/{circle_id}/members/{world.member_id}", {"roles": []}, token=token)
    round_id = client.json_call("POST", f"{API}/circles/{circle_id}/rounds", ROUND_BODY, token=token).get_json()["id"]
    advanced = client.json_call("POST", f"{API}/rounds/{round_id}/advance", {"to": "proposals"}, token=token)
    assert advanced.status_code == 200

    assert actions(app, circle_id) == [
        "circle.created",
        "member.added",
        "invitation.created",
        "member.joined",
        "invitation.created",
        "member.roles_changed",
        "member.removed",
        "round.created",
        "round.phase_changed",
    ]


# --- 400: malformed JSON --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", WRITE_OPERATIONS)
def test_a_malformed_json_body_gets_400_and_changes_nothing(
    app: Flask, client: Client, world: World, name: str
) -> None:
    method, url, _ = operation(world, name)
    before = snapshot(app)

    response = raw_call(client, method, url, b'{"name": "half a body",', "application/json", world.admin_token)

    assert_error(response, 400)
    assert snapshot(app) == before


# --- 401: no usable credentials -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer fc_this-token-was-never-issued", "Bearer not-even-our-prefix", "Bearer", "Basic YWRhOnNlY3JldA=="],
    ids=["no-token", "unknown-token", "foreign-token", "empty-bearer", "basic-auth"],
)
def test_requests_without_a_valid_token_get_401_and_change_nothing(
    app: Flask, client: Client, world: World, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    before = snapshot(app)

    for method, url, body in [
        ("GET", f"{API}/me", None),
        ("GET", f"{API}/circles/{world.circle_id}", None),
        ("GET", f"{API}/rounds/{world.round_id}", None),
        *(operation(world, name) for name in WRITE_OPERATIONS),
    ]:
        response = client.open(url, method=method, json=body, headers=headers)
        error = assert_error(response, 401, "unauthorized")
        assert world.circle_name not in response.get_data(as_text=True), (method, url, error)

    assert snapshot(app) == before


def test_a_revoked_token_gets_401(app: Flask, client: Client, world: World) -> None:
    with app.app_context():
        admin = db.session.get(User, world.admin_id)
        assert admin is not None
        api_token, token = create_api_token(admin, "script")
        db.session.commit()
        token_id = api_token.id
    assert client.json_call("GET", f"{API}/me", token=token).status_code == 200
    with app.app_context():
        admin = db.session.get(User, world.admin_id)
        assert admin is not None
        revoke_api_token(admin, token_id, utcnow())
        db.session.commit()
    before = snapshot(app)

    assert_error(client.json_call("GET", f"{API}/me", token=token), 401, "unauthorized")
    method, url, body = operation(world, "create_circle")
    assert_error(client.json_call(method, url, body, token=token), 401, "unauthorized")
    assert snapshot(app) == before
    assert client.json_call("GET", f"{API}/me", token=world.admin_token).status_code == 200, "other tokens still work"


# --- 403: a member who is not admin ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/circles", {"name": "Mine", "slug": "mine", "currency": "EUR"}),
        ("POST", "/circles/{circle_id}/members", {"email": "friend@example.org", "roles": ["admin"]}),
        ("PUT", "/circles/{circle_id}/members/{member_id}", {"roles": ["member", "circle", "admin"]}),
        ("PUT", "/circles/{circle_id}/members/{admin_id}", {"roles": []}),
        ("POST", "/circles/{circle_id}/rounds", ROUND_BODY),
        ("POST", "/rounds/{round_id}/advance", {"to": "proposals"}),
    ],
    ids=["create-circle", "add-member", "promote-self", "remove-admin", "create-round", "advance-round"],
)
def test_a_member_who_is_not_admin_gets_403_for_admin_operations(
    app: Flask, client: Client, world: World, method: str, path: str, body: dict[str, Any]
) -> None:
    url = API + path.format(
        circle_id=world.circle_id, member_id=world.member_id, admin_id=world.admin_id, round_id=world.round_id
    )
    before = snapshot(app)

    response = client.json_call(method, url, body, token=world.member_token)

    assert_error(response, 403, "forbidden")
    assert snapshot(app) == before


# --- 404: unknown ids, and other circles' ids -----------------------------------------------------------------

OPERATIONS_IN_A_CIRCLE = [
    ("GET", "/circles/{circle_id}", None),
    ("POST", "/circles/{circle_id}/members", {"email": "friend@example.org", "roles": ["member"]}),
    ("PUT", "/circles/{circle_id}/members/{user_id}", {"roles": ["member"]}),
    ("POST", "/circles/{circle_id}/rounds", ROUND_BODY),
    ("GET", "/rounds/{round_id}", None),
    ("POST", "/rounds/{round_id}/advance", {"to": "proposals"}),
]
OPERATION_IDS = ["get-circle", "add-member", "set-roles", "create-round", "get-round", "advance-round"]


@pytest.mark.parametrize(("method", "path", "body"), OPERATIONS_IN_A_CIRCLE, ids=OPERATION_IDS)
def test_an_unknown_id_gets_404(
    app: Flask, client: Client, world: World, method: str, path: str, body: dict[str, Any] | None
) -> None:
    url = API + path.format(circle_id=UNKNOWN_ID, user_id=world.member_id, round_id=UNKNOWN_ID)
    before = snapshot(app)

    response = client.json_call(method, url, body, token=world.admin_token)

    assert_error(response, 404, "not_found")
    assert snapshot(app) == before


def test_setting_roles_of_someone_who_is_not_a_member_gets_404(app: Flask, client: Client, world: World) -> None:
    before = snapshot(app)

    for user_id in (world.outsider_id, UNKNOWN_ID):
        response = client.json_call(
            "PUT", f"{API}/circles/{world.circle_id}/members/{user_id}", {"roles": ["member"]}, token=world.admin_token
        )
        assert_error(response, 404, "not_found")

    assert snapshot(app) == before


@pytest.mark.parametrize(("method", "path", "body"), OPERATIONS_IN_A_CIRCLE, ids=OPERATION_IDS)
def test_an_outsider_gets_404_for_another_private_circle_and_learns_nothing(
    app: Flask, client: Client, world: World, method: str, path: str, body: dict[str, Any] | None
) -> None:
    """The outsider is signed in and admin of a circle of their own, which gives them nothing here."""
    url = API + path.format(circle_id=world.circle_id, user_id=world.member_id, round_id=world.round_id)
    unknown_url = API + path.format(circle_id=UNKNOWN_ID, user_id=world.member_id, round_id=UNKNOWN_ID)
    before = snapshot(app)

    response = client.json_call(method, url, body, token=world.outsider_token)

    assert_error(response, 404, "not_found")
    text = response.get_data(as_text=True)
    for secret in (world.circle_name, world.circle_slug, world.round_title, world.admin_email, world.member_email):
        assert secret not in text
    unknown = client.json_call(method, unknown_url, body, token=world.outsider_token)
    assert response.get_json() == unknown.get_json(), "a private circle's id looks exactly like an unknown one"
    assert snapshot(app) == before


def test_an_admin_of_one_circle_cannot_reach_anothers_round_through_their_own_circle(
    app: Flask, client: Client, world: World
) -> None:
    before = snapshot(app)

    read = client.json_call("GET", f"{API}/rounds/{world.other_round_id}", token=world.admin_token)
    advance = client.json_call(
        "POST", f"{API}/rounds/{world.other_round_id}/advance", {"to": "proposals"}, token=world.admin_token
    )
    members = client.json_call(
        "PUT",
        f"{API}/circles/{world.other_circle_id}/members/{world.outsider_id}",
        {"roles": ["member"]},
        token=world.admin_token,
    )

    for response in (read, advance, members):
        assert_error(response, 404, "not_found")
        assert "Hilltop" not in response.get_data(as_text=True)
    assert snapshot(app) == before


# --- 405: wrong method on a known path ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("GET", "/circles", "POST"),
        ("DELETE", "/circles/{circle_id}", "GET"),
        ("PUT", "/circles/{circle_id}", "PATCH"),
        ("DELETE", "/circles/{circle_id}/members", "POST"),
        ("DELETE", "/circles/{circle_id}/members/{member_id}", "PUT"),
        ("GET", "/circles/{circle_id}/rounds", "POST"),
        ("DELETE", "/rounds/{round_id}", "GET"),
        ("GET", "/rounds/{round_id}/advance", "POST"),
        ("POST", "/me", "GET"),
    ],
)
def test_a_wrong_method_on_a_known_api_path_gets_405(
    app: Flask, client: Client, world: World, method: str, path: str, allowed: str
) -> None:
    url = API + path.format(circle_id=world.circle_id, member_id=world.member_id, round_id=world.round_id)
    before = snapshot(app)

    response = client.json_call(method, url, {} if method != "GET" else None, token=world.admin_token)

    assert_error(response, 405, "method_not_allowed")
    allow = {part.strip() for part in response.headers.get("Allow", "").split(",")}
    assert allowed in allow and method not in allow
    assert snapshot(app) == before


# --- 409: conflicts -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("slug", ["riverside-learning", "Riverside-Learning"])
def test_a_duplicate_circle_slug_gets_409(app: Flask, client: Client, world: World, slug: str) -> None:
    before = snapshot(app)

    response = client.json_call(
        "POST", f"{API}/circles", {"name": "Copycat", "slug": slug, "currency": "EUR"}, token=world.admin_token
    )

    assert_error(response, 409, "conflict", fields=["slug"])
    assert snapshot(app) == before


def test_adding_someone_who_is_already_a_member_gets_409(app: Flask, client: Client, world: World) -> None:
    before = snapshot(app)

    response = client.json_call(
        "POST",
        f"{API}/circles/{world.circle_id}/members",
        {"email": world.member_email, "roles": ["admin"]},
        token=world.admin_token,
    )

    assert_error(response, 409, "conflict", fields=["email"])
    assert snapshot(app) == before, "the member's roles did not change, nobody was invited"


# --- 415: a body that is not JSON -----------------------------------------------------------------------------


@pytest.mark.parametrize("content_type", ["application/x-www-form-urlencoded", "text/plain"])
@pytest.mark.parametrize("name", WRITE_OPERATIONS)
def test_a_body_that_is_not_json_gets_415_and_changes_nothing(
    app: Flask, client: Client, world: World, name: str, content_type: str
) -> None:
    method, url, body = operation(world, name)
    flat = {key: ",".join(value) if isinstance(value, list) else str(value) for key, value in body.items()}
    data = urlencode(flat) if content_type.endswith("urlencoded") else str(body)
    before = snapshot(app)

    response = raw_call(client, method, url, data, content_type, world.admin_token)

    assert_error(response, 415, "unsupported_media_type")
    assert snapshot(app) == before


# --- 422: no mass assignment, strict types, rules that hold together ------------------------------------------


@pytest.mark.parametrize(
    ("name", "extra"),
    [
        ("create_circle", {"id": 4242}),
        ("create_circle", {"created_by_id": 1}),
        ("create_circle", {"is_superuser": True}),
        ("create_circle", {"my_roles": ["admin"]}),
        ("add_member", {"role": "admin"}),
        ("add_member", {"status": "accepted"}),
        ("set_roles", {"user_id": 1}),
        ("set_roles", {"role": "admin"}),
        ("create_round", {"status": "decided"}),
        ("create_round", {"phase": "decided"}),
        ("create_round", {"spent": 0}),
        ("create_round", {"currency": "USD"}),
        ("create_round", {"circle_id": 1}),
        ("advance_round", {"phase": "decided"}),
    ],
)
def test_an_unknown_field_in_the_body_is_rejected_with_422(
    app: Flask, client: Client, world: World, name: str, extra: dict[str, Any]
) -> None:
    method, url, body = operation(world, name)
    before = snapshot(app)

    response = client.json_call(method, url, {**body, **extra}, token=world.admin_token)

    assert_error(response, 422, "invalid", fields=list(extra))
    assert snapshot(app) == before


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("budget_minor", "250000"),
        ("budget_minor", 12.5),
        ("budget_minor", 250000.0),
        ("budget_minor", True),
        ("budget_minor", None),
        ("budget_minor", [250000]),
        ("per_proposal_cap_minor", "50000"),
        ("per_proposal_cap_minor", 12.5),
        ("per_proposal_cap_minor", False),
        ("credits", True),
        ("credits", "100"),
        ("quorum_percent", 50.5),
        ("max_proposals_per_member", True),
        ("title", 42),
        ("categories", "Learning"),
        ("deadlines", "2031-03-01"),
    ],
)
def test_a_wrong_type_in_a_round_is_rejected_with_422_naming_the_field(
    app: Flask, client: Client, world: World, field: str, value: Any
) -> None:
    before = snapshot(app)

    response = client.json_call(
        "POST", f"{API}/circles/{world.circle_id}/rounds", {**ROUND_BODY, field: value}, token=world.admin_token
    )

    assert_error(response, 422, "invalid", fields=[field])
    assert snapshot(app) == before


@pytest.mark.parametrize(
    ("name", "field", "value"),
    [
        ("create_round", "secret_ballot", "true"),
        ("create_round", "secret_ballot", 1),
        ("create_round", "allow_negative", 0),
        ("create_circle", "public", "yes"),
        ("create_circle", "public", 1),
        ("create_circle", "public", 0),
    ],
)
def test_anything_but_true_or_false_for_a_boolean_field_is_rejected_with_422(
    app: Flask, client: Client, world: World, name: str, field: str, value: Any
) -> None:
    method, url, body = operation(world, name)
    before = snapshot(app)

    response = client.json_call(method, url, {**body, field: value}, token=world.admin_token)

    assert_error(response, 422, "invalid", fields=[field])
    assert snapshot(app) == before


def test_a_cap_above_the_budget_is_rejected_naming_per_proposal_cap_minor(
    app: Flask, client: Client, world: World
) -> None:
    before = snapshot(app)

    response = client.json_call(
        "POST",
        f"{API}/circles/{world.circle_id}/rounds",
        {**ROUND_BODY, "budget_minor": 10_000, "per_proposal_cap_minor": 10_001},
        token=world.admin_token,
    )

    error = assert_error(response, 422, "invalid", fields=["per_proposal_cap_minor"])
    assert "budget_minor" not in error["fields"], "the budget itself is fine"
    assert snapshot(app) == before


def test_a_failed_round_creation_leaves_no_round_and_no_ledger_entry(app: Flask, client: Client, world: World) -> None:
    rounds_before = client.json_call("GET", f"{API}/rounds/{world.round_id}", token=world.admin_token).get_json()
    ledger_before = ledger(app, world.circle_id)
    with app.app_context():
        round_count = db.session.scalar(sa.select(sa.func.count()).select_from(Round))

    for body in (
        {**ROUND_BODY, "per_proposal_cap_minor": ROUND_BODY["budget_minor"] + 1},
        {**ROUND_BODY, "title": "   "},
        {**ROUND_BODY, "budget_minor": 10**12, "per_proposal_cap_minor": 1},
        {**ROUND_BODY, "categories": ["Tools", "tools"]},
        {**ROUND_BODY, "status": "decided"},
    ):
        response = client.json_call("POST", f"{API}/circles/{world.circle_id}/rounds", body, token=world.admin_token)
        assert_error(response, 422, "invalid")

    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Round)) == round_count
    assert ledger(app, world.circle_id) == ledger_before
    assert (
        client.json_call("GET", f"{API}/rounds/{world.round_id}", token=world.admin_token).get_json() == rounds_before
    )


def test_deadlines_out_of_order_are_rejected_naming_the_deadline_as_the_api_calls_it(
    app: Flask, client: Client, world: World
) -> None:
    """`fields` names input fields: the API takes `deadlines.deliberation`, so that is what an error names (as it
    does for a deadline that is not a time at all), not the column behind it."""
    before = snapshot(app)
    body = {**ROUND_BODY, "deadlines": {"proposals": "2031-03-08T10:00:00Z", "deliberation": "2031-03-01T10:00:00Z"}}

    response = client.json_call("POST", f"{API}/circles/{world.circle_id}/rounds", body, token=world.admin_token)

    error = assert_error(response, 422, "invalid")
    assert snapshot(app) == before
    fields = error["fields"]
    named = "deadlines.deliberation" in fields or (
        isinstance(fields.get("deadlines"), dict) and "deliberation" in fields["deadlines"]
    )
    assert named, f"the error should name deadlines.deliberation, the field the client sent; it names {sorted(fields)}"


@pytest.mark.parametrize(
    ("name", "patch", "field"),
    [
        ("create_circle", {"slug": "Not A Slug"}, "slug"),
        ("create_circle", {"currency": "XXX"}, "currency"),
        ("create_circle", {"name": ""}, "name"),
        ("add_member", {"email": "not-an-address"}, "email"),
        ("add_member", {"roles": []}, "roles"),
        ("add_member", {"roles": ["owner"]}, "roles"),
        ("set_roles", {"roles": ["owner"]}, "roles"),
        ("set_roles", {"roles": "admin"}, "roles"),
        ("create_round", {"method": "majority"}, "method"),
        ("create_round", {"budget_minor": 0}, "budget_minor"),
        ("create_round", {"deadlines": {"proposals": "next tuesday"}}, "deadlines"),
        ("advance_round", {"to": "finished"}, "to"),
    ],
)
def test_invalid_values_are_rejected_with_422_naming_the_field(
    app: Flask, client: Client, world: World, name: str, patch: dict[str, Any], field: str
) -> None:
    method, url, body = operation(world, name)
    before = snapshot(app)

    response = client.json_call(method, url, {**body, **patch}, token=world.admin_token)

    assert_error(response, 422, "invalid", fields=[field])
    assert snapshot(app) == before


@pytest.mark.parametrize("name", WRITE_OPERATIONS)
def test_a_body_missing_required_fields_or_not_an_object_is_rejected_with_422(
    app: Flask, client: Client, world: World, name: str
) -> None:
    method, url, body = operation(world, name)
    before = snapshot(app)

    missing = client.json_call(method, url, {}, token=world.admin_token)
    not_an_object = client.json_call(method, url, [body], token=world.admin_token)

    required = {"create_circle": ["name", "slug", "currency"], "add_member": ["email", "roles"], "set_roles": ["roles"]}
    required |= {"create_round": ["title", "budget_minor", "per_proposal_cap_minor", "method"], "advance_round": ["to"]}
    assert_error(missing, 422, "invalid", fields=required[name])
    assert_error(not_an_object, 422, "invalid")
    assert snapshot(app) == before


# --- 500: an unexpected error ---------------------------------------------------------------------------------


def test_an_unexpected_error_answers_a_json_500_that_leaks_nothing_and_rolls_back(
    app: Flask, database_url: str
) -> None:
    broken = fundcircle.create_app(tests.conftest.test_config(database_url))

    def explode() -> str:
        create_user(None, email="ghost@example.org", name="Ghost", password=TEST_PASSWORD, via="test")
        raise RuntimeError("secret internal detail at /srv/fundcircle/internal.py line 42")

    broken.add_url_rule(f"{API}/test-only-explode", "test_only_explode", explode, methods=["GET"])
    before = snapshot(app)
    try:
        response = broken.test_client().get(f"{API}/test-only-explode")
    finally:
        with broken.app_context():
            db.engine.dispose()

    error = assert_error(response, 500, "internal_error")
    assert error["fields"] == {}
    text = response.get_data(as_text=True)
    for leak in ("Traceback", "RuntimeError", "secret internal detail", "internal.py", "ghost@example.org"):
        assert leak not in text
    assert snapshot(app) == before, "the user and its ledger entry were rolled back"


# --- CSRF: cookie sessions need the token, bearer tokens do not ------------------------------------------------


@pytest.mark.parametrize("name", WRITE_OPERATIONS)
def test_a_cookie_session_posting_json_without_a_csrf_token_gets_400_and_nothing_changes(
    app: Flask, client: Client, world: World, name: str
) -> None:
    client.login(world.admin_email)
    method, url, body = operation(world, name)
    before = snapshot(app)

    response = client.json_call(method, url, body)

    assert_error(response, 400, "csrf")
    assert snapshot(app) == before


@pytest.mark.parametrize("name", WRITE_OPERATIONS)
def test_a_cookie_session_posting_json_with_its_csrf_token_succeeds(
    app: Flask, client: Client, world: World, name: str
) -> None:
    client.login(world.admin_email)
    method, url, body = operation(world, name)
    entries_before = snapshot(app)["counts"]["ledger_entries"]

    response = client.json_call(method, url, body, csrf=True)

    assert response.status_code == SUCCESS_STATUS[name], response.get_data(as_text=True)
    assert snapshot(app)["counts"]["ledger_entries"] > entries_before


def test_a_csrf_token_from_another_session_is_refused(app: Flask, client: Client, world: World) -> None:
    client.login(world.admin_email)
    other = app.test_client()
    other.login(world.member_email)
    foreign_token = other.csrf_token()  # type: ignore[attr-defined]
    method, url, body = operation(world, "create_circle")
    before = snapshot(app)

    response = client.open(url, method=method, json=body, headers={"X-CSRFToken": foreign_token})
    garbage = client.open(url, method=method, json=body, headers={"X-CSRFToken": "not-a-token"})

    assert_error(response, 400, "csrf")
    assert_error(garbage, 400, "csrf")
    assert snapshot(app) == before


def test_a_cookie_session_reads_the_api_without_a_csrf_token(client: Client, world: World) -> None:
    client.login(world.member_email)

    response = client.json_call("GET", f"{API}/me")

    assert response.status_code == 200
    assert response.get_json()["id"] == world.member_id


@pytest.mark.parametrize("name", WRITE_OPERATIONS)
def test_a_bearer_token_request_needs_no_csrf_token(client: Client, world: World, name: str) -> None:
    method, url, body = operation(world, name)

    response = client.json_call(method, url, body, token=world.admin_token)

    assert response.status_code == SUCCESS_STATUS[name], response.get_data(as_text=True)


@pytest.mark.parametrize("authorization", ["Basic YWRhOnNlY3JldA==", "Bearer fc_forged", "Bearer"])
def test_an_authorization_header_does_not_let_a_cookie_session_skip_csrf(
    app: Flask, client: Client, world: World, authorization: str
) -> None:
    """Any Authorization header skips the CSRF check, so such a request must never be authenticated by the cookie."""
    client.login(world.admin_email)
    method, url, body = operation(world, "create_circle")
    before = snapshot(app)

    response = client.open(url, method=method, json=body, headers={"Authorization": authorization})

    assert_error(response, 401, "unauthorized")
    assert snapshot(app) == before


# --- the OpenAPI document -------------------------------------------------------------------------------------

DOCUMENTED_OPERATIONS = {
    "/api/v1/me": {"get"},
    "/api/v1/circles": {"post"},
    "/api/v1/circles/{circle_id}": {"get"},
    "/api/v1/circles/{circle_id}/members": {"post"},
    "/api/v1/circles/{circle_id}/members/{user_id}": {"put"},
    "/api/v1/circles/{circle_id}/rounds": {"post"},
    "/api/v1/rounds/{round_id}": {"get"},
    "/api/v1/rounds/{round_id}/advance": {"post"},
}
HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


def _openapi(client: Client) -> dict[str, Any]:
    response = client.get(f"{API}/openapi.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    document = response.get_json()
    assert isinstance(document, dict)
    return document


def _resolve(document: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        assert node["$ref"].startswith("#/")
        target: Any = document
        for part in node["$ref"][2:].split("/"):
            target = target[part]
        node = target
    return node


def test_the_openapi_document_is_json_and_lists_every_operation_with_its_methods(client: Client) -> None:
    document = _openapi(client)  # no token: the document is public

    assert str(document["openapi"]).startswith("3.")
    paths = document["paths"]
    for path, methods in DOCUMENTED_OPERATIONS.items():
        assert path in paths, f"{path} is not documented"
        documented = set(paths[path]) & HTTP_METHODS
        assert methods <= documented, f"{path}: documents {sorted(documented)}, expected {sorted(methods)}"


def test_every_documented_operation_is_served_by_the_app(app: Flask, client: Client) -> None:
    urls = app.url_map.bind("localhost")
    for path, item in _openapi(client)["paths"].items():
        concrete = path
        for parameter in [p for p in path.split("/") if p.startswith("{")]:
            concrete = concrete.replace(parameter, "1")
        for method in set(item) & HTTP_METHODS:
            urls.match(concrete, method=method.upper())  # raises NotFound or MethodNotAllowed if not served


def test_the_openapi_document_declares_bearer_auth(client: Client) -> None:
    document = _openapi(client)

    schemes = document["components"]["securitySchemes"]
    bearer = [
        name for name, s in schemes.items() if s.get("type") == "http" and s.get("scheme", "").lower() == "bearer"
    ]
    assert bearer, schemes
    required = {name for requirement in document.get("security", []) for name in requirement}
    assert required & set(bearer), "the API as a whole requires the bearer scheme"


def test_the_openapi_document_describes_the_error_shape_for_every_operation(client: Client) -> None:
    document = _openapi(client)

    for path, methods in DOCUMENTED_OPERATIONS.items():
        for method in methods:
            responses = document["paths"][path][method]["responses"]
            errors = [
                _resolve(document, response)
                for status, response in responses.items()
                if status == "default" or status.startswith(("4", "5"))
            ]
            assert errors, f"{method.upper()} {path} documents no error response"
            for response in errors:
                schema = _resolve(document, response["content"]["application/json"]["schema"])
                assert schema["type"] == "object" and "error" in schema.get("required", [])
                body = _resolve(document, schema["properties"]["error"])
                assert set(body.get("required", [])) >= {"code", "message", "fields"}
                assert body["properties"]["code"]["type"] == "string"
                assert body["properties"]["message"]["type"] == "string"
                assert body["properties"]["fields"]["type"] == "object"


def test_responses_carry_exactly_the_fields_the_openapi_document_describes(client: Client, world: World) -> None:
    document = _openapi(client)

    def documented_fields(path: str, method: str, status: str) -> set[str]:
        response = _resolve(document, document["paths"][path][method]["responses"][status])
        return set(_resolve(document, response["content"]["application/json"]["schema"])["properties"])

    token = world.admin_token
    me = client.json_call("GET", f"{API}/me", token=token)
    circle = client.json_call("GET", f"{API}/circles/{world.circle_id}", token=token)
    round_ = client.json_call("GET", f"{API}/rounds/{world.round_id}", token=token)
    added = client.json_call(
        "POST", f"{API}/circles/{world.circle_id}/members", {"email": "n@example.org", "roles": ["member"]}, token=token
    )

    assert set(me.get_json()) == documented_fields("/api/v1/me", "get", "200")
    assert set(circle.get_json()) == documented_fields("/api/v1/circles/{circle_id}", "get", "200")
    assert set(round_.get_json()) == documented_fields("/api/v1/rounds/{round_id}", "get", "200")
    assert set(added.get_json()) == documented_fields("/api/v1/circles/{circle_id}/members", "post", "201")


def _spec_path(rule: str) -> str:
    """/api/v1/rounds/<int:round_id> -> /api/v1/rounds/{round_id}"""
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule)


def test_every_operation_documents_a_token_as_needed_exactly_when_the_server_needs_one(
    app: Flask, client: Client
) -> None:
    """A client (or a fuzzer) reads from the document whether a visitor may call an operation; the server's access
    policy decides. They must agree: a public circle's reads are documented as open, everything else as needing a
    token (found when GET /circles/{id}/reports answered visitors but the document said it needed a token)."""
    paths = _openapi(client)["paths"]
    disagreements = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(f"{API}/") or rule.endpoint.startswith("api-docs."):
            continue
        policy = getattr(app.view_functions[rule.endpoint], "access_policy", None)
        assert policy is not None, f"{rule.rule} has no access policy"
        visitors_served = policy.kind == "public" or (policy.public_read and not policy.sign_in_required)
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}:
            operation = paths[_spec_path(rule.rule)][method.lower()]
            security = operation.get("security", [{"bearerAuth": []}])
            documented_open = {} in security
            if documented_open != visitors_served:
                disagreements.append(f"{method} {rule.rule}: documented open {documented_open}, policy {policy}")
    assert not disagreements, "\n".join(disagreements)
