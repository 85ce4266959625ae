"""Journey: an admin creates a round, and the form shows only the chosen method's settings (the script hides the
others as the choice changes) and every mistake on the first submit; a member writes a proposal with two cost lines
(the script adds a line and shows their total), previews it, and submits it, paid to a person by e-mail, the
choice the form starts with. Keyboard only, except where a radio button is picked.

Clicks (activations of a link or a button; typing not counted), from the circle's page:
- create a round: 2 ("New round", "Create round"); picking another method than quadratic voting is one more.
- submit a proposal, from the round's page: 2 ("Write a proposal", "Submit proposal"); Preview is one more.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Flask
from playwright.sync_api import expect
from sqlalchemy import select

from fundcircle.auth.models import User
from fundcircle.db import utcnow
from fundcircle.extensions import db
from fundcircle.proposals.models import Proposal, ProposalVersion
from fundcircle.rounds.models import Round
from fundcircle.rounds.services import advance_round
from tests.browser.conftest import on_browser_database
from tests.browser.support import Keys
from tests.factories import add_member, make_circle, make_user

pytestmark = on_browser_database


def test_a_round_and_a_proposal_with_cost_lines_through_the_forms(app: Flask, journey: Any) -> None:
    with app.app_context():
        admin = make_user(name="Ana Admin", email="ana@example.org")
        circle = make_circle(admin, name="Riverside Learning Circle")
        add_member(circle, make_user(name="Bea Member", email="bea@example.org"), ["member"], by=admin)
        db.session.commit()
    story = journey("forms")

    # The admin opens the new-round form: quadratic voting is chosen, so the consent settings are hidden.
    ana = story.log_in("ana@example.org")
    keys = Keys(ana)
    keys.follow(ana.get_by_role("link", name="Riverside Learning Circle"))
    story.seen(ana, "circle")
    clicks = 0
    keys.follow(ana.get_by_role("link", name=re.compile("New round")))
    clicks += 1
    story.seen(ana, "round-form", screenshot=True)
    voting = ana.locator("fieldset.for-voting")
    consent = ana.locator("fieldset.for-consent")
    # The script hid it (the `hidden` attribute), not only the style sheet.
    expect(consent).to_have_attribute("hidden", "")
    expect(voting).to_be_visible()
    expect(ana.get_by_label(re.compile("^Voice credits"))).to_be_visible()

    # Consent: only its settings show; back to quadratic voting: only the voting ones.
    ana.get_by_label("Consent: the circle consents to each proposal, or objects and improves it").check()
    expect(voting).to_be_hidden()
    expect(voting).to_have_attribute("hidden", "")
    expect(consent).to_be_visible()
    expect(ana.get_by_role("group", name="Consent rules")).to_be_visible()
    story.seen(ana, "round-form-consent", screenshot=True)
    ana.get_by_label(re.compile("^Quadratic voting")).check()
    expect(consent).to_be_hidden()
    expect(voting).to_be_visible()

    # Two mistakes at once (no title, a cap above the budget): both are marked on the first submit.
    keys.type(ana.get_by_label("Budget", exact=True), "300.00")
    keys.type(ana.get_by_label("Most a proposal may ask for"), "500.00")
    keys.follow(ana.get_by_role("button", name="Create round"))
    story.seen(ana, "round-form-errors", screenshot=True)
    expect(ana.locator("#title-error")).to_be_visible()
    expect(ana.locator("#per_proposal_cap-error")).to_contain_text("cannot be more than the budget")
    expect(ana.get_by_label("Most a proposal may ask for")).to_have_attribute("aria-invalid", "true")
    # The page after the failed form still hides the other method's settings.
    expect(consent).to_be_hidden()
    keys.type(ana.get_by_label("Title", exact=True), "Spring micro-grants")
    keys.replace(ana.get_by_label("Most a proposal may ask for"), "250.00")
    keys.follow(ana.get_by_role("button", name="Create round"))
    clicks += 1
    story.seen(ana, "round-draft")
    expect(ana.get_by_role("heading", level=1)).to_have_text("Spring micro-grants")
    assert clicks == 2  # create a round: "New round", "Create round" (the first submit was the mistakes' lesson)

    with app.app_context():
        round_ = db.session.scalars(select(Round)).one()
        assert (round_.method, round_.budget_minor, round_.per_proposal_cap_minor) == ("quadratic", 30_000, 25_000)
        owner = db.session.scalars(select(User).where(User.email == "ana@example.org")).one()
        advance_round(owner, round_, "proposals", utcnow())
        db.session.commit()
        round_id = round_.id

    # A member writes a proposal: paid to a person by e-mail, the choice the form starts with.
    bea = story.log_in("bea@example.org")
    keys = Keys(bea)
    bea.goto(f"{story.server.url}/rounds/{round_id}")
    story.seen(bea, "round")
    clicks = 0
    keys.follow(bea.get_by_role("link", name="Write a proposal"))
    clicks += 1
    story.seen(bea, "proposal-form", screenshot=True)
    expect(bea.get_by_role("radio", name=re.compile("^A person, by e-mail"))).to_be_checked()
    expect(bea.locator("fieldset.payee-account")).to_be_hidden()
    keys.type(bea.get_by_label("Title"), "Seed library")
    keys.type(bea.get_by_label("Summary"), "A shelf of seeds anyone can borrow.")
    keys.type(bea.get_by_label("Proposal", exact=True), "We will build a **seed library** at the community hall.")
    # Two cost lines; the amount is left empty, so the lines' total is the ask.
    keys.type(bea.get_by_label("What it pays for (line 1)"), "Seeds for the first season")
    keys.type(bea.get_by_label("Amount (line 1)"), "120.00")
    keys.type(bea.get_by_label("What it pays for (line 2)"), "A shelf with labelled drawers")
    keys.type(bea.get_by_label("Amount (line 2)"), "95.50")
    expect(bea.locator("#cost-total")).to_have_text(re.compile(r"Total of the lines: 215\.50 EUR"))
    lines_before = bea.locator(".cost-line").count()
    keys.enter(bea.get_by_role("button", name="Add a line"))
    expect(bea.locator(".cost-line")).to_have_count(lines_before + 1)
    expect(bea.get_by_label(f"What it pays for (line {lines_before + 1})")).to_be_focused()
    keys.type(bea.get_by_label("Name of the person paid"), "Bea Member")
    keys.type(bea.get_by_label("Their e-mail address"), "bea.payee@example.org")

    # Preview: the proposal rendered, nothing saved, the form as typed.
    keys.follow(bea.get_by_role("button", name="Preview"))
    story.seen(bea, "proposal-preview", screenshot=True)
    preview = bea.locator("#preview")
    expect(preview.get_by_role("heading", name="Preview: nothing is saved yet")).to_be_visible()
    expect(preview.locator(".prose strong")).to_have_text("seed library")
    expect(preview).to_contain_text("Seeds for the first season")
    expect(preview).to_contain_text("Amount asked: 215.50 EUR")
    expect(bea.get_by_label("Amount (line 2)")).to_have_value("95.50")
    with app.app_context():
        assert db.session.scalars(select(Proposal)).all() == []

    keys.follow(bea.get_by_role("button", name="Submit proposal"))
    clicks += 1
    story.seen(bea, "proposal-submitted", screenshot=True)
    expect(bea.get_by_role("heading", level=1)).to_have_text("Seed library")
    table = bea.get_by_role("table", name="What the money pays for")
    expect(table).to_contain_text("A shelf with labelled drawers")
    expect(table).to_contain_text("215.50")
    expect(bea.locator(".facts")).to_contain_text("215.50")
    assert clicks == 2  # submit a proposal: "Write a proposal", "Submit proposal" (Preview was one more)

    with app.app_context():
        version = db.session.scalars(select(ProposalVersion)).one()
        assert version.amount_minor == 21_550 and [line.amount_minor for line in version.cost_lines] == [12_000, 9_550]
        assert (version.payee_slug, version.payee_name) == (None, "Bea Member")
