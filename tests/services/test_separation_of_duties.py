"""Separation of duties around payouts: someone made treasurer after a payout was created cannot approve it alone,
and making someone treasurer is a ledger entry of its own that every treasurer and admin of the circle hears of.

Through the services, on the real database (SQLite and PostgreSQL), with a real SMTP server on loopback for the
notices and real threads for approvals given at the same moment.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from fundcircle.auth.models import User
from fundcircle.circles.models import Circle
from fundcircle.circles.services import accept_invitation, invite_member, set_member_roles
from fundcircle.db import utcnow
from fundcircle.errors import FundCircleError, PermissionDenied
from fundcircle.extensions import db
from fundcircle.ledger.models import LedgerEntry
from fundcircle.ledger.reading import verify_ledger
from fundcircle.payouts.models import Payout
from fundcircle.payouts.services import approvals_waiting_for, approve_payout
from fundcircle.unit_of_work import commit
from tests.concurrency import all_at_once
from tests.conftest import TEST_PASSWORD
from tests.factories import add_member, enrol_totp, make_circle, make_funded_round, make_user, totp_code
from tests.smtp import Inbox, body_of, running_smtp
from tests.worlds.treasury import ledger_actions


@dataclass
class World:
    circle_id: int
    payout_id: int
    admin_id: int
    #: Treasurer since before the payout was created.
    tomas_id: int
    #: A plain member whom the admin can make treasurer after the payout exists.
    zed_id: int
    secrets: dict[str, str]


def _user(user_id: int) -> User:
    user = db.session.get(User, user_id)
    assert user is not None
    return user


def _circle(world: World) -> Circle:
    circle = db.session.get(Circle, world.circle_id)
    assert circle is not None
    return circle


def _ledger_verifies(circle_id: int) -> bool:
    return all(report.result.ok for report in verify_ledger([circle_id]))


def _payout(world: World) -> Payout:
    payout = db.session.get(Payout, world.payout_id, populate_existing=True)
    assert payout is not None
    return payout


def build_world(*, approvals_required: int = 1, author_roles: tuple[str, ...] = ("member",)) -> World:
    """A circle whose only treasurer (Tomas) held the role before its one payout (250.00 EUR) was created."""
    admin = make_user(name="Ana Admin", email="ana@example.org")
    circle = make_circle(admin)
    circle.approvals_required = approvals_required
    db.session.commit()
    tomas = make_user(name="Tomas", email="tomas@example.org")
    add_member(circle, tomas, ["member", "treasurer"], by=admin)
    bea = make_user(name="Bea", email="bea@example.org")
    add_member(circle, bea, ["member", "circle"], by=admin)
    author = make_user(name="Author", email="author@example.org")
    add_member(circle, author, list(author_roles), by=admin)
    zed = make_user(name="Zed", email="zed@example.org")
    add_member(circle, zed, ["member"], by=admin)
    _, (proposal,) = make_funded_round(circle, admin, bea, [{"author": author}])
    payout_id = db.session.scalars(select(Payout.id).where(Payout.proposal_id == proposal.id)).one()
    secrets = {"tomas": enrol_totp(tomas), "zed": enrol_totp(zed)}
    return World(circle.id, payout_id, admin.id, tomas.id, zed.id, secrets)


def make_treasurer(world: World, user_id: int, roles: tuple[str, ...] = ("member", "treasurer")) -> None:
    set_member_roles(_user(world.admin_id), _circle(world), user_id, list(roles))
    commit()


def approve(world: World, who: str, user_id: int) -> Payout:
    payout = approve_payout(_user(user_id), _payout(world), totp_code(world.secrets[who]), utcnow())
    commit()
    return payout


def test_a_treasurer_made_after_the_payout_cannot_be_its_only_approver(ctx: Flask) -> None:
    world = build_world()
    make_treasurer(world, world.zed_id)
    assert approvals_waiting_for(_payout(world)) is None  # nothing to explain before anyone approved

    approve(world, "zed", world.zed_id)
    payout = _payout(world)
    assert payout.status == "awaiting_approval"
    assert payout.approvals_count == 1  # counted, and shown, but not enough on its own
    waiting = approvals_waiting_for(payout)
    assert waiting is not None and "held the role when this payout was created" in waiting
    assert "None of the circle's current treasurers" not in waiting  # Tomas can still approve it
    given = db.session.scalars(
        select(LedgerEntry).where(LedgerEntry.action == "payout.approval_given").order_by(LedgerEntry.seq)
    ).all()
    assert given[-1].data["held_role_before"] is False and "waiting_for" in given[-1].data

    approve(world, "tomas", world.tomas_id)
    payout = _payout(world)
    assert payout.status == "approved" and payout.request_key is not None
    assert approvals_waiting_for(payout) is None
    assert ledger_actions(world.circle_id)[-3:] == ["payout.approval_given", "payout.approval_given", "payout.approved"]
    assert _ledger_verifies(world.circle_id)


def test_with_no_earlier_treasurer_left_the_payout_waits_and_says_why(ctx: Flask) -> None:
    world = build_world()
    make_treasurer(world, world.zed_id)
    make_treasurer(world, world.tomas_id, ("member",))  # the only earlier treasurer steps down

    approve(world, "zed", world.zed_id)
    payout = _payout(world)
    assert payout.status == "awaiting_approval"
    waiting = approvals_waiting_for(payout)
    assert waiting is not None and "None of the circle's current treasurers held the role then" in waiting

    # Given the role back, Tomas is a treasurer since now, not since before: still no approval completes it.
    make_treasurer(world, world.tomas_id)
    approve(world, "tomas", world.tomas_id)
    assert _payout(world).status == "awaiting_approval"


def test_an_earlier_treasurer_who_wrote_the_proposal_does_not_count_as_one_left(ctx: Flask) -> None:
    world = build_world(author_roles=("member", "treasurer"))
    make_treasurer(world, world.zed_id)
    make_treasurer(world, world.tomas_id, ("member",))

    approve(world, "zed", world.zed_id)
    waiting = approvals_waiting_for(_payout(world))
    assert _payout(world).status == "awaiting_approval"
    assert waiting is not None and "None of the circle's current treasurers held the role then" in waiting


def test_a_treasurer_given_another_role_keeps_approving_older_payouts_alone(ctx: Flask) -> None:
    world = build_world()
    make_treasurer(world, world.tomas_id, ("member", "circle", "treasurer"))  # a role more: the grant time stays

    approve(world, "tomas", world.tomas_id)
    assert _payout(world).status == "approved"


def test_two_new_treasurers_approving_at_once_do_not_complete_an_older_payout(ctx: Flask) -> None:
    world = build_world(approvals_required=2)
    yan = make_user(name="Yan", email="yan@example.org")
    add_member(_circle(world), yan, ["member"], by=_user(world.admin_id))
    world.secrets["yan"] = enrol_totp(yan)
    make_treasurer(world, world.zed_id)
    make_treasurer(world, yan.id)
    yan_id = yan.id

    def approving(who: str, user_id: int) -> Any:
        return lambda: approve(world, who, user_id).id

    db.session.close()  # the test's own session holds no transaction (nor SQLite's lock) while the threads run
    results = all_at_once([approving("zed", world.zed_id), approving("yan", yan_id)], app=ctx)
    assert not [result for result in results if isinstance(result, Exception)], results
    payout = _payout(world)
    assert payout.status == "awaiting_approval" and payout.approvals_count == 2
    assert "payout.approved" not in ledger_actions(world.circle_id)

    approve(world, "tomas", world.tomas_id)
    assert _payout(world).status == "approved"
    assert ledger_actions(world.circle_id).count("payout.approved") == 1


def test_an_earlier_and_a_new_treasurer_approving_at_once_complete_it_once(ctx: Flask) -> None:
    world = build_world(approvals_required=2)
    make_treasurer(world, world.zed_id)

    def approving(who: str, user_id: int) -> Any:
        return lambda: approve(world, who, user_id).id

    db.session.close()  # the test's own session holds no transaction (nor SQLite's lock) while the threads run
    results = all_at_once([approving("zed", world.zed_id), approving("tomas", world.tomas_id)], app=ctx)
    assert not [result for result in results if isinstance(result, Exception)], results
    payout = _payout(world)
    assert payout.status == "approved" and payout.approvals_count == 2
    assert ledger_actions(world.circle_id).count("payout.approved") == 1
    assert _ledger_verifies(world.circle_id)


# -- the grant itself: in the ledger, and told to every treasurer and admin ------------------------------------


@pytest.fixture
def smtp() -> Iterator[tuple[int, Inbox]]:
    with running_smtp() as server:
        yield server


@pytest.fixture
def mail_app(make_app: Any, smtp: tuple[int, Inbox]) -> Flask:
    port, _ = smtp
    app: Flask = make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=port, BASE_URL="https://fund.example.org")
    return app


def _grants(circle_id: int, user_id: int) -> list[LedgerEntry]:
    entries = db.session.scalars(
        select(LedgerEntry)
        .where(LedgerEntry.circle_id == circle_id, LedgerEntry.action == "member.treasurer_granted")
        .order_by(LedgerEntry.seq)
    )
    return [entry for entry in entries if entry.data["user"] == user_id]


def test_making_someone_treasurer_is_in_the_ledger_and_every_treasurer_and_admin_is_told(
    app: Flask, mail_app: Flask, smtp: tuple[int, Inbox]
) -> None:
    _, inbox = smtp
    with mail_app.app_context():
        world = build_world()
        bob = make_user(name="Bob Admin", email="bob@example.org")
        add_member(_circle(world), bob, ["member", "admin"], by=_user(world.admin_id))
        commit()  # send what building the world queued (phase changes), then listen
        inbox.clear()

        make_treasurer(world, world.zed_id)

        (grant,) = _grants(world.circle_id, world.zed_id)
        assert grant.actor_id == world.admin_id
        assert grant.data["user"] == world.zed_id and grant.data["name"] == "Zed"
        assert _ledger_verifies(world.circle_id)
        # Treasurers (Tomas, and Zed now) and admins (Ana, Bob); not Bea (circle) nor the author (member).
        assert inbox.recipients() == sorted(
            ["ana@example.org", "bob@example.org", "tomas@example.org", "zed@example.org"]
        )
        for message in inbox.messages:
            assert message["Subject"] == f"Zed is now a treasurer of “{_circle(world).name}”"
            body = body_of(message)
            assert "by Ana Admin" in body
            assert f"https://fund.example.org/circles/{world.circle_id}/members" in body


def test_an_invitation_that_makes_someone_treasurer_is_in_the_ledger_and_told(
    app: Flask, mail_app: Flask, smtp: tuple[int, Inbox]
) -> None:
    _, inbox = smtp
    with mail_app.app_context():
        world = build_world()
        outcome = invite_member(
            _user(world.admin_id), _circle(world), email="nora@example.org", roles=["treasurer"], now=utcnow(),
            valid_days=14,
        )  # fmt: skip
        commit()
        assert outcome.token is not None
        commit()  # send what building the world queued (phase changes), then listen
        inbox.clear()

        nora, _ = accept_invitation(outcome.token, user=None, now=utcnow(), name="Nora", password=TEST_PASSWORD)
        commit()

        (grant,) = _grants(world.circle_id, nora.id)
        assert grant.actor_id == nora.id and grant.data["by"] == world.admin_id
        assert inbox.recipients() == sorted(["ana@example.org", "nora@example.org", "tomas@example.org"])
        assert "by Ana Admin, who invited them" in body_of(inbox.messages[0])


def test_a_grant_that_is_rolled_back_is_neither_in_the_ledger_nor_mailed(
    app: Flask, mail_app: Flask, smtp: tuple[int, Inbox]
) -> None:
    _, inbox = smtp
    with mail_app.app_context():
        world = build_world()
        commit()  # send what building the world queued (phase changes), then listen
        inbox.clear()
        set_member_roles(_user(world.admin_id), _circle(world), world.zed_id, ["member", "treasurer"])
        db.session.rollback()
        commit()
        assert _grants(world.circle_id, world.zed_id) == []
        assert inbox.messages == []


def test_an_approval_sent_as_its_treasurer_is_demoted_is_decided_before_or_after_never_across(app: Flask) -> None:
    """The admin takes a treasurer's role away at the moment that treasurer approves: either the approval is refused,
    or it is stored before the demotion (in the ledger's order, as in the tables); never an approval given on roles
    read before the demotion and stored after it. Real threads, many times, since one run may come out harmlessly."""

    def once() -> None:
        with app.app_context():
            admin = make_user(name="Admin")
            circle = make_circle(admin)
            treasurer = make_user(name="Treasurer")
            add_member(circle, treasurer, ["member", "treasurer"], by=admin)
            voter = make_user(name="Voter")
            add_member(circle, voter, ["member", "circle"], by=admin)
            author = make_user(name="Author")
            add_member(circle, author, ["member"], by=admin)
            _, (proposal,) = make_funded_round(circle, admin, voter, [{"author": author}])
            payout_id = db.session.scalars(select(Payout.id).where(Payout.proposal_id == proposal.id)).one()
            secret = enrol_totp(treasurer)
            ids = {"circle": circle.id, "admin": admin.id, "treasurer": treasurer.id}

        def demote() -> object:
            set_member_roles(_user(ids["admin"]), db.session.get(Circle, ids["circle"]), ids["treasurer"], ["member"])
            commit()
            return "demoted"

        def approve_it() -> object:
            payout = db.session.get(Payout, payout_id)
            assert payout is not None
            try:
                approve_payout(_user(ids["treasurer"]), payout, totp_code(secret), utcnow())
            except FundCircleError as refusal:
                db.session.rollback()
                return refusal
            commit()
            return "approved"

        outcomes = all_at_once([demote, approve_it], app=app)
        assert outcomes[0] == "demoted", outcomes
        assert outcomes[1] == "approved" or isinstance(outcomes[1], PermissionDenied), outcomes
        with app.app_context():
            actions = ledger_actions(ids["circle"], prefix="")
            demoted_at = len(actions) - 1 - actions[::-1].index("member.roles_changed")
            payout = db.session.get(Payout, payout_id)
            assert payout is not None
            if outcomes[1] == "approved":
                assert actions.index("payout.approval_given") < demoted_at, actions
                assert payout.status == "approved"
            else:
                assert "payout.approval_given" not in actions and payout.status == "awaiting_approval"

    for _ in range(12):
        once()
