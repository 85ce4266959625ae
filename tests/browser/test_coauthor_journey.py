"""Journey: the author of a proposal invites a member of the circle to co-author it; the invitee reads the
invitation, accepts it, and edits the proposal as a co-author; the proposal shows both authors. Keyboard only;
axe-core on every page reached."""

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


def test_the_author_invites_and_the_co_author_accepts_and_edits(app: Flask, journey: Any) -> None:
    with app.app_context():
        admin = make_user(name="Ana Admin", email="ana@example.org")
        circle = make_circle(admin, name="Riverside Learning Circle")
        eli = make_user(name="Eli Author", email="eli@example.org")
        dana = make_user(name="Dana Coauthor", email="dana@example.org")
        add_member(circle, eli, ["member"], by=admin)
        add_member(circle, dana, ["member"], by=admin)
        round_ = make_round(circle, admin, title="Spring micro-grants")
        advance_round(admin, round_, "proposals", utcnow())
        db.session.commit()
        proposal_id = make_proposal(round_, eli, title="Seed library").id
    story = journey("coauthor")

    # Eli chooses Dana among the circle's members and invites her.
    eli_page = story.log_in("eli@example.org")
    eli_page.goto(f"/proposals/{proposal_id}")
    story.seen(eli_page, "proposal-author", screenshot=True)
    keys = Keys(eli_page)
    keys.choose(eli_page.get_by_label("Invite a member to co-author"), "Dana Coauthor")
    keys.follow(eli_page.get_by_role("button", name="Invite"))
    story.seen(eli_page, "invited", screenshot=True)
    expect(eli_page.get_by_role("status").first).to_contain_text("Dana Coauthor is invited to co-author")
    expect(eli_page.get_by_text("Invited, waiting for an answer")).to_be_visible()

    # Dana finds the invitation in her inbox, reads it on the proposal and accepts.
    dana_page = story.log_in("dana@example.org")
    dana_page.goto("/inbox")
    story.seen(dana_page, "inbox", screenshot=True)
    keys = Keys(dana_page)
    keys.follow(dana_page.get_by_role("link", name="Eli Author invites you to co-author “Seed library”").first)
    story.seen(dana_page, "invitation", screenshot=True)
    expect(dana_page.get_by_role("heading", name="You are invited to co-author this proposal")).to_be_visible()
    keys.follow(dana_page.get_by_role("button", name="Accept"))
    story.seen(dana_page, "accepted", screenshot=True)
    expect(dana_page.get_by_role("status").first).to_contain_text("You co-author this proposal now")
    expect(dana_page.locator("ul.authors")).to_contain_text("Dana Coauthor (co-author)")

    # As a co-author she edits it: a new version while the round is open for proposals.
    keys.follow(dana_page.get_by_role("link", name="Edit"))
    story.seen(dana_page, "edit-form", screenshot=True)
    keys.replace(dana_page.get_by_label("Title"), "Seed library in the hall")
    keys.follow(dana_page.get_by_role("button", name="Save"))
    story.seen(dana_page, "edited", screenshot=True)
    expect(dana_page.get_by_role("heading", level=1)).to_have_text("Seed library in the hall")

    # Eli sees both authors on the proposal.
    eli_page.reload()
    story.seen(eli_page, "proposal-two-authors", screenshot=True)
    expect(eli_page.locator("ul.authors")).to_contain_text("Eli Author (wrote it)")
    expect(eli_page.locator("ul.authors")).to_contain_text("Dana Coauthor (co-author)")
