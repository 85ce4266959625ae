"""CSRF on every form and cookie-authenticated API call, and the security headers on every kind of response."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from tests.conftest import Client
from tests.http.test_cross_circle import FORM_BODY
from tests.worlds.circles import all_routes, build_circle, snapshot, url_for_rule

#: Called by Open Collective, not a browser: authenticated by the secret in its URL, never by a cookie.
NOT_COOKIE_AUTHENTICATED = {"/hooks/opencollective/<secret>"}
STATE_CHANGING = [
    route
    for route in all_routes()
    if route[2] in {"POST", "PUT", "PATCH", "DELETE"} and route[1] not in NOT_COOKIE_AUTHENTICATED
]


def _logged_in(app: Flask, email: str) -> Client:
    client: Client = app.test_client()  # type: ignore[assignment]
    client.login(email)
    return client


@pytest.mark.parametrize("actor", ["admin", "member"])
def test_no_state_changing_route_acts_without_the_sessions_own_csrf_token(app: Flask, actor: str) -> None:
    with app.app_context():
        world = build_circle("A")
    client = _logged_in(app, world.emails[actor])
    foreign = _logged_in(app, world.emails["circle"]).csrf_token()  # valid, but for another session
    assert foreign != client.csrf_token()
    before = snapshot(app)
    wrong = []
    for _, rule, method in STATE_CHANGING:
        url = url_for_rule(rule, world.ids(actor))
        for label, token in (("no token", None), ("a foreign token", foreign)):
            if url.startswith("/api/"):
                headers = {"X-CSRFToken": token} if token else {}
                response = client.open(url, method=method, json={}, headers=headers)
            else:
                data: dict[str, Any] = dict(FORM_BODY)
                if token:
                    data["csrf_token"] = token
                response = client.open(url, method=method, data=data)
            if response.status_code != 400:
                wrong.append(f"{method} {rule} with {label}: {response.status_code}")
            response.close()
    assert not wrong, "\n".join(wrong)
    assert snapshot(app) == before
    # The session still works, with its own token.
    assert client.get("/profile").status_code == 200


def test_log_in_and_log_out_need_the_csrf_token_too(app: Flask) -> None:
    with app.app_context():
        world = build_circle("A")
    client: Client = app.test_client()  # type: ignore[assignment]
    response = client.post("/login", data={"email": world.emails["admin"], "password": "correct horse battery"})
    assert response.status_code == 400
    assert client.get("/profile").status_code == 302  # not logged in
    client.login(world.emails["admin"])
    assert client.post("/logout").status_code == 400
    assert client.get("/profile").status_code == 200  # still logged in


def _check_headers(response: Any, where: str, production: bool) -> list[str]:
    problems = []
    csp = response.headers.get("Content-Security-Policy", "")
    directives = {part.split()[0]: part.split()[1:] for part in csp.split(";") if part.strip()}
    script_sources = directives.get("script-src", directives.get("default-src", []))
    if not script_sources or "'unsafe-inline'" in script_sources or "'unsafe-eval'" in script_sources:
        problems.append(f"{where}: script-src {script_sources}")
    if directives.get("frame-ancestors") != ["'none'"]:
        problems.append(f"{where}: frame-ancestors {directives.get('frame-ancestors')}")
    if directives.get("object-src") != ["'none'"]:
        problems.append(f"{where}: object-src {directives.get('object-src')}")
    if response.headers.get("X-Content-Type-Options") != "nosniff":
        problems.append(f"{where}: X-Content-Type-Options")
    if response.headers.get("Referrer-Policy") not in ("same-origin", "no-referrer", "strict-origin-when-cross-origin"):
        problems.append(f"{where}: Referrer-Policy {response.headers.get('Referrer-Policy')}")
    hsts = response.headers.get("Strict-Transport-Security", "")
    if production and not hsts.startswith("max-age=") or not production and hsts:
        problems.append(f"{where}: Strict-Transport-Security {hsts!r} (production: {production})")
    return problems


@pytest.mark.parametrize("production", [False, True], ids=["development", "production"])
def test_every_response_carries_the_security_headers(app: Flask, make_app: Any, production: bool) -> None:
    with app.app_context():
        world = build_circle("A")
    served = make_app(PRODUCTION=production, SESSION_COOKIE_SECURE=False) if production else app
    client: Client = served.test_client()
    client.login(world.emails["admin"])
    visitor: Client = served.test_client()
    problems = []
    for _, rule, method in all_routes():
        if method != "GET":
            continue
        url = url_for_rule(rule, world.ids("admin"))
        for who, c in (("admin", client), ("visitor", visitor)):
            response = c.get(url)
            problems += _check_headers(response, f"{who} GET {rule} ({response.status_code})", production)
            response.close()
    # Errors of every kind: not found, method not allowed, CSRF refused, a bad API call, a refused log-in.
    for response in (
        visitor.get("/no/such/page"),
        visitor.get("/api/v1/no/such/thing"),
        visitor.delete("/login"),
        visitor.post("/login", data={}),
        client.json_call("POST", f"/api/v1/circles/{world.circle_id}/rounds", {"unknown": 1}, csrf=True),
        visitor.post_form("/login", {"email": "nobody@example.org", "password": "wrong password"}),
    ):
        problems += _check_headers(response, f"{response.request.method} {response.request.path} "
                                   f"({response.status_code})", production)  # fmt: skip
    assert not problems, "\n".join(problems)
