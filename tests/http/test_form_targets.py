"""A page's form that fails shows the page again at the address the form posted to. Opening that address again (a
reload from the address bar, the history, a shared link) is a GET: it goes back to the form's page, never to a
405 page. The POST-only routes come from the app's URL map, so a new one is checked as soon as it exists."""

from __future__ import annotations

import re

from flask import Flask

from fundcircle.errors import NOT_FORM_TARGETS
from tests.conftest import Client
from tests.factories import make_user

ARGUMENT = re.compile(r"<(?:([a-z]+)(?:\([^)]*\))?:)?([a-z_]+)>")


def _post_only_page_routes(app: Flask) -> list[str]:
    """Every POST-only address of the pages (not the API, not the webhook), its arguments filled with samples."""
    paths = []
    for rule in app.url_map.iter_rules():
        methods = (rule.methods or set()) - {"HEAD", "OPTIONS"}
        if methods != {"POST"} or rule.rule.startswith(("/api/", *NOT_FORM_TARGETS)):
            continue
        paths.append(ARGUMENT.sub(lambda m: "1" if m.group(1) == "int" else "sample", rule.rule))
    return sorted(paths)


def test_every_post_only_page_address_opened_by_get_goes_back_to_a_page(app: Flask, client: Client) -> None:
    paths = _post_only_page_routes(app)
    # The forms that show their page again when they fail post to some of these: comments, answers, profile, payouts.
    assert {"/proposals/1/comments", "/consent-rounds/1/answer", "/profile/name", "/payouts/1/approve"} <= set(paths)
    with app.app_context():
        email = make_user(name="Rita Reload").email
    client.login(email)
    for path in paths:
        response = client.get(path)
        assert response.status_code == 303, (path, response.status_code)
        page = response.headers["Location"]
        assert path.startswith(page.rstrip("/") + "/") or page == "/", (path, page)
        assert client.get(page).status_code != 405, (path, page)


def test_the_api_and_the_webhook_still_say_405(app: Flask, client: Client) -> None:
    assert client.get("/api/v1/rounds/1/advance").status_code == 405
    assert client.get("/hooks/opencollective/some-secret").status_code == 405


def test_a_failed_profile_form_reloaded_from_the_address_bar_shows_the_profile(app: Flask, client: Client) -> None:
    with app.app_context():
        email = make_user(name="Rita Reload").email
    client.login(email)
    failed = client.post_form("/profile/name", {"name": ""})
    assert failed.status_code == 400
    again = client.get("/profile/name", follow_redirects=True)
    assert again.status_code == 200 and again.request.path == "/profile"


def test_a_failed_comment_reloaded_goes_back_to_the_proposal(app: Flask, client: Client) -> None:
    response = client.get("/proposals/7/comments")
    assert response.status_code == 303 and response.headers["Location"] == "/proposals/7"
    assert client.get("/consent-rounds/4/answer").headers["Location"] == "/consent-rounds/4"
    assert client.get("/profile/totp/confirm").headers["Location"] == "/profile"
