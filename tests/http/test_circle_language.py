"""A circle's default language, and its zone and language at creation: admins set the language on the settings page
and with PATCH /circles/{id} (checked, with a ledger entry, as the time zone is); a member who chose no language of
their own reads the circle's pages in it, one who chose one keeps theirs. A new circle is made in the zone and the
language its creator gives (UTC and the creator's language to start from); a call for volunteers closes at a wall
time of the circle's zone."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from flask import Flask
from sqlalchemy import select

from fundcircle.auth.models import User
from fundcircle.circles.models import Circle, RotationCall
from fundcircle.extensions import db
from fundcircle.ledger.models import LedgerEntry
from tests.conftest import Client
from tests.factories import add_member, make_circle, make_token, make_user

API = "/api/v1"
SETTINGS = {"name": "Riverside", "description": "", "approvals_required": "1", "two_approvals_from": ""}
REFUSED_XX = "xx is not a language Fund Circle speaks: choose one of en, es, de."
#: The same refusal once the circle speaks Spanish (its admin chose no language of their own).
REFUSED_XX_ES = "xx no es un idioma que hable Fund Circle: elige uno de en, es, de."


def _admin_of_circle(app: Flask, client: Client, **circle: object) -> int:
    with app.app_context():
        admin = make_user(name="Ana Admin")
        circle_id = make_circle(admin, **circle).id
        email = admin.email
    client.login(email)
    return circle_id


def _error_of(page: str, field: str) -> str:
    found = re.search(rf'<p class="error" id="{field}-error">(.*?)</p>', page, re.S)
    return found.group(1).strip() if found else ""


def _last_entry(app: Flask) -> LedgerEntry:
    with app.app_context():
        entry = db.session.scalars(select(LedgerEntry).order_by(LedgerEntry.id.desc())).first()
        assert entry is not None
        db.session.expunge(entry)
        return entry


def _html_lang(page: str) -> str:
    found = re.search(r'<html lang="([^"]+)"', page)
    assert found, "the page has no <html lang>"
    return found.group(1)


def test_the_admin_sets_the_circles_language_on_the_settings_page_with_a_ledger_entry(
    app: Flask, client: Client
) -> None:
    circle_id = _admin_of_circle(app, client)
    page = client.get(f"/circles/{circle_id}/settings").get_data(as_text=True)
    assert 'name="language"' in page and '<option value="de">Deutsch</option>' in page

    saved = client.post_form(f"/circles/{circle_id}/settings", {**SETTINGS, "language": "de"})

    assert saved.status_code == 302
    with app.app_context():
        assert db.session.get(Circle, circle_id).language == "de"
    entry = _last_entry(app)
    assert entry.action == "circle.settings_changed"
    assert entry.data["changes"]["language"] == {"from": None, "to": "de"}

    # The empty choice clears it: each person's own language, or their browser's, again.
    client.post_form(f"/circles/{circle_id}/settings", {**SETTINGS, "language": ""})
    with app.app_context():
        assert db.session.get(Circle, circle_id).language is None
    assert _last_entry(app).data["changes"]["language"] == {"from": "de", "to": None}


def test_a_settings_form_without_the_language_keeps_the_circles(app: Flask, client: Client) -> None:
    circle_id = _admin_of_circle(app, client, language="es")

    saved = client.post_form(f"/circles/{circle_id}/settings", {**SETTINGS, "name": "Renamed"})

    assert saved.status_code == 302
    with app.app_context():
        circle = db.session.get(Circle, circle_id)
        assert (circle.name, circle.language) == ("Renamed", "es")


def test_a_language_fund_circle_does_not_speak_is_refused_on_its_field_and_nothing_changes(
    app: Flask, client: Client
) -> None:
    circle_id = _admin_of_circle(app, client)
    before = _last_entry(app).id

    refused = client.post_form(f"/circles/{circle_id}/settings", {**SETTINGS, "name": "Other", "language": "xx"})

    assert refused.status_code == 422
    assert _error_of(refused.get_data(as_text=True), "language") == REFUSED_XX
    with app.app_context():
        circle = db.session.get(Circle, circle_id)
        assert circle.language is None and circle.name != "Other"
    assert _last_entry(app).id == before


def test_the_api_sets_and_clears_the_language_and_refuses_an_unknown_one_on_its_field(
    app: Flask, client: Client
) -> None:
    with app.app_context():
        admin = make_user()
        circle_id, token = make_circle(admin).id, make_token(admin)
    assert client.json_call("GET", f"{API}/circles/{circle_id}", token=token).get_json()["language"] is None

    changed = client.json_call("PATCH", f"{API}/circles/{circle_id}", {"language": "es"}, token=token)

    assert changed.status_code == 200 and changed.get_json()["language"] == "es"
    entry = _last_entry(app)
    assert entry.action == "circle.settings_changed"
    assert entry.data["changes"] == {"language": {"from": None, "to": "es"}}

    refused = client.json_call("PATCH", f"{API}/circles/{circle_id}", {"language": "xx", "name": "Other"}, token=token)
    assert refused.status_code == 422
    error = refused.get_json()["error"]
    assert error["code"] == "invalid" and error["fields"]["language"] == [REFUSED_XX_ES]
    assert _last_entry(app).id == entry.id
    with app.app_context():
        circle = db.session.get(Circle, circle_id)
        assert circle.language == "es" and circle.name != "Other"

    cleared = client.json_call("PATCH", f"{API}/circles/{circle_id}", {"language": None}, token=token)
    assert cleared.status_code == 200 and cleared.get_json()["language"] is None


def test_a_member_who_chose_no_language_reads_the_circle_in_its_language(app: Flask, client: Client) -> None:
    with app.app_context():
        admin = make_user()
        member = make_user(name="Bo Member")
        circle = make_circle(admin, language="de")
        add_member(circle, member, ["member"], by=admin)
        circle_id, email = circle.id, member.email
    client.login(email)

    page = client.get(f"/circles/{circle_id}", headers={"Accept-Language": "en"})

    assert page.status_code == 200 and _html_lang(page.get_data(as_text=True)) == "de"
    # Pages about no circle follow the browser.
    assert _html_lang(client.get("/", headers={"Accept-Language": "en"}).get_data(as_text=True)) == "en"


def test_a_member_with_a_language_of_their_own_keeps_it_in_a_circle_with_another(app: Flask, client: Client) -> None:
    with app.app_context():
        admin = make_user()
        member = make_user(name="Cy Member")
        circle = make_circle(admin, language="de")
        add_member(circle, member, ["member"], by=admin)
        db.session.get(User, member.id).language = "es"
        db.session.commit()
        circle_id, email = circle.id, member.email
    client.login(email)

    page = client.get(f"/circles/{circle_id}", headers={"Accept-Language": "de"})

    assert page.status_code == 200 and _html_lang(page.get_data(as_text=True)) == "es"


# --- a circle's zone and language at creation ------------------------------------------------------------------


def _superuser(app: Flask, client: Client) -> None:
    with app.app_context():
        email = make_user(superuser=True).email
    client.login(email)


def test_the_new_circle_form_starts_from_utc_and_the_creators_language(app: Flask, client: Client) -> None:
    _superuser(app, client)

    page = client.get("/circles/new", headers={"Accept-Language": "es"}).get_data(as_text=True)

    assert 'name="time_zone"' in page and 'value="UTC"' in page
    assert '<option value="Europe/Berlin">' in page
    assert re.search(r'<option selected value="es">|<option value="es" selected>', page), page


def test_a_circle_is_created_in_the_zone_and_language_given(app: Flask, client: Client) -> None:
    _superuser(app, client)

    created = client.post_form(
        "/circles/new",
        {"name": "Kiez Fonds", "slug": "kiez", "currency": "EUR", "time_zone": "Europe/Berlin", "language": "de"},
    )

    assert created.status_code == 302
    with app.app_context():
        circle = db.session.scalars(select(Circle).where(Circle.slug == "kiez")).one()
        assert (circle.time_zone, circle.language) == ("Europe/Berlin", "de")
    entries = [entry for entry in _entries(app) if entry.action == "circle.created"]
    assert entries[-1].data["time_zone"] == "Europe/Berlin" and entries[-1].data["language"] == "de"


def test_a_new_circle_with_a_bad_zone_or_language_is_refused_on_the_field(app: Flask, client: Client) -> None:
    _superuser(app, client)

    bad_zone = client.post_form("/circles/new", {"name": "A", "slug": "a", "currency": "EUR", "time_zone": "Mars"})
    bad_language = client.post_form("/circles/new", {"name": "B", "slug": "b", "currency": "EUR", "language": "xx"})

    assert bad_zone.status_code == 422 and "is not a time zone" in _error_of(
        bad_zone.get_data(as_text=True), "time_zone"
    )
    assert bad_language.status_code == 422
    assert _error_of(bad_language.get_data(as_text=True), "language") == REFUSED_XX
    with app.app_context():
        assert db.session.scalars(select(Circle).where(Circle.slug.in_(["a", "b"]))).all() == []


def test_the_api_creates_a_circle_in_a_zone_and_language(app: Flask, client: Client) -> None:
    with app.app_context():
        token = make_token(make_user(superuser=True))
    body = {"name": "Barrio", "slug": "barrio", "currency": "EUR", "time_zone": "Europe/Madrid", "language": "es"}

    created = client.json_call("POST", f"{API}/circles", body, token=token)

    assert created.status_code == 201, created.get_data(as_text=True)
    assert (created.get_json()["time_zone"], created.get_json()["language"]) == ("Europe/Madrid", "es")


def _entries(app: Flask) -> list[LedgerEntry]:
    with app.app_context():
        entries = list(db.session.scalars(select(LedgerEntry).order_by(LedgerEntry.id)))
        for entry in entries:
            db.session.expunge(entry)
        return entries


# --- the rotation call in the circle's zone ---------------------------------------------------------------------


def test_a_call_for_volunteers_closes_at_the_wall_time_typed_in_the_circles_zone(app: Flask, client: Client) -> None:
    circle_id = _admin_of_circle(app, client, time_zone="Europe/Berlin")
    form = client.get(f"/circles/{circle_id}/rotation").get_data(as_text=True)
    assert "Time in Europe/Berlin. The draw is made once this time has passed." in form
    closes = (datetime.now(UTC) + timedelta(days=30)).replace(hour=18, minute=0, second=0, microsecond=0, tzinfo=None)

    opened = client.post_form(
        f"/circles/{circle_id}/rotation/call",
        {"seats": "2", "term_kind": "days", "term_days": "30", "closes_at": f"{closes:%Y-%m-%dT%H:%M}",
         "newcomer_share": "0"},
    )  # fmt: skip

    assert opened.status_code == 302, opened.get_data(as_text=True)
    with app.app_context():
        call = db.session.scalars(select(RotationCall).where(RotationCall.circle_id == circle_id)).one()
        # 18:00 on the clocks of Berlin that day, whether on summer or winter time.
        assert call.closes_at == closes.replace(tzinfo=ZoneInfo("Europe/Berlin")).astimezone(UTC)
        assert call.closes_at.hour in (16, 17)
    page = client.get(f"/circles/{circle_id}/rotation").get_data(as_text=True)
    assert f"{closes:%-d %b %Y}, 18:00 (Europe/Berlin)" in page
