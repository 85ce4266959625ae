"""Journey: an admin sets up an approval round funded by the method of equal shares, three circle members tick
the proposals they support, the admin decides, and the results explain every proposal.

Two members support the tool library (600.00) and the seed library (400.00); one supports the language evenings
(400.00). Greedy by approvals would fund the first two; equal shares gives each voter a third of the 1,000.00, so
the third member's share pays for the evenings and the seed library is paid by its two supporters, 200.00 each.
"""

from __future__ import annotations

from typing import Any

from flask import Flask
from playwright.sync_api import Page, expect
from sqlalchemy import select

from fundcircle.auth.models import User
from fundcircle.db import utcnow
from fundcircle.extensions import db
from fundcircle.rounds.models import Round
from fundcircle.rounds.services import advance_round
from fundcircle.voting.models import Ballot
from tests.browser.conftest import on_browser_database
from tests.browser.support import Journey, Keys
from tests.factories import add_member, make_circle, make_proposal, make_user

pytestmark = on_browser_database

PROPOSALS = {"Tool library": 60_000, "Seed library": 40_000, "Language evenings": 40_000}
APPROVALS = {
    "bea@example.org": ["Tool library", "Seed library"],
    "chidi@example.org": ["Tool library", "Seed library"],
    "dana@example.org": ["Language evenings"],
}


def _vote(story: Journey, email: str, round_id: int) -> None:
    page: Page = story.log_in(email)
    keys = Keys(page)
    page.goto(f"{story.server.url}/rounds/{round_id}")
    story.seen(page, "round-deciding")
    keys.follow(page.get_by_role("link", name="Fill in your ballot"))
    story.seen(page, "approval-ballot", screenshot=email.startswith("bea"))
    expect(page.get_by_text("at most 2")).to_be_visible()
    for title in APPROVALS[email]:
        box = page.get_by_role("checkbox", name=f"Approve {title}")
        keys.space(box)
        expect(box).to_be_checked()
    keys.follow(page.get_by_role("button", name="Save my ballot"))
    story.seen(page, "approval-ballot-saved")
    approved = len(APPROVALS[email])
    expect(page.get_by_role("status")).to_contain_text(f"Your ballot is saved ({approved} approved). Receipt:")
    expect(page.locator("#approved-count")).to_have_text(str(approved))


def test_an_approval_round_with_equal_shares_from_settings_to_explained_results(app: Flask, journey: Any) -> None:
    with app.app_context():
        admin = make_user(name="Ana Admin", email="ana@example.org")
        circle = make_circle(admin, name="Riverside Learning Circle")
        for name in ("Bea", "Chidi", "Dana"):
            add_member(circle, make_user(name=f"{name} Circle", email=f"{name.lower()}@example.org"),
                       ["member", "circle"], by=admin)  # fmt: skip
        circle_id = circle.id
    story = journey("equal-shares")

    # The admin chooses the ballot type and the rule; only the approval settings show.
    ana = story.log_in("ana@example.org")
    ana.goto(f"{story.server.url}/circles/{circle_id}/rounds/new")
    story.seen(ana, "round-form")
    ana.get_by_label("Title", exact=True).fill("Spring micro-grants")
    ana.get_by_label("Budget", exact=True).fill("1000.00")
    ana.get_by_label("Most a proposal may ask for").fill("1000.00")
    ana.get_by_label("Approval voting: each circle member ticks every proposal they support").check()
    ana.get_by_label("Equal shares: each voter holds an equal share of the budget", exact=False).check()
    max_approvals = ana.get_by_label("Most proposals one ballot may approve")
    expect(max_approvals).to_be_visible()
    expect(ana.get_by_label("Allow votes against a proposal")).to_be_hidden()
    expect(ana.get_by_role("group", name="Consent rules")).to_be_hidden()
    max_approvals.fill("2")
    story.seen(ana, "round-form-approval", screenshot=True)
    ana.get_by_label("Consent: the circle consents to each proposal, or objects and improves it").check()
    expect(max_approvals).to_be_hidden()
    expect(ana.get_by_role("group", name="Consent rules")).to_be_visible()
    ana.get_by_label("Approval voting: each circle member ticks every proposal they support").check()
    Keys(ana).follow(ana.get_by_role("button", name="Create round"))
    story.seen(ana, "round-draft")
    expect(ana.locator("dl.facts")).to_contain_text("Approval voting: at most 2 approvals each")
    expect(ana.locator("dl.facts")).to_contain_text("the method of equal shares")

    with app.app_context():
        round_ = db.session.scalars(select(Round)).one()
        assert (round_.method, round_.allocation_rule, round_.max_approvals) == ("approval", "equal_shares", 2)
        admin = db.session.scalars(select(User).where(User.email == "ana@example.org")).one()
        advance_round(admin, round_, "proposals", utcnow())
        db.session.commit()
        for title, amount in PROPOSALS.items():
            make_proposal(round_, admin, title=title, amount_minor=amount, category=None)
        round_ = db.session.get(Round, round_.id)
        assert round_ is not None
        advance_round(admin, round_, "deliberation", utcnow())
        advance_round(admin, round_, "deciding", utcnow())
        db.session.commit()
        round_id = round_.id

    for email in APPROVALS:
        _vote(story, email, round_id)
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count()).select_from(Ballot)) == 3

    ana = story.log_in("ana@example.org")
    keys = Keys(ana)
    ana.goto(f"{story.server.url}/rounds/{round_id}")
    story.seen(ana, "round-deciding-admin")
    # Closing voting is confirmed on its own page, with the turnout, before the round is decided.
    keys.follow(ana.get_by_role("link", name="Move on to: Decided"))
    story.seen(ana, "confirm-decided", screenshot=True)
    expect(ana.get_by_text("Turnout: 3 of", exact=False)).to_be_visible()
    keys.follow(ana.get_by_role("button", name="Yes, move on to: Decided"))
    story.seen(ana, "round-decided")
    keys.follow(ana.get_by_role("link", name="See the results"))
    story.seen(ana, "equal-shares-results", screenshot=True)
    expect(ana.get_by_text("funded by the method of equal shares", exact=False)).to_be_visible()
    rows = ana.locator("table tbody tr")
    expect(rows.nth(0)).to_contain_text("Seed library")
    expect(rows.nth(0).locator("td").nth(5)).to_contain_text("funded: 2 supporters each paid 200.00")
    expect(rows.nth(1)).to_contain_text("Language evenings")
    expect(rows.nth(1).locator("td").nth(5)).to_contain_text("funded: 1 supporter")
    expect(rows.nth(2)).to_contain_text("Tool library")
    expect(rows.nth(2).locator("td").nth(4)).to_have_text("No")
    expect(rows.nth(2).locator("td").nth(5)).to_contain_text("not funded: its supporters had")
