"""Journey: a circle member asks a question on a proposal; its author answers and amends it. Keyboard only."""

from __future__ import annotations

from typing import Any

from flask import Flask
from playwright.sync_api import expect

from fundcircle.db import utcnow
from fundcircle.extensions import db
from fundcircle.rounds.services import advance_round
from tests.browser.conftest import on_browser_database
from tests.browser.support import Keys
from tests.factories import add_member, make_circle, make_proposal, make_round, make_user

pytestmark = on_browser_database


def test_a_circle_member_asks_a_question_and_the_author_answers_and_amends(app: Flask, journey: Any) -> None:
    with app.app_context():
        admin = make_user(name="Ana Admin")
        eli = make_user(name="Eli Member", email="eli@example.org")
        chidi = make_user(name="Chidi Circle", email="chidi@example.org")
        circle = make_circle(admin, name="Riverside Learning Circle")
        add_member(circle, eli, ["member"], by=admin)
        add_member(circle, chidi, ["member", "circle"], by=admin)
        round_ = make_round(circle, admin, title="Spring micro-grants")
        advance_round(admin, round_, "proposals", utcnow())
        make_proposal(
            round_,
            eli,
            title="Seed library",
            body="We will build a seed library.\n\nIt needs a shelf.",
            amount_minor=35_000,
        )
        advance_round(admin, round_, "deliberation", utcnow())
        db.session.commit()
    story = journey("deliberation")

    # Chidi asks a question.
    chidi_page = story.log_in("chidi@example.org")
    keys = Keys(chidi_page)
    keys.follow(chidi_page.get_by_role("link", name="Riverside Learning Circle"))
    story.seen(chidi_page, "circle")
    keys.follow(chidi_page.get_by_role("link", name="Spring micro-grants", exact=True))
    story.seen(chidi_page, "round")
    keys.follow(chidi_page.get_by_role("link", name="Seed library"))
    story.seen(chidi_page, "proposal", screenshot=True)
    keys.type(chidi_page.get_by_label("Your comment"), "Where would the shelf stand, and who keeps it tidy?")
    keys.space(chidi_page.get_by_label("This is a question for the author"))
    expect(chidi_page.get_by_label("This is a question for the author")).to_be_checked()
    keys.follow(chidi_page.get_by_role("button", name="Post"))
    story.seen(chidi_page, "proposal-question", screenshot=True)
    question = chidi_page.locator("article.comment.question")
    expect(question).to_contain_text("Where would the shelf stand")
    expect(question.locator(".badge")).to_have_text("Open question")

    # Eli answers it, then amends the proposal with a note on what changed.
    eli_page = story.log_in("eli@example.org")
    keys = Keys(eli_page)
    keys.follow(eli_page.get_by_role("link", name="Riverside Learning Circle"))
    story.seen(eli_page, "circle")
    keys.follow(eli_page.get_by_role("link", name="Spring micro-grants", exact=True))
    story.seen(eli_page, "round")
    keys.follow(eli_page.get_by_role("link", name="Seed library"))
    story.seen(eli_page, "proposal-author")
    keys.enter(eli_page.locator("summary", has_text="Reply (answers the question)"))
    keys.type(eli_page.get_by_label("Your reply"), "In the hall by the entrance; Dana and I take turns.")
    keys.follow(eli_page.get_by_role("button", name="Reply", exact=True))
    story.seen(eli_page, "proposal-answered", screenshot=True)
    expect(eli_page.locator("article.comment.question .badge")).to_have_text("Question, answered")
    expect(eli_page.locator(".reply article.comment")).to_contain_text("In the hall by the entrance")

    keys.follow(eli_page.get_by_role("link", name="Amend"))
    story.seen(eli_page, "amend-form", screenshot=True)
    keys.replace(eli_page.get_by_label("Amount requested"), "300.00")
    body = eli_page.get_by_label("Proposal", exact=True)
    keys.replace(body, "We will build a seed library.\n\nIt needs a shelf in the hall; Eli and Dana keep it tidy.")
    keys.type(eli_page.get_by_label("What changed, and why"), "Answers Chidi's question: where and who; cheaper shelf.")
    keys.follow(eli_page.get_by_role("button", name="Save"))
    story.seen(eli_page, "proposal-amended", screenshot=True)
    expect(eli_page.get_by_text("What changed in version 2:")).to_be_visible()
    expect(eli_page.locator(".facts")).to_contain_text("300.00")
    keys.follow(eli_page.get_by_role("link", name="what changed"))
    story.seen(eli_page, "diff", screenshot=True)
    expect(eli_page.get_by_role("heading", level=1)).to_have_text("From version 1 to version 2")
    # The words as they read first, then the Markdown as typed, one link away.
    expect(eli_page.locator(".diff-words ins")).to_contain_text(["Eli and Dana keep it tidy"])
    keys.follow(eli_page.get_by_role("link", name="The Markdown as typed"))
    story.seen(eli_page, "diff-source", screenshot=True)
    expect(eli_page.locator(".diff-added")).to_contain_text("Eli and Dana keep it tidy")

    # Chidi sees version 2, and that his question was about version 1.
    chidi_page.reload()
    story.seen(chidi_page, "proposal-version-2")
    expect(chidi_page.locator("article.comment.question")).to_contain_text("on version 1")
    expect(chidi_page.get_by_text("What changed in version 2:")).to_be_visible()
