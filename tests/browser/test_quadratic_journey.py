"""Journey: three circle members vote with the + and − buttons, the admin decides the round, the results chart shows.

One voter uses the mouse, two the keyboard alone; the credit counter and the credit bar must follow every press,
each line says what its next vote costs, and a + that would spend more than is left is greyed out and does nothing.
"""

from __future__ import annotations

from typing import Any

from flask import Flask
from playwright.sync_api import Locator, Page, expect

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
    _expect_bar(page, 0)
    # With the script, + and − do what Recalculate did: the button is hidden (no CSS rule may show it again).
    expect(page.get_by_role("button", name="Recalculate")).to_be_hidden()
    expect(page.get_by_role("button", name="Save my ballot")).to_be_visible()
    for title in PROPOSALS:
        expect(_button(page, title, more=False)).to_be_disabled()  # no votes against in this round: 0 is the floor
        expect(_button(page, title, more=True)).to_be_enabled()
    return page


def _button(page: Page, title: str, *, more: bool) -> Locator:
    return page.get_by_role("button", name=f"One vote {'more' if more else 'less'}: Votes for {title}")


def _expect_bar(page: Page, spent: int, credits: int = 100) -> None:
    """The credit bar shows what is spent of the credits, in its meter and in words."""
    meter = page.get_by_role("meter", name="Your credits")
    expect(meter).to_have_js_property("value", min(spent, credits))
    expect(page.locator("#credit-words")).to_have_text(f"{spent} of {credits} credits spent, {credits - spent} left")


def _expect_fits_a_phone(page: Page, width: int = 360) -> None:
    """The ballot at the narrowest phone width: no sideways scrolling, the buttons and the words under them wrap."""
    original = page.viewport_size
    page.set_viewport_size({"width": width, "height": 800})
    try:
        scroll_width = page.evaluate("() => document.documentElement.scrollWidth")
        assert scroll_width <= width, f"{page.url} is {scroll_width} px wide at {width} px"
    finally:
        if original:
            page.set_viewport_size(original)


def _next_vote(page: Page, title: str) -> Locator:
    """The words under a line's number that say what its next vote costs (the buttons' description)."""
    button = _button(page, title, more=True)
    described_by = button.get_attribute("aria-describedby")
    assert described_by, f"the + of {title} does not say what the next vote costs"
    return page.locator(f"#{described_by}")


def _press(page: Page, title: str, more: bool, expected_left: int, *, mouse: bool) -> None:
    """One press of + or − for a proposal; the counter must show the credits left at once."""
    button = _button(page, title, more=more)
    if mouse:
        button.click()
    else:
        Keys(page).space(button)
    expect(page.locator("#credits-left")).to_have_text(str(expected_left))
    _expect_bar(page, 100 - expected_left)


def _save(story: Journey, page: Page, label: str, credits: int, *, screenshot: bool = False) -> None:
    Keys(page).follow(page.get_by_role("button", name="Save my ballot"))
    story.seen(page, label, screenshot=screenshot)
    expect(page.get_by_role("status")).to_contain_text(f"Your ballot is saved ({credits} credits). Receipt:")
    expect(page.get_by_role("heading", name="Saved.")).to_be_visible()
    expect(page.locator(".saved-next")).to_contain_text("What happens next: you can change your ballot until")
    expect(page.get_by_role("link", name="Back to the round")).to_be_visible()
    _expect_bar(page, credits)


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
    expect(_next_vote(bea, "Tool library")).to_have_text("Next vote: 1 credit")
    for left in (99, 96, 91):
        _press(bea, "Tool library", True, left, mouse=True)
    expect(bea.locator('td.cost[data-for$="-1"]')).to_have_text("9")
    expect(_next_vote(bea, "Tool library")).to_have_text("Next vote: 7 credits")
    expect(_button(bea, "Tool library", more=False)).to_be_enabled()
    _press(bea, "Seed library", True, 90, mouse=True)
    _press(bea, "Seed library", False, 91, mouse=True)
    for left in (90, 87):
        _press(bea, "Language evenings", True, left, mouse=True)
    story.screenshot(bea, "ballot-filled")
    _expect_fits_a_phone(bea)
    _save(story, bea, "ballot-saved", 13, screenshot=True)
    Keys(bea).follow(bea.get_by_role("link", name="Back to the round"))
    story.seen(bea, "round-after-ballot")
    expect(bea.get_by_role("heading", name="Spring micro-grants", level=1)).to_be_visible()

    # Chidi, keyboard only, spends everything on one proposal: every + greys out, pressing one does nothing.
    chidi = _open_ballot(story, "chidi@example.org")
    for left in (99, 96, 91, 84, 75, 64, 51, 36, 19, 0):
        _press(chidi, "Seed library", True, left, mouse=False)
    for title in PROPOSALS:
        expect(_button(chidi, title, more=True)).to_be_disabled()
    expect(_next_vote(chidi, "Seed library")).to_have_text("Next vote: 21 credits, none left")
    expect(_next_vote(chidi, "Tool library")).to_have_text("Next vote: 1 credit, none left")
    greyed = _button(chidi, "Seed library", more=True)
    Keys(chidi).space(greyed)
    expect(greyed).to_be_focused()  # aria-disabled, not disabled: the keyboard stays where it was
    expect(chidi.locator("#credits-left")).to_have_text("0")
    story.screenshot(chidi, "ballot-all-spent")
    _expect_fits_a_phone(chidi)
    # Typed past the buttons, the ballot says what is wrong, and the server refuses it in the same words.
    Keys(chidi).replace(chidi.get_by_label("Votes for Seed library", exact=True), "11")
    over = chidi.locator("#over-budget")
    expect(over).to_be_visible()
    expect(over).to_have_text("This ballot costs 21 more credits than you have.")
    expect(over).to_have_attribute("aria-live", "polite")
    story.screenshot(chidi, "ballot-over-budget")
    Keys(chidi).follow(chidi.get_by_role("button", name="Save my ballot"))
    story.seen(chidi, "ballot-refused")
    expect(chidi.get_by_role("alert")).to_have_text(
        "Your ballot was not saved: This ballot costs 121 credits, 21 more than your 100."
    )
    expect(chidi.get_by_role("heading", name="Saved.")).to_have_count(0)
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


def test_with_votes_against_each_button_greys_out_only_when_its_step_cannot_be_afforded(
    app: Flask, journey: Any
) -> None:
    """In a round with votes against, − is a vote too: it costs credits below 0 votes and gives some back above."""
    with app.app_context():
        admin = make_user(name="Ana Admin")
        eli = make_user(name="Eli Member")
        circle = make_circle(admin, name="Riverside Learning Circle")
        add_member(circle, eli, ["member"], by=admin)
        add_member(circle, make_user(name="Bea Circle", email="bea@example.org"), ["member", "circle"], by=admin)
        round_ = make_round(circle, admin, title="Spring micro-grants", allow_negative=True, credits=10)
        advance_round(admin, round_, "proposals", utcnow())
        for title, amount in PROPOSALS.items():
            make_proposal(round_, eli, title=title, amount_minor=amount)
        advance_round(admin, round_, "deliberation", utcnow())
        advance_round(admin, round_, "deciding", utcnow())
        db.session.commit()
        round_id = round_.id
    story = journey("quadratic-against")
    page = story.log_in("bea@example.org")
    page.goto(f"/rounds/{round_id}/ballot")
    story.seen(page, "ballot-against")
    keys = Keys(page)
    expect(_button(page, "Seed library", more=False)).to_be_enabled()  # a first vote against costs 1
    expect(_next_vote(page, "Seed library")).to_have_text("Next vote: 1 credit; next vote against: 1 credit")
    for left in (9, 6, 1):
        keys.space(_button(page, "Tool library", more=True))
        expect(page.locator("#credits-left")).to_have_text(str(left))
    expect(_button(page, "Tool library", more=True)).to_be_disabled()  # a 4th vote costs 7
    keys.space(_button(page, "Seed library", more=False))
    expect(page.locator("#credits-left")).to_have_text("0")
    _expect_bar(page, 10, credits=10)
    expect(_next_vote(page, "Seed library")).to_have_text(
        "One vote more gives back 1 credit; next vote against: 3 credits, none left"
    )
    expect(_button(page, "Seed library", more=False)).to_be_disabled()
    expect(_button(page, "Seed library", more=True)).to_be_enabled()  # back towards 0 gives a credit back
    expect(_button(page, "Tool library", more=False)).to_be_enabled()  # 3 votes to 2 gives 5 back
    for more in (True, False):
        expect(_button(page, "Language evenings", more=more)).to_be_disabled()  # either way costs 1, none left
    _expect_fits_a_phone(page)
