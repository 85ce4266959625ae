"""Journey: a treasurer sees the count of unread notices in the header, opens the inbox, finds there the payout
waiting for their approval, approves it, and the item is gone. Keyboard only; axe-core checks every page, the inbox
among them, with nothing serious or critical allowed.

The treasurer also decides in the circle (role "circle"), so the round's phase changes are among their notices: a
treasurer who holds no other role hears of new payouts once the delivery half of issue 16 adds them to the notice
audiences; the "your turn" list shows the payout from the state in both cases.
"""

from __future__ import annotations

from typing import Any

import pyotp
from flask import Flask
from playwright.sync_api import expect

from fundcircle.extensions import db
from fundcircle.inbox.models import Notification
from fundcircle.payouts.models import Payout
from tests.browser.conftest import on_browser_database
from tests.browser.support import Keys
from tests.factories import add_member, enrol_totp, make_circle, make_funded_round, make_user

pytestmark = on_browser_database

CIRCLE = "Riverside Learning Circle"
PROPOSAL = "Seed library"


def test_a_treasurer_finds_a_payout_to_approve_from_the_header_count(app: Flask, journey: Any) -> None:
    with app.app_context():
        admin = make_user(name="Ana Admin", email="ana@example.org")
        tomas = make_user(name="Tomas Treasurer", email="tomas@example.org")
        eli = make_user(name="Eli Member", email="eli@example.org")
        circle = make_circle(admin, name=CIRCLE)
        bea = make_user(name="Bea Decider", email="bea@example.org")
        # Tomas only holds the money: he decides nothing, so only the treasurer's notices bring him to the payout.
        add_member(circle, tomas, ["member", "treasurer"], by=admin)
        add_member(circle, bea, ["member", "circle"], by=admin)
        add_member(circle, eli, ["member"], by=admin)
        _, (proposal,) = make_funded_round(circle, admin, bea, [{"author": eli, "title": PROPOSAL}])
        payout_id = db.session.scalars(db.select(Payout.id).where(Payout.proposal_id == proposal.id)).one()
        kinds = db.session.scalars(
            db.select(Notification.kind).where(Notification.user_id == tomas.id, Notification.read_at.is_(None))
        ).all()
        assert "payout.awaiting_approval" in kinds  # he was told that the payout waits for him
        secret = enrol_totp(tomas)
    story = journey("inbox")

    page = story.log_in("tomas@example.org")
    keys = Keys(page)
    inbox_link = page.get_by_role("link", name=f"Inbox {len(kinds)} unread")
    expect(inbox_link).to_be_visible()
    keys.follow(inbox_link)
    story.seen(page, "inbox", screenshot=True)
    expect(page.get_by_role("heading", name="Inbox", level=1)).to_be_visible()
    waiting = page.get_by_role("link", name=f"Payout {payout_id} for “{PROPOSAL}” awaits your approval.")
    expect(waiting).to_be_visible()
    expect(page.get_by_text(f"{len(kinds)} unread.")).to_be_visible()

    keys.follow(page.get_by_role("button", name="Mark all read"))
    story.seen(page, "inbox-all-read")
    expect(page.get_by_role("status")).to_contain_text(f"{len(kinds)} notices marked read.")
    expect(page.get_by_role("link", name="Inbox", exact=True)).to_be_visible()

    keys.follow(page.get_by_role("link", name=f"Payout {payout_id} for “{PROPOSAL}” awaits your approval."))
    story.seen(page, "payout")
    expect(page.get_by_role("heading", name=f"Payout: {PROPOSAL}")).to_be_visible()
    keys.type(page.get_by_label("Code from your authenticator app"), pyotp.TOTP(secret).now())
    keys.follow(page.get_by_role("button", name="Approve 250.00 EUR"))
    story.seen(page, "payout-approved")
    expect(page.get_by_role("status")).to_contain_text("Approved.")

    keys.follow(page.get_by_role("link", name="Inbox", exact=True))
    story.seen(page, "inbox-nothing-waiting", screenshot=True)
    expect(page.get_by_text("Nothing waits for you right now.")).to_be_visible()
