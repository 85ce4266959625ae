"""Journey: a ballot in German and in Spanish, by keyboard, axe-core clean on every page.

Greta chose German on her account; Sofía chose nothing, and her browser asks for Spanish. Each logs in, finds the
round, fills in a quadratic ballot with the + buttons, goes over the budget (the refusal is in her language), and
saves. The words expected are the catalogue's (fundcircle/translations/), looked up as the app looks them up, with
a few written out here so that a catalogue of English copies would fail too.
"""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask_babel import force_locale, gettext, ngettext
from playwright.sync_api import Locator, Page, expect

from fundcircle.auth.models import User
from fundcircle.db import utcnow
from fundcircle.extensions import db
from fundcircle.rounds.services import advance_round
from fundcircle.voting.models import Ballot
from tests.browser.conftest import on_browser_database
from tests.browser.support import Journey, Keys
from tests.conftest import TEST_PASSWORD
from tests.factories import add_member, make_circle, make_proposal, make_round, make_user

pytestmark = on_browser_database

PROPOSALS = {"Werkzeugbibliothek": 40_000, "Biblioteca de semillas": 35_000}


class Words:
    """The app's words in one language, as its catalogue gives them."""

    def __init__(self, app: Flask, language: str) -> None:
        self.app, self.language = app, language

    def __call__(self, message: str, **values: Any) -> str:
        with self.app.test_request_context(), force_locale(self.language):
            return gettext(message, **values)

    def plural(self, singular: str, plural: str, num: int, **values: Any) -> str:
        with self.app.test_request_context(), force_locale(self.language):
            return ngettext(singular, plural, num, **values)


def _log_in(story: Journey, email: str, say: Words, locale: str) -> Page:
    """Log in on the page as the browser's language has it (nobody is known yet), then read in `say`'s language."""
    page = story.open_page(locale=locale)
    page.goto("/login")
    at_door = Words(say.app, locale.split("-")[0])
    expect(page.locator("html")).to_have_attribute("lang", at_door.language)
    story.seen(page, f"log-in-{at_door.language}")
    keys = Keys(page)
    keys.type(page.get_by_label(at_door("E-mail address")), email)
    keys.type(page.get_by_label(at_door("Password")), TEST_PASSWORD)
    keys.follow(page.get_by_role("button", name=at_door("Log in"), exact=True))
    expect(page.locator("html")).to_have_attribute("lang", say.language)
    story.seen(page, f"home-{say.language}")
    return page


def _more(page: Page, say: Words, title: str) -> Locator:
    line = say("Votes for %(title)s", title=title)
    return page.get_by_role("button", name=say("One vote more: %(title)s", title=line))


def _vote(story: Journey, app: Flask, email: str, language: str, locale: str, heading: str) -> None:
    say = Words(app, language)
    page = _log_in(story, email, say, locale)
    keys = Keys(page)
    keys.follow(page.get_by_role("link", name="Gemeinschaftsgarten Nord"))
    story.seen(page, f"circle-{language}")
    keys.follow(page.get_by_role("link", name="Frühjahrsrunde", exact=True))
    story.seen(page, f"round-{language}")
    keys.follow(page.get_by_role("link", name=say("Fill in your ballot")))
    expect(page.get_by_role("heading", name=heading, level=1)).to_be_visible()
    story.seen(page, f"ballot-{language}")

    # Three votes for the tool library (1 + 3 + 5 credits), by keyboard: the counter follows every press.
    for left in ("99", "96", "91"):
        keys.space(_more(page, say, "Werkzeugbibliothek"))
        expect(page.locator("#credits-left")).to_have_text(left)
    expect(page.locator("#credit-words")).to_have_text(
        say("%(spent)s of %(total)s credits spent, %(left)s left", spent="9", total="100", left="91")
    )
    # Typed past the buttons: the page says it in her language, and so does the server's refusal.
    keys.replace(page.get_by_label(say("Votes for %(title)s", title="Biblioteca de semillas"), exact=True), "10")
    keys.follow(page.get_by_role("button", name=say("Save my ballot")))
    story.seen(page, f"ballot-refused-{language}")
    expect(page.get_by_role("alert")).to_contain_text(say("Your ballot was not saved: %(why)s", why="").rstrip())
    keys.replace(page.get_by_label(say("Votes for %(title)s", title="Biblioteca de semillas"), exact=True), "2")
    keys.follow(page.get_by_role("button", name=say("Save my ballot")))
    story.seen(page, f"ballot-saved-{language}")
    spent = say.plural("%(num)d credits", "%(num)d credits", 13)
    saved = say("Your ballot is saved (%(spent)s). Receipt: %(receipt)s", spent=spent, receipt="")
    expect(page.get_by_role("status")).to_contain_text(saved.rstrip())
    expect(page.get_by_role("heading", name=say("Saved."))).to_be_visible()
    expect(page.get_by_role("link", name=say("Back to the round"))).to_be_visible()


def test_a_ballot_in_german_and_in_spanish(app: Flask, journey: Any) -> None:
    with app.app_context():
        admin = make_user(name="Ana Admin", email="ana@example.org")
        circle = make_circle(admin, name="Gemeinschaftsgarten Nord")
        greta = make_user(name="Greta Kreis", email="greta@example.org")
        greta.language = "de"
        add_member(circle, greta, ["member", "circle"], by=admin)
        add_member(circle, make_user(name="Sofía Círculo", email="sofia@example.org"), ["member", "circle"], by=admin)
        round_ = make_round(circle, admin, title="Frühjahrsrunde")
        advance_round(admin, round_, "proposals", utcnow())
        for title, amount in PROPOSALS.items():
            make_proposal(round_, admin, title=title, amount_minor=amount)
        advance_round(admin, round_, "deliberation", utcnow())
        advance_round(admin, round_, "deciding", utcnow())
        db.session.commit()
    story = journey("languages")
    # Greta's own choice wins over her browser's English; Sofía's browser speaks for her.
    _vote(story, app, "greta@example.org", "de", "en-GB", "Dein Stimmzettel")
    _vote(story, app, "sofia@example.org", "es", "es-ES", "Tu papeleta")
    with app.app_context():
        rows = db.session.execute(db.select(User.name, Ballot.credits_spent).join(User, User.id == Ballot.user_id))
        saved = {name: spent for name, spent in rows}
    assert saved == {"Greta Kreis": 13, "Sofía Círculo": 13}
