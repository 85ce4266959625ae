"""Journey: an author amends a proposal's cost lines. The form shows every mistake on the first submit (a line's
amount that is not a number beside an empty title), then the diff page shows the lines added, removed and changed
and the total asked before and after, in both views, fitting a phone. Keyboard only."""

from __future__ import annotations

from typing import Any

from flask import Flask
from playwright.sync_api import expect

from fundcircle.db import utcnow
from fundcircle.extensions import db
from fundcircle.proposals.services import CostLineInput
from fundcircle.rounds.services import advance_round
from tests.browser.conftest import on_browser_database
from tests.browser.support import Keys
from tests.factories import add_member, make_circle, make_proposal, make_round, make_user

pytestmark = on_browser_database


def test_an_author_corrects_every_mistake_at_once_then_reads_what_changed_in_the_costs(
    app: Flask, journey: Any
) -> None:
    with app.app_context():
        admin = make_user(name="Ana Admin")
        eli = make_user(name="Eli Member", email="eli@example.org")
        circle = make_circle(admin, name="Riverside Learning Circle")
        add_member(circle, eli, ["member"], by=admin)
        round_ = make_round(circle, admin, title="Spring micro-grants")
        advance_round(admin, round_, "proposals", utcnow())
        proposal = make_proposal(
            round_,
            eli,
            title="Seed library",
            amount_minor=0,
            cost_lines=(CostLineInput("Seeds", 12_000), CostLineInput("Shelf", 9_550)),
        )
        proposal_id = proposal.id
        db.session.commit()
    story = journey("diff-costs")
    page = story.log_in("eli@example.org")
    keys = Keys(page)
    page.goto(f"/proposals/{proposal_id}")
    story.seen(page, "proposal")
    keys.follow(page.get_by_role("link", name="Edit"))
    story.seen(page, "edit-form")

    # Two mistakes of different kinds: both are marked on the first submit.
    keys.replace(page.get_by_label("Title"), "")
    keys.replace(page.get_by_label("Amount (line 1)"), "lots")
    keys.follow(page.get_by_role("button", name="Save"))
    story.seen(page, "edit-form-mistakes", screenshot=True)
    expect(page.locator("#title-error")).to_have_text("Enter a title.")
    expect(page.locator("#cost_lines-0-amount-error")).to_contain_text("is not an amount")

    keys.replace(page.get_by_label("Title"), "Seed library")
    keys.replace(page.get_by_label("Amount (line 1)"), "150.00")
    keys.replace(page.get_by_label("What it pays for (line 2)"), "Watering can")
    keys.replace(page.get_by_label("Amount (line 2)"), "20.00")
    keys.follow(page.get_by_role("button", name="Save"))
    story.seen(page, "proposal-saved")
    expect(page.get_by_text("Saved as version 2.")).to_be_visible()

    page.goto(f"/proposals/{proposal_id}/diff?from=1&to=2")
    story.seen(page, "diff-costs", screenshot=True)
    costs = page.locator("section.diff-costs")
    rows = costs.locator("tbody tr")
    expect(rows).to_have_count(3)
    expect(rows.nth(0)).to_contain_text("Seeds")
    expect(rows.nth(0)).to_contain_text("Amount changed")
    expect(rows.nth(1)).to_contain_text("Watering can")
    expect(rows.nth(2)).to_contain_text("Removed")
    expect(costs.locator(".cost-totals")).to_contain_text("215.50 EUR → 170.00 EUR")
    keys.follow(page.get_by_role("link", name="The Markdown as typed"))
    story.seen(page, "diff-costs-source", screenshot=True)
    expect(page.locator("section.diff-costs tbody tr")).to_have_count(3)
