"""The migration that adds role grant times backfills the rows a running circle already has: every role gets its
membership's join time, and an approval counts as one from an earlier treasurer when its approver had joined by the
time the payout was created. Run on the test database of each kind: the schema goes back one step and forward again.
"""

from __future__ import annotations

from datetime import timedelta

import flask_migrate
import sqlalchemy as sa
from flask import Flask

from fundcircle.db import utcnow
from fundcircle.extensions import db
from fundcircle.payouts.models import Payout
from fundcircle.payouts.services import approve_payout
from tests.factories import add_member, enrol_totp, make_circle, make_funded_round, make_user, totp_code

BEFORE = "accounts_0001"  # the revision before the one that adds role grant times


def test_upgrading_a_database_with_members_and_approvals_backfills_them(app: Flask) -> None:
    with app.app_context():
        admin = make_user(name="Ana Admin")
        circle = make_circle(admin)
        circle.approvals_required = 2
        tomas = make_user(name="Tomas")
        add_member(circle, tomas, ["member", "treasurer"], by=admin)
        bea = make_user(name="Bea")
        add_member(circle, bea, ["member", "circle"], by=admin)
        author = make_user(name="Author")
        add_member(circle, author, ["member"], by=admin)
        _, (proposal,) = make_funded_round(circle, admin, bea, [{"author": author}])
        payout = db.session.scalars(sa.select(Payout).where(Payout.proposal_id == proposal.id)).one()
        late = make_user(name="Late")
        add_member(circle, late, ["member", "treasurer"], by=admin)
        for person in (tomas, late):
            approve_payout(person, payout, totp_code(enrol_totp(person)), utcnow())
            db.session.commit()
        # Tomas joined a month before the payout (so his backfilled grant time differs from the one stored now);
        # Late joined after it.
        db.session.execute(
            sa.text("UPDATE memberships SET joined_at = :at WHERE user_id = :user"),
            {"at": (utcnow() - timedelta(days=30)).replace(tzinfo=None), "user": tomas.id},
        )
        db.session.commit()
        ids = {"tomas": tomas.id, "late": late.id, "payout": payout.id}
        db.session.remove()
        flask_migrate.downgrade(revision=BEFORE)
        flask_migrate.upgrade()
        with db.engine.connect() as connection:
            roles = connection.execute(
                sa.text(
                    "SELECT count(*) FROM membership_roles JOIN memberships ON memberships.id = membership_id "
                    "WHERE membership_roles.granted_at = memberships.joined_at"
                )
            ).scalar_one()
            total = connection.execute(sa.text("SELECT count(*) FROM membership_roles")).scalar_one()
            held = dict(
                connection.execute(
                    sa.text("SELECT treasurer_id, held_role_before FROM payout_approvals WHERE payout_id = :payout"),
                    {"payout": ids["payout"]},
                ).all()
            )
        assert roles == total > 0
        assert {user: bool(value) for user, value in held.items()} == {ids["tomas"]: True, ids["late"]: False}
