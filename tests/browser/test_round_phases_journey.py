"""Journey: the round page in each phase of its life, as its admin and as a circle member sees it, and the circle's
ledger once the round is over. Every page is measured and saved at each width by `Journey.seen` (support.py), so
this journey is what shows the round page on a phone in every phase."""

from __future__ import annotations

from typing import Any

from flask import Flask
from playwright.sync_api import Page

from fundcircle.auth.models import User
from fundcircle.db import utcnow
from fundcircle.extensions import db
from fundcircle.rounds.models import Round
from fundcircle.rounds.services import advance_round
from tests.browser.conftest import on_browser_database
from tests.browser.support import Journey, Keys
from tests.factories import add_member, make_circle, make_proposal, make_round, make_user

pytestmark = on_browser_database

CIRCLE = "Riverside Learning Circle"
ROUND = "Spring micro-grants"


def _round_page(story: Journey, page: Page, label: str) -> None:
    keys = Keys(page)
    page.goto("/")
    story.seen(page, "home", screenshot=False)
    keys.follow(page.get_by_role("link", name=CIRCLE))
    story.seen(page, "circle", screenshot=False)
    keys.follow(page.get_by_role("link", name=ROUND, exact=True))
    story.seen(page, label)


def test_the_round_page_in_every_phase_fits_every_width(app: Flask, journey: Any) -> None:
    with app.app_context():
        admin = make_user(name="Ana Admin", email="ana@example.org")
        eli = make_user(name="Eli Member", email="eli@example.org")
        bea = make_user(name="Bea Circle", email="bea@example.org")
        circle = make_circle(admin, name=CIRCLE)
        add_member(circle, eli, ["member"], by=admin)
        add_member(circle, bea, ["member", "circle"], by=admin)
        round_ = make_round(circle, admin, title=ROUND, quorum_percent=0)
        round_id, admin_id, eli_id = round_.id, admin.id, eli.id
    story = journey("round-phases")
    ana = story.log_in("ana@example.org")
    member = story.log_in("bea@example.org")
    _round_page(story, ana, "round-draft-admin")
    for phase in ("proposals", "deliberation", "deciding", "decided", "closed"):
        with app.app_context():
            round_ = db.session.get(Round, round_id)
            assert round_ is not None
            by, author = db.session.get(User, admin_id), db.session.get(User, eli_id)
            assert by is not None and author is not None
            advance_round(by, round_, phase, utcnow())
            if phase == "proposals":
                db.session.commit()
                make_proposal(round_, author, title="Tool library", amount_minor=40_000)
                make_proposal(round_, author, title="Seed library", amount_minor=35_000)
            db.session.commit()
        _round_page(story, ana, f"round-{phase}-admin")
        _round_page(story, member, f"round-{phase}")
    keys = Keys(member)
    member.goto("/")
    story.seen(member, "home", screenshot=False)
    keys.follow(member.get_by_role("link", name=CIRCLE))
    story.seen(member, "circle", screenshot=False)
    keys.follow(member.get_by_role("link", name="The circle's ledger"))
    story.seen(member, "ledger")
    keys.follow(member.get_by_role("link", name="Verify the chain"))
    story.seen(member, "ledger-check")
