"""Journey: a person asks to join a public circle with a note; its admin reads the request and accepts it, and
the person finds themselves a member. Keyboard only; axe-core on every page reached."""

from __future__ import annotations

from typing import Any

from flask import Flask
from playwright.sync_api import expect

from fundcircle.circles import joining
from fundcircle.extensions import db
from tests.browser.conftest import on_browser_database
from tests.browser.support import Keys
from tests.factories import make_circle, make_user

pytestmark = on_browser_database


def test_a_person_asks_to_join_and_the_admin_accepts(app: Flask, journey: Any) -> None:
    with app.app_context():
        admin = make_user(name="Ana Admin", email="ana@example.org")
        make_user(name="Sam Asker", email="sam@example.org")
        circle = make_circle(admin, name="Riverside Learning Circle", public=True)
        joining.set_accepts_join_requests(admin, circle, True)
        db.session.commit()
        circle_id = circle.id
    story = journey("join-request")

    # The admin's list is empty at first, and says so.
    ana = story.log_in("ana@example.org")
    ana.goto(f"/circles/{circle_id}/join-requests")
    story.seen(ana, "requests-empty", screenshot=True)
    expect(ana.locator(".empty")).to_contain_text("No requests wait for an answer")

    # Sam finds the circle's page and asks to join with a note (the field stops at 500 characters; the server's
    # refusal of a longer one is tested in tests/http/test_join_request_pages.py).
    sam = story.log_in("sam@example.org")
    sam.goto(f"/circles/{circle_id}")
    story.seen(sam, "circle-outside", screenshot=True)
    keys = Keys(sam)
    keys.follow(sam.get_by_role("link", name="Ask to join"))
    story.seen(sam, "ask", screenshot=True)
    note = sam.get_by_label("A short note to the circle's admins (optional)")
    expect(note).to_have_attribute("maxlength", "500")
    keys.type(note, "I run the repair café on Saturdays <and> would like to help.")
    keys.follow(sam.get_by_role("button", name="Ask to join"))
    story.seen(sam, "asked", screenshot=True)
    expect(sam.get_by_role("status").first).to_contain_text("Your request to join Riverside Learning Circle is sent")

    # Ana sees it counted on the circle's page, reads the note as written, and accepts.
    ana.goto(f"/circles/{circle_id}")
    story.seen(ana, "circle-admin", screenshot=True)
    keys = Keys(ana)
    keys.follow(ana.get_by_role("link", name="Requests to join (1 waiting)"))
    story.seen(ana, "requests", screenshot=True)
    expect(ana.locator(".join-requests")).to_contain_text("Saturdays <and> would like")
    keys.follow(ana.get_by_role("button", name="Accept Sam Asker"))
    story.seen(ana, "accepted", screenshot=True)
    expect(ana.get_by_role("status").first).to_contain_text("Sam Asker is a member of Riverside Learning Circle now")

    # Sam is a member now: the circle's page shows the roles and no "Ask to join" button.
    sam.goto(f"/circles/{circle_id}")
    story.seen(sam, "circle-member", screenshot=True)
    expect(sam.get_by_text("You are: member")).to_be_visible()
    expect(sam.get_by_role("link", name="Ask to join")).to_have_count(0)
