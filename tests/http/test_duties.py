"""Separation of duties on the pages and the API: an admin makes a member treasurer, the new treasurer approves an
older payout, and it keeps waiting (the page and the API say why) until a treasurer who held the role before
approves too; a departed member's objection shows as lapsed on the consent page."""

from __future__ import annotations

from flask import Flask
from sqlalchemy import select

from fundcircle.auth.models import User
from fundcircle.extensions import db
from tests.conftest import Client
from tests.factories import enrol_totp, make_token, totp_code
from tests.worlds.sandbox import SANDBOX_COLLECTIVE
from tests.worlds.treasury import Treasury, ledger_actions

WAITING = "At least one approval must come from a treasurer who held the role when this payout was created"


def _logged_in(app: Flask, email: str) -> Client:
    client: Client = app.test_client()  # type: ignore[assignment]
    client.login(email)
    return client


def test_a_member_made_treasurer_after_the_payout_cannot_approve_it_alone(treasury: Treasury) -> None:
    app, seed = treasury.app, treasury.payout_ids["Seed library"]
    with app.app_context():
        eli = db.session.scalars(select(User).where(User.email == treasury.emails["eli"])).one()
        eli_id = eli.id
        eli_secret = enrol_totp(eli)
        tomas = db.session.scalars(select(User).where(User.email == treasury.emails["tomas"])).one()
        tomas_token = make_token(tomas)
    admin = _logged_in(app, treasury.emails["admin"])
    granted = admin.post_form(
        f"/circles/{treasury.circle_id}/members/{eli_id}/roles", {"roles": ["member", "treasurer"]}
    )
    assert granted.status_code == 302
    with app.app_context():
        assert "member.treasurer_granted" in ledger_actions(treasury.circle_id, prefix="member.")

    eli_client = _logged_in(app, treasury.emails["eli"])
    approved = eli_client.post_form(f"/payouts/{seed}/approve", {"totp": totp_code(eli_secret)})
    assert approved.status_code == 302
    page = eli_client.get(f"/payouts/{seed}").get_data(as_text=True)
    assert "Awaiting approval" in page and "1 of 1 needed" in page and WAITING in page
    assert treasury.sandbox.sandbox.expenses(SANDBOX_COLLECTIVE) == []  # nothing was requested

    api = app.test_client()
    shown = api.get(f"/api/v1/payouts/{seed}", headers={"Authorization": f"Bearer {tomas_token}"}).get_json()
    assert shown["status"] == "awaiting_approval" and WAITING in shown["approvals_waiting_for"]

    answer = api.post(
        f"/api/v1/payouts/{seed}/approve",
        json={"totp": totp_code(treasury.totp_secrets["tomas"])},
        headers={"Authorization": f"Bearer {tomas_token}"},
    )
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert answer.get_json()["approvals_waiting_for"] is None
    assert len(treasury.sandbox.sandbox.expenses(SANDBOX_COLLECTIVE)) == 1
    with app.app_context():
        assert treasury.payout("Seed library").status == "requested"


def test_a_departed_members_objection_shows_as_lapsed_on_the_consent_page(app: Flask) -> None:
    from tests.services.test_eligibility import _answer, _open_on, build_world

    with app.app_context():
        world = build_world("consent", ("Ann", "Ben", "Cleo"), quorum_percent=50)
        consent_round_id = _open_on(world, "Seed library")
        _answer(world, consent_round_id, "Ann", "objection", "The shelf has no room.")
        _answer(world, consent_round_id, "Ben", "consent")
        _answer(world, consent_round_id, "Cleo", "consent")
        admin_email = db.session.get(User, world.admin_id).email  # type: ignore[union-attr]
        ann_id = world.people["Ann"]
    admin = _logged_in(app, admin_email)
    before = admin.get(f"/consent-rounds/{consent_round_id}").get_data(as_text=True)
    assert "1 objection open" in before and "lapsed" not in before

    removed = admin.post_form(f"/circles/{world.circle_id}/members/{ann_id}/roles", {"roles": ["member"]})
    assert removed.status_code == 302
    after = admin.get(f"/consent-rounds/{consent_round_id}").get_data(as_text=True)
    assert "no longer a circle member, so it counts for nothing" in after
    assert "1 objection open" not in after
    with app.app_context():
        assert ledger_actions(world.circle_id, prefix="consent.")[-1] == "consent.objection_lapsed"


def test_the_results_page_counts_only_members_and_says_what_it_left_out(app: Flask) -> None:
    from fundcircle.db import utcnow
    from fundcircle.rounds.services import advance_round
    from fundcircle.voting.services import cast_ballot
    from tests.services.test_eligibility import _round, _user, build_world, leave

    with app.app_context():
        world = build_world(
            "quadratic", ("Ann Leaving", "Ben Leaving", "Cleo Staying", "Dan Staying"), quorum_percent=50
        )
        seed, bike = world.proposals["Seed library"], world.proposals["Bike repair"]
        for name, votes in (("Ann Leaving", {bike: 5}), ("Ben Leaving", {bike: 5}), ("Cleo Staying", {seed: 3})):
            cast_ballot(_user(world.people[name]), _round(world), votes, utcnow())
            db.session.commit()
        leave(world, "Ann Leaving", ["member"])
        leave(world, "Ben Leaving", [])
        advance_round(_user(world.admin_id), _round(world), "decided", utcnow())
        db.session.commit()
        admin_email = _user(world.admin_id).email
    page = _logged_in(app, admin_email).get(f"/rounds/{world.round_id}/results").get_data(as_text=True)
    assert "1 of 2 circle members voted" in page
    assert "Not counted: 2 ballots of people who were no" in page
    assert "Cleo Staying" in page and "Ann Leaving" not in page and "Ben Leaving" not in page
