"""A person's own language and time zone: the switcher in every page's header (a visitor's choice in their session,
a member's on their account and in the ledger), the profile's choices, the API's, and what the pages do with them."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Flask, render_template
from sqlalchemy import select

from fundcircle.auth.models import User
from fundcircle.extensions import db
from fundcircle.i18n import SESSION_KEY
from fundcircle.ledger.models import LedgerEntry
from tests.conftest import Client
from tests.factories import make_circle, make_round, make_token, make_user

API = "/api/v1"


def _member(app: Flask, client: Client | None = None) -> int:
    with app.app_context():
        user = make_user(name="Lena Lernkreis")
        user_id, email = user.id, user.email
    if client is not None:
        client.login(email)
    return user_id


def _user(app: Flask, user_id: int) -> User:
    with app.app_context():
        user = db.session.get(User, user_id)
        assert user is not None
        db.session.expunge(user)
        return user


def _entries(app: Flask, action: str) -> list[LedgerEntry]:
    with app.app_context():
        entries = list(db.session.scalars(select(LedgerEntry).where(LedgerEntry.action == action)))
        for entry in entries:
            db.session.expunge(entry)
        return entries


def _lang_of(page: str) -> str:
    start = page.index("<html lang=") + len('<html lang="')
    return page[start : page.index('"', start)]


# --- the switcher --------------------------------------------------------------------------------------------------


def test_the_switcher_is_a_labelled_post_form_naming_each_language_in_itself(app: Flask) -> None:
    with app.test_request_context("/rounds/7?tab=votes"):
        switcher = render_template("auth/_language_switcher.html")

    assert 'method="post" action="/language"' in switcher
    assert 'name="csrf_token"' in switcher
    assert '<input type="hidden" name="next" value="/rounds/7?tab=votes">' in switcher
    assert '<label for="language-switcher">Language</label>' in switcher
    assert '<select id="language-switcher" name="language">' in switcher
    for code, name in (("en", "English"), ("es", "Español"), ("de", "Deutsch")):
        assert f'value="{code}" lang="{code}"' in switcher and f">{name}</option>" in switcher
    assert '<option value="en" lang="en" selected>' in switcher
    assert '<button type="submit"' in switcher


def test_a_visitor_switches_to_german_and_it_stays_in_their_session(client: Client) -> None:
    answer = client.post_form("/language", {"language": "de", "next": "/login"})

    assert answer.status_code == 302 and answer.headers["Location"] == "/login"
    with client.session_transaction() as session:
        assert session[SESSION_KEY] == "de"
    assert _lang_of(client.get("/login").get_data(as_text=True)) == "de"
    assert _lang_of(client.get("/password/forgot").get_data(as_text=True)) == "de"


def test_a_member_switches_to_spanish_on_their_account_with_a_ledger_entry(app: Flask, client: Client) -> None:
    user_id = _member(app, client)

    answer = client.post_form("/language", {"language": "es", "next": "/profile"})

    assert answer.status_code == 302 and answer.headers["Location"] == "/profile"
    assert _user(app, user_id).language == "es"
    assert _lang_of(client.get("/profile").get_data(as_text=True)) == "es"
    [entry] = _entries(app, "user.language_changed")
    assert entry.circle_id is None and entry.data == {"from": None, "to": "es"}
    # It is the account's, not the session's: it holds in a new log-in elsewhere, whatever the browser asks for.
    elsewhere: Client = app.test_client()  # type: ignore[assignment]
    elsewhere.login(_user(app, user_id).email)
    page = elsewhere.get("/profile", headers={"Accept-Language": "de"}).get_data(as_text=True)
    assert _lang_of(page) == "es"


def test_an_unknown_language_is_refused_with_a_message_and_nothing_changes(app: Flask, client: Client) -> None:
    refused = client.post_form("/language", {"language": "xx", "next": "/login"}, follow_redirects=True)

    page = refused.get_data(as_text=True)
    assert "xx is not a language Fund Circle speaks: choose one of en, es, de." in page
    assert _lang_of(page) == "en"
    with client.session_transaction() as session:
        assert SESSION_KEY not in session

    user_id = _member(app, client)
    refused = client.post_form("/language", {"language": "klingon", "next": "/profile"}, follow_redirects=True)
    assert "klingon is not a language Fund Circle speaks" in refused.get_data(as_text=True)
    assert _user(app, user_id).language is None
    assert _entries(app, "user.language_changed") == []


def test_next_only_goes_back_to_a_page_of_this_site(client: Client) -> None:
    for elsewhere in ("https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:alert(1)"):
        answer = client.post_form("/language", {"language": "de", "next": elsewhere})
        assert answer.status_code == 302
        assert "evil" not in answer.headers["Location"] and "javascript" not in answer.headers["Location"]
        assert answer.headers["Location"].startswith("/")


def test_the_switcher_needs_its_csrf_token(client: Client) -> None:
    answer = client.post("/language", data={"language": "de", "next": "/login"})

    assert answer.status_code == 400
    with client.session_transaction() as session:
        assert SESSION_KEY not in session


def test_a_visitor_without_a_choice_gets_the_language_their_browser_asks_for(client: Client) -> None:
    spanish = client.get("/login", headers={"Accept-Language": "es-ES,es;q=0.9,en;q=0.5"}).get_data(as_text=True)
    assert _lang_of(spanish) == "es"
    unknown = client.get("/login", headers={"Accept-Language": "fi"}).get_data(as_text=True)
    assert _lang_of(unknown) == "en"
    # A choice made with the switcher wins over the browser.
    client.post_form("/language", {"language": "de", "next": "/login"})
    assert _lang_of(client.get("/login", headers={"Accept-Language": "es"}).get_data(as_text=True)) == "de"


# --- the profile ---------------------------------------------------------------------------------------------------


def test_the_profile_chooses_a_language_or_leaves_it_automatic(app: Flask, client: Client) -> None:
    user_id = _member(app, client)
    profile = client.get("/profile").get_data(as_text=True)
    assert 'id="language-and-time"' in profile and 'name="language"' in profile
    assert '<option selected value="">Automatic' in profile

    saved = client.post_form("/profile/language", {"language": "de"})
    assert saved.status_code == 302 and _user(app, user_id).language == "de"
    assert _lang_of(client.get("/profile").get_data(as_text=True)) == "de"

    client.post_form("/profile/language", {"language": ""})
    assert _user(app, user_id).language is None
    assert [entry.data for entry in _entries(app, "user.language_changed")] == [
        {"from": None, "to": "de"},
        {"from": "de", "to": None},
    ]
    refused = client.post_form("/profile/language", {"language": "xx"})
    assert refused.status_code == 400 and _user(app, user_id).language is None


def test_the_profile_sets_the_persons_own_time_zone(app: Flask, client: Client) -> None:
    user_id = _member(app, client)

    saved = client.post_form("/profile/time-zone", {"time_zone": "America/New_York"})

    assert saved.status_code == 302 and _user(app, user_id).time_zone == "America/New_York"
    [entry] = _entries(app, "user.time_zone_changed")
    assert entry.circle_id is None and entry.data == {"from": None, "to": "America/New_York"}
    assert 'value="America/New_York"' in client.get("/profile").get_data(as_text=True)

    refused = client.post_form("/profile/time-zone", {"time_zone": "Mars/Olympus_Mons"})
    page = refused.get_data(as_text=True)
    assert refused.status_code == 422 and "is not a time zone" in page and "Mars/Olympus_Mons" in page
    assert _user(app, user_id).time_zone == "America/New_York"

    client.post_form("/profile/time-zone", {"time_zone": ""})
    assert _user(app, user_id).time_zone is None


def test_the_persons_own_zone_changes_how_a_rounds_deadline_is_shown(app: Flask, client: Client) -> None:
    with app.app_context():
        admin = make_user(name="Ana Admin")
        circle = make_circle(admin)
        circle.time_zone = "Europe/Berlin"
        round_ = make_round(circle, admin, deciding_close_at=datetime(2027, 11, 2, 17, 0, tzinfo=UTC))
        round_id, email = round_.id, admin.email
    client.login(email)
    assert "2 Nov 2027, 18:00 (Europe/Berlin)" in client.get(f"/rounds/{round_id}").get_data(as_text=True)

    client.post_form("/profile/time-zone", {"time_zone": "America/New_York"})

    view = client.get(f"/rounds/{round_id}").get_data(as_text=True)
    # New York is still on summer time on 2 November 2027 (until the 7th): UTC-4.
    assert "2 Nov 2027, 13:00 (America/New_York)" in view and "(Europe/Berlin)" not in view


# --- the API -------------------------------------------------------------------------------------------------------


def test_the_api_reads_and_changes_language_and_time_zone(app: Flask, client: Client) -> None:
    user_id = _member(app)
    with app.app_context():
        token = make_token(db.session.get(User, user_id))

    changed = client.json_call(
        "PATCH", f"{API}/me/account", {"language": "de", "time_zone": "Europe/Madrid"}, token=token
    )

    assert changed.status_code == 200
    answer = changed.get_json()
    assert answer["language"] == "de" and answer["time_zone"] == "Europe/Madrid"
    assert answer["name"] == "Lena Lernkreis"  # left out, so kept
    assert len(_entries(app, "user.language_changed")) == len(_entries(app, "user.time_zone_changed")) == 1

    bad = client.json_call("PATCH", f"{API}/me/account", {"language": "xx"}, token=token)
    error = bad.get_json()["error"]
    assert bad.status_code == 422 and error["code"] == "invalid" and "language" in error["fields"]
    # In the language the person has just chosen; the code stays the same in every language.
    assert error["message"] == "xx ist keine Sprache, die Fund Circle spricht: Wähle eine von en, es, de."

    cleared = client.json_call("PATCH", f"{API}/me/account", {"language": None, "time_zone": None}, token=token)
    assert cleared.get_json()["language"] is None and cleared.get_json()["time_zone"] is None

    bad_zone = client.json_call("PATCH", f"{API}/me/account", {"time_zone": "Nowhere/Else"}, token=token)
    assert bad_zone.status_code == 422 and "time_zone" in bad_zone.get_json()["error"]["fields"]
    assert _user(app, user_id).time_zone is None


def test_a_visitors_language_stays_after_they_log_in(app: Flask, client: Client) -> None:
    """Log-in starts a new session, but the language the visitor chose on the way in is kept for it."""
    with app.app_context():
        email = make_user(name="Vera").email
    client.post_form("/language", {"language": "es", "next": "/login"})
    client.login(email)
    assert '<html lang="es"' in client.get("/").get_data(as_text=True)
