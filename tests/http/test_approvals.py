"""Treasurers approve payouts on the pages: the circle's rules, the second factor, and a payout that reaches Open
Collective once fully approved (here the local sandbox, over real HTTP)."""

# ruff: noqa: F811
from __future__ import annotations

from typing import Any

from flask import Flask

from fundcircle.circles.models import Circle
from fundcircle.extensions import db
from fundcircle.ledger.models import LedgerEntry
from fundcircle.payouts.models import PayoutApproval
from fundcircle.payouts.requesting import refresh_balance
from fundcircle.rounds.models import Round
from tests.conftest import Client
from tests.factories import totp_code
from tests.worlds.sandbox import SANDBOX_COLLECTIVE, SANDBOX_PAYEE
from tests.worlds.treasury import Treasury, build_treasury, ledger_actions


def _approve(client: Client, payout_id: int, code: str) -> tuple[int, str]:
    response = client.post_form(f"/payouts/{payout_id}/approve", {"totp": code})
    return response.status_code, response.get_data(as_text=True)


def _logged_in(app: Flask, email: str) -> Client:
    client: Client = app.test_client()  # type: ignore[assignment]
    client.login(email)
    return client


def test_a_fully_approved_payout_is_requested_on_open_collective_once(treasury: Treasury) -> None:
    client = _logged_in(treasury.app, treasury.emails["tomas"])
    seed = treasury.payout_ids["Seed library"]
    page = client.get(f"/payouts/{seed}").get_data(as_text=True)
    assert "Awaiting approval" in page and "0 of 1 needed" in page and "250.00 EUR" in page

    status, _ = _approve(client, seed, totp_code(treasury.totp_secrets["tomas"]))
    assert status == 302

    expenses = treasury.sandbox.sandbox.expenses(SANDBOX_COLLECTIVE)
    assert len(expenses) == 1
    expense = expenses[0]
    assert expense.status == "PENDING" and expense.amount_minor == 25_000 and expense.type == "GRANT"
    with treasury.app.app_context():
        payout = treasury.payout("Seed library")
        assert payout.status == "requested"
        assert payout.expense_id == expense.public_id and payout.expense_status == "PENDING"
        assert expense.custom_data["fundCirclePayoutKey"] == payout.request_key == expense.reference
        assert ledger_actions(treasury.circle_id) == [
            "payout.created", "payout.created", "payout.approval_given", "payout.approved",
            "payout.request_started", "payout.requested",
        ]  # fmt: skip
    assert treasury.sandbox.sandbox.calls["expenses"] == 1  # looked up before creating
    page = client.get(f"/payouts/{seed}").get_data(as_text=True)
    assert "Requested on Open Collective" in page and expense.public_id in page and "Tomas" in page


def test_an_invited_payee_gets_a_locked_draft_and_the_payout_follows_it_to_paid(treasury: Treasury) -> None:
    client = _logged_in(treasury.app, treasury.emails["tomas"])
    bike = treasury.payout_ids["Bike repair"]
    assert _approve(client, bike, totp_code(treasury.totp_secrets["tomas"]))[0] == 302
    sandbox = treasury.sandbox.sandbox
    (draft,) = sandbox.expenses(SANDBOX_COLLECTIVE)
    assert draft.status == "DRAFT"
    assert set(draft.locked_fields) == {"AMOUNT", "TYPE", "DESCRIPTION"}
    with treasury.app.app_context():
        assert treasury.payout("Bike repair").status == "invited"

    for step, expected in (("invite", "requested"), ("APPROVE", "approved_on_oc"), ("PAY", "paid")):
        if step == "invite":
            sandbox.complete_invitation(draft.public_id)
        else:
            sandbox.process_as_host(draft.public_id, step)
        response = client.post_form(f"/circles/{treasury.circle_id}/treasury/sync", {})
        assert response.status_code == 302
        with treasury.app.app_context():
            assert treasury.payout("Bike repair").status == expected
    page = client.get(f"/circles/{treasury.circle_id}/treasury").get_data(as_text=True)
    assert "Paid: <strong>150.00 EUR</strong>" in page
    assert "4,850.00 EUR" in page  # the balance Open Collective reports after paying


def test_the_author_and_the_payee_cannot_approve_and_the_page_says_why(treasury: Treasury) -> None:
    author = _logged_in(treasury.app, treasury.emails["author"])
    seed = treasury.payout_ids["Seed library"]
    assert "You wrote this proposal" in author.get(f"/payouts/{seed}").get_data(as_text=True)
    status, page = _approve(author, seed, totp_code(treasury.totp_secrets["author"]))
    assert status == 403 and "You wrote this proposal" in page

    payee = _logged_in(treasury.app, treasury.emails["tess"])
    bike = treasury.payout_ids["Bike repair"]
    status, page = _approve(payee, bike, totp_code(treasury.totp_secrets["tess"]))
    assert status == 403 and "You are this payout&#39;s payee" in page
    with treasury.app.app_context():
        assert db.session.scalar(db.select(db.func.count()).select_from(PayoutApproval)) == 0
        assert treasury.payout("Seed library").status == "awaiting_approval"
    assert treasury.sandbox.sandbox.expenses() == []


def test_two_approvals_from_the_threshold_up_and_never_twice_by_one_treasurer(treasury: Treasury) -> None:
    with treasury.app.app_context():
        circle = db.session.get(Circle, treasury.circle_id)
        circle.two_approvals_from_minor = 20_000  # Seed library asks 250.00; Bike repair 150.00 stays at one
        db.session.commit()
    tomas = _logged_in(treasury.app, treasury.emails["tomas"])
    seed = treasury.payout_ids["Seed library"]
    assert _approve(tomas, seed, totp_code(treasury.totp_secrets["tomas"]))[0] == 302
    with treasury.app.app_context():
        assert treasury.payout("Seed library").status == "awaiting_approval"
    page = tomas.get(f"/payouts/{seed}").get_data(as_text=True)
    assert "1 of 2 needed" in page and "You have approved this payout already" in page
    status, page = _approve(tomas, seed, totp_code(treasury.totp_secrets["tomas"], offset_steps=1))
    assert status == 409 and "approved this payout already" in page
    assert treasury.sandbox.sandbox.expenses() == []

    tess = _logged_in(treasury.app, treasury.emails["tess"])
    assert _approve(tess, seed, totp_code(treasury.totp_secrets["tess"]))[0] == 302
    with treasury.app.app_context():
        payout = treasury.payout("Seed library")
        assert payout.status == "requested" and payout.approvals_count == 2
        assert [a.treasurer.name for a in payout.approvals] == ["Tomas", "Tess"]
    assert len(treasury.sandbox.sandbox.expenses()) == 1


def test_an_approval_needs_a_fresh_code_from_the_treasurers_own_app(treasury: Treasury) -> None:
    tomas = _logged_in(treasury.app, treasury.emails["tomas"])
    seed = treasury.payout_ids["Seed library"]
    status, page = _approve(tomas, seed, "")
    assert status == 400 and "Enter the 6-digit code" in page
    status, page = _approve(
        tomas, seed, "123456" if totp_code(treasury.totp_secrets["tomas"]) != "123456" else "654321"
    )
    assert status == 422 and "That code does not match" in page
    status, page = _approve(tomas, seed, totp_code(treasury.totp_secrets["tess"]))  # somebody else's app
    assert status == 422
    with treasury.app.app_context():
        assert treasury.payout("Seed library").status == "awaiting_approval"
        assert db.session.scalar(db.select(db.func.count()).select_from(PayoutApproval)) == 0
    assert treasury.sandbox.sandbox.expenses() == []


def test_a_code_is_accepted_once(treasury: Treasury) -> None:
    tomas = _logged_in(treasury.app, treasury.emails["tomas"])
    code = totp_code(treasury.totp_secrets["tomas"])
    assert _approve(tomas, treasury.payout_ids["Bike repair"], code)[0] == 302
    # The same code for the next payout, within its 30 seconds: refused, and nothing happens.
    status, page = _approve(tomas, treasury.payout_ids["Seed library"], code)
    assert status == 409 and "already used" in page
    # So is the code of an earlier step, once a later one was used.
    status, _ = _approve(
        tomas, treasury.payout_ids["Seed library"], totp_code(treasury.totp_secrets["tomas"], offset_steps=-1)
    )
    assert status == 409
    with treasury.app.app_context():
        assert treasury.payout("Seed library").status == "awaiting_approval"
    assert (
        _approve(tomas, treasury.payout_ids["Seed library"], totp_code(treasury.totp_secrets["tomas"], offset_steps=1))[
            0
        ]
        == 302
    )


def test_guessing_codes_is_limited_even_though_each_refusal_rolls_back(treasury: Treasury) -> None:
    tomas = _logged_in(treasury.app, treasury.emails["tomas"])
    seed = treasury.payout_ids["Seed library"]
    right = totp_code(treasury.totp_secrets["tomas"])
    wrong = [f"{n:06d}" for n in range(10) if f"{n:06d}" != right]
    statuses = [_approve(tomas, seed, code)[0] for code in wrong[:5]]
    assert statuses == [422] * 5
    status, page = _approve(tomas, seed, right)
    assert status == 429 and "Too many failed attempts" in page
    with treasury.app.app_context():
        assert treasury.payout("Seed library").status == "awaiting_approval"


def test_a_treasurer_without_an_authenticator_is_sent_to_set_one_up(treasury_factory: object) -> None:
    treasury: Treasury = treasury_factory()  # type: ignore[operator]
    with treasury.app.app_context():
        from fundcircle.auth.models import User

        tomas = db.session.scalars(db.select(User).where(User.email == treasury.emails["tomas"])).one()
        tomas.totp_confirmed_at = None
        db.session.commit()
    client = _logged_in(treasury.app, treasury.emails["tomas"])
    page = client.get(f"/payouts/{treasury.payout_ids['Seed library']}").get_data(as_text=True)
    assert "Set one up on your profile" in page and 'name="totp"' not in page
    status, page = _approve(client, treasury.payout_ids["Seed library"], totp_code(treasury.totp_secrets["tomas"]))
    assert status == 422 and "Set up an authenticator app" in page


def test_cancelling_needs_a_reason_and_the_round_closes_when_every_payout_is_settled(treasury: Treasury) -> None:
    tomas = _logged_in(treasury.app, treasury.emails["tomas"])
    admin = _logged_in(treasury.app, treasury.emails["admin"])
    bike, seed = treasury.payout_ids["Bike repair"], treasury.payout_ids["Seed library"]
    response = admin.post_form(f"/rounds/{treasury.round_id}/advance", {"to": "closed"}, follow_redirects=True)
    assert "2 payout(s) of this round are not yet paid" in response.get_data(as_text=True)

    response = tomas.post_form(f"/payouts/{bike}/cancel", {"reason": ""})
    assert response.status_code == 400
    assert tomas.post_form(f"/payouts/{bike}/cancel", {"reason": "The repair café closed."}).status_code == 302
    assert _approve(tomas, seed, totp_code(treasury.totp_secrets["tomas"]))[0] == 302
    response = tomas.post_form(f"/payouts/{seed}/cancel", {"reason": "Too late"})
    assert response.status_code == 409 and "on Open Collective instead" in response.get_data(as_text=True)
    with treasury.app.app_context():
        assert db.session.get(Round, treasury.round_id).phase == "decided"
    (expense,) = treasury.sandbox.sandbox.expenses()
    treasury.sandbox.sandbox.process_as_host(expense.public_id, "APPROVE")
    treasury.sandbox.sandbox.process_as_host(expense.public_id, "PAY")
    tomas.post_form(f"/circles/{treasury.circle_id}/treasury/sync", {})
    with treasury.app.app_context():
        assert treasury.payout("Seed library").status == "paid"
        assert treasury.payout("Bike repair").cancel_reason == "The repair café closed."
        assert db.session.get(Round, treasury.round_id).phase == "closed"
        assert ledger_actions(treasury.circle_id, "round.phase_changed")[-1:] == ["round.phase_changed"]


def test_people_without_the_treasurer_role_see_no_treasury(treasury: Treasury) -> None:
    for name in ("admin", "bea", "eli"):
        client = _logged_in(treasury.app, treasury.emails[name])
        assert client.get(f"/circles/{treasury.circle_id}/treasury").status_code == 403
        assert client.get(f"/payouts/{treasury.payout_ids['Seed library']}").status_code == 403
        code = totp_code(treasury.totp_secrets["tomas"])
        assert (
            client.post_form(f"/payouts/{treasury.payout_ids['Seed library']}/approve", {"totp": code}).status_code
            == 403
        )
    with treasury.app.app_context():
        assert treasury.payout("Seed library").status == "awaiting_approval"


def test_the_treasury_page_shows_the_connection_and_says_it_is_a_sandbox(treasury: Treasury) -> None:
    page = _logged_in(treasury.app, treasury.emails["tomas"]).get(f"/circles/{treasury.circle_id}/treasury")
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Sandbox." in text and "no money moves" in text
    assert "Test collective" in text and "5,000.00 EUR" in text
    assert "Awaiting approval: <strong>400.00 EUR</strong>" in text
    assert SANDBOX_PAYEE in text and "Tess Treasurer" in text
    assert "/hooks/opencollective/" in text


def test_the_final_approval_beyond_the_collectives_balance_shows_the_money_and_needs_a_confirmation(
    app: Flask, make_sandbox: Any
) -> None:
    treasury = build_treasury(app, make_sandbox(balance_minor=30_000))
    client = _logged_in(treasury.app, treasury.emails["tomas"])
    bike, seed = treasury.payout_ids["Bike repair"], treasury.payout_ids["Seed library"]
    with treasury.app.app_context():
        refresh_balance(treasury.circle_id)  # what `payouts sync` does: Open Collective's balance, kept
    page = client.get(f"/payouts/{bike}").get_data(as_text=True)
    assert "Balance on Open Collective: <strong>300.00 EUR" in page and 'id="beyond-balance"' not in page
    assert _approve(client, bike, totp_code(treasury.totp_secrets["tomas"]))[0] == 302  # 150.00 of 300.00

    page = client.get(f"/payouts/{seed}").get_data(as_text=True)
    assert "Already committed by approved payouts not yet paid: <strong>150.00 EUR" in page
    assert "Left after them: <strong>150.00 EUR" in page
    assert 'id="beyond-balance"' in page and "100.00 EUR more than the collective has" in page
    code = totp_code(treasury.totp_secrets["tomas"], offset_steps=1)
    status, text = _approve(client, seed, code)
    assert status == 422 and "Confirm to approve it anyway" in text
    with treasury.app.app_context():
        assert treasury.payout("Seed library").status == "awaiting_approval"
        assert ledger_actions(treasury.circle_id).count("payout.approval_given") == 1
    # The code was not used by the refusal: the same one, with the confirmation, approves.
    response = client.post_form(f"/payouts/{seed}/approve", {"totp": code, "confirm_beyond_balance": "y"})
    assert response.status_code == 302
    with treasury.app.app_context():
        assert treasury.payout("Seed library").status in ("approved", "requested")
        entry = db.session.scalars(
            db.select(LedgerEntry).where(LedgerEntry.action == "payout.approval_given").order_by(LedgerEntry.seq.desc())
        ).first()
        assert entry is not None and entry.data["confirmed_beyond_balance"] is True
    treasury_page = client.get(f"/circles/{treasury.circle_id}/treasury").get_data(as_text=True)
    assert "left of the balance after them" in treasury_page and "-100.00 EUR" in treasury_page
    assert "more\n        than the collective has" in treasury_page
