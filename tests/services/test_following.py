"""Following expenses on Open Collective: `flask payouts sync` and the webhook, which only ever re-fetches. Payouts
move forward only; a delivery that repeats, comes late, lies or names another circle's expense changes nothing."""

# ruff: noqa: F811
from __future__ import annotations

from typing import Any

from flask import Flask

from fundcircle.auth.models import User
from fundcircle.db import utcnow
from fundcircle.extensions import db
from fundcircle.ledger.reading import verify_ledger
from fundcircle.payouts.models import OpenCollectiveConnection
from fundcircle.payouts.requesting import submit_due_payouts
from fundcircle.payouts.services import approve_payout, get_payout
from fundcircle.rounds.models import Round
from tests.conftest import Client
from tests.factories import totp_code
from tests.worlds.treasury import Treasury, build_treasury, ledger_actions


def _requested(treasury: Treasury) -> dict[str, str]:
    """Both payouts approved and requested; returns their expense ids by title."""
    with treasury.app.app_context():
        tomas = db.session.scalars(db.select(User).where(User.email == treasury.emails["tomas"])).one()
        for offset, title in enumerate(("Seed library", "Bike repair")):
            approve_payout(tomas, get_payout(treasury.payout_ids[title]), totp_code(
                treasury.totp_secrets["tomas"], offset_steps=offset), utcnow())  # fmt: skip
            db.session.commit()
        submit_due_payouts()
        ids = {title: treasury.payout(title).expense_id for title in ("Seed library", "Bike repair")}
        db.session.remove()
    assert all(ids.values())
    return ids  # type: ignore[return-value]


def _sync(app: Flask) -> Any:
    return app.test_cli_runner().invoke(args=["payouts", "sync"])


def _status(treasury: Treasury, title: str) -> str:
    with treasury.app.app_context():
        return treasury.payout(title).status


def _webhook_secret(treasury: Treasury) -> str:
    with treasury.app.app_context():
        connection = db.session.get(OpenCollectiveConnection, treasury.circle_id)
        assert connection is not None
        return connection.webhook_secret


def _deliver(treasury: Treasury, event: str, expense_id: str, *, secret: str | None = None, **data: Any) -> Any:
    client: Client = treasury.app.test_client()  # type: ignore[assignment]
    body = {
        "createdAt": "2026-11-25T10:00:00.000Z",
        "id": 12345,
        "type": f"collective.expense.{event}",
        "CollectiveId": 1,
        "data": {"expense": {"id": expense_id, **data}},
    }
    return client.post(f"/hooks/opencollective/{secret or _webhook_secret(treasury)}", json=body)


def test_sync_follows_each_expense_to_paid_with_a_ledger_entry_per_change(treasury: Treasury) -> None:
    ids = _requested(treasury)
    sandbox = treasury.sandbox.sandbox
    assert (_status(treasury, "Seed library"), _status(treasury, "Bike repair")) == ("requested", "invited")
    result = _sync(treasury.app)
    assert result.exit_code == 0 and "0 payout(s) changed" in result.output

    sandbox.complete_invitation(ids["Bike repair"])
    for expense_id in ids.values():
        sandbox.process_as_host(expense_id, "APPROVE")
    result = _sync(treasury.app)
    assert result.exit_code == 0 and "2 payout(s) changed" in result.output
    assert _status(treasury, "Seed library") == _status(treasury, "Bike repair") == "approved_on_oc"
    for expense_id in ids.values():
        sandbox.process_as_host(expense_id, "PAY")
    assert "2 payout(s) changed" in _sync(treasury.app).output
    assert "0 payout(s) changed" in _sync(treasury.app).output  # nothing new: no entries
    with treasury.app.app_context():
        assert _status(treasury, "Seed library") == "paid"
        assert ledger_actions(treasury.circle_id, "payout.expense_updated") == ["payout.expense_updated"] * 4
        assert db.session.get(Round, treasury.round_id).phase == "closed"
        connection = db.session.get(OpenCollectiveConnection, treasury.circle_id)
        assert connection is not None and connection.balance_minor == 500_000 - 40_000
        assert all(report.result.ok for report in verify_ledger())
    member: Client = treasury.app.test_client()  # type: ignore[assignment]
    member.login(treasury.emails["bea"])
    results = member.get(f"/rounds/{treasury.round_id}/results").get_data(as_text=True)
    assert results.count("Payout: paid") == 2  # the circle sees its decision carried out


def test_a_webhook_delivery_makes_the_payout_follow_open_collective_not_the_body(treasury: Treasury) -> None:
    ids = _requested(treasury)
    seed = ids["Seed library"]
    # The body claims the expense is paid; Open Collective says it is pending: nothing moves.
    response = _deliver(treasury, "paid", seed, status="PAID")
    assert response.status_code == 200 and response.get_json() == {"result": "unchanged", "status": "requested"}
    treasury.sandbox.sandbox.process_as_host(seed, "APPROVE")
    response = _deliver(treasury, "approved", seed)
    assert response.get_json() == {"result": "changed", "status": "approved_on_oc"}
    assert _deliver(treasury, "approved", seed).get_json()["result"] == "unchanged"  # delivered twice
    treasury.sandbox.sandbox.process_as_host(seed, "PAY")
    assert _deliver(treasury, "paid", seed).get_json() == {"result": "changed", "status": "paid"}
    # A late "approved" delivery after the payment, and Open Collective un-paying nothing: the payout stays paid.
    assert _deliver(treasury, "approved", seed).get_json() == {"result": "unchanged", "status": "paid"}
    with treasury.app.app_context():
        assert ledger_actions(treasury.circle_id, "payout.expense_updated") == ["payout.expense_updated"] * 2


def test_an_expense_moving_back_on_open_collective_does_not_move_the_payout_back(treasury: Treasury) -> None:
    ids = _requested(treasury)
    seed = ids["Seed library"]
    sandbox = treasury.sandbox.sandbox
    sandbox.process_as_host(seed, "APPROVE")
    _sync(treasury.app)
    sandbox.process_as_host(seed, "UNAPPROVE")
    _sync(treasury.app)
    with treasury.app.app_context():
        payout = treasury.payout("Seed library")
        # Ours only moves forward; Open Collective's own status is kept beside it, so the page tells both.
        assert (payout.status, payout.expense_status) == ("approved_on_oc", "PENDING")


def test_a_delivery_for_another_circles_or_an_unknown_expense_changes_nothing(app: Flask, make_sandbox: Any) -> None:
    first = build_treasury(app, make_sandbox(), name="First circle", slug="first-circle")
    second = build_treasury(
        app, make_sandbox(), name="Second circle", slug="second-circle", domain="second.example.org"
    )
    _requested(first)
    other_ids = _requested(second)
    second.sandbox.sandbox.process_as_host(other_ids["Seed library"], "APPROVE")
    with app.app_context():
        before = ledger_actions(first.circle_id), ledger_actions(second.circle_id)
    # The second circle's expense, delivered to the first circle's webhook.
    response = _deliver(first, "approved", other_ids["Seed library"])
    assert response.status_code == 202 and response.get_json()["result"] == "ignored"
    assert _deliver(first, "approved", "ex_unknown").status_code == 202
    assert _deliver(first, "approved", other_ids["Seed library"], secret="not-the-secret").status_code == 404
    not_an_expense = _deliver(first, "approved", "x")
    assert not_an_expense.status_code == 202
    client: Client = app.test_client()  # type: ignore[assignment]
    garbage = client.post(f"/hooks/opencollective/{_webhook_secret(first)}", data="not json")
    assert garbage.status_code == 202
    with app.app_context():
        assert (ledger_actions(first.circle_id), ledger_actions(second.circle_id)) == before
        assert second.payout("Seed library").status == "requested"


def test_an_expense_deleted_on_open_collective_fails_the_payout_for_a_treasurer(treasury: Treasury) -> None:
    ids = _requested(treasury)
    sandbox = treasury.sandbox.sandbox
    sandbox.delete_expense(ids["Bike repair"])  # the collective's admin deletes the draft on Open Collective
    _sync(treasury.app)
    with treasury.app.app_context():
        payout = treasury.payout("Bike repair")
        assert payout.status == "failed" and "deleted on Open Collective" in (payout.failure_message or "")
        assert payout.expense_id is None
        assert ledger_actions(treasury.circle_id)[-1] == "payout.expense_missing"


def test_sync_says_what_it_could_not_reach_and_changes_nothing(treasury: Treasury) -> None:
    _requested(treasury)
    treasury.sandbox.stop()
    result = _sync(treasury.app)
    assert result.exit_code == 1
    assert "could not be reached" in result.output
    assert _status(treasury, "Seed library") == "requested"
