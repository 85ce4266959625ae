"""Journey: three circle members vote with the + and − buttons, the admin decides the round, the results chart shows.

One voter uses the mouse, two the keyboard alone; the credit counter must follow every press.
"""

from __future__ import annotations

from typing import Any

from flask import Flask
from playwright.sync_api import Page, expect

from fundcircle.db import utcnow
from fundcircle.extensions import db
from fundcircle.rounds.services import advance_round
from fundcircle.voting.models import Ballot
from tests.browser.conftest import on_browser_database
from tests.browser.support import Journey, Keys
from tests.factories import add_member, make_circle, make_proposal, make_round, make_user

pytestmark = on_browser_database

PROPOSALS = {"Tool library": 40_000, "Seed library": 35_000, "Language evenings": 30_000}


def _open_ballot(story: Journey, email: str) -> Page:
    page = story.log_in(email)
    keys = Keys(page)
    keys.follow(page.get_by_role("link", name="Riverside Learning Circle"))
    story.seen(page, "circle")
    keys.follow(page.get_by_role("link", name="Spring micro-grants", exact=True))
    story.seen(page, "round-deciding")
    keys.follow(page.get_by_role("link", name="Fill in your ballot"))
    story.seen(page, "ballot", screenshot=email.startswith("bea"))
    left = page.locator("#credits-left")
    expect(left).to_have_attribute("aria-live", "polite")  # a screen reader hears the new count
    expect(left).to_have_text("100")
    return page


def _press(page: Page, title: str, more: bool, expected_left: int, *, mouse: bool) -> None:
    """One press of + or − for a proposal; the counter must show the credits left at once."""
    name = f"One vote {'more' if more else 'less'}: Votes for {title}"
    button = page.get_by_role("button", name=name)
    if mouse:
        button.click()
    else:
        Keys(page).space(button)
    expect(page.locator("#credits-left")).to_have_text(str(expected_left))


def _save(story: Journey, page: Page, label: str, credits: int) -> None:
    Keys(page).follow(page.get_by_role("button", name="Save my ballot"))
    story.seen(page, label)
    expect(page.get_by_role("status")).to_contain_text(f"Your ballot is saved ({credits} credits). Receipt:")


def test_three_members_vote_with_the_buttons_and_the_decided_round_shows_its_chart(app: Flask, journey: Any) -> None:
    with app.app_context():
        admin = make_user(name="Ana Admin", email="ana@example.org")
        eli = make_user(name="Eli Member")
        circle = make_circle(admin, name="Riverside Learning Circle")
        add_member(circle, eli, ["member"], by=admin)
        for name in ("Bea", "Chidi", "Dana"):
            add_member(circle, make_user(name=f"{name} Circle", email=f"{name.lower()}@example.org"),
                       ["member", "circle"], by=admin)  # fmt: skip
        round_ = make_round(circle, admin, title="Spring micro-grants")
        advance_round(admin, round_, "proposals", utcnow())
        for title, amount in PROPOSALS.items():
            make_proposal(round_, eli, title=title, amount_minor=amount)
        advance_round(admin, round_, "deliberation", utcnow())
        advance_round(admin, round_, "deciding", utcnow())
        db.session.commit()
    story = journey("quadratic")

    # Bea, with the mouse: 3 votes for the tool library, a vote for the seed library taken back, 2 for the evenings.
    bea = _open_ballot(story, "bea@example.org")
    for left in (99, 96, 91):
        _press(bea, "Tool library", True, left, mouse=True)
    expect(bea.locator('td.cost[data-for$="-1"]')).to_have_text("9")
    _press(bea, "Seed library", True, 90, mouse=True)
    _press(bea, "Seed library", False, 91, mouse=True)
    for left in (90, 87):
        _press(bea, "Language evenings", True, left, mouse=True)
    story.screenshot(bea, "ballot-filled")
    _save(story, bea, "ballot-saved", 13)

    # Chidi, keyboard only, first goes over budget, sees it said, and comes back under it.
    chidi = _open_ballot(story, "chidi@example.org")
    for left in (99, 96, 91, 84, 75, 64, 51, 36, 19, 0):
        _press(chidi, "Seed library", True, left, mouse=False)
    _press(chidi, "Seed library", True, -21, mouse=False)
    over = chidi.locator("#over-budget")
    expect(over).to_be_visible()
    expect(over).to_have_text("This ballot costs 21 more credits than you have.")
    expect(over).to_have_attribute("aria-live", "polite")
    story.screenshot(chidi, "ballot-over-budget")
    for left in (0, 19, 36, 51, 64, 75, 84):
        _press(chidi, "Seed library", False, left, mouse=False)
    expect(over).to_be_hidden()
    for left in (83, 80):
        _press(chidi, "Tool library", True, left, mouse=False)
    _save(story, chidi, "ballot-saved", 20)  # Seed library 4, Tool library 2

    # Dana, keyboard only: 5 for the seed library, 1 for the evenings.
    dana = _open_ballot(story, "dana@example.org")
    for left in (99, 96, 91, 84, 75):
        _press(dana, "Seed library", True, left, mouse=False)
    _press(dana, "Language evenings", True, 74, mouse=False)
    _save(story, dana, "ballot-saved", 26)

    with app.app_context():
        assert db.session.scalar(db.select(db.func.count()).select_from(Ballot)) == 3

    # The admin decides the round and opens the results.
    ana = story.log_in("ana@example.org")
    keys = Keys(ana)
    keys.follow(ana.get_by_role("link", name="Riverside Learning Circle"))
    story.seen(ana, "circle")
    keys.follow(ana.get_by_role("link", name="Spring micro-grants", exact=True))
    story.seen(ana, "round-deciding-admin")
    # Closing voting is confirmed on its own page, with the turnout, before the round is decided.
    keys.follow(ana.get_by_role("link", name="Move on to: Decided"))
    story.seen(ana, "confirm-decided", screenshot=True)
    expect(ana.get_by_text("Turnout: 3 of", exact=False)).to_be_visible()
    keys.follow(ana.get_by_role("button", name="Yes, move on to: Decided"))
    story.seen(ana, "round-decided", screenshot=True)
    keys.follow(ana.get_by_role("link", name="See the results"))
    story.seen(ana, "results", screenshot=True)

    # Scores: seed library 9, tool library 5, evenings 3. 1,000.00 funds the first two (750.00); 300.00 > 250.00 left.
    chart = ana.get_by_role("img", name="Scores of the proposals")
    expect(chart).to_be_visible()
    description = ana.locator("#chart-desc")
    expect(description).to_have_text(
        "Seed library: score 9, funded; Tool library: score 5, funded; Language evenings: score 3, not funded"
    )
    assert chart.get_attribute("aria-labelledby") == "chart-title chart-desc"
    expect(ana.locator("svg.chart rect.bar")).to_have_count(3)
    budget = ana.locator("svg.budget-line")
    expect(budget).to_have_attribute("role", "img")
    expect(budget).to_have_attribute("aria-label", "Funded 750.00 EUR of 1,000.00 EUR: Seed library 350.00 EUR, "
                                     "Tool library 400.00 EUR; 250.00 EUR left")  # fmt: skip
    rows = ana.locator("table tbody tr")
    expect(rows.nth(0)).to_contain_text("Seed library")
    expect(rows.nth(2)).to_contain_text("Language evenings")
    expect(rows.nth(2).locator("td").nth(4)).to_have_text("No")
