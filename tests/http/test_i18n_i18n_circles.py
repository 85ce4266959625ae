"""The circles' and the learning reports' pages in Spanish and German: each renders, and says its language on
<html>. (Whether every string is translated is checked once the areas' catalogues are merged.)"""

from __future__ import annotations

import pytest
from flask import Flask

from fundcircle.circles.services import invite_member
from fundcircle.db import utcnow
from fundcircle.extensions import db
from tests.conftest import Client
from tests.factories import add_member, make_circle, make_user

LANGUAGES = ["de", "es"]


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_circle_pages_render_in_the_language_asked_for(app: Flask, client: Client, language: str) -> None:
    with app.app_context():
        admin = make_user(superuser=True)
        circle = make_circle(admin, public=True)
        outcome = invite_member(admin, circle, email="new@example.org", roles=["member"], now=utcnow(), valid_days=7)
        circle.accepts_join_requests = True
        db.session.commit()
        circle_id, email, token = circle.id, admin.email, outcome.token
    headers = {"Accept-Language": language}
    anonymous = [
        "/",
        f"/circles/{circle_id}",
        f"/circles/{circle_id}/learned",
        f"/invitations/{token}",
    ]
    for url in anonymous:
        page = client.get(url, headers=headers)
        assert page.status_code == 200, url
        assert f'<html lang="{language}"' in page.get_data(as_text=True), url

    client.login(email)
    signed_in = [
        "/",
        "/circles/new",
        f"/circles/{circle_id}",
        f"/circles/{circle_id}/settings",
        f"/circles/{circle_id}/members",
        f"/circles/{circle_id}/join-requests",
        f"/circles/{circle_id}/rotation",
        f"/circles/{circle_id}/learned",
        f"/circles/{circle_id}/learned?q=garden",
    ]
    for url in signed_in:
        page = client.get(url, headers=headers)
        assert page.status_code == 200, url
        assert f'<html lang="{language}"' in page.get_data(as_text=True), url


@pytest.mark.parametrize("language", LANGUAGES)
def test_asking_to_join_renders_in_the_language_asked_for(app: Flask, client: Client, language: str) -> None:
    with app.app_context():
        admin = make_user()
        circle = make_circle(admin, public=True)
        circle.accepts_join_requests = True
        db.session.commit()
        outsider = make_user()
        member = make_user()
        add_member(circle, member, ["member"], by=admin)
        circle_id, outsider_email = circle.id, outsider.email
    client.login(outsider_email)
    headers = {"Accept-Language": language}

    page = client.get(f"/circles/{circle_id}/join", headers=headers)
    asked = client.post_form(f"/circles/{circle_id}/join", {"note": "Hola"}, headers=headers, follow_redirects=True)

    for response in (page, asked):
        assert response.status_code == 200
        assert f'<html lang="{language}"' in response.get_data(as_text=True)
