"""Journey: a German reader writes a proposal's cost lines as she writes money, by keyboard, axe-core clean.

Greta's browser speaks German and so does her account. She logs in on the German log-in page, opens the proposal
form and types "12,50" and "1.000,00" in two cost lines: the page's script reads them with German's decimal comma
and grouping point (as the server will), and the total shows "1.012,50", as German writes it. "Add a line" (in her
language) adds a third line labelled as the catalogue labels it ("Zeile 3"), and the preview, which the server
computes, asks the same amount. The words expected are the catalogue's (fundcircle/translations/), looked up as the
app looks them up, with the numbers written out here.
"""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask_babel import force_locale, gettext
from playwright.sync_api import expect

from fundcircle.db import utcnow
from fundcircle.extensions import db
from fundcircle.rounds.services import advance_round
from tests.browser.conftest import on_browser_database
from tests.browser.support import Keys
from tests.conftest import TEST_PASSWORD
from tests.factories import add_member, make_circle, make_round, make_user

pytestmark = on_browser_database


def test_a_german_reader_types_cost_lines_the_german_way_and_reads_their_total(app: Flask, journey: Any) -> None:
    with app.app_context():
        admin = make_user(name="Ana Admin", email="ana@example.org")
        circle = make_circle(admin, name="Gemeinschaftsgarten Nord")
        greta = make_user(name="Greta Kreis", email="greta@example.org")
        greta.language = "de"
        add_member(circle, greta, ["member"], by=admin)
        round_ = make_round(circle, admin, title="Frühjahrsrunde", budget_minor=500_000, per_proposal_cap_minor=200_000)
        advance_round(admin, round_, "proposals", utcnow())
        db.session.commit()
        round_id, currency = round_.id, round_.currency

    def say(message: str, **values: Any) -> str:
        with app.test_request_context(), force_locale("de"):
            return str(gettext(message, **values))

    story = journey("proposal-form-languages")
    page = story.open_page(locale="de-DE")
    page.goto("/login")
    expect(page.locator("html")).to_have_attribute("lang", "de")
    story.seen(page, "log-in-de")
    keys = Keys(page)
    keys.type(page.get_by_label(say("E-mail address")), "greta@example.org")
    keys.type(page.get_by_label(say("Password")), TEST_PASSWORD)
    keys.follow(page.get_by_role("button", name=say("Log in"), exact=True))
    story.seen(page, "home-de")

    page.goto(f"/rounds/{round_id}")
    story.seen(page, "round-de")
    keys.follow(page.get_by_role("link", name=say("Write a proposal"), exact=True))
    story.seen(page, "proposal-form-de")
    expect(page.locator("#cost-lines")).to_have_attribute("data-decimal", ",")
    expect(page.locator("#cost-lines")).to_have_attribute("data-group", ".")

    keys.type(page.get_by_label(say("Title"), exact=True), "Saatgutbibliothek")
    keys.type(page.get_by_label(say("What it pays for (line %(number)s)", number=1)), "Saatgut")
    keys.type(page.get_by_label(say("Amount (line %(number)s)", number=1)), "12,50")
    keys.type(page.get_by_label(say("What it pays for (line %(number)s)", number=2)), "Ein Regal")
    keys.type(page.get_by_label(say("Amount (line %(number)s)", number=2)), "1.000,00")
    total = page.locator("#cost-total")
    expect(total).to_have_text(
        say(
            "Total of the lines: %(total)s %(currency)s (the amount asked, if you leave the amount empty).",
            total="1.012,50",
            currency=currency,
        )
    )
    expect(total).to_contain_text("1.012,50")
    story.seen(page, "proposal-form-total-de")

    # An amount the server would refuse ("1,000" is ambiguous where a comma marks decimals) is not counted.
    keys.replace(page.get_by_label(say("Amount (line %(number)s)", number=2)), "1,000")
    expect(total).to_have_text(say("A line's amount is not a number yet."))
    keys.replace(page.get_by_label(say("Amount (line %(number)s)", number=2)), "1.000,00")
    expect(total).to_contain_text("1.012,50")

    # One more line, labelled in German for its own number.
    lines_before = page.locator(".cost-line").count()
    keys.enter(page.get_by_role("button", name=say("Add a line"), exact=True))
    expect(page.locator(".cost-line")).to_have_count(lines_before + 1)
    added = page.get_by_label(say("What it pays for (line %(number)s)", number=lines_before + 1), exact=True)
    expect(added).to_be_focused()
    expect(page.get_by_label(say("Amount (line %(number)s)", number=lines_before + 1), exact=True)).to_have_value("")
    assert "Zeile" in say("Amount (line %(number)s)", number=1)  # a catalogue of English copies fails here
    story.seen(page, "proposal-form-added-line-de")

    # The server reads the lines the same way: the preview asks 1.012,50 €.
    keys.follow(page.get_by_role("button", name=say("Preview"), exact=True))
    story.seen(page, "proposal-preview-de")
    preview = page.locator("#preview")
    expect(preview).to_contain_text(say("Amount asked:"))
    expect(preview).to_contain_text("1.012,50")
    expect(page.get_by_label(say("Amount (line %(number)s)", number=2))).to_have_value("1.000,00")
