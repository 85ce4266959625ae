"""Who is told what: the audiences issue 16 adds, recorded in the outbox in the transaction of the change."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import Flask
from sqlalchemy import select

from fundcircle.auth.models import User
from fundcircle.consent.services import open_consent_round
from fundcircle.db import utcnow
from fundcircle.extensions import db
from fundcircle.notices import NoticePreference, OutboxNotice
from fundcircle.proposals.models import Proposal
from fundcircle.rounds.services import advance_round
from tests.factories import add_member, make_circle, make_round, make_user
from tests.services.test_consent_rounds import _consent_world
from tests.worlds.treasury import Treasury


def _told(kind: str) -> list[str]:
    rows = db.session.scalars(select(OutboxNotice).where(OutboxNotice.kind == kind).order_by(OutboxNotice.recipient))
    return [row.recipient for row in rows]


def test_community_members_hear_that_a_round_opens_for_proposals_and_deciders_hear_the_phase_change(
    app: Flask,
) -> None:
    with app.app_context():
        admin = make_user(name="Ana")
        circle = make_circle(admin)
        member, decider, outsider = make_user(name="Mo"), make_user(name="Di"), make_user(name="Out")
        add_member(circle, member, ["member"], by=admin)
        add_member(circle, decider, ["member", "circle"], by=admin)
        round_ = make_round(circle, admin, categories=[])
        advance_round(admin, round_, "proposals", utcnow())
        db.session.commit()
        assert member.email in _told("round.opened_for_proposals")
        assert decider.email not in _told("round.opened_for_proposals")  # told once, of the phase change
        assert decider.email in _told("round.phase_changed")
        assert outsider.email not in _told("round.opened_for_proposals") + _told("round.phase_changed")
        rows = db.session.scalars(select(OutboxNotice).where(OutboxNotice.recipient == member.email)).all()
        assert [(row.round_id, row.url) for row in rows] == [(round_.id, f"http://localhost/rounds/{round_.id}")]


def test_treasurers_hear_that_payouts_wait_for_their_approval(treasury: Treasury) -> None:
    with treasury.app.app_context():
        told = _told("payout.awaiting_approval")
        assert told == sorted(treasury.emails[name] for name in ("author", "tess", "tomas"))
        (row,) = db.session.scalars(
            select(OutboxNotice).where(
                OutboxNotice.recipient == treasury.emails["tomas"], OutboxNotice.kind == "payout.awaiting_approval"
            )  # fmt: skip
        ).all()
        assert "2 payout(s) wait for your approval" in row.subject
        assert row.url == f"http://localhost/circles/{treasury.circle_id}/treasury"


def test_the_deciders_hear_that_a_consent_round_opened(app: Flask) -> None:
    world = _consent_world(app, amounts={"fridge": 60_000})
    with app.app_context():
        admin = db.session.get(User, world.admin.id)
        proposal = db.session.get(Proposal, world.proposals["fridge"])
        assert admin is not None and proposal is not None
        open_consent_round(admin, proposal, utcnow())
        db.session.commit()
        assert _told("consent.opened") == sorted(person.email for person in world.deciders)


def _preference_reads_of_a_phase_change(app: Flask, deciders: int, members: int) -> int:
    """How many statements read notice preferences while a round opens for proposals in a circle of this size."""
    with app.app_context():
        admin = make_user(name="Ana")
        circle = make_circle(admin)
        for number in range(deciders):
            add_member(circle, make_user(name=f"Decider {deciders}.{number}"), ["member", "circle"], by=admin)
        for number in range(members):
            add_member(circle, make_user(name=f"Member {deciders}.{number}"), ["member"], by=admin)
        # One of them chose a digest: preferences are really read, and followed.
        chooser = db.session.scalars(select(User).where(User.name == f"Member {deciders}.0")).one()
        db.session.add(NoticePreference(user_id=chooser.id, kind="round.opened_for_proposals", delivery="daily"))
        round_ = make_round(circle, admin, categories=[])
        db.session.commit()
        reads: list[str] = []

        def note(_connection: Any, _cursor: Any, statement: str, *_args: Any) -> None:
            if "notice_preferences" in statement and statement.lstrip().upper().startswith("SELECT"):
                reads.append(statement)

        sa.event.listen(db.engine, "before_cursor_execute", note)
        try:
            advance_round(admin, round_, "proposals", utcnow())
            db.session.flush()
        finally:
            sa.event.remove(db.engine, "before_cursor_execute", note)
        chosen = db.session.scalars(
            select(OutboxNotice.delivery).where(OutboxNotice.user_id == chooser.id, OutboxNotice.round_id == round_.id)
        ).one()
        assert chosen == "daily"
        told = db.session.scalar(select(sa.func.count()).where(OutboxNotice.round_id == round_.id))
        assert told == deciders + members + 1  # and the admin, a member too
        db.session.rollback()
        return len(reads)


def test_a_phase_change_reads_the_preferences_of_its_whole_audience_at_once(app: Flask) -> None:
    # One read per kind of notice (the phase change to the deciders, the opening to the community), whatever the size.
    assert _preference_reads_of_a_phase_change(app, deciders=3, members=4) == 2
    assert _preference_reads_of_a_phase_change(app, deciders=40, members=60) == 2
