"""Log-in, log-out, sessions, invitations and tokens, as a person in a browser meets them."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from flask import Flask
from sqlalchemy import func, select

from fundcircle.auth.models import User
from fundcircle.circles.models import Membership
from fundcircle.circles.services import invite_member
from fundcircle.db import utcnow
from fundcircle.extensions import db
from fundcircle.ledger.models import LedgerEntry
from tests.conftest import TEST_PASSWORD, Client
from tests.factories import make_circle, make_token, make_user


def _user(app: Flask, **kwargs: object) -> str:
    with app.app_context():
        return make_user(**kwargs).email  # type: ignore[arg-type]


def test_logging_in_with_the_right_password_opens_the_home_page(app: Flask, client: Client) -> None:
    email = _user(app, name="Rosa")
    response = client.post_form("/login", {"email": email.upper(), "password": TEST_PASSWORD})
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert "My circles" in client.get("/").get_data(as_text=True)


def test_a_wrong_password_is_refused_without_saying_which_part_was_wrong(app: Flask, client: Client) -> None:
    email = _user(app)
    response = client.post_form("/login", {"email": email, "password": "not the password"})
    assert response.status_code == 401
    page = response.get_data(as_text=True)
    assert "do not match an account" in page
    assert f'value="{email}"' in page  # what the person typed stays
    unknown = client.post_form("/login", {"email": "nobody@example.org", "password": "whatever12"})
    assert unknown.status_code == 401 and "do not match an account" in unknown.get_data(as_text=True)


def test_log_in_is_refused_for_a_while_after_repeated_failures(app: Flask, client: Client) -> None:
    email = _user(app)
    for _ in range(app.config["LOGIN_FAILURES_PER_ACCOUNT_AND_CLIENT"]):
        assert client.post_form("/login", {"email": email, "password": "wrong password"}).status_code == 401
    blocked = client.post_form("/login", {"email": email, "password": TEST_PASSWORD})
    assert blocked.status_code == 429
    assert "Too many failed attempts" in blocked.get_data(as_text=True)
    assert client.get("/profile").status_code == 302  # still not signed in


def test_a_cookie_copied_before_logout_does_not_work_after_it(app: Flask, client: Client) -> None:
    email = _user(app)
    client.login(email)
    assert client.get("/profile").status_code == 200
    stolen = client.get_cookie("session")
    assert stolen is not None
    client.post_form("/logout")
    assert client.get("/profile").status_code == 302

    replay: Client = app.test_client()  # type: ignore[assignment]
    replay.set_cookie("session", stolen.value)
    response = replay.get("/profile")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_log_in_starts_a_new_session_so_a_planted_one_is_worthless(app: Flask, client: Client) -> None:
    email = _user(app)
    with client.session_transaction() as session:
        session["planted"] = "by an attacker"
    before = client.get_cookie("session")
    client.login(email)
    after = client.get_cookie("session")
    assert before is not None and after is not None and before.value != after.value
    with client.session_transaction() as session:
        assert "planted" not in session


def test_the_session_cookie_is_httponly_and_samesite_lax(app: Flask, client: Client) -> None:
    email = _user(app)
    response = client.post_form("/login", {"email": email, "password": TEST_PASSWORD})
    cookie = next(value for value in response.headers.getlist("Set-Cookie") if value.startswith("session="))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert app.config["SESSION_COOKIE_SECURE"] is False  # development; production turns it on (test_config)


def test_log_in_never_redirects_to_another_site(app: Flask) -> None:
    email = _user(app)
    for target in ("//evil.example/", "https://evil.example/", "/\\evil.example", "javascript:alert(1)"):
        client: Client = app.test_client()  # type: ignore[assignment]
        response = client.post_form(f"/login?next={target}", {"email": email, "password": TEST_PASSWORD})
        assert response.headers["Location"] == "/", target
    client = app.test_client()  # type: ignore[assignment]
    response = client.post_form("/login?next=/profile", {"email": email, "password": TEST_PASSWORD})
    assert response.headers["Location"] == "/profile"


def test_a_form_without_its_csrf_token_is_refused_and_changes_nothing(app: Flask, client: Client) -> None:
    with app.app_context():
        admin = make_user()
        circle = make_circle(admin, name="Before")
        email, circle_id = admin.email, circle.id
    client.login(email)
    response = client.post(f"/circles/{circle_id}/settings", data={"name": "After", "description": ""})
    assert response.status_code == 400
    assert "did not come from this site" in response.get_data(as_text=True)
    forged = client.post(
        f"/circles/{circle_id}/settings", data={"name": "After", "description": "", "csrf_token": "forged"}
    )
    assert forged.status_code == 400
    assert "Before" in client.get(f"/circles/{circle_id}").get_data(as_text=True)
    assert client.post("/login", data={"email": email, "password": TEST_PASSWORD}).status_code == 400


def _invitation(app: Flask, email: str = "newcomer@example.org", roles: list[str] | None = None) -> tuple[str, int]:
    with app.app_context():
        admin = make_user(name="Admin")
        circle = make_circle(admin, name="Seed Library")
        outcome = invite_member(
            admin, circle, email=email, roles=roles or ["member", "circle"], now=utcnow(), valid_days=7
        )
        db.session.commit()
        assert outcome.token is not None
        return outcome.token, circle.id


def test_a_newcomer_signs_up_from_an_invitation_and_joins_with_its_roles(app: Flask, client: Client) -> None:
    token, circle_id = _invitation(app)
    page = client.get(f"/invitations/{token}")
    assert page.status_code == 200 and "Create your account" in page.get_data(as_text=True)
    response = client.post_form(
        f"/invitations/{token}", {"name": "Noor", "password": "a long password", "password_confirm": "a long password"}
    )
    assert response.status_code == 302 and response.headers["Location"] == f"/circles/{circle_id}"
    assert "Seed Library" in client.get(f"/circles/{circle_id}").get_data(as_text=True)  # signed in, a member
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == "newcomer@example.org"))
        assert user is not None and user.name == "Noor"
        membership = db.session.scalar(select(Membership).where(Membership.user_id == user.id))
        assert membership is not None and membership.roles == {"member", "circle"}
        actions = db.session.scalars(select(LedgerEntry.action).order_by(LedgerEntry.id)).all()
        assert actions[-2:] == ["user.created", "member.joined"]
    # the link works once
    again: Client = app.test_client()  # type: ignore[assignment]
    assert again.get(f"/invitations/{token}").status_code == 404


def test_sign_up_errors_are_shown_next_to_the_field_and_nothing_is_created(app: Flask, client: Client) -> None:
    token, _ = _invitation(app)
    response = client.post_form(
        f"/invitations/{token}", {"name": "Noor", "password": "short", "password_confirm": "short"}
    )
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert 'id="password-error"' in page and 'value="Noor"' in page
    mismatch = client.post_form(
        f"/invitations/{token}", {"name": "Noor", "password": "a long password", "password_confirm": "another one"}
    )
    assert "The two passwords differ." in mismatch.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(User).where(User.name == "Noor")) == 0
    assert client.get(f"/invitations/{token}").status_code == 200  # still usable


def test_an_expired_or_unknown_invitation_says_so(app: Flask, client: Client) -> None:
    token, _ = _invitation(app)
    with app.app_context():
        from fundcircle.circles.models import Invitation

        invitation = db.session.scalars(select(Invitation)).one()
        invitation.expires_at = utcnow() - timedelta(minutes=1)
        db.session.commit()
    response = client.get(f"/invitations/{token}")
    assert response.status_code == 404 and "expired" in response.get_data(as_text=True)
    assert client.get("/invitations/not-a-real-token").status_code == 404


def test_a_person_who_made_an_account_after_being_invited_logs_in_then_joins(app: Flask) -> None:
    # An admin's invitation goes to an address without an account; the person then gets one another way.
    token, circle_id = _invitation(app, email="later@example.org", roles=["treasurer"])
    _user(app, email="later@example.org")
    client: Client = app.test_client()  # type: ignore[assignment]
    page = client.get(f"/invitations/{token}").get_data(as_text=True)
    assert "There is an account for later@example.org already" in page
    client.login("later@example.org")
    response = client.post_form(f"/invitations/{token}")
    assert response.status_code == 302
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == "later@example.org"))
        membership = db.session.scalar(
            select(Membership).where(Membership.user_id == user.id, Membership.circle_id == circle_id)
        )
        assert membership is not None and membership.roles == {"treasurer"}


def test_only_the_invited_address_can_use_an_invitation_while_signed_in(app: Flask, client: Client) -> None:
    token, _ = _invitation(app)
    client.login(_user(app))
    response = client.post_form(f"/invitations/{token}")
    assert response.status_code == 403
    assert "This invitation is for newcomer@example.org" in response.get_data(as_text=True)


def test_a_token_is_shown_once_and_stops_working_when_revoked(app: Flask, client: Client) -> None:
    client.login(_user(app))
    response = client.post_form("/profile/tokens", {"name": "reporting script"})
    page = response.get_data(as_text=True)
    assert "copy it now" in page
    start = page.index('<code class="token">') + len('<code class="token">')
    token = page[start : page.index("</code>", start)]
    assert token.startswith("fc_")
    assert client.json_call("GET", "/api/v1/me", token=token).status_code == 200
    assert token not in client.get("/profile").get_data(as_text=True)  # never shown again
    with app.app_context():
        from fundcircle.auth.models import ApiToken

        token_id = db.session.scalars(select(ApiToken.id)).one()
    client.post_form(f"/profile/tokens/{token_id}/revoke")
    assert client.json_call("GET", "/api/v1/me", token=token).status_code == 401


def test_a_token_name_is_required(app: Flask, client: Client) -> None:
    client.login(_user(app))
    response = client.post_form("/profile/tokens", {"name": ""})
    assert response.status_code == 400 and 'id="name-error"' in response.get_data(as_text=True)


def test_the_api_notes_when_a_token_last_made_a_change_and_a_read_writes_nothing(app: Flask, client: Client) -> None:
    from fundcircle.auth.models import ApiToken

    with app.app_context():
        user = make_user()
        token = make_token(user)
        token_id = db.session.scalars(select(ApiToken.id).where(ApiToken.user_id == user.id)).one()

    def last_used() -> datetime | None:
        with app.app_context():
            return db.session.get(ApiToken, token_id).last_used_at

    assert client.json_call("GET", "/api/v1/me", token=token).status_code == 200
    assert last_used() is None  # a GET changes nothing, not even this
    created = client.json_call("POST", "/api/v1/me/tokens", {"name": "second script"}, token=token)
    assert created.status_code == 201
    noted = last_used()
    assert noted is not None
    assert client.json_call("GET", "/api/v1/me/tokens", token=token).status_code == 200
    assert last_used() == noted


def test_a_person_turns_e_mail_notices_off_and_on(app: Flask, client: Client) -> None:
    email = _user(app)
    client.login(email)
    assert re.search(r'<input checked[^>]*name="email_notices"', client.get("/profile").get_data(as_text=True))
    client.post_form("/profile/notices", {})
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == email))
        assert user is not None and user.email_notices is False
        last = db.session.scalars(select(LedgerEntry).order_by(LedgerEntry.id.desc())).first()
        assert last is not None and (last.action, last.data) == ("user.notices_changed", {"email_notices": False})
    client.post_form("/profile/notices", {"email_notices": "y"})
    with app.app_context():
        assert db.session.scalar(select(User.email_notices).where(User.email == email)) is True
