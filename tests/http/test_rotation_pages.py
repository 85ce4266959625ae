"""Rotating circles on the pages and the API: the "Who decides" page with its empty states, an admin opening a call
(the form refuses what is wrong, on its field), members volunteering and withdrawing, the draw after the close, the
page that tells how to check it, who may do what, and the same through the JSON API."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import timedelta

import pytest
from flask import Flask
from sqlalchemy import select, update

from fundcircle.circles.models import RotationCall
from fundcircle.circles.sortition import check_entry
from fundcircle.db import utcnow
from fundcircle.extensions import db
from tests.conftest import Client
from tests.factories import add_member, make_circle, make_token, make_user


@dataclass
class World:
    circle_id: int
    admin: str
    members: list[str]
    outsider: str
    tokens: dict[str, str]


@pytest.fixture
def world(app: Flask) -> World:
    with app.app_context():
        admin = make_user(name="Ana", email="ana@example.org")
        circle = make_circle(admin)
        members = []
        tokens = {"ana@example.org": make_token(admin)}
        for name in ("Bo", "Cy", "Di"):
            person = make_user(name=name, email=f"{name.lower()}@example.org")
            add_member(circle, person, ["member"], by=admin)
            members.append(person.email)
            tokens[person.email] = make_token(person)
        outsider = make_user(name="Oz", email="oz@example.org")
        tokens[outsider.email] = make_token(outsider)
        return World(circle.id, admin.email, members, outsider.email, tokens)


def _client(app: Flask, email: str) -> Client:
    client: Client = app.test_client()  # type: ignore[assignment]
    client.login(email)
    return client


def _close_now(app: Flask, circle_id: int) -> None:
    """Time passes: the call's close time is behind us."""
    with app.app_context():
        db.session.execute(
            update(RotationCall)
            .where(RotationCall.circle_id == circle_id)
            .values(closes_at=utcnow() - timedelta(seconds=1))
        )
        db.session.commit()


def _open_by_page(app: Flask, world: World, seats: int = 2) -> None:
    admin = _client(app, world.admin)
    closes = (utcnow() + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M")
    answer = admin.post_form(
        f"/circles/{world.circle_id}/rotation/call",
        {"seats": str(seats), "term_days": "60", "closes_at": closes, "newcomer_share": "50"},
    )
    assert answer.status_code == 302, answer.get_data(as_text=True)


def test_the_page_has_empty_states_and_the_circle_page_links_it(app: Flask, world: World) -> None:
    member = _client(app, world.members[0])
    assert "Who decides" in member.get(f"/circles/{world.circle_id}").get_data(as_text=True)
    page = member.get(f"/circles/{world.circle_id}/rotation").get_data(as_text=True)
    assert "Nobody serves by a draw yet" in page
    assert "There is no open call for volunteers" in page
    assert "No draw has been made yet" in page
    assert "Open the call for volunteers" not in page  # the admin's form only
    admin_page = _client(app, world.admin).get(f"/circles/{world.circle_id}/rotation").get_data(as_text=True)
    assert "Open the call for volunteers" in admin_page


def test_outsiders_see_nothing_and_members_cannot_open_or_draw(app: Flask, world: World) -> None:
    outsider = _client(app, world.outsider)
    assert outsider.get(f"/circles/{world.circle_id}/rotation").status_code in (403, 404)
    assert outsider.post_form(f"/circles/{world.circle_id}/rotation/volunteer").status_code in (403, 404)
    member = _client(app, world.members[0])
    closes = (utcnow() + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M")
    refused = member.post_form(
        f"/circles/{world.circle_id}/rotation/call",
        {"seats": "2", "term_days": "60", "closes_at": closes, "newcomer_share": "0"},
    )
    assert refused.status_code == 403
    assert member.post_form(f"/circles/{world.circle_id}/rotation/draw").status_code == 403


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"seats": "0"}, "Choose between 1 and 50."),
        ({"seats": ""}, "Say how many people to draw."),
        ({"term_days": "99999"}, "Between 1 and 3650 days."),
        ({"closes_at": ""}, "Say when the call for volunteers closes."),
        ({"closes_at": "2020-01-01T10:00"}, "The call must close in the future."),
    ],
)
def test_the_call_form_says_what_is_wrong_next_to_the_field(
    app: Flask, world: World, values: dict[str, str], message: str
) -> None:
    admin = _client(app, world.admin)
    closes = (utcnow() + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M")
    form = {"seats": "2", "term_days": "60", "closes_at": closes, "newcomer_share": "50", **values}
    answer = admin.post_form(f"/circles/{world.circle_id}/rotation/call", form)
    assert answer.status_code in (400, 422)
    page = answer.get_data(as_text=True)
    assert message in page and 'aria-invalid="true"' in page
    with app.app_context():
        assert db.session.query(RotationCall).count() == 0


def test_members_volunteer_withdraw_and_the_admin_draws_after_the_close(app: Flask, world: World) -> None:
    _open_by_page(app, world)
    clients = [_client(app, email) for email in world.members]
    for client in clients:
        assert client.post_form(f"/circles/{world.circle_id}/rotation/volunteer").status_code == 302
    page = clients[0].get(f"/circles/{world.circle_id}/rotation").get_data(as_text=True)
    assert "You have volunteered" in page and all(name in page for name in ("Bo", "Cy", "Di"))
    clients[2].post_form(f"/circles/{world.circle_id}/rotation/withdraw")
    page = clients[2].get(f"/circles/{world.circle_id}/rotation").get_data(as_text=True)
    assert "Volunteer to be a deciding member" in page and "<li>Di</li>" not in page

    admin = _client(app, world.admin)
    early = admin.post_form(f"/circles/{world.circle_id}/rotation/draw", follow_redirects=True)
    assert "can be drawn once it closes" in early.get_data(as_text=True)
    _close_now(app, world.circle_id)
    late = clients[2].post_form(f"/circles/{world.circle_id}/rotation/volunteer", follow_redirects=True)
    assert "The call for volunteers has closed." in late.get_data(as_text=True)
    drawn = admin.post_form(f"/circles/{world.circle_id}/rotation/draw", follow_redirects=True)
    page = drawn.get_data(as_text=True)
    assert "The draw is made: 2 deciding member(s) chosen." in page
    assert "Serves until" in page and "Check this draw yourself" in page
    main = page.split('<footer class="site-footer">')[0]  # the footer folds the checkpoint away (its own test)
    assert not re.search(r"\b[0-9a-f]{64}\b", main), "no raw hash on the member page"
    assert "python -m" not in main, "no command line on the member page"

    check_link = re.search(r'href="(/circles/\d+/rotation/draws/\d+/check)"', page)
    assert check_link
    check = clients[0].get(check_link.group(1)).get_data(as_text=True)
    assert "python -m fundcircle.circles.sortition entry.json" in check
    pre = re.search(r'<pre class="entry-json">(.*?)</pre>', check, re.S)
    assert pre
    entry = json.loads(pre.group(1).replace("&#34;", '"').replace("&quot;", '"'))
    assert check_entry(entry).matches and len(entry["data"]["chosen"]) == 2


def test_the_api_does_the_same_and_refuses_the_same(app: Flask, world: World) -> None:
    api = app.test_client()
    base = f"/api/v1/circles/{world.circle_id}/rotation"

    def call(method: str, url: str, email: str, body: object = None) -> object:
        headers = {"Authorization": f"Bearer {world.tokens[email]}"}
        return api.open(url, method=method, json=body, headers=headers)

    empty = call("GET", base, world.members[0]).get_json()  # type: ignore[attr-defined]
    assert empty == {"serving": [], "open_call": None, "last_draw": None, "last_draw_entry": None}
    assert call("GET", base, world.outsider).status_code in (403, 404)  # type: ignore[attr-defined]
    body = {"seats": 1, "term_days": 30, "closes_at": (utcnow() + timedelta(days=1)).isoformat()}
    assert call("POST", f"{base}/calls", world.members[0], body).status_code == 403  # type: ignore[attr-defined]
    bad = call("POST", f"{base}/calls", world.admin, {**body, "seats": "two"})
    assert bad.status_code == 422  # type: ignore[attr-defined]
    opened = call("POST", f"{base}/calls", world.admin, body)
    assert opened.status_code == 201, opened.get_data(as_text=True)  # type: ignore[attr-defined]
    assert call("POST", f"{base}/volunteers", world.outsider).status_code in (403, 404)  # type: ignore[attr-defined]
    joined = call("POST", f"{base}/volunteers", world.members[1]).get_json()  # type: ignore[attr-defined]
    assert [v["name"] for v in joined["volunteers"]] == ["Cy"]
    again = call("POST", f"{base}/volunteers", world.members[1])
    assert again.status_code == 409  # type: ignore[attr-defined]
    call("POST", f"{base}/volunteers", world.members[0])
    left = call("DELETE", f"{base}/volunteers/me", world.members[0]).get_json()  # type: ignore[attr-defined]
    assert [v["name"] for v in left["volunteers"]] == ["Cy"]
    assert call("POST", f"{base}/draws", world.admin).status_code == 409  # type: ignore[attr-defined]
    _close_now(app, world.circle_id)
    assert call("POST", f"{base}/draws", world.members[1]).status_code == 403  # type: ignore[attr-defined]
    drawn = call("POST", f"{base}/draws", world.admin).get_json()  # type: ignore[attr-defined]
    assert [t["name"] for t in drawn["serving"]] == ["Cy"] and drawn["open_call"] is None
    assert check_entry(drawn["last_draw_entry"]).matches
    assert drawn["last_draw"]["draw_seq"] >= 1


def test_an_admin_opens_a_call_with_a_term_in_rounds_and_the_page_says_so(app: Flask, world: World) -> None:
    admin = _client(app, world.admin)
    closes = (utcnow() + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M")
    form = {"seats": "1", "term_kind": "rounds", "term_days": "", "term_rounds": "3", "closes_at": closes}
    answer = admin.post_form(f"/circles/{world.circle_id}/rotation/call", {**form, "newcomer_share": "0"})
    assert answer.status_code == 302, answer.get_data(as_text=True)
    page = admin.get(f"/circles/{world.circle_id}/rotation").get_data(as_text=True)
    assert "until 3 of the circle's rounds have closed after the draw" in page
    member = _client(app, world.members[0])
    member.post_form(f"/circles/{world.circle_id}/rotation/volunteer")
    _close_now(app, world.circle_id)
    assert admin.post_form(f"/circles/{world.circle_id}/rotation/draw").status_code == 302
    page = member.get(f"/circles/{world.circle_id}/rotation").get_data(as_text=True)
    assert "until 3 more rounds have closed" in page


@pytest.mark.parametrize(
    ("values", "message"),
    [({"term_rounds": ""}, "Say how long a term lasts."), ({"term_rounds": "13"}, "Between 1 and 12 rounds.")],
)
def test_a_term_in_rounds_out_of_range_is_refused_next_to_its_field(
    app: Flask, world: World, values: dict[str, str], message: str
) -> None:
    admin = _client(app, world.admin)
    closes = (utcnow() + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M")
    form = {"seats": "2", "term_kind": "rounds", "term_rounds": "3", "closes_at": closes, "newcomer_share": "0"}
    answer = admin.post_form(f"/circles/{world.circle_id}/rotation/call", {**form, **values})
    assert answer.status_code == 400
    assert message in answer.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalars(select(RotationCall)).all() == []


def test_the_api_opens_a_call_in_rounds_and_refuses_both_kinds_at_once(app: Flask, world: World) -> None:
    client: Client = app.test_client()  # type: ignore[assignment]
    url = f"/api/v1/circles/{world.circle_id}/rotation/calls"
    closes = (utcnow() + timedelta(days=3)).isoformat()
    both = client.json_call(
        "POST",
        url,
        {"seats": 1, "term_days": 30, "term_rounds": 2, "closes_at": closes},
        token=world.tokens[world.admin],
    )
    assert both.status_code == 422
    member = client.json_call(
        "POST", url, {"seats": 1, "term_rounds": 2, "closes_at": closes}, token=world.tokens[world.members[0]]
    )
    assert member.status_code == 403
    opened = client.json_call(
        "POST", url, {"seats": 1, "term_rounds": 2, "closes_at": closes}, token=world.tokens[world.admin]
    )
    assert opened.status_code == 201, opened.get_json()
    assert (opened.get_json()["term_rounds"], opened.get_json()["term_days"]) == (2, None)
