"""Journey: a consent round meets an objection, the author amends, and a new consent round consents. Keyboard only."""

from __future__ import annotations

from typing import Any

from flask import Flask
from playwright.sync_api import Page, expect

from fundcircle.db import utcnow
from fundcircle.extensions import db
from fundcircle.rounds.services import advance_round
from tests.browser.conftest import on_browser_database
from tests.browser.support import Journey, Keys
from tests.factories import add_member, make_circle, make_proposal, make_round, make_user

pytestmark = on_browser_database

OBJECTION = "Nobody is named to keep the fridge clean; spoiled food would cost us the venue."


def _to_proposal(story: Journey, page: Page, who: str) -> None:
    keys = Keys(page)
    keys.follow(page.get_by_role("link", name="Riverside Learning Circle"))
    story.seen(page, "circle")
    keys.follow(page.get_by_role("link", name="Summer fund", exact=True))
    story.seen(page, "round")
    keys.follow(page.get_by_role("link", name="Community fridge", exact=True))
    story.seen(page, f"proposal-{who}")


def _answer(story: Journey, page: Page, version: int, position: str, argument: str = "") -> None:
    keys = Keys(page)
    keys.follow(page.get_by_role("link", name=f"Consent round on version {version}"))
    story.seen(page, "consent-round")
    # The radio group is one Tab stop; the arrow keys move within it, Space picks.
    radio = page.get_by_role("radio", name=position)
    keys.reach(page.get_by_role("radio").first)
    for _ in range(5):
        if radio.evaluate("el => el === document.activeElement"):
            break
        page.keyboard.press("ArrowDown")
    page.keyboard.press(" ")
    expect(radio).to_be_checked()
    if argument:
        keys.type(page.get_by_label("Argument", exact=True), argument)
    keys.follow(page.get_by_role("button", name="Record my answer"))
    story.seen(page, f"consent-answered-{position.split()[0].lower()}")


def _to_round(story: Journey, page: Page, label: str, *, screenshot: bool = False) -> None:
    keys = Keys(page)
    keys.follow(page.get_by_role("link", name="Riverside Learning Circle"))
    story.seen(page, "circle")
    keys.follow(page.get_by_role("link", name="Summer fund", exact=True))
    story.seen(page, label, screenshot=screenshot)


def _answer_from_round(story: Journey, page: Page, position: str) -> None:
    """Answer a consent round as the round page prompts: "Answer now", a position, "Record my answer"."""
    _to_round(story, page, "round-consent-open", screenshot=True)
    expect(page.get_by_text("Nobody has answered yet, 0 of 3").first).to_be_visible()
    keys = Keys(page)
    keys.follow(page.get_by_role("link", name="Answer now").first)
    story.seen(page, "consent-round")
    radio = page.get_by_role("radio", name=position)
    keys.reach(page.get_by_role("radio").first)
    for _ in range(5):
        if radio.evaluate("el => el === document.activeElement"):
            break
        page.keyboard.press("ArrowDown")
    page.keyboard.press(" ")
    expect(radio).to_be_checked()
    keys.follow(page.get_by_role("button", name="Record my answer"))
    story.seen(page, f"consent-answered-{position.split()[0].lower()}")


def _facilitate(story: Journey, ana: Page, version: int, label: str) -> None:
    keys = Keys(ana)
    keys.follow(ana.get_by_role("link", name=f"Consent round on version {version}"))
    story.seen(ana, "consent-round-admin")
    keys.follow(ana.get_by_role("button", name="Close the consent round and record the outcome"))
    story.seen(ana, label, screenshot=True)


def test_an_objection_is_resolved_by_an_amendment_consented_in_a_new_round(app: Flask, journey: Any) -> None:
    with app.app_context():
        admin = make_user(name="Ana Admin", email="ana@example.org")
        eli = make_user(name="Eli Member", email="eli@example.org")
        circle = make_circle(admin, name="Riverside Learning Circle")
        add_member(circle, eli, ["member"], by=admin)
        for name in ("Bea", "Chidi", "Dana"):
            add_member(circle, make_user(name=f"{name} Circle", email=f"{name.lower()}@example.org"),
                       ["member", "circle"], by=admin)  # fmt: skip
        round_ = make_round(circle, admin, title="Summer fund", method="consent")
        advance_round(admin, round_, "proposals", utcnow())
        make_proposal(round_, eli, title="Community fridge", amount_minor=40_000,
                      body="A fridge in the hall where anyone can leave or take food.")  # fmt: skip
        advance_round(admin, round_, "deliberation", utcnow())
        advance_round(admin, round_, "deciding", utcnow())
        db.session.commit()
    story = journey("consent")

    # The admin opens a consent round on version 1.
    ana = story.log_in("ana@example.org")
    _to_proposal(story, ana, "admin")
    Keys(ana).follow(ana.get_by_role("button", name="Open a consent round on version 1"))
    story.seen(ana, "consent-round-1", screenshot=True)
    ana.go_back()
    story.seen(ana, "proposal-admin")

    # Bea is prompted on the round page (nobody has answered yet, 0 of 3) and consents from there; Dana has a
    # concern, Chidi objects with an argument.
    bea = story.log_in("bea@example.org")
    _answer_from_round(story, bea, "Consent")
    dana = story.log_in("dana@example.org")
    _to_proposal(story, dana, "circle")
    _answer(story, dana, 1, "Concern", "The timeline is tight.")
    chidi = story.log_in("chidi@example.org")
    _to_proposal(story, chidi, "circle")
    # An objection without its argument is refused, and the message is announced.
    _answer(story, chidi, 1, "Objection (needs an argument)")
    expect(chidi.get_by_role("alert")).to_be_visible()
    story.screenshot(chidi, "objection-without-argument")
    Keys(chidi).replace(chidi.get_by_label("Argument", exact=True), OBJECTION)
    Keys(chidi).follow(chidi.get_by_role("button", name="Record my answer"))
    story.seen(chidi, "consent-objection", screenshot=True)
    expect(chidi.locator("table")).to_contain_text(OBJECTION)

    ana.reload()
    story.seen(ana, "proposal-admin")
    _facilitate(story, ana, 1, "consent-round-1-closed")
    expect(ana.locator(".notice").first).to_contain_text("not consented")
    # The result tells the story: the positions chart and the outcome statement.
    expect(ana.get_by_role("meter", name="Objection: 1 of 3")).to_be_visible()
    expect(ana.get_by_text("Outcome: version 1 was not consented: 1 objection open.")).to_be_visible()

    # The objector and the author talk it through on the proposal while it is in consent.
    Keys(chidi).follow(chidi.get_by_role("link", name="Community fridge", exact=True).first)
    story.seen(chidi, "proposal-objector", screenshot=True)
    Keys(chidi).type(chidi.get_by_label("Your comment"), "Who would clean it every week?")
    Keys(chidi).follow(chidi.get_by_role("button", name="Post"))
    story.seen(chidi, "proposal-objector-commented")
    expect(chidi.get_by_text("Who would clean it every week?")).to_be_visible()
    Keys(chidi).follow(chidi.get_by_role("link", name="Summer fund"))
    story.seen(chidi, "round")

    # Eli, the author, is told on the round page to amend, then the facilitator reopens: version 2 names who keeps
    # the fridge clean and asks less.
    eli_page = story.log_in("eli@example.org")
    _to_round(story, eli_page, "round-objection-author", screenshot=True)
    expect(eli_page.get_by_text("Objection raised")).to_be_visible()
    keys = Keys(eli_page)
    keys.follow(eli_page.get_by_role("link", name="Amend your proposal"))
    story.seen(eli_page, "amend-form", screenshot=True)
    keys.replace(eli_page.get_by_label("Amount requested"), "350.00")
    keys.replace(
        eli_page.get_by_label("Proposal", exact=True),
        "A fridge in the hall where anyone can leave or take food.\n\nBea and Dana check and clean it every Monday.",
    )
    keys.type(eli_page.get_by_label("What changed, and why"), "Chidi's objection: Bea and Dana keep it clean.")
    keys.follow(eli_page.get_by_role("button", name="Save"))
    story.seen(eli_page, "proposal-amended", screenshot=True)
    expect(eli_page.get_by_text("What changed in version 2:")).to_be_visible()

    # A new consent round on version 2: everyone consents, Chidi included.
    Keys(ana).follow(ana.get_by_role("link", name="Community fridge", exact=True))
    story.seen(ana, "proposal-admin")
    Keys(ana).follow(ana.get_by_role("button", name="Open a consent round on version 2"))
    story.seen(ana, "consent-round-2")
    expect(ana.get_by_text("How this version answers earlier objections:")).to_be_visible()
    ana.go_back()
    story.seen(ana, "proposal-admin")
    for page in (bea, dana, chidi):
        Keys(page).follow(page.get_by_role("link", name="Community fridge", exact=True))
        story.seen(page, "proposal-circle")
        _answer(story, page, 2, "Consent")
    ana.reload()
    story.seen(ana, "proposal-admin")
    _facilitate(story, ana, 2, "consent-round-2-closed")
    expect(ana.locator(".notice").first).to_contain_text("consented")
    Keys(ana).follow(ana.get_by_role("link", name="Community fridge", exact=True))
    story.seen(ana, "proposal-consented", screenshot=True)
    expect(ana.get_by_text("Consented.")).to_be_visible()

    # The facilitator decides the round through its confirmation page, which shows the turnout.
    Keys(ana).follow(ana.get_by_role("link", name="Summer fund"))
    story.seen(ana, "round-consented-admin", screenshot=True)
    Keys(ana).follow(ana.get_by_role("link", name="Move on to: Decided"))
    story.seen(ana, "confirm-decided-consent", screenshot=True)
    expect(ana.get_by_text("Turnout: 3 of 3 circle members have answered a consent round", exact=False)).to_be_visible()
    Keys(ana).follow(ana.get_by_role("button", name="Yes, move on to: Decided"))
    story.seen(ana, "round-decided-consent", screenshot=True)
