"""A circle's time zone through the pages and the API: admins set it (an IANA name, checked), round deadlines are
typed and shown in it with the zone named, stored in UTC on the date's own offset, and a wall time the spring change
skips is refused on the form. The API and the ledger keep UTC."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from flask import Flask
from sqlalchemy import select

from fundcircle.auth.models import User
from fundcircle.circles.models import Circle
from fundcircle.extensions import db
from fundcircle.ledger.models import LedgerEntry
from fundcircle.rounds.models import Round
from tests.conftest import Client
from tests.factories import make_circle, make_token, make_user

API = "/api/v1"
ROUND_FORM = {
    "title": "Winter grants",
    "description": "",
    "budget": "1000.00",
    "per_proposal_cap": "400",
    "method": "quadratic",
    "allocation_rule": "greedy",
    "credits": "100",
    "quorum_percent": "50",
    "consent_rules": "sociocratic",
    "categories": "",
    "max_proposals_per_member": "2",
    "remind_before_hours": "24",
    "report_due_days": "30",
    "report_questions": "What did you learn?",
}
# In 2027 Europe/Berlin leaves summer time on Sunday 31 October and starts it on Sunday 28 March; America/New_York
# leaves it on Sunday 7 November. The rounds below are made now (before those changes) for dates on both sides.
SETTINGS = {"name": "Riverside", "description": "", "approvals_required": "1", "two_approvals_from": ""}


def _admin_of_circle(app: Flask, client: Client, time_zone: str | None = None) -> int:
    with app.app_context():
        admin = make_user(name="Ana Admin")
        circle = make_circle(admin)
        if time_zone is not None:
            circle.time_zone = time_zone
            db.session.commit()
        circle_id, email = circle.id, admin.email
    client.login(email)
    return circle_id


def _error_of(page: str, field: str) -> str:
    found = re.search(rf'<p class="error" id="{field}-error">(.*?)</p>', page, re.S)
    return found.group(1).strip() if found else ""


def _round(app: Flask) -> Round:
    with app.app_context():
        round_ = db.session.scalars(select(Round).order_by(Round.id.desc())).first()
        assert round_ is not None
        db.session.expunge(round_)
        return round_


# --- the circle's zone ---------------------------------------------------------------------------------------------


def test_a_new_circle_is_in_utc_and_its_admin_sets_its_zone_on_the_settings_page(app: Flask, client: Client) -> None:
    circle_id = _admin_of_circle(app, client)
    page = client.get(f"/circles/{circle_id}/settings").get_data(as_text=True)
    assert 'name="time_zone"' in page and 'value="UTC"' in page
    assert '<option value="Europe/Berlin">' in page  # suggested from zoneinfo's names

    saved = client.post_form(f"/circles/{circle_id}/settings", {**SETTINGS, "time_zone": "Europe/Berlin"})

    assert saved.status_code == 302
    with app.app_context():
        assert db.session.get(Circle, circle_id).time_zone == "Europe/Berlin"
        entry = db.session.scalars(select(LedgerEntry).order_by(LedgerEntry.id.desc())).first()
        assert entry.action == "circle.settings_changed"
        assert entry.data["changes"]["time_zone"] == {"from": "UTC", "to": "Europe/Berlin"}


def test_a_zone_that_is_not_an_iana_name_is_refused_on_the_settings_page(app: Flask, client: Client) -> None:
    circle_id = _admin_of_circle(app, client)

    refused = client.post_form(f"/circles/{circle_id}/settings", {**SETTINGS, "time_zone": "Berlin"})

    assert refused.status_code == 422
    assert _error_of(refused.get_data(as_text=True), "time_zone") == (
        "&#39;Berlin&#39; is not a time zone: use an IANA name like Europe/Berlin, America/New_York or UTC."
    )
    with app.app_context():
        assert db.session.get(Circle, circle_id).time_zone == "UTC"


def test_the_api_reads_and_changes_the_circles_zone_and_refuses_an_unknown_one(app: Flask, client: Client) -> None:
    with app.app_context():
        admin = make_user()
        circle_id, token = make_circle(admin).id, make_token(admin)
    assert client.json_call("GET", f"{API}/circles/{circle_id}", token=token).get_json()["time_zone"] == "UTC"

    changed = client.json_call("PATCH", f"{API}/circles/{circle_id}", {"time_zone": "America/New_York"}, token=token)
    refused = client.json_call("PATCH", f"{API}/circles/{circle_id}", {"time_zone": "Eastern"}, token=token)

    assert changed.status_code == 200 and changed.get_json()["time_zone"] == "America/New_York"
    assert refused.status_code == 422
    assert refused.get_json()["error"]["fields"]["time_zone"] == [
        "'Eastern' is not a time zone: use an IANA name like Europe/Berlin, America/New_York or UTC."
    ]
    with app.app_context():
        assert db.session.get(Circle, circle_id).time_zone == "America/New_York"


def test_the_openapi_document_describes_the_zone_and_the_utc_deadlines(client: Client) -> None:
    document = client.get(f"{API}/openapi.json").get_json()
    schemas = document["components"]["schemas"]

    settings = next(s for name, s in schemas.items() if name.startswith("CircleSettings"))
    assert "IANA time zone" in settings["properties"]["time_zone"]["description"]
    deadlines = next(s for name, s in schemas.items() if name.startswith("Deadlines"))
    assert "circle's `time_zone`" in deadlines["properties"]["deciding"]["description"]


# --- deadlines in the circle's zone -----------------------------------------------------------------------------


def test_a_berlin_deadline_after_the_october_change_is_stored_on_winter_time_and_shown_as_typed(
    app: Flask, client: Client
) -> None:
    circle_id = _admin_of_circle(app, client, "Europe/Berlin")
    form = client.get(f"/circles/{circle_id}/rounds/new").get_data(as_text=True)
    assert "Deadlines, in Europe/Berlin time" in form
    assert "Time in Europe/Berlin. Leave empty to move the round on by hand." in form

    created = client.post_form(
        f"/circles/{circle_id}/rounds/new", {**ROUND_FORM, "deciding_close_at": "2027-11-02T18:00"}
    )

    assert created.status_code == 302
    round_ = _round(app)
    assert round_.deciding_close_at == datetime(2027, 11, 2, 17, 0, tzinfo=UTC)
    view = client.get(f"/rounds/{round_.id}").get_data(as_text=True)
    assert "2 Nov 2027, 18:00 (Europe/Berlin)" in view and "17:00" not in view
    edit = client.get(f"/rounds/{round_.id}/edit").get_data(as_text=True)
    assert 'value="2027-11-02T18:00"' in edit
    # Once deciding, it closes at 18:00 on Berlin's clocks after the change, not an hour early or late.
    round_.phase = "deciding"
    assert round_.phase_at(datetime(2027, 11, 2, 16, 59, tzinfo=UTC)) == "deciding"
    assert round_.phase_at(datetime(2027, 11, 2, 17, 0, tzinfo=UTC)) == "counting"


def test_a_berlin_deadline_before_the_october_change_is_stored_on_summer_time(app: Flask, client: Client) -> None:
    circle_id = _admin_of_circle(app, client, "Europe/Berlin")

    client.post_form(f"/circles/{circle_id}/rounds/new", {**ROUND_FORM, "deciding_close_at": "2027-10-26T18:00"})

    round_ = _round(app)
    assert round_.deciding_close_at == datetime(2027, 10, 26, 16, 0, tzinfo=UTC)
    assert "26 Oct 2027, 18:00 (Europe/Berlin)" in client.get(f"/rounds/{round_.id}").get_data(as_text=True)


def test_the_api_and_the_ledger_keep_the_deadline_in_utc(app: Flask, client: Client) -> None:
    circle_id = _admin_of_circle(app, client, "Europe/Berlin")
    client.post_form(f"/circles/{circle_id}/rounds/new", {**ROUND_FORM, "deciding_close_at": "2027-11-02T18:00"})
    round_ = _round(app)
    with app.app_context():
        token = make_token(db.session.get(User, db.session.get(Circle, circle_id).created_by_id))
        created = db.session.scalars(select(LedgerEntry).where(LedgerEntry.action == "round.created")).one()

    assert created.data["deciding_close_at"] == "2027-11-02T17:00:00+00:00"
    answer = client.json_call("GET", f"{API}/rounds/{round_.id}", token=token).get_json()
    assert answer["deadlines"]["deciding"].startswith("2027-11-02T17:00:00")


def test_new_york_deadlines_are_typed_and_shown_in_new_york(app: Flask, client: Client) -> None:
    circle_id = _admin_of_circle(app, client, "America/New_York")

    client.post_form(
        f"/circles/{circle_id}/rounds/new",
        {**ROUND_FORM, "proposals_close_at": "2027-11-02T18:00", "deciding_close_at": "2027-11-09T18:00"},
    )

    round_ = _round(app)
    assert round_.proposals_close_at == datetime(2027, 11, 2, 22, 0, tzinfo=UTC)  # still summer time in New York
    assert round_.deciding_close_at == datetime(2027, 11, 9, 23, 0, tzinfo=UTC)
    view = client.get(f"/rounds/{round_.id}").get_data(as_text=True)
    assert "2 Nov 2027, 18:00 (America/New_York)" in view and "9 Nov 2027, 18:00 (America/New_York)" in view


def test_a_deadline_in_the_hour_the_spring_change_skips_is_refused_on_the_form(app: Flask, client: Client) -> None:
    circle_id = _admin_of_circle(app, client, "Europe/Berlin")

    refused = client.post_form(
        f"/circles/{circle_id}/rounds/new", {**ROUND_FORM, "deciding_close_at": "2027-03-28T02:30"}
    )

    page = refused.get_data(as_text=True)
    assert refused.status_code == 422
    assert _error_of(page, "deciding_close_at") == (
        "28 Mar 2027, 02:30 does not exist in Europe/Berlin: the clocks skip that hour when summer time begins. "
        "Choose a time outside it."
    )
    assert 'value="2027-03-28T02:30"' in page  # kept as typed
    with app.app_context():
        assert db.session.scalars(select(Round)).all() == []


def test_a_circle_in_utc_still_types_and_shows_deadlines_in_utc(app: Flask, client: Client) -> None:
    circle_id = _admin_of_circle(app, client)

    client.post_form(f"/circles/{circle_id}/rounds/new", {**ROUND_FORM, "deciding_close_at": "2027-11-02T18:00"})

    round_ = _round(app)
    assert round_.deciding_close_at == datetime(2027, 11, 2, 18, 0, tzinfo=UTC)
    assert "2 Nov 2027, 18:00 UTC" in client.get(f"/rounds/{round_.id}").get_data(as_text=True)


def test_changing_the_circles_zone_keeps_the_deadlines_moment_and_shows_it_in_the_new_zone(
    app: Flask, client: Client
) -> None:
    circle_id = _admin_of_circle(app, client, "Europe/Berlin")
    client.post_form(f"/circles/{circle_id}/rounds/new", {**ROUND_FORM, "deciding_close_at": "2027-11-02T18:00"})
    client.post_form(f"/circles/{circle_id}/settings", {**SETTINGS, "time_zone": "America/New_York"})

    round_ = _round(app)
    assert round_.deciding_close_at == datetime(2027, 11, 2, 17, 0, tzinfo=UTC)
    assert "2 Nov 2027, 13:00 (America/New_York)" in client.get(f"/rounds/{round_.id}").get_data(as_text=True)
