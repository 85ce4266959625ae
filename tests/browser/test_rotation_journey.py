"""Journey: a circle rotates. The admin reads the empty "Who decides" page with its form; a call is open; two
members volunteer (one takes it back and volunteers again); once it closes the admin draws; a member reads who
serves until when and the page that tells how to check the draw. Keyboard only; every page checked by axe-core at
phone and desktop widths."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Flask
from playwright.sync_api import expect
from sqlalchemy import update

from fundcircle.auth.models import User
from fundcircle.circles import rotation
from fundcircle.circles.models import Circle, RotationCall
from fundcircle.db import utcnow
from fundcircle.extensions import db
from tests.browser.conftest import on_browser_database
from tests.browser.support import Keys
from tests.factories import add_member, make_circle, make_user

pytestmark = on_browser_database


def test_members_volunteer_and_the_admin_draws_the_next_deciding_members(app: Flask, journey: Any) -> None:
    with app.app_context():
        admin = make_user(name="Ana Admin", email="ana@example.org")
        circle = make_circle(admin, name="Riverside Learning Circle")
        for name in ("Bo Baker", "Cy Carver"):
            add_member(
                circle, make_user(name=name, email=f"{name.split()[0].lower()}@example.org"), ["member"], by=admin
            )
        circle_id, admin_id = circle.id, admin.id
    story = journey("rotation")

    ana = story.log_in("ana@example.org")
    keys = Keys(ana)
    keys.follow(ana.get_by_role("link", name="Riverside Learning Circle"))
    story.seen(ana, "circle")
    keys.follow(ana.get_by_role("link", name="Who decides"))
    story.seen(ana, "rotation-empty")
    expect(ana.get_by_role("button", name="Open the call for volunteers")).to_be_visible()
    # The form refuses nothing typed: it says what is missing, next to the field.
    keys.replace(ana.get_by_label("How many deciding members to draw"), "0")
    keys.follow(ana.get_by_role("button", name="Open the call for volunteers"))
    story.seen(ana, "rotation-form-error")
    expect(ana.get_by_label("How many deciding members to draw")).to_have_attribute("aria-invalid", "true")

    with app.app_context():
        found, opener = db.session.get(Circle, circle_id), db.session.get(User, admin_id)
        assert found is not None and opener is not None
        rotation.open_volunteer_call(
            opener, found, rotation.CallInput(seats=1, term_days=90, closes_at=utcnow() + timedelta(days=2)), utcnow()
        )
        db.session.commit()

    bo = story.log_in("bo@example.org")
    keys = Keys(bo)
    keys.follow(bo.get_by_role("link", name="Riverside Learning Circle"))
    story.seen(bo, "circle-member")
    keys.follow(bo.get_by_role("link", name="Who decides"))
    story.seen(bo, "rotation-call")
    keys.follow(bo.get_by_role("button", name="Volunteer to be a deciding member"))
    story.seen(bo, "rotation-volunteered")
    expect(bo.get_by_role("status").first).to_contain_text("You volunteered.")
    keys.follow(bo.get_by_role("button", name="Take my name back"))
    story.seen(bo, "rotation-withdrawn")
    keys.follow(bo.get_by_role("button", name="Volunteer to be a deciding member"))
    story.seen(bo, "rotation-volunteered-again")
    expect(bo.get_by_role("region", name="Call for volunteers").get_by_role("listitem")).to_have_text(["Bo Baker"])

    cy = story.log_in("cy@example.org")
    cy.goto(f"/circles/{circle_id}/rotation")
    story.seen(cy, "rotation-call-cy")
    Keys(cy).follow(cy.get_by_role("button", name="Volunteer to be a deciding member"))
    story.seen(cy, "rotation-cy-volunteered")

    with app.app_context():  # time passes: the call closes
        db.session.execute(update(RotationCall).where(RotationCall.circle_id == circle_id).values(closes_at=utcnow()))
        db.session.commit()
    ana.reload()
    story.seen(ana, "rotation-closed")
    Keys(ana).follow(ana.get_by_role("button", name="Make the draw now"))
    story.seen(ana, "rotation-drawn")
    expect(ana.get_by_role("status").first).to_contain_text("The draw is made: 1 deciding member(s) chosen.")
    expect(ana.get_by_role("heading", name="Serving now")).to_be_visible()
    serving = ana.locator("table").inner_text()
    assert ("Bo Baker" in serving) != ("Cy Carver" in serving), serving  # one seat, one of the two volunteers

    bo.reload()
    story.seen(bo, "rotation-drawn-member")
    Keys(bo).follow(bo.get_by_role("link", name="Check this draw yourself"))
    story.seen(bo, "rotation-check")
    expect(bo.locator("code.command")).to_have_text("python -m fundcircle.circles.sortition entry.json")
    story.finish()
