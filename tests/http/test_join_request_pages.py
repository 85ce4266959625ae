"""Joining by request through the pages and the JSON API: the "Ask to join" button, asking with a note, the admins'
list (with its empty state), accepting and declining, the setting, and who is refused."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask
from sqlalchemy import select

from fundcircle.auth.models import User
from fundcircle.circles import joining
from fundcircle.circles.models import Circle, JoinRequest
from fundcircle.circles.services import membership_of
from fundcircle.db import utcnow
from fundcircle.extensions import db
from fundcircle.ledger.models import LedgerEntry
from tests.conftest import Client
from tests.factories import add_member, make_circle, make_token, make_user

API = "/api/v1"


@dataclass
class World:
    circle_id: int
    other_circle_id: int
    admin: str
    member: str
    asker: str
    other_admin: str


def _world(app: Flask, *, taking: bool = True, public: bool = True) -> World:
    with app.app_context():
        admin = make_user(name="Ana Admin")
        member = make_user(name="Mo Member")
        asker = make_user(name="Sam Asker")
        other_admin = make_user(name="Olga Other")
        circle = make_circle(admin, public=public, name="Riverside Fund")
        add_member(circle, member, ["member", "circle", "treasurer"], by=admin)
        other = make_circle(other_admin, public=True, name="Hillside Fund")
        if taking:
            joining.set_accepts_join_requests(admin, circle, True)
            db.session.commit()
        return World(circle.id, other.id, admin.email, member.email, asker.email, other_admin.email)


def _requests(app: Flask) -> list[JoinRequest]:
    with app.app_context():
        rows = list(db.session.scalars(select(JoinRequest).order_by(JoinRequest.id)))
        db.session.expunge_all()
        return rows


def _is_member(app: Flask, email: str, circle_id: int) -> bool:
    with app.app_context():
        user = db.session.scalars(select(User).where(User.email == email)).one()
        circle = db.session.get(Circle, circle_id)
        assert circle is not None
        return membership_of(user, circle) is not None


def _actions(app: Flask, prefix: str) -> list[str]:
    with app.app_context():
        return [
            a for a in db.session.scalars(select(LedgerEntry.action).order_by(LedgerEntry.id)) if a.startswith(prefix)
        ]


def test_the_button_shows_on_a_public_circle_taking_requests_and_not_otherwise(app: Flask, client: Client) -> None:
    world = _world(app)
    assert "Ask to join" in client.get(f"/circles/{world.circle_id}").get_data(as_text=True)  # a visitor too
    client.login(world.asker)
    assert "Ask to join" in client.get(f"/circles/{world.circle_id}").get_data(as_text=True)
    assert "Ask to join" not in client.get(f"/circles/{world.other_circle_id}").get_data(as_text=True)
    client.post_form("/logout")
    client.login(world.member)
    assert "Ask to join" not in client.get(f"/circles/{world.circle_id}").get_data(as_text=True)


def test_a_visitor_is_sent_to_log_in_first(app: Flask, client: Client) -> None:
    world = _world(app)
    response = client.get(f"/circles/{world.circle_id}/join")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_a_person_asks_with_a_note_sees_it_waiting_and_withdraws_it(app: Flask, client: Client) -> None:
    world = _world(app)
    client.login(world.asker)
    page = client.get(f"/circles/{world.circle_id}/join")
    assert page.status_code == 200 and 'name="note"' in page.get_data(as_text=True)
    response = client.post_form(f"/circles/{world.circle_id}/join", {"note": "I fix bikes <script>x</script>"})
    assert response.status_code == 302
    waiting = client.get(f"/circles/{world.circle_id}/join").get_data(as_text=True)
    assert "You asked to join" in waiting and "<script>x" not in waiting and "&lt;script&gt;x" in waiting
    again = client.post_form(f"/circles/{world.circle_id}/join", {"note": "again"})
    assert again.status_code == 409 and "asked to join already" in again.get_data(as_text=True)
    assert len(_requests(app)) == 1
    assert client.post_form(f"/circles/{world.circle_id}/join/withdraw").status_code == 302
    assert [r.status for r in _requests(app)] == ["withdrawn"]
    assert _actions(app, "join_request.") == ["join_request.created", "join_request.withdrawn"]


def test_a_note_too_long_is_refused_next_to_its_field_and_nothing_is_stored(app: Flask, client: Client) -> None:
    world = _world(app)
    client.login(world.asker)
    response = client.post_form(f"/circles/{world.circle_id}/join", {"note": "x" * 501})
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert 'id="note-error"' in page and "at most 500 characters" in page
    assert _requests(app) == []


def test_a_circle_not_taking_requests_says_so_and_a_private_one_is_not_found(app: Flask, client: Client) -> None:
    world = _world(app, taking=False)
    client.login(world.asker)
    page = client.get(f"/circles/{world.circle_id}/join").get_data(as_text=True)
    assert "does not take requests to join" in page
    refused = client.post_form(f"/circles/{world.circle_id}/join", {"note": ""})
    assert refused.status_code == 403 and "does not take requests to join" in refused.get_data(as_text=True)
    assert _requests(app) == []
    private = _world(app, public=False)
    client.post_form("/logout")
    client.login(private.asker)
    assert client.get(f"/circles/{private.circle_id}/join").status_code == 404
    assert client.post_form(f"/circles/{private.circle_id}/join", {"note": ""}).status_code == 404


def test_the_admins_list_is_empty_then_shows_the_request_and_accepting_makes_a_member(
    app: Flask, client: Client
) -> None:
    world = _world(app)
    client.login(world.admin)
    empty = client.get(f"/circles/{world.circle_id}/join-requests")
    assert empty.status_code == 200 and "No requests wait for an answer" in empty.get_data(as_text=True)
    with app.app_context():
        asker = db.session.scalars(select(User).where(User.email == world.asker)).one()
        circle = db.session.get(Circle, world.circle_id)
        assert circle is not None
        asked = joining.ask_to_join(asker, circle, "Line one\n<b>two</b>", utcnow())
        db.session.commit()
        request_id = asked.id
    listed = client.get(f"/circles/{world.circle_id}/join-requests").get_data(as_text=True)
    assert "Sam Asker" in listed and "&lt;b&gt;two&lt;/b&gt;" in listed
    assert "(1 waiting)" in client.get(f"/circles/{world.circle_id}").get_data(as_text=True)
    response = client.post_form(f"/circles/{world.circle_id}/join-requests/{request_id}/accept")
    assert response.status_code == 302
    assert _is_member(app, world.asker, world.circle_id)
    assert "is a member of Riverside Fund now" in client.get(response.headers["Location"]).get_data(as_text=True)


def test_an_admin_declines_with_a_reason_and_a_reason_too_long_is_refused_on_its_field(
    app: Flask, client: Client
) -> None:
    world = _world(app)
    client.login(world.asker)
    client.post_form(f"/circles/{world.circle_id}/join", {"note": ""})
    (asked,) = _requests(app)
    client.post_form("/logout")
    client.login(world.admin)
    url = f"/circles/{world.circle_id}/join-requests/{asked.id}/decline"
    too_long = client.post_form(url, {f"request-{asked.id}-reason": "r" * 501})
    assert too_long.status_code == 422
    assert f'id="request-{asked.id}-reason-error"' in too_long.get_data(as_text=True)
    assert [r.status for r in _requests(app)] == ["open"]
    assert client.post_form(url, {f"request-{asked.id}-reason": "We are full."}).status_code == 302
    (declined,) = _requests(app)
    assert declined.status == "declined" and declined.reason == "We are full."
    client.post_form("/logout")
    client.login(world.asker)
    page = client.get(f"/circles/{world.circle_id}/join").get_data(as_text=True)
    assert "We are full." in page and "You may ask again from" in page
    assert client.post_form(f"/circles/{world.circle_id}/join", {"note": ""}).status_code == 409


def test_a_member_who_is_not_admin_and_an_admin_of_another_circle_cannot_answer(app: Flask, client: Client) -> None:
    world = _world(app)
    client.login(world.asker)
    client.post_form(f"/circles/{world.circle_id}/join", {"note": ""})
    (asked,) = _requests(app)
    client.post_form("/logout")
    client.login(world.member)
    assert client.get(f"/circles/{world.circle_id}/join-requests").status_code == 403
    assert client.post_form(f"/circles/{world.circle_id}/join-requests/{asked.id}/accept").status_code == 403
    client.post_form("/logout")
    client.login(world.other_admin)
    assert client.get(f"/circles/{world.circle_id}/join-requests").status_code == 404
    assert client.post_form(f"/circles/{world.circle_id}/join-requests/{asked.id}/accept").status_code == 404
    # Through their own circle, the request is not there.
    through_own = client.post_form(f"/circles/{world.other_circle_id}/join-requests/{asked.id}/accept")
    assert through_own.status_code == 302
    assert [r.status for r in _requests(app)] == ["open"]
    assert not _is_member(app, world.asker, world.circle_id)


def test_the_admin_turns_requests_on_from_the_settings_page(app: Flask, client: Client) -> None:
    world = _world(app, taking=False)
    client.login(world.admin)
    settings = client.get(f"/circles/{world.circle_id}/settings").get_data(as_text=True)
    assert 'name="accepts_join_requests"' in settings
    assert (
        client.post_form(f"/circles/{world.circle_id}/settings/joining", {"accepts_join_requests": "y"}).status_code
        == 302
    )
    with app.app_context():
        circle = db.session.get(Circle, world.circle_id)
        assert circle is not None and circle.accepts_join_requests
    assert _actions(app, "circle.join_requests_set") == ["circle.join_requests_set"]
    client.post_form("/logout")
    client.login(world.member)
    refused = client.post_form(f"/circles/{world.circle_id}/settings/joining", {})
    assert refused.status_code == 403
    with app.app_context():
        circle = db.session.get(Circle, world.circle_id)
        assert circle is not None and circle.accepts_join_requests


# -- the JSON API ------------------------------------------------------------------------------------------------


def _token(app: Flask, email: str) -> str:
    with app.app_context():
        return make_token(db.session.scalars(select(User).where(User.email == email)).one())


def test_the_api_asks_shows_the_request_and_an_admin_accepts(app: Flask, client: Client) -> None:
    world = _world(app)
    asker, admin, member = (_token(app, e) for e in (world.asker, world.admin, world.member))
    base = f"{API}/circles/{world.circle_id}/join-requests"
    asked = client.json_call("POST", base, {"note": "Hello"}, token=asker)
    assert asked.status_code == 201, asked.get_data(as_text=True)
    body = asked.get_json()
    assert body["status"] == "open" and body["note"] == "Hello" and body["name"] == "Sam Asker"
    assert client.json_call("POST", base, {"note": "again"}, token=asker).status_code == 409
    assert client.json_call("GET", f"{base}/mine", token=member).get_json() == {"join_request": None}
    assert client.json_call("GET", f"{base}/mine", token=asker).get_json()["join_request"]["id"] == body["id"]
    assert client.json_call("GET", base, token=member).status_code == 403
    listed = client.json_call("GET", base, token=admin)
    assert [item["id"] for item in listed.get_json()["items"]] == [body["id"]]
    assert client.json_call("POST", f"{base}/{body['id']}/accept", token=member).status_code == 403
    accepted = client.json_call("POST", f"{base}/{body['id']}/accept", token=admin)
    assert accepted.status_code == 200 and accepted.get_json()["roles"] == ["member"]
    assert client.json_call("GET", f"{base}/mine", token=asker).get_json()["join_request"]["status"] == "accepted"
    assert _is_member(app, world.asker, world.circle_id)


def test_the_api_declines_withdraws_and_refuses_a_circle_not_taking_requests(app: Flask, client: Client) -> None:
    world = _world(app)
    asker, admin, other = (_token(app, e) for e in (world.asker, world.admin, world.other_admin))
    base = f"{API}/circles/{world.circle_id}/join-requests"
    first = client.json_call("POST", base, {}, token=asker).get_json()
    withdrawn = client.json_call("POST", f"{base}/mine/withdraw", token=asker)
    assert withdrawn.status_code == 200 and withdrawn.get_json()["status"] == "withdrawn"
    second = client.json_call("POST", base, {"note": ""}, token=asker).get_json()
    assert second["id"] != first["id"]
    assert client.json_call("POST", f"{base}/mine/withdraw", token=other).status_code == 409  # nothing to withdraw
    assert client.json_call("POST", f"{base}/{second['id']}/decline", {}, token=other).status_code == 404
    declined = client.json_call("POST", f"{base}/{second['id']}/decline", {"reason": "Not now."}, token=admin)
    assert declined.status_code == 200 and declined.get_json()["reason"] == "Not now."
    refused_again = client.json_call("POST", base, {"note": ""}, token=asker)
    assert refused_again.status_code == 409 and "ask again from" in refused_again.get_json()["error"]["message"]
    off = client.json_call(
        "PUT", f"{API}/circles/{world.circle_id}/join-settings", {"accepts_join_requests": False}, token=admin
    )
    assert off.status_code == 200 and off.get_json() == {
        "circle_id": world.circle_id,
        "accepts_join_requests": False,
        "takes_requests": False,
    }
    other_circle = client.json_call("POST", f"{API}/circles/{world.other_circle_id}/join-requests", {}, token=asker)
    assert other_circle.status_code == 403
    assert "does not take requests to join" in other_circle.get_json()["error"]["message"]
    assert client.json_call("POST", base, {}).status_code == 401
    assert _actions(app, "join_request.") == [
        "join_request.created",
        "join_request.withdrawn",
        "join_request.created",
        "join_request.declined",
    ]


def test_the_api_does_not_show_a_private_circle_to_an_outsider(app: Flask, client: Client) -> None:
    world = _world(app, public=False)
    asker = _token(app, world.asker)
    response = client.json_call("POST", f"{API}/circles/{world.circle_id}/join-requests", {}, token=asker)
    assert response.status_code == 404
    assert (
        client.json_call("GET", f"{API}/circles/{world.circle_id}/join-requests/mine", token=asker).status_code == 404
    )
