"""Journey: a member reads the results of a round of 60 proposals a page at a time, with the keyboard alone: the
first page says which proposals it shows, "Next proposals" leads to ranks 51 to 60, a row's link to its proposal;
a page number typed by hand that is none gets a message. Every page is checked with axe-core."""

from __future__ import annotations

from typing import Any

from flask import Flask
from playwright.sync_api import expect

from fundcircle.extensions import db
from tests.browser.conftest import on_browser_database
from tests.browser.support import Keys
from tests.factories import add_member, make_circle, make_user
from tests.http.test_results_pages import _decided_round

pytestmark = on_browser_database


def test_a_member_turns_the_pages_of_a_long_result_and_opens_a_proposal(app: Flask, journey: Any) -> None:
    with app.app_context():
        admin = make_user(name="Ana Admin", email="ana@example.org")
        voter = make_user(name="Vera Voter", email="vera@example.org")
        circle = make_circle(admin, name="Riverside Learning Circle")
        add_member(circle, voter, ["member", "circle"], by=admin)
        round_id = _decided_round(circle, admin, voter, 60, "City")
        db.session.commit()
    story = journey("results-pages")

    vera = story.log_in("vera@example.org")
    keys = Keys(vera)
    vera.goto(f"{story.server.url}/rounds/{round_id}/results")
    story.seen(vera, "results-page-1", screenshot=True)
    table = vera.get_by_role("table", name="Every proposal, in the order the budget was walked")
    expect(vera.get_by_text("Showing 1–50 of 60 proposals (page 1 of 2).")).to_be_visible()
    expect(table.locator("tbody tr")).to_have_count(50)
    pages = vera.get_by_role("navigation", name="Pages of the results table")
    expect(pages.get_by_role("link")).to_have_count(1)

    keys.follow(pages.get_by_role("link", name="Next proposals"))
    story.seen(vera, "results-page-2", screenshot=True)
    expect(vera.get_by_text("Showing 51–60 of 60 proposals (page 2 of 2).")).to_be_visible()
    rows = table.locator("tbody tr")
    expect(rows).to_have_count(10)
    expect(rows.nth(0).locator("td").nth(0)).to_have_text("51")
    expect(rows.nth(9).locator("td").nth(0)).to_have_text("60")
    expect(pages.get_by_role("link", name="Previous proposals")).to_be_visible()

    first = rows.nth(0).get_by_role("link")
    title = first.inner_text()
    keys.follow(first)
    story.seen(vera, "proposal-from-results", screenshot=False)
    expect(vera.get_by_role("heading", level=1)).to_contain_text(title)

    vera.goto(f"{story.server.url}/rounds/{round_id}/results?page=two")
    story.seen(vera, "results-page-not-a-number", screenshot=False)
    expect(
        vera.get_by_text("“two” is not a page number: pages are numbered from 1. This is the first page.")
    ).to_be_visible()
    expect(table.locator("tbody tr").nth(0).locator("td").nth(0)).to_have_text("1")
