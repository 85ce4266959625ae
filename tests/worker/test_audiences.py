"""Who is told what: the audiences issue 16 adds, recorded in the outbox in the transaction of the change."""

from __future__ import annotations

from flask import Flask
from sqlalchemy import select

from fundcircle.auth.models import User
from fundcircle.consent.services import open_consent_round
from fundcircle.db import utcnow
from fundcircle.extensions import db
from fundcircle.notices import OutboxNotice
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
