"""The shell's pages (the frame of every page, the inbox, the error pages, the API's page for people) in each
language Fund Circle speaks: they render, and say which language they are in.

Only what holds before the catalogues are merged is asserted here (the pages render and `lang` is set); whether
every string is translated is tests/http/test_translated_pages.py's.
"""

from __future__ import annotations

import pytest
from flask import Flask

from fundcircle.db import utcnow
from fundcircle.extensions import db
from fundcircle.rounds.services import advance_round
from tests.conftest import Client
from tests.factories import add_member, make_circle, make_round, make_user

TRANSLATED = ("de", "es")


def _signed_in_with_a_notice(app: Flask, client: Client) -> int:
    """Cara, a circle member with a notice in her inbox (her round opened), signed in; returns the circle's id."""
    with app.app_context():
        admin, cara = make_user(name="Ada"), make_user(name="Cara")
        circle = make_circle(admin)
        add_member(circle, cara, ["circle"], by=admin)
        round_ = make_round(circle, admin)
        advance_round(admin, round_, "proposals", utcnow())
        db.session.commit()
        email, circle_id = cara.email, circle.id
    client.login(email)
    return circle_id


@pytest.mark.parametrize("language", TRANSLATED)
def test_the_shell_pages_render_in_each_language(app: Flask, client: Client, language: str) -> None:
    circle_id = _signed_in_with_a_notice(app, client)
    headers = {"Accept-Language": f"{language},en;q=0.5"}
    for path in ("/", "/inbox", f"/circles/{circle_id}", "/api/docs"):
        response = client.get(path, headers=headers)
        assert response.status_code == 200, path
        assert f'<html lang="{language}" dir="ltr">' in response.get_data(as_text=True), path


@pytest.mark.parametrize("language", TRANSLATED)
def test_the_error_page_renders_in_each_language(client: Client, language: str) -> None:
    response = client.get("/no-such-page", headers={"Accept-Language": language})
    assert response.status_code == 404
    assert f'<html lang="{language}"' in response.get_data(as_text=True)


def test_the_api_message_is_text_and_its_code_stays_stable_in_any_language(client: Client) -> None:
    response = client.get("/api/v1/no-such-thing", headers={"Accept-Language": "de"})
    assert response.status_code == 404
    error = response.get_json()["error"]
    assert error["code"] == "not_found" and isinstance(error["message"], str) and error["message"]


def test_english_pages_read_as_before(app: Flask, client: Client) -> None:
    _signed_in_with_a_notice(app, client)
    page = client.get("/inbox", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert '<html lang="en" dir="ltr">' in page
    assert "<h1>Inbox</h1>" in page and "1 unread." in page and "Mark all read" in page
