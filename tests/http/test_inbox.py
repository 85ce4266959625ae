"""The inbox through HTTP: the API (newest first, keyset paged, marking read, only one's own), the page, the count in
the header (one query), "your turn" on the circle page, and the facilitator's reminder button on the round page."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event, func, select

from fundcircle.auth.models import User
from fundcircle.db import utcnow
from fundcircle.extensions import db
from fundcircle.inbox.models import Notification
from fundcircle.ledger.models import LedgerEntry
from fundcircle.rounds.models import Round
from fundcircle.rounds.services import advance_round
from tests.conftest import Client
from tests.factories import add_member, make_circle, make_proposal, make_round, make_token, make_user

API = "/api/v1"


@dataclass(frozen=True)
class World:
    admin_email: str
    cara_email: str
    cara_token: str
    mo_token: str
    circle_id: int
    round_id: int


def _world(app: Flask, *, phase_changes: int = 1) -> World:
    """A circle with an admin, Cara (circle member) and Mo (community member); its round has moved through
    `phase_changes` phases (each one notice to Cara)."""
    with app.app_context():
        admin, cara, mo = make_user(name="Ada"), make_user(name="Cara"), make_user(name="Mo")
        circle = make_circle(admin)
        add_member(circle, cara, ["circle"], by=admin)
        add_member(circle, mo, ["member"], by=admin)
        round_ = make_round(circle, admin)
        for phase in ("proposals", "deliberation", "deciding")[:phase_changes]:
            if phase == "deliberation":
                make_proposal(round_, mo)
            advance_round(admin, round_, phase, utcnow())
            db.session.commit()
        return World(admin.email, cara.email, make_token(cara), make_token(mo), circle.id, round_.id)


def _notices(client: Client, token: str, **query: Any) -> Any:
    suffix = "&".join(f"{key}={value}" for key, value in query.items())
    return client.json_call("GET", f"{API}/me/notifications" + (f"?{suffix}" if suffix else ""), token=token)


def test_notices_are_listed_newest_first_and_paged_by_keyset(app: Flask, client: Client) -> None:
    world = _world(app, phase_changes=3)
    everything = _notices(client, world.cara_token).get_json()
    texts = [item["text"] for item in everything["items"]]
    assert len(texts) == 3 and "now deciding" in texts[0] and "now open for proposals" in texts[2]
    first = everything["items"][0]
    assert set(first) == {"id", "kind", "circle_id", "created_at", "read_at", "text", "url"}
    assert first["kind"] == "round.phase_changed" and first["circle_id"] == world.circle_id
    assert first["read_at"] is None and first["url"] == f"http://localhost/rounds/{world.round_id}"
    assert everything["unread"] == 3 and everything["next_before"] is None

    page = _notices(client, world.cara_token, limit=2).get_json()
    assert [item["id"] for item in page["items"]] == [item["id"] for item in everything["items"][:2]]
    rest = _notices(client, world.cara_token, limit=2, before=page["next_before"]).get_json()
    assert [item["id"] for item in rest["items"]] == [everything["items"][2]["id"]]
    assert rest["next_before"] is None


def test_the_answer_carries_your_turn(app: Flask, client: Client) -> None:
    world = _world(app, phase_changes=3)
    your_turn = _notices(client, world.cara_token).get_json()["your_turn"]
    assert [(item["kind"], item["url"]) for item in your_turn] == [
        ("round.ballot_to_cast", f"/rounds/{world.round_id}/ballot")
    ]
    assert your_turn[0]["due_at"] is not None
    assert _notices(client, world.mo_token).get_json()["your_turn"] == []  # a community member does not vote


def test_marking_read_by_ids_and_all_changes_only_ones_own(app: Flask, client: Client) -> None:
    world = _world(app, phase_changes=3)
    mine = [item["id"] for item in _notices(client, world.cara_token).get_json()["items"]]
    mo_ids = [item["id"] for item in _notices(client, world.mo_token).get_json()["items"]]
    assert mo_ids  # Mo has notices of the round too (as an author)

    refused = client.json_call("POST", f"{API}/me/notifications/read", {"ids": [mine[0], mo_ids[0]]},
                               token=world.cara_token)  # fmt: skip
    assert refused.status_code == 422
    assert str(mo_ids[0]) in refused.get_json()["error"]["message"]
    assert _notices(client, world.cara_token).get_json()["unread"] == 3  # nothing was marked
    assert _notices(client, world.mo_token).get_json()["unread"] == len(mo_ids)

    marked = client.json_call("POST", f"{API}/me/notifications/read", {"ids": [mine[0]]}, token=world.cara_token)
    assert marked.status_code == 200 and marked.get_json() == {"marked": 1, "unread": 2}
    again = client.json_call("POST", f"{API}/me/notifications/read", {"ids": [mine[0]]}, token=world.cara_token)
    assert again.get_json() == {"marked": 0, "unread": 2}
    items = _notices(client, world.cara_token).get_json()["items"]
    assert items[0]["read_at"] is not None and items[1]["read_at"] is None

    everything = client.json_call("POST", f"{API}/me/notifications/read", {"all": True}, token=world.cara_token)
    assert everything.get_json() == {"marked": 2, "unread": 0}
    assert _notices(client, world.mo_token).get_json()["unread"] == len(mo_ids)  # Mo's untouched
    with app.app_context():
        marks = db.session.scalars(select(LedgerEntry.data).where(LedgerEntry.action == "inbox.marked_read")).all()
        assert [(entry["count"], entry["all"]) for entry in marks] == [(1, False), (2, True)]


@pytest.mark.parametrize(
    "body",
    [{}, {"all": False}, {"ids": [1], "all": True}, {"ids": []}, {"ids": ["1"]}, {"all": True, "unread": 1}],
)
def test_a_bad_mark_read_body_is_refused_with_a_message(app: Flask, client: Client, body: dict[str, Any]) -> None:
    world = _world(app)
    response = client.json_call("POST", f"{API}/me/notifications/read", body, token=world.cara_token)
    assert response.status_code == 422
    assert response.get_json()["error"]["message"]
    assert _notices(client, world.cara_token).get_json()["unread"] == 1


def test_the_inbox_api_needs_a_signed_in_person(app: Flask, client: Client) -> None:
    _world(app)
    assert client.get(f"{API}/me/notifications").status_code == 401
    assert client.json_call("POST", f"{API}/me/notifications/read", {"all": True}).status_code == 401


def test_the_openapi_document_lists_the_inbox_operations(app: Flask, client: Client) -> None:
    paths = client.get(f"{API}/openapi.json").get_json()["paths"]
    assert "get" in paths[f"{API}/me/notifications"] and "post" in paths[f"{API}/me/notifications/read"]


class Statements:
    def __init__(self) -> None:
        self.seen: list[str] = []

    def __call__(self, *args: Any) -> None:
        self.seen.append(args[2])


@pytest.fixture
def statements(app: Flask) -> Iterator[Statements]:
    with app.app_context():
        engine = db.engine
    seen = Statements()
    event.listen(engine, "before_cursor_execute", seen)
    yield seen
    event.remove(engine, "before_cursor_execute", seen)


def test_the_header_counts_unread_notices_with_one_query(app: Flask, client: Client, statements: Statements) -> None:
    world = _world(app, phase_changes=2)
    client.login(world.cara_email)
    statements.seen.clear()
    page = client.get("/").get_data(as_text=True)
    assert 'class="inbox-link">Inbox <span class="count">2<span class="visually-hidden"> unread</span>' in page
    assert len([s for s in statements.seen if "notifications" in s]) == 1
    client.post_form("/inbox/read")
    assert 'class="inbox-link">Inbox</a>' in client.get("/").get_data(as_text=True)


def test_the_inbox_page_lists_your_turn_and_notices(app: Flask, client: Client) -> None:
    world = _world(app, phase_changes=3)
    client.login(world.cara_email)
    page = client.get("/inbox").get_data(as_text=True)
    assert f'href="/rounds/{world.round_id}/ballot">Cast your ballot in “Spring micro-grants”.</a>' in page
    assert "Spring micro-grants: now deciding" in page and "3 unread." in page
    circle_page = client.get(f"/circles/{world.circle_id}").get_data(as_text=True)
    assert "Your turn" in circle_page and f'href="/rounds/{world.round_id}/ballot"' in circle_page
    assert client.get("/inbox", follow_redirects=False).status_code == 200
    client.post("/logout", data={"csrf_token": client.csrf_token()})
    assert client.get("/inbox").status_code in (302, 401)


def test_the_facilitator_reminds_the_undecided_from_the_round_page_once_an_hour(app: Flask, client: Client) -> None:
    world = _world(app, phase_changes=3)
    client.login(world.cara_email)
    assert client.post_form(f"/rounds/{world.round_id}/remind").status_code == 403  # not the facilitator
    client.post("/logout", data={"csrf_token": client.csrf_token()})
    client.login(world.admin_email)
    page = client.get(f"/rounds/{world.round_id}").get_data(as_text=True)
    assert "Remind those who have not decided yet" in page
    sent = client.post_form(f"/rounds/{world.round_id}/remind", follow_redirects=True).get_data(as_text=True)
    assert "Reminded 1 circle member who have not decided yet." in sent
    assert "the next can be sent from" in sent  # the button gives way to the time of the next
    again = client.post_form(f"/rounds/{world.round_id}/remind", follow_redirects=True)
    assert "the next one can be sent from" in again.get_data(as_text=True)
    ledger = client.get(f"/circles/{world.circle_id}/ledger").get_data(as_text=True)
    assert "Ada reminded 1 circle member(s) who had not decided" in ledger
    with app.app_context():
        cara = db.session.scalars(select(User).where(User.email == world.cara_email)).one()
        assert db.session.scalar(
            select(func.count()).select_from(Notification).where(
                Notification.user_id == cara.id, Notification.kind == "round.facilitator_reminder")
        ) == 1  # fmt: skip
        assert (
            db.session.scalar(
                select(func.count()).select_from(LedgerEntry).where(LedgerEntry.action == "round.reminder_sent")
            )
            == 1
        )


def test_rounds_remind_sends_the_due_reminders_once(app: Flask) -> None:
    world = _world(app, phase_changes=3)
    with app.app_context():
        round_ = db.session.get_one(Round, world.round_id)
        round_.deciding_close_at = utcnow() + timedelta(hours=5)
        db.session.commit()
    runner = app.test_cli_runner()
    first = runner.invoke(args=["rounds", "remind"])
    assert first.exit_code == 0 and "1 round deadline reminder(s) sent." in first.output
    assert "0 round deadline reminder(s) sent." in runner.invoke(args=["rounds", "remind"]).output


def test_a_reminder_setting_out_of_range_is_refused_by_the_api(app: Flask, client: Client) -> None:
    world = _world(app, phase_changes=0)
    with app.app_context():
        admin = db.session.scalars(select(User).where(User.email == world.admin_email)).one()
        token = make_token(admin)
    refused = client.json_call("PATCH", f"{API}/rounds/{world.round_id}", {"remind_before_hours": 999}, token=token)
    assert refused.status_code == 422 and "remind_before_hours" in refused.get_json()["error"]["fields"]
    changed = client.json_call("PATCH", f"{API}/rounds/{world.round_id}", {"remind_before_hours": 6}, token=token)
    assert changed.status_code == 200 and changed.get_json()["remind_before_hours"] == 6
