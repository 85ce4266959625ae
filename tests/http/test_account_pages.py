"""Accounts on the pages and in the API, as a person meets them: name, password and address changes, a reset by an
e-mailed link (through a real SMTP server on loopback), sessions that end on the server, and invitations answered."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask import Flask
from sqlalchemy import select, update

from fundcircle.auth.models import AuthSession, User
from fundcircle.circles.models import Membership
from fundcircle.circles.services import invite_member
from fundcircle.db import utcnow
from fundcircle.extensions import db
from fundcircle.ledger.models import LedgerEntry
from tests.concurrency import all_at_once
from tests.conftest import TEST_PASSWORD, Client
from tests.factories import make_circle, make_token, make_user
from tests.smtp import Inbox, body_of, running_smtp

NEW_PASSWORD = "a brand new passphrase"
API = "/api/v1"


@pytest.fixture
def smtp() -> Iterator[tuple[int, Inbox]]:
    with running_smtp() as server:
        yield server


@pytest.fixture
def mail_app(make_app: Any, smtp: tuple[int, Inbox]) -> Flask:
    port, _ = smtp
    return make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=port, BASE_URL="http://localhost")  # type: ignore[no-any-return]


@dataclass(frozen=True)
class Person:
    id: int
    email: str


def _person(app: Flask, **kwargs: Any) -> Person:
    with app.app_context():
        user = make_user(**kwargs)
        return Person(user.id, user.email)


def _browser(app: Flask, email: str | None = None, password: str = TEST_PASSWORD) -> Client:
    client: Client = app.test_client()  # type: ignore[assignment]
    if email is not None:
        client.login(email, password)
    return client


def _link(inbox: Inbox, to: str, path_start: str) -> str:
    (message,) = [m for m in inbox.to(to) if path_start in body_of(m)]
    match = re.search(r"http://localhost(/\S+)", body_of(message))
    assert match, body_of(message)
    return urlsplit(match.group(1)).path


def _signed_in(client: Client) -> bool:
    return client.get("/profile").status_code == 200


def test_a_person_changes_their_name_on_the_profile(app: Flask) -> None:
    user = _person(app, name="Bea")
    client = _browser(app, user.email)
    assert 'value="Bea"' in client.get("/profile").get_data(as_text=True)
    empty = client.post_form("/profile/name", {"name": ""})
    assert empty.status_code == 400 and 'id="profile-name-error"' in empty.get_data(as_text=True)
    saved = client.post_form("/profile/name", {"name": "Beatriz"})
    assert saved.status_code == 302
    page = client.get("/profile").get_data(as_text=True)
    assert "Your name is saved." in page and "<h1>Beatriz</h1>" in page
    with app.app_context():
        entry = db.session.scalars(select(LedgerEntry).where(LedgerEntry.action == "user.name_changed")).one()
        assert entry.data == {"from": "Bea", "to": "Beatriz"}


def test_changing_the_password_needs_the_current_one_and_signs_out_every_other_browser(app: Flask) -> None:
    user = _person(app)
    here, other = _browser(app, user.email), _browser(app, user.email)
    wrong = here.post_form(
        "/profile/password",
        {"current_password": "not my password", "password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD},
    )
    assert wrong.status_code == 422 and "That is not your current password." in wrong.get_data(as_text=True)
    assert _signed_in(other)
    mismatch = here.post_form(
        "/profile/password",
        {"current_password": TEST_PASSWORD, "password": NEW_PASSWORD, "password_confirm": "something else"},
    )
    assert mismatch.status_code == 400 and "The two passwords differ." in mismatch.get_data(as_text=True)

    changed = here.post_form(
        "/profile/password",
        {"current_password": TEST_PASSWORD, "password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD},
    )
    assert changed.status_code == 302
    assert "Your password is changed." in here.get("/profile").get_data(as_text=True)
    assert _signed_in(here) and not _signed_in(other)
    assert _browser(app).post_form("/login", {"email": user.email, "password": TEST_PASSWORD}).status_code == 401
    _browser(app, user.email, NEW_PASSWORD)
    with app.app_context():
        texts = [str(e.data) for e in db.session.scalars(select(LedgerEntry))]
        assert not any(NEW_PASSWORD in text or TEST_PASSWORD in text or "argon2" in text for text in texts)


def test_a_forgotten_password_is_reset_by_an_e_mailed_link_that_signs_the_person_in(
    mail_app: Flask, smtp: tuple[int, Inbox]
) -> None:
    _, inbox = smtp
    user = _person(mail_app, name="Dana")
    other = _browser(mail_app, user.email)
    visitor = _browser(mail_app)
    assert "Forgot your password?" in visitor.get("/login").get_data(as_text=True)
    answers = [
        visitor.post_form("/password/forgot", {"email": address}) for address in ("nobody@example.org", user.email)
    ]
    # The same answer whether or not the address has an account.
    assert [a.status_code for a in answers] == [302, 302]
    assert inbox.recipients() == [user.email]
    path = _link(inbox, user.email, "/password/reset/")

    page = visitor.get(path)
    assert page.status_code == 200 and "Set a new password" in page.get_data(as_text=True)
    weak = visitor.post_form(path, {"password": "short", "password_confirm": "short"})
    assert weak.status_code == 400
    done = visitor.post_form(path, {"password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD})
    assert done.status_code == 302 and done.headers["Location"] == "/"
    assert _signed_in(visitor) and not _signed_in(other)
    assert visitor.get(path).status_code == 404  # once only
    _browser(mail_app, user.email, NEW_PASSWORD)


def test_the_reset_link_lets_the_owner_in_even_when_their_own_client_is_locked(
    mail_app: Flask, smtp: tuple[int, Inbox]
) -> None:
    _, inbox = smtp
    user = _person(mail_app)
    shared = _browser(mail_app)  # a library computer somebody else hammered
    for _ in range(5):
        shared.post_form("/login", {"email": user.email, "password": "wrong password"})
    locked = shared.post_form("/login", {"email": user.email, "password": TEST_PASSWORD})
    assert locked.status_code == 429 and "Forgot your password?" in locked.get_data(as_text=True)
    shared.post_form("/password/forgot", {"email": user.email})
    path = _link(inbox, user.email, "/password/reset/")
    assert shared.post_form(path, {"password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD}).status_code == 302
    assert _signed_in(shared)


def test_an_address_change_is_confirmed_by_a_link_to_the_new_address_and_told_to_the_old(
    mail_app: Flask, smtp: tuple[int, Inbox]
) -> None:
    _, inbox = smtp
    user = _person(mail_app, name="Chidi")
    here, other = _browser(mail_app, user.email), _browser(mail_app, user.email)
    no_password = here.post_form("/profile/email", {"email": "chidi@new.example.org", "current_password": "guess"})
    assert no_password.status_code == 422 and inbox.messages == []
    asked = here.post_form("/profile/email", {"email": "chidi@new.example.org", "current_password": TEST_PASSWORD})
    assert asked.status_code == 302
    assert "We e-mailed a link to chidi@new.example.org" in here.get("/profile").get_data(as_text=True)
    assert "chidi@new.example.org" in body_of(inbox.to(user.email)[0])  # the old address is told
    path = _link(inbox, "chidi@new.example.org", "/email/confirm/")

    # Nothing changed yet; somebody else signed in cannot use the link; a visitor is sent to log in first.
    assert _browser(mail_app).get(path).status_code == 302
    stranger = _person(mail_app)
    assert _browser(mail_app, stranger.email).get(path).status_code == 403
    assert "Confirm your new e-mail address" in here.get(path).get_data(as_text=True)
    assert here.post_form(path).status_code == 302
    assert "Your address is now chidi@new.example.org" in here.get("/profile").get_data(as_text=True)
    assert _signed_in(here) and not _signed_in(other)
    assert _browser(mail_app).post_form("/login", {"email": user.email, "password": TEST_PASSWORD}).status_code == 401
    _browser(mail_app, "chidi@new.example.org")


def test_a_session_idle_too_long_ends_on_the_server(app: Flask) -> None:
    user = _person(app)
    client = _browser(app, user.email)
    idle = app.config["SESSION_IDLE_MINUTES"]
    with client.session_transaction() as session:
        session["seen"] = int((utcnow() - timedelta(minutes=idle - 5)).timestamp())
    assert _signed_in(client)  # still within the idle time, and the request counts as activity
    with client.session_transaction() as session:
        assert session["seen"] >= int((utcnow() - timedelta(minutes=1)).timestamp())
        session["seen"] = int((utcnow() - timedelta(minutes=idle + 1)).timestamp())
    response = client.get("/profile")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_a_session_past_its_lifetime_ends_on_the_server_however_active(app: Flask) -> None:
    user = _person(app)
    client = _browser(app, user.email)
    with app.app_context():
        db.session.execute(
            update(AuthSession).values(created_at=utcnow() - timedelta(hours=app.config["SESSION_MAX_HOURS"] + 1))
        )
        db.session.commit()
    response = client.get("/profile")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_an_existing_account_answers_an_invitation_on_the_invitation_page(app: Flask) -> None:
    with app.app_context():
        admin, person = make_user(), make_user(name="Eli")
        circle = make_circle(admin, name="Seed Library")
        outcome = invite_member(admin, circle, email=person.email, roles=["member"], now=utcnow(), valid_days=7)
        db.session.commit()
        email, person_id = person.email, person.id
    client = _browser(app, email)
    page = client.get(f"/invitations/{outcome.token}").get_data(as_text=True)
    assert "Join as Eli" in page and "Decline" in page
    declined = client.post_form(f"/invitations/{outcome.token}", {"answer": "decline"})
    assert declined.status_code == 302
    assert "You declined the invitation to Seed Library" in client.get("/").get_data(as_text=True)
    assert client.get(f"/invitations/{outcome.token}").status_code == 404
    with app.app_context():
        assert db.session.scalar(select(Membership).where(Membership.user_id == person_id)) is None
        assert db.session.scalars(select(LedgerEntry.action).order_by(LedgerEntry.id.desc())).first() == (
            "invitation.declined"
        )


# -- the API -------------------------------------------------------------------------------------------------------


def test_the_api_changes_the_name_and_the_password_and_asks_for_an_address_change(
    mail_app: Flask, smtp: tuple[int, Inbox]
) -> None:
    _, inbox = smtp
    user = _person(mail_app)
    with mail_app.app_context():
        token = make_token(db.session.get(User, user.id))
    api, browser = _browser(mail_app), _browser(mail_app, user.email)
    renamed = api.json_call("PATCH", f"{API}/me/account", {"name": "Ana Maria"}, token=token)
    assert renamed.status_code == 200 and renamed.get_json() == {
        "id": user.id,
        "name": "Ana Maria",
        "email": user.email,
        "language": None,
        "time_zone": None,
    }
    bad = api.json_call("PATCH", f"{API}/me/account", {"name": "", "role": "admin"}, token=token)
    assert bad.status_code == 422 and set(bad.get_json()["error"]["fields"]) == {"name", "role"}

    wrong = api.json_call(
        "PUT", f"{API}/me/password", {"current_password": "nope", "password": NEW_PASSWORD}, token=token
    )
    assert wrong.status_code == 422 and wrong.get_json()["error"]["fields"] == {
        "current_password": ["That is not your current password."]
    }
    changed = api.json_call(
        "PUT", f"{API}/me/password", {"current_password": TEST_PASSWORD, "password": NEW_PASSWORD}, token=token
    )
    assert changed.status_code == 200 and changed.get_json() == {"sessions_ended": 1}
    assert not _signed_in(browser)

    asked = api.json_call(
        "POST", f"{API}/me/email", {"email": "ana@new.example.org", "current_password": NEW_PASSWORD}, token=token
    )
    assert asked.status_code == 202 and asked.get_json() == {"pending_email": "ana@new.example.org"}
    path = _link(inbox, "ana@new.example.org", "/email/confirm/")
    email_token = path.rsplit("/", 1)[1]
    confirmed = api.json_call("POST", f"{API}/email-changes/{email_token}", token=token)
    assert confirmed.status_code == 200 and confirmed.get_json()["email"] == "ana@new.example.org"


def test_the_api_resets_a_password_by_the_e_mailed_token_with_the_same_answer_for_any_address(
    mail_app: Flask, smtp: tuple[int, Inbox]
) -> None:
    _, inbox = smtp
    user = _person(mail_app)
    api = _browser(mail_app)
    answers = [
        api.json_call("POST", f"{API}/password-resets", {"email": address})
        for address in ("nobody@example.org", user.email)
    ]
    assert [a.status_code for a in answers] == [202, 202] and answers[0].get_json() == answers[1].get_json()
    reset_token = _link(inbox, user.email, "/password/reset/").rsplit("/", 1)[1]
    done = api.json_call("POST", f"{API}/password-resets/{reset_token}", {"password": NEW_PASSWORD})
    assert done.status_code == 200
    again = api.json_call("POST", f"{API}/password-resets/{reset_token}", {"password": "another password"})
    assert again.status_code == 404 and again.get_json()["error"]["code"] == "not_found"
    _browser(mail_app, user.email, NEW_PASSWORD)


def test_the_api_needs_the_csrf_token_for_a_change_with_the_session_cookie(app: Flask) -> None:
    user = _person(app, name="Bea")
    browser = _browser(app, user.email)
    forged = browser.json_call("PATCH", f"{API}/me/account", {"name": "Mallory"})
    assert forged.status_code == 400 and forged.get_json()["error"]["code"] == "csrf"
    ok = browser.json_call("PATCH", f"{API}/me/account", {"name": "Beatriz"}, csrf=True)
    assert ok.status_code == 200 and ok.get_json()["name"] == "Beatriz"


def test_an_invitation_accepted_from_many_tabs_at_once_joins_once(app: Flask) -> None:
    with app.app_context():
        admin, person = make_user(), make_user()
        circle = make_circle(admin)
        outcome = invite_member(admin, circle, email=person.email, roles=["member"], now=utcnow(), valid_days=7)
        db.session.commit()
        token, invitation_id, person_id = make_token(person), outcome.invitation.id, person.id
    clients = [_browser(app) for _ in range(10)]

    def accept(index: int) -> int:
        url = f"{API}/me/invitations/{invitation_id}/accept"
        return int(clients[index].json_call("POST", url, token=token).status_code)

    statuses = all_at_once([lambda index=index: accept(index) for index in range(10)])
    assert statuses.count(200) == 1 and set(statuses) <= {200, 404, 409}, statuses
    with app.app_context():
        assert len(db.session.scalars(select(Membership).where(Membership.user_id == person_id)).all()) == 1
        joined = db.session.scalars(select(LedgerEntry).where(LedgerEntry.action == "member.joined")).all()
        assert len(joined) == 1
