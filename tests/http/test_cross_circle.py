"""Another circle's ids, as each role of a circle and as a visitor: no data leaks and nothing changes.

Circles A and B are private and alike. People of B (admin, treasurer, circle member, member) and a visitor try
every route and API operation that takes an id, with A's ids; then requests that mix B's URL with A's ids in the
body or a query.
"""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from tests.conftest import Client
from tests.worlds.circles import ROLES_OF, CircleWorld, all_routes, build_circle, snapshot, url_for_rule

ID_NAMES = (
    "circle_id", "round_id", "proposal_id", "comment_id", "consent_round_id", "payout_id", "user_id", "token_id",
)  # fmt: skip
ROUTES_WITH_IDS = [route for route in all_routes() if any(f"<int:{name}>" in route[1] for name in ID_NAMES)]
#: What a form or JSON body might carry, so that a route that forgot its check would act on it.
FORM_BODY = {
    "title": "hijacked", "summary": "hijacked", "body": "hijacked", "amount": "1.00", "payee_kind": "account",
    "payee_slug": "thief", "change_note": "hijacked", "to": "deliberation", "position": "consent",
    "argument": "hijacked", "reason": "hijacked", "follow": "1", "roles": "admin", "email": "thief@example.org",
    "name": "hijacked", "description": "hijacked", "question": "y",
}  # fmt: skip


def _worlds(app: Flask) -> tuple[CircleWorld, CircleWorld]:
    with app.app_context():
        return build_circle("A"), build_circle("B")


def _client(app: Flask, world: CircleWorld, actor: str) -> Client:
    client: Client = app.test_client()  # type: ignore[assignment]
    if actor != "visitor":
        client.login(world.emails[actor])
    return client


def _call(client: Client, method: str, url: str, token: str | None) -> Any:
    if url.startswith("/api/"):
        body = {} if method in {"POST", "PUT", "PATCH"} else None
        return client.json_call(method, url, body, token=token)
    if method == "GET":
        return client.get(url)
    return client.post_form(url, FORM_BODY)


def _leaks(response: Any, world: CircleWorld) -> list[str]:
    text = response.get_data(as_text=True)
    return [marker for marker in world.markers if marker in text]


def test_no_route_shows_or_changes_another_circles_things_to_any_role_or_a_visitor(app: Flask) -> None:
    a, b = _worlds(app)
    before = snapshot(app)
    wrong = []
    for actor in ("visitor", *ROLES_OF):
        client = _client(app, b, actor)
        for _, rule, method in ROUTES_WITH_IDS:
            url = url_for_rule(rule, a.ids(actor))
            token = b.tokens[actor] if actor != "visitor" else None
            response = _call(client, method, url, token)
            status = response.status_code
            if actor == "visitor":
                allowed = {401, 404} if url.startswith("/api/") else {302, 404}
                if status == 302 and "/login?next=" not in response.headers["Location"]:
                    allowed = set()
            else:
                allowed = {404}
            if status not in allowed:
                wrong.append(f"{actor}: {method} {rule} -> {status}")
            if leaked := _leaks(response, a):
                wrong.append(f"{actor}: {method} {rule} shows {leaked}")
            response.close()
    assert not wrong, "\n".join(wrong)
    assert snapshot(app) == before


def test_ids_of_another_circle_inside_a_request_change_nothing_there(app: Flask) -> None:
    a, b = _worlds(app)
    before = snapshot(app)
    admin_b = _client(app, b, "admin")
    # B's admin sets the roles of A's member, in B's URL and through the API.
    url = f"/circles/{b.circle_id}/members/{a.user_ids['member']}/roles"
    response = admin_b.post_form(url, {"roles": "admin"}, follow_redirects=True)
    assert response.status_code in (200, 404)  # back on B's members page with a message, or not found
    assert "Roles saved" not in response.get_data(as_text=True) and not _leaks(response, a)
    response = admin_b.json_call(
        "PUT", f"/api/v1/circles/{b.circle_id}/members/{a.user_ids['member']}", {"roles": ["admin"]},
        token=b.tokens["admin"],
    )  # fmt: skip
    assert response.status_code == 404
    # B's member replies, on B's proposal, to A's comment.
    member_b = _client(app, b, "member")
    response = member_b.post_form(
        f"/proposals/{b.proposal_id}/comments", {"body": "A reply across circles", "parent_id": str(a.comment_id)}
    )
    assert response.status_code in (400, 404, 422)
    response = member_b.json_call(
        "POST", f"/api/v1/proposals/{b.proposal_id}/comments",
        {"body": "A reply across circles", "parent_id": a.comment_id}, token=b.tokens["member"],
    )  # fmt: skip
    assert response.status_code == 422
    assert response.get_json()["error"]["fields"] == {
        "parent_id": ["That comment is not in this proposal's discussion."]
    }
    # The ledger of A, asked for by id, through B's token.
    response = admin_b.json_call("GET", f"/api/v1/ledger/verify?circle_id={a.circle_id}", token=b.tokens["admin"])
    assert response.status_code == 404
    assert not _leaks(response, a)
    assert snapshot(app) == before


@pytest.mark.parametrize("actor", ["admin", "member"])
def test_a_person_of_circle_b_sees_nothing_of_circle_a_on_their_own_pages(app: Flask, actor: str) -> None:
    a, b = _worlds(app)
    client = _client(app, b, actor)
    for url in ("/", "/profile", f"/circles/{b.circle_id}", f"/rounds/{b.round_id}", f"/proposals/{b.proposal_id}",
                f"/circles/{b.circle_id}/ledger", "/api/v1/me"):  # fmt: skip
        response = client.get(url)
        assert response.status_code == 200, url
        assert not _leaks(response, a), url
