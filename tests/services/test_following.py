"""Following expenses on Open Collective: `flask payouts sync` and the webhook, which only ever re-fetches. A payout
follows its expense's status whichever way Open Collective moves it (a rejected expense approved again, a paid one
marked unpaid), each move in the ledger; a delivery that repeats, comes late, lies or names another circle's expense
changes nothing."""

# ruff: noqa: F811
from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from werkzeug.serving import make_server

from fundcircle.auth.models import User
from fundcircle.db import utcnow
from fundcircle.extensions import db
from fundcircle.ledger.models import LedgerEntry
from fundcircle.ledger.reading import verify_ledger
from fundcircle.payouts.models import OpenCollectiveConnection
from fundcircle.payouts.requesting import submit_due_payouts, sync_open_payouts
from fundcircle.payouts.services import approve_payout, get_payout
from fundcircle.rounds.models import Round
from tests.conftest import Client
from tests.factories import totp_code
from tests.smtp import Inbox, body_of, running_smtp
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


def _deliver(
    treasury: Treasury, event: str, expense_id: str, *, secret: str | None = None, app: Flask | None = None, **data: Any
) -> Any:
    """A delivery in Open Collective's shape (server/lib/webhooks.ts): the expense's `idV2` and its integer `id`."""
    client: Client = (app or treasury.app).test_client()  # type: ignore[assignment]
    body = {
        "createdAt": "2026-11-25T10:00:00.000Z",
        "id": 12345,
        "type": f"collective.expense.{event}",
        "CollectiveId": 1,
        "data": {
            "expense": {"idV2": expense_id, "id": 4321, "description": "x", "amount": 1, "currency": "EUR",
                        "publicId": expense_id, **data},
            "fromCollective": None,
            "collective": None,
        },
    }  # fmt: skip
    return client.post(f"/hooks/opencollective/{secret or _webhook_secret(treasury)}", json=body)


@pytest.fixture
def smtp() -> Iterator[tuple[int, Inbox]]:
    with running_smtp() as server:
        yield server


@pytest.fixture
def worker(make_app: Any, smtp: tuple[int, Inbox]) -> Flask:
    """The app with mail going to the test's SMTP server."""
    app: Flask = make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=smtp[0], BASE_URL="https://fund.example.org")
    return app


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


def test_an_expense_moving_back_on_open_collective_moves_the_payout_back(treasury: Treasury) -> None:
    ids = _requested(treasury)
    seed = ids["Seed library"]
    sandbox = treasury.sandbox.sandbox
    sandbox.process_as_host(seed, "APPROVE")
    _sync(treasury.app)
    sandbox.process_as_host(seed, "UNAPPROVE")
    _sync(treasury.app)
    with treasury.app.app_context():
        payout = treasury.payout("Seed library")
        assert (payout.status, payout.expense_status) == ("requested", "PENDING")
        moves = [(e.data["from"], e.data["to"]) for e in _entries(treasury, "payout.expense_updated")]
        assert moves == [("requested", "approved_on_oc"), ("approved_on_oc", "requested")]


def _entries(treasury: Treasury, action: str) -> list[LedgerEntry]:
    return list(
        db.session.scalars(
            db.select(LedgerEntry)
            .where(LedgerEntry.action == action, LedgerEntry.subject_id.is_not(None))
            .order_by(LedgerEntry.seq)
        )
    )


def _pay_both(treasury: Treasury, ids: dict[str, str]) -> None:
    sandbox = treasury.sandbox.sandbox
    sandbox.complete_invitation(ids["Bike repair"])
    for expense_id in ids.values():
        sandbox.process_as_host(expense_id, "APPROVE")
        sandbox.process_as_host(expense_id, "PAY")
    assert "2 payout(s) changed" in _sync(treasury.app).output


def test_a_paid_expense_marked_unpaid_reverses_the_payout_reopens_the_round_and_tells_the_treasurers(
    treasury: Treasury, worker: Flask, smtp: tuple[int, Inbox]
) -> None:
    ids = _requested(treasury)
    _pay_both(treasury, ids)
    with treasury.app.app_context():
        assert db.session.get(Round, treasury.round_id).phase == "closed"
    seed = ids["Seed library"]
    treasury.sandbox.sandbox.process_as_host(seed, "MARK_AS_UNPAID")
    # The webhook names it: settled payouts are followed whenever a delivery names them.
    response = _deliver(treasury, "unpaid", seed, app=worker)
    assert response.get_json() == {"result": "changed", "status": "approved_on_oc"}
    with worker.app_context():
        payout = treasury.payout("Seed library")
        assert (payout.status, payout.expense_status) == ("approved_on_oc", "APPROVED")
        (reversal,) = [e for e in _entries(treasury, "payout.expense_updated") if e.data.get("reversed")]
        assert (reversal.data["from"], reversal.data["to"], reversal.data["via"]) == (
            "paid",
            "approved_on_oc",
            "webhook",
        )
        round_ = db.session.get(Round, treasury.round_id)
        assert round_ is not None and round_.phase == "decided"
        (reopened,) = [e for e in _entries(treasury, "round.phase_changed") if e.data.get("from") == "closed"]
        assert reopened.data["from"] == "closed" and reopened.data["payout"] == payout.id
        assert all(report.result.ok for report in verify_ledger())
    inbox = smtp[1]
    for name in ("tomas", "tess", "author"):
        (message,) = [m for m in inbox.to(treasury.emails[name]) if "moved back on Open Collective" in m["Subject"]]
        assert "paid → approved on open collective" in message["Subject"].lower()
        assert f"/payouts/{payout.id}" in body_of(message)
    # Paid again on Open Collective: the payout follows, and the round closes again.
    treasury.sandbox.sandbox.process_as_host(seed, "PAY")
    assert "1 payout(s) changed" in _sync(treasury.app).output
    with treasury.app.app_context():
        assert treasury.payout("Seed library").status == "paid"
        assert db.session.get(Round, treasury.round_id).phase == "closed"


def test_a_rejected_expense_approved_again_is_followed_by_sync(treasury: Treasury) -> None:
    ids = _requested(treasury)
    seed = ids["Seed library"]
    sandbox = treasury.sandbox.sandbox
    sandbox.process_as_host(seed, "REJECT")
    _sync(treasury.app)
    assert _status(treasury, "Seed library") == "rejected"
    sandbox.process_as_host(seed, "APPROVE")
    assert "1 payout(s) changed" in _sync(treasury.app).output
    assert _status(treasury, "Seed library") == "approved_on_oc"


def test_settled_payouts_are_followed_by_sync_only_for_the_configured_period(treasury: Treasury, make_app: Any) -> None:
    ids = _requested(treasury)
    _pay_both(treasury, ids)
    treasury.sandbox.sandbox.process_as_host(ids["Seed library"], "MARK_AS_UNPAID")
    later = make_app(PAYOUT_FOLLOW_SETTLED_DAYS=0)
    with later.app_context():
        changed, problems = sync_open_payouts(utcnow() + timedelta(seconds=1))
        assert (changed, problems) == (0, [])
        assert treasury.payout("Seed library").status == "paid"
    assert "1 payout(s) changed" in _sync(treasury.app).output  # within 30 days, the default
    assert _status(treasury, "Seed library") == "approved_on_oc"


def test_an_event_with_empty_data_is_ignored_and_changes_nothing(treasury: Treasury) -> None:
    _requested(treasury)
    client: Client = treasury.app.test_client()  # type: ignore[assignment]
    with treasury.app.app_context():
        before = ledger_actions(treasury.circle_id)
    body = {"createdAt": "2026-11-25T10:00:00.000Z", "id": 77, "type": "collective.expense.invite.drafted",
            "CollectiveId": 1, "data": {}}  # fmt: skip
    response = client.post(f"/hooks/opencollective/{_webhook_secret(treasury)}", json=body)
    assert response.status_code == 202
    assert response.get_json() == {"result": "ignored", "reason": "the event names no expense"}
    with treasury.app.app_context():
        assert ledger_actions(treasury.circle_id) == before


def test_the_sandboxs_own_webhook_deliveries_move_the_payout(app: Flask, make_sandbox: Any) -> None:
    """Open Collective's payload as the sandbox sends it, over HTTP, to the app served on loopback."""
    running = make_sandbox()
    treasury = build_treasury(app, running)
    ids = _requested(treasury)
    secret = _webhook_secret(treasury)
    server = make_server("127.0.0.1", 0, app, threaded=False)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        running.sandbox.add_webhook(
            "riverside-fund", f"http://127.0.0.1:{server.server_port}/hooks/opencollective/{secret}"
        )
        running.sandbox.process_as_host(ids["Seed library"], "APPROVE")
        running.sandbox.wait_for_webhooks()
    finally:
        server.shutdown()
        server.server_close()
    (delivery,) = running.sandbox.webhook_deliveries
    assert delivery["type"] == "collective.expense.approved" and delivery["status"] == 200
    assert _status(treasury, "Seed library") == "approved_on_oc"


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


def test_a_paid_expense_unpaid_and_deleted_before_any_sync_reverses_the_payout_instead_of_staying_paid(
    treasury: Treasury, worker: Flask, smtp: tuple[int, Inbox]
) -> None:
    """Open Collective deletes no paid expense, so one that was paid and is now gone was marked unpaid first: the
    money went back to the collective. Found by the payout state machine: the payout stayed "paid"."""
    ids = _requested(treasury)
    _pay_both(treasury, ids)
    seed = ids["Seed library"]
    sandbox = treasury.sandbox.sandbox
    for action in ("MARK_AS_UNPAID", "UNAPPROVE", "REJECT"):  # only a rejected expense can be deleted there
        sandbox.process_as_host(seed, action)
    sandbox.delete_expense(seed)  # no webhook and no sync saw the steps between
    with worker.app_context():
        assert "1 payout(s) changed" in _sync(worker).output
        payout = treasury.payout("Seed library")
        assert (payout.status, payout.expense_id) == ("failed", None)
        assert "marked unpaid, then deleted" in (payout.failure_message or "")
        (gone,) = _entries(treasury, "payout.expense_missing")
        assert gone.data["reversed"] is True and gone.data["expense_id"] == seed
        round_ = db.session.get(Round, treasury.round_id)
        assert round_ is not None and round_.phase == "decided"  # it had closed when everything was paid
        assert all(report.result.ok for report in verify_ledger())
    for name in ("tomas", "tess", "author"):
        (message,) = [m for m in smtp[1].to(treasury.emails[name]) if "undone on Open Collective" in m["Subject"]]
        assert "the payee has not been paid" in body_of(message)


def test_sync_says_what_it_could_not_reach_and_changes_nothing(treasury: Treasury) -> None:
    _requested(treasury)
    treasury.sandbox.stop()
    result = _sync(treasury.app)
    assert result.exit_code == 1
    assert "could not be reached" in result.output
    assert _status(treasury, "Seed library") == "requested"
