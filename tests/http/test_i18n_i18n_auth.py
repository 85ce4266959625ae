"""The accounts' and attachments' pages in Spanish and German. The catalogues are merged from every area's part
(i18n-parts/) later, so this checks only what holds without them: each page renders, with <html lang> set to the
language asked for. (That no string of these pages is left untranslated is checked after the merge.)"""

from __future__ import annotations

import io

import pytest
from flask import Flask

from fundcircle.db import utcnow
from fundcircle.rounds.services import advance_round
from tests.conftest import Client
from tests.factories import add_member, make_circle, make_proposal, make_round, make_user

LANGUAGES = ("de", "es")
VISITOR_PAGES = ("/login", "/password/forgot", "/unsubscribe/not-a-token")
MEMBER_PAGES = ("/profile", "/profile/notice-preferences")


def _ask(client: Client, url: str, language: str, **kwargs: object) -> str:
    answer = client.get(url, headers={"Accept-Language": language}, **kwargs)  # type: ignore[arg-type]
    page = answer.get_data(as_text=True)
    assert answer.status_code in (200, 400), (url, answer.status_code)
    assert f'<html lang="{language}" dir="ltr">' in page, url
    return page


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_visitors_pages_render_in_the_language_asked_for(client: Client, language: str) -> None:
    for url in VISITOR_PAGES:
        _ask(client, url, language)


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_profile_pages_render_in_the_language_asked_for(app: Flask, client: Client, language: str) -> None:
    with app.app_context():
        person = make_user(name="Jordi")
        email = person.email
    client.login(email)
    for url in MEMBER_PAGES:
        assert _ask(client, url, language).count("<form") >= 1
    # A refused form shows its messages in the same language's page.
    refused = client.post_form(
        "/profile/time-zone", {"time_zone": "Atlantis/Capital"}, headers={"Accept-Language": language}
    )
    assert refused.status_code == 422 and f'<html lang="{language}"' in refused.get_data(as_text=True)


@pytest.mark.parametrize("language", LANGUAGES)
def test_an_attachment_refused_renders_in_the_language_asked_for(app: Flask, client: Client, language: str) -> None:
    with app.app_context():
        admin = make_user(name="Admin")
        circle = make_circle(admin)
        author = make_user(name="Author")
        add_member(circle, author, ["member"], by=admin)
        round_ = make_round(circle, admin)
        advance_round(admin, round_, "proposals", utcnow())
        proposal = make_proposal(round_, author)
        proposal_id, email = proposal.id, author.email
    client.login(email)
    assert 'name="file"' in _ask(client, f"/proposals/{proposal_id}", language)

    refused = client.post_form(
        f"/attachments/proposal/{proposal_id}",
        {"file": (io.BytesIO(b"%PDF-1.4 not a picture"), "photo.png"), "description": "A photo"},
        content_type="multipart/form-data",
        headers={"Accept-Language": language},
    )

    page = refused.get_data(as_text=True)
    assert refused.status_code == 422 and f'<html lang="{language}"' in page
    assert "photo.png" in page
