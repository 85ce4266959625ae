"""Journey: an admin invites a newcomer, who signs up from the link and submits a proposal. Keyboard only."""

from __future__ import annotations

import re
from typing import Any

from flask import Flask
from playwright.sync_api import expect

from fundcircle.db import utcnow
from fundcircle.extensions import db
from fundcircle.proposals.models import Proposal
from fundcircle.rounds.services import advance_round
from tests.browser.conftest import on_browser_database
from tests.browser.support import Keys
from tests.factories import make_circle, make_round, make_user

pytestmark = on_browser_database


def test_a_newcomer_signs_up_from_an_invitation_link_and_submits_a_proposal(app: Flask, journey: Any) -> None:
    with app.app_context():
        admin = make_user(name="Ana Admin", email="ana@example.org")
        circle = make_circle(admin, name="Riverside Learning Circle", description="Small grants for learning.")
        round_ = make_round(circle, admin, title="Spring micro-grants")
        advance_round(admin, round_, "proposals", utcnow())
        db.session.commit()
    story = journey("invitation")

    # The admin invites the newcomer; with no mail server configured, the page shows the link to send.
    ana = story.log_in("ana@example.org")
    keys = Keys(ana)
    keys.follow(ana.get_by_role("link", name="Riverside Learning Circle"))
    story.seen(ana, "circle")
    keys.follow(ana.get_by_role("link", name="Invite people and set roles"))
    story.seen(ana, "members")
    keys.type(ana.get_by_label("E-mail address"), "fatima@example.org")
    keys.follow(ana.get_by_role("button", name="Invite"))
    story.seen(ana, "members-invited", screenshot=True)
    link = ana.locator("code.token").inner_text()
    assert "/invitations/" in link

    # The newcomer opens the link, mistypes the second password, is told so next to the field, and corrects it.
    fatima = story.open_page()
    fatima.goto(link)
    story.seen(fatima, "invitation", screenshot=True)
    keys = Keys(fatima)
    keys.type(fatima.get_by_label("Your name"), "Fatima Newcomer")
    keys.type(fatima.get_by_label("Password", exact=True), "a long enough password")
    keys.type(fatima.get_by_label("Password again"), "a different password")
    keys.follow(fatima.get_by_role("button", name="Create account and join"))
    story.seen(fatima, "invitation-error", screenshot=True)
    again = fatima.get_by_label("Password again")
    expect(again).to_have_attribute("aria-invalid", "true")
    error_id = again.get_attribute("aria-describedby")
    assert error_id and fatima.locator(f"#{error_id}").inner_text().strip() == "The two passwords differ."
    expect(fatima.get_by_role("alert")).to_contain_text("Please correct the fields marked below.")
    # The form keeps the name; the passwords are typed again.
    expect(fatima.get_by_label("Your name")).to_have_value("Fatima Newcomer")
    keys.type(fatima.get_by_label("Password", exact=True), "a long enough password")
    keys.type(fatima.get_by_label("Password again"), "a long enough password")
    keys.follow(fatima.get_by_role("button", name="Create account and join"))
    expect(fatima.get_by_role("status")).to_contain_text("Welcome to Riverside Learning Circle.")
    expect(fatima.get_by_role("heading", level=1)).to_have_text("Riverside Learning Circle")
    story.seen(fatima, "circle-joined", screenshot=True)

    # She writes a proposal and submits it.
    keys.follow(fatima.get_by_role("link", name="Spring micro-grants", exact=True))
    story.seen(fatima, "round", screenshot=True)
    keys.follow(fatima.get_by_role("link", name="Write a proposal"))
    story.seen(fatima, "proposal-form", screenshot=True)
    keys.type(fatima.get_by_label("Title"), "Repair café tools")
    keys.type(fatima.get_by_label("Summary"), "A toolbox for the monthly repair café.")
    keys.type(
        fatima.get_by_label("Proposal", exact=True),
        "We would buy **soldering irons**, screwdrivers and a multimeter, kept at the library.",
    )
    keys.type(fatima.get_by_label("Amount requested"), "180.50")
    keys.choose(fatima.get_by_label("Category"), "Tools")
    # The form starts with a person paid by e-mail; she picks an Open Collective account (the arrow key moves the
    # radio group's choice) and its field shows.
    keys.reach(fatima.get_by_role("radio", name=re.compile("^A person, by e-mail")))
    fatima.keyboard.press("ArrowDown")
    expect(fatima.get_by_role("radio", name=re.compile("^An account that already exists"))).to_be_checked()
    keys.type(fatima.get_by_label("Open Collective account", exact=True), "repair-cafe")
    keys.follow(fatima.get_by_role("button", name="Submit proposal"))
    story.seen(fatima, "proposal-submitted", screenshot=True)
    expect(fatima.get_by_role("heading", level=1)).to_have_text("Repair café tools")
    expect(fatima.locator(".badge.status-submitted")).to_have_text("Submitted")
    expect(fatima.locator(".prose strong")).to_have_text("soldering irons")
    expect(fatima.locator(".facts")).to_contain_text("180.50")

    with app.app_context():
        proposal = db.session.scalars(db.select(Proposal)).one()
        assert (proposal.status, proposal.author.name) == ("submitted", "Fatima Newcomer")
