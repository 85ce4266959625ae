"""The proposals and discussion operations of the JSON API, on the same services (and errors) as the pages."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from flask import Flask

from fundcircle.db import utcnow
from fundcircle.rounds.services import advance_round
from tests.conftest import Client
from tests.factories import add_member, make_circle, make_round, make_token, make_user

API = "/api/v1"
NEW = {
    "title": "Seed library",
    "summary": "A shelf of seeds anyone can borrow.",
    "body": "We will build a **seed library**.",
    "amount_minor": 25_000,
    "category": "Tools",
    "payee": {"slug": "seed-library"},
}


@dataclass
class World:
    round_id: int
    author: str
    other: str
    treasurer: str
    outsider: str


@pytest.fixture
def world(app: Flask) -> World:
    with app.app_context():
        admin = make_user()
        circle = make_circle(admin)
        author, other, treasurer = make_user(name="Ada"), make_user(name="Bo"), make_user(name="Cy")
        add_member(circle, author, ["member"], by=admin)
        add_member(circle, other, ["member", "circle"], by=admin)
        add_member(circle, treasurer, ["member", "treasurer"], by=admin)
        round_ = make_round(circle, admin, max_proposals_per_member=2)
        advance_round(admin, round_, "proposals", utcnow())
        from fundcircle.extensions import db

        db.session.commit()
        return World(round_.id, make_token(author), make_token(other), make_token(treasurer), make_token(make_user()))


def test_a_member_submits_a_proposal_and_the_circle_reads_it(client: Client, world: World) -> None:
    created = client.json_call(
        "POST", f"{API}/rounds/{world.round_id}/proposals", {**NEW, "submit": True}, token=world.author
    )
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    assert (body["status"], body["version"], body["amount_minor"], body["currency"]) == ("submitted", 1, 25_000, "EUR")
    assert body["body_html"] == "<p>We will build a <strong>seed library</strong>.</p>\n"
    assert body["author"]["name"] == "Ada" and body["payee"] == {"slug": "seed-library", "name": None, "email": None}
    listed = client.json_call("GET", f"{API}/rounds/{world.round_id}/proposals?limit=10", token=world.other)
    assert [item["id"] for item in listed.get_json()["items"]] == [body["id"]]
    assert client.json_call("GET", f"{API}/proposals/{body['id']}", token=world.other).status_code == 200
    assert client.json_call("GET", f"{API}/proposals/{body['id']}", token=world.outsider).status_code == 404


def test_a_draft_is_its_authors_alone_until_submitted(client: Client, world: World) -> None:
    draft = client.json_call("POST", f"{API}/rounds/{world.round_id}/proposals", NEW, token=world.author).get_json()
    assert draft["status"] == "draft"
    assert client.json_call("GET", f"{API}/proposals/{draft['id']}", token=world.other).status_code == 404
    listed = client.json_call("GET", f"{API}/rounds/{world.round_id}/proposals", token=world.other).get_json()
    assert listed["items"] == []
    submitted = client.json_call("POST", f"{API}/proposals/{draft['id']}/submit", token=world.author)
    assert submitted.status_code == 200 and submitted.get_json()["status"] == "submitted"
    assert client.json_call("GET", f"{API}/proposals/{draft['id']}", token=world.other).status_code == 200


def test_api_errors_name_the_fields_as_sent(client: Client, world: World) -> None:
    url = f"{API}/rounds/{world.round_id}/proposals"
    both = client.json_call(
        "POST", url, {**NEW, "payee": {"slug": "x", "name": "Ann", "email": "a@example.org"}}, token=world.author
    )
    assert both.status_code == 422 and "payee" in both.get_json()["error"]["fields"]
    bad_slug = client.json_call("POST", url, {**NEW, "payee": {"slug": "Not A Slug"}}, token=world.author)
    assert bad_slug.status_code == 422 and "slug" in bad_slug.get_json()["error"]["fields"]["payee"]
    bad_email = client.json_call("POST", url, {**NEW, "payee": {"name": "Ann", "email": "nope"}}, token=world.author)
    assert "email" in bad_email.get_json()["error"]["fields"]["payee"]
    too_much = client.json_call("POST", url, {**NEW, "amount_minor": 40_001}, token=world.author)
    assert too_much.get_json()["error"]["fields"]["amount_minor"] == [
        "Ask for at most 400.00 EUR, the round's cap per proposal."
    ]
    long_title = client.json_call("POST", url, {**NEW, "title": "x" * 121}, token=world.author)
    assert "title" in long_title.get_json()["error"]["fields"]
    unknown = client.json_call("POST", url, {**NEW, "status": "submitted"}, token=world.author)
    assert unknown.status_code == 422 and "status" in unknown.get_json()["error"]["fields"]
    float_amount = client.json_call("POST", url, {**NEW, "amount_minor": 250.5}, token=world.author)
    assert float_amount.status_code == 422
    listed = client.json_call("GET", url, token=world.author).get_json()
    assert listed["items"] == []


def test_editing_a_submitted_proposal_makes_a_new_version(client: Client, world: World) -> None:
    created = client.json_call(
        "POST", f"{API}/rounds/{world.round_id}/proposals", {**NEW, "submit": True}, token=world.author
    )
    proposal_id = created.get_json()["id"]
    patched = client.json_call(
        "PATCH",
        f"{API}/proposals/{proposal_id}",
        {"amount_minor": 20_000, "change_note": "Cheaper shelves."},
        token=world.author,
    )
    assert patched.status_code == 200
    assert (patched.get_json()["version"], patched.get_json()["amount_minor"]) == (2, 20_000)
    assert patched.get_json()["title"] == "Seed library"  # kept
    versions = client.json_call("GET", f"{API}/proposals/{proposal_id}/versions", token=world.other).get_json()["items"]
    assert [(v["number"], v["amount_minor"], v["change_note"]) for v in versions] == [
        (1, 25_000, ""),
        (2, 20_000, "Cheaper shelves."),
    ]
    not_author = client.json_call("PATCH", f"{API}/proposals/{proposal_id}", {"title": "Mine now"}, token=world.other)
    assert not_author.status_code == 403
    same = client.json_call("PATCH", f"{API}/proposals/{proposal_id}", {}, token=world.author)
    assert same.status_code == 422 and "Nothing changed" in same.get_json()["error"]["message"]


def test_the_payee_address_is_shown_to_the_author_and_treasurers_only(client: Client, world: World) -> None:
    created = client.json_call(
        "POST",
        f"{API}/rounds/{world.round_id}/proposals",
        {**NEW, "payee": {"name": "Ann", "email": "ann@example.org"}, "submit": True},
        token=world.author,
    ).get_json()
    url = f"{API}/proposals/{created['id']}"
    assert client.json_call("GET", url, token=world.author).get_json()["payee"]["email"] == "ann@example.org"
    assert client.json_call("GET", url, token=world.treasurer).get_json()["payee"]["email"] == "ann@example.org"
    assert client.json_call("GET", url, token=world.other).get_json()["payee"]["email"] is None


def test_a_question_answered_by_the_author_through_the_api(client: Client, world: World) -> None:
    proposal_id = client.json_call(
        "POST", f"{API}/rounds/{world.round_id}/proposals", {**NEW, "submit": True}, token=world.author
    ).get_json()["id"]
    url = f"{API}/proposals/{proposal_id}/comments"
    question = client.json_call("POST", url, {"body": "Where will it stand?", "question": True}, token=world.other)
    assert question.status_code == 201 and question.get_json()["answered"] is False
    answer = client.json_call(
        "POST", url, {"body": "In the hall.", "parent_id": question.get_json()["id"]}, token=world.author
    )
    assert answer.status_code == 201
    items = client.json_call("GET", url, token=world.other).get_json()["items"]
    assert [(item["body"], item["answered"], item["parent_id"]) for item in items] == [
        ("Where will it stand?", True, None),
        ("In the hall.", False, question.get_json()["id"]),
    ]
    empty = client.json_call("POST", url, {"body": "   "}, token=world.other)
    assert empty.status_code == 422 and empty.get_json()["error"]["fields"] == {"body": ["Write something first."]}
    nested_question = client.json_call(
        "POST", url, {"body": "And?", "parent_id": question.get_json()["id"], "question": True}, token=world.other
    )
    assert nested_question.status_code == 422


def test_the_proposal_limit_per_member_is_kept(client: Client, world: World) -> None:
    url = f"{API}/rounds/{world.round_id}/proposals"
    for number in range(2):
        assert client.json_call("POST", url, {**NEW, "title": f"Idea {number}"}, token=world.author).status_code == 201
    third = client.json_call("POST", url, {**NEW, "title": "Idea 3"}, token=world.author)
    assert third.status_code == 422
    assert "the most a member may have" in third.get_json()["error"]["message"]


def test_the_openapi_document_describes_the_proposal_operations(client: Client, world: World) -> None:
    paths = client.get(f"{API}/openapi.json").get_json()["paths"]
    assert {"get", "post"} <= set(paths["/api/v1/rounds/{round_id}/proposals"])
    assert {"get", "patch"} <= set(paths["/api/v1/proposals/{proposal_id}"])
    assert {"get", "post"} <= set(paths["/api/v1/proposals/{proposal_id}/comments"])
    assert "post" in paths["/api/v1/proposals/{proposal_id}/withdraw"]
    assert "get" in paths["/api/v1/proposals/{proposal_id}/versions"]
