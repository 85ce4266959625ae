"""Requesting a payout exactly once, whatever goes wrong on the way: every failure mode of the sandbox ends with at
most one expense on Open Collective and a payout that says the truth, and the ledger says what happened."""

# ruff: noqa: F811
from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from fundcircle.auth.models import User
from fundcircle.db import utcnow
from fundcircle.extensions import db
from fundcircle.ledger.models import LedgerEntry
from fundcircle.payouts.models import OpenCollectiveConnection
from fundcircle.payouts.requesting import refresh_balance, submit_due_payouts
from fundcircle.payouts.services import approve_payout, get_payout, retry_payout
from tests.conftest import TEST_SECRET_KEY, Client
from tests.factories import connect_circle, totp_code
from tests.smtp import Inbox, running_smtp
from tests.worlds.sandbox import SANDBOX_COLLECTIVE, SANDBOX_PAYEE, SANDBOX_TOKEN
from tests.worlds.treasury import Treasury, build_treasury, ledger_actions

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def _approve(treasury: Treasury, title: str) -> int:
    """Tomas approves the payout (one approval is enough here), without requesting it in the same step."""
    with treasury.app.app_context():
        tomas = db.session.scalars(db.select(User).where(User.email == treasury.emails["tomas"])).one()
        payout = get_payout(treasury.payout_ids[title])
        code = totp_code(treasury.totp_secrets["tomas"], offset_steps=1 if title == "Bike repair" else 0)
        approve_payout(tomas, payout, code, utcnow())
        db.session.commit()
        assert payout.status == "approved"
        return payout.id


def _submit(app: Flask, now: Any = None) -> None:
    with app.app_context():
        submit_due_payouts(now)
        db.session.remove()


def _state(treasury: Treasury, title: str) -> dict[str, Any]:
    with treasury.app.app_context():
        payout = treasury.payout(title)
        return {
            "status": payout.status,
            "expense_id": payout.expense_id,
            "outcome_unknown": payout.outcome_unknown,
            "failure_message": payout.failure_message,
            "attempts": payout.attempts,
        }


def _expenses(treasury: Treasury) -> list[Any]:
    return treasury.sandbox.sandbox.expenses(SANDBOX_COLLECTIVE)


@pytest.fixture
def quick(make_app: Any) -> Flask:
    """The app as a worker runs it, with a short read timeout (the sandbox's delays are longer) and no backoff after
    an unknown outcome beyond the claim's lease."""
    return make_app(
        OPENCOLLECTIVE_READ_TIMEOUT=1.0, OPENCOLLECTIVE_CONNECT_TIMEOUT=1.0, PAYOUT_UNKNOWN_BACKOFF_SECONDS=0
    )


@pytest.fixture
def after_lease(make_app: Any) -> Flask:
    """The app as a worker runs it once a dead worker's claim has expired."""
    return make_app(
        OPENCOLLECTIVE_READ_TIMEOUT=1.0,
        OPENCOLLECTIVE_CONNECT_TIMEOUT=1.0,
        PAYOUT_CLAIM_LEASE_SECONDS=0,
        PAYOUT_UNKNOWN_BACKOFF_SECONDS=0,
    )


@pytest.mark.parametrize("mode", ["timeout", "drop_after_create", "error_500_after"])
def test_an_answer_lost_after_creating_never_makes_a_second_expense(
    treasury: Treasury, quick: Flask, after_lease: Flask, mode: str
) -> None:
    _approve(treasury, "Seed library")
    treasury.sandbox.sandbox.fail_next(mode, operation="createExpense", delay=2.5)
    _submit(quick)
    assert len(_expenses(treasury)) == 1  # Open Collective made it; we did not hear so
    state = _state(treasury, "Seed library")
    assert state["status"] == "requesting" and state["outcome_unknown"] and state["expense_id"] is None

    _submit(quick)  # another run straight away leaves the claim alone: the expense may still be in the making
    assert _state(treasury, "Seed library")["attempts"] == 1

    _submit(after_lease)
    (expense,) = _expenses(treasury)
    state = _state(treasury, "Seed library")
    assert state["status"] == "requested" and state["expense_id"] == expense.public_id
    assert not state["outcome_unknown"] and state["attempts"] == 2
    assert treasury.sandbox.sandbox.calls["createExpense"] == 1
    with treasury.app.app_context():
        assert ledger_actions(treasury.circle_id)[-4:] == [
            "payout.request_started", "payout.request_outcome_unknown", "payout.request_started",
            "payout.expense_found",
        ]  # fmt: skip


def test_a_server_error_before_creating_is_followed_by_a_look_up_and_one_creation(
    treasury: Treasury, quick: Flask, after_lease: Flask
) -> None:
    _approve(treasury, "Seed library")
    treasury.sandbox.sandbox.fail_next("error_500", operation="createExpense")
    _submit(quick)
    assert _expenses(treasury) == []
    assert _state(treasury, "Seed library")["outcome_unknown"]  # a 500 cannot tell whether it was done
    _submit(after_lease)
    (expense,) = _expenses(treasury)
    assert _state(treasury, "Seed library")["expense_id"] == expense.public_id
    assert treasury.sandbox.sandbox.calls["expenses"] == 2  # looked up before each creation


def test_the_rate_limit_puts_the_request_off_until_open_collective_says(treasury: Treasury, quick: Flask) -> None:
    _approve(treasury, "Seed library")
    treasury.sandbox.sandbox.fail_next("rate_limit", operation="createExpense", delay=120)
    _submit(quick)
    state = _state(treasury, "Seed library")
    assert state["status"] == "approved" and not state["outcome_unknown"] and _expenses(treasury) == []
    with treasury.app.app_context():
        payout = treasury.payout("Seed library")
        assert payout.retry_at is not None and payout.retry_at - utcnow() > timedelta(seconds=100)
    _submit(quick)
    assert _state(treasury, "Seed library")["attempts"] == 1  # not due before Retry-After
    _submit(quick, now=utcnow() + timedelta(seconds=121))
    assert len(_expenses(treasury)) == 1 and _state(treasury, "Seed library")["status"] == "requested"


def test_a_look_up_that_fails_sends_nothing(treasury: Treasury, quick: Flask) -> None:
    _approve(treasury, "Seed library")
    treasury.sandbox.sandbox.fail_next("error_500", operation="expenses", count=3)  # every retry of the read
    _submit(quick)
    state = _state(treasury, "Seed library")
    assert state["status"] == "approved" and _expenses(treasury) == []
    assert treasury.sandbox.sandbox.calls["createExpense"] == 0
    _submit(quick)
    assert _state(treasury, "Seed library")["status"] == "requested" and len(_expenses(treasury)) == 1


def test_open_collectives_refusal_fails_the_payout_with_its_message_until_a_treasurer_acts(
    app: Flask, make_sandbox: Any, quick: Flask
) -> None:
    # The payee's account is not on this Open Collective. (The payout row is not edited to get there: a row that
    # disagrees with the ledger is held before Open Collective is asked; tests/services/test_ledger_binds_state.py.)
    treasury = build_treasury(app, make_sandbox(payee_accounts=[]))
    _approve(treasury, "Seed library")
    _submit(quick)
    state = _state(treasury, "Seed library")
    assert state["status"] == "failed" and _expenses(treasury) == []
    assert state["failure_message"].startswith("Open Collective has no account “riverside-grantee”, the proposal's")
    assert treasury.sandbox.sandbox.calls["createExpense"] == 0  # the payee was looked up first
    client: Client = treasury.app.test_client()  # type: ignore[assignment]
    client.login(treasury.emails["tomas"])
    page = client.get(f"/payouts/{treasury.payout_ids['Seed library']}").get_data(as_text=True)
    assert "The request failed." in page and "has no account “riverside-grantee”" in page
    _submit(quick)
    assert _state(treasury, "Seed library")["attempts"] == 1  # a failed payout waits for a treasurer
    response = client.post_form(f"/payouts/{treasury.payout_ids['Seed library']}/cancel", {"reason": "Wrong payee"})
    assert response.status_code == 302 and _state(treasury, "Seed library")["status"] == "cancelled"


def test_a_revoked_token_fails_the_payout_and_a_retry_after_reconnecting_requests_it(
    treasury: Treasury, quick: Flask
) -> None:
    with treasury.app.app_context():
        from fundcircle.circles.models import Circle

        circle = db.session.get(Circle, treasury.circle_id)
        tomas = db.session.scalars(db.select(User).where(User.email == treasury.emails["tomas"])).one()
        connect_circle(circle, tomas, api_url=treasury.sandbox.url, slug=SANDBOX_COLLECTIVE, token="revoked-token")
    _approve(treasury, "Seed library")
    _submit(quick)
    state = _state(treasury, "Seed library")
    assert state["status"] == "failed" and "refused the token" in state["failure_message"]
    with treasury.app.app_context():
        circle = db.session.get(Circle, treasury.circle_id)
        tomas = db.session.scalars(db.select(User).where(User.email == treasury.emails["tomas"])).one()
        connect_circle(circle, tomas, api_url=treasury.sandbox.url, slug=SANDBOX_COLLECTIVE, token=SANDBOX_TOKEN)
        retry_payout(tomas, get_payout(treasury.payout_ids["Seed library"]), utcnow())
        db.session.commit()
    _submit(quick)
    assert _state(treasury, "Seed library")["status"] == "requested" and len(_expenses(treasury)) == 1
    with treasury.app.app_context():
        entries = db.session.scalars(db.select(LedgerEntry).where(LedgerEntry.action.like("payout.%"))).all()
        assert all(SANDBOX_TOKEN not in str(entry.data) and "revoked-token" not in str(entry.data) for entry in entries)


# -- other processes ---------------------------------------------------------------------------------------------


def _worker(app: Flask, *args: str, **env: str) -> subprocess.Popen[str]:
    """`flask payouts submit` in a process of its own, on the test's database."""
    environment = {
        **os.environ,
        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "SECRET_KEY": TEST_SECRET_KEY,
        "FUNDCIRCLE_ENV": "development",
        "OPENCOLLECTIVE_READ_TIMEOUT": "60",
        **env,
    }
    return subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "fundcircle", "payouts", "submit", *args],
        cwd=PROJECT_ROOT,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for(condition: Any, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.05)


def test_a_worker_killed_between_the_call_and_the_commit_leaves_one_expense(
    treasury: Treasury, after_lease: Flask
) -> None:
    _approve(treasury, "Seed library")
    # Open Collective creates the expense, then takes its time answering; the worker dies while it waits.
    treasury.sandbox.sandbox.fail_next("timeout", operation="createExpense", delay=4)
    worker = _worker(treasury.app)
    try:
        _wait_for(lambda: len(_expenses(treasury)) == 1)
        worker.kill()
    finally:
        worker.communicate(timeout=30)
    state = _state(treasury, "Seed library")
    assert state["status"] == "requesting" and state["expense_id"] is None  # what the dead worker left

    _submit(after_lease)  # the next run, once the claim has expired
    (expense,) = _expenses(treasury)
    state = _state(treasury, "Seed library")
    assert state["status"] == "requested" and state["expense_id"] == expense.public_id
    assert treasury.sandbox.sandbox.calls["createExpense"] == 1
    with treasury.app.app_context():
        assert ledger_actions(treasury.circle_id)[-3:] == [
            "payout.request_started", "payout.request_started", "payout.expense_found",
        ]  # fmt: skip


def test_two_workers_at_once_request_a_payout_once(treasury: Treasury) -> None:
    _approve(treasury, "Seed library")
    _approve(treasury, "Bike repair")
    treasury.sandbox.sandbox.fail_next("timeout", operation="createExpense", delay=1.5, count=2)
    workers = [_worker(treasury.app), _worker(treasury.app)]
    outputs = [worker.communicate(timeout=90) for worker in workers]
    assert [worker.returncode for worker in workers] == [0, 0], outputs
    handled = sorted(out.strip().splitlines()[-1] for out, _ in outputs)
    assert sum(int(line.split()[0]) for line in handled) == 2, outputs  # each payout handled by exactly one worker
    assert len(_expenses(treasury)) == 2
    assert (
        treasury.sandbox.sandbox.calls["createExpense"] + treasury.sandbox.sandbox.calls["draftExpenseAndInviteUser"]
        == 2
    )
    assert _state(treasury, "Seed library")["status"] == "requested"
    assert _state(treasury, "Bike repair")["status"] == "invited"
    with treasury.app.app_context():
        assert ledger_actions(treasury.circle_id).count("payout.request_started") == 2


def test_a_rate_limit_after_an_unclear_outcome_is_respected_too(
    treasury: Treasury, quick: Flask, after_lease: Flask
) -> None:
    _approve(treasury, "Seed library")
    treasury.sandbox.sandbox.fail_next("error_500", operation="createExpense")
    _submit(quick)
    assert _state(treasury, "Seed library")["outcome_unknown"]
    treasury.sandbox.sandbox.fail_next("rate_limit", operation="createExpense", delay=120)
    _submit(after_lease)
    state = _state(treasury, "Seed library")
    assert state["status"] == "requesting" and state["outcome_unknown"] and state["attempts"] == 2
    _submit(after_lease)  # the claim is free, but Open Collective said to wait
    assert _state(treasury, "Seed library")["attempts"] == 2
    _submit(after_lease, now=utcnow() + timedelta(seconds=121))
    (expense,) = _expenses(treasury)
    assert _state(treasury, "Seed library")["expense_id"] == expense.public_id


# --- Open Collective as its server code behaves --------------------------------------------------------------------


@pytest.fixture
def smtp() -> Iterator[tuple[int, Inbox]]:
    with running_smtp() as server:
        yield server


@pytest.fixture
def mailing(make_app: Any, smtp: tuple[int, Inbox]) -> Flask:
    """A worker whose notices go to the test's SMTP server, with a short read timeout and no backoff."""
    app: Flask = make_app(
        MAIL_SERVER="127.0.0.1",
        MAIL_PORT=smtp[0],
        BASE_URL="https://fund.example.org",
        OPENCOLLECTIVE_READ_TIMEOUT=1.0,
        OPENCOLLECTIVE_CONNECT_TIMEOUT=1.0,
        PAYOUT_CLAIM_LEASE_SECONDS=0,
        PAYOUT_UNKNOWN_BACKOFF_SECONDS=0,
        PAYOUT_MAX_UNKNOWN_OUTCOMES=2,
    )
    return app


def _told(inbox: Inbox, treasury: Treasury, fragment: str) -> list[str]:
    """Which treasurers got a notice whose subject holds `fragment`."""
    return [name for name in ("tomas", "tess", "author")
            if any(fragment in subject for subject in inbox.subjects_to(treasury.emails[name]))]  # fmt: skip


def test_a_payee_the_token_does_not_administer_gets_an_invite_draft_by_slug(
    app: Flask, make_sandbox: Any, quick: Flask
) -> None:
    running = make_sandbox(payee_accounts=[])
    running.sandbox.add_account(SANDBOX_PAYEE, name="Riverside Grantee", token="grantee-token")
    treasury = build_treasury(app, running)
    _approve(treasury, "Seed library")
    _submit(quick)
    (expense,) = _expenses(treasury)
    assert (expense.status, expense.payee_slug, expense.invitee) == (
        "DRAFT",
        SANDBOX_PAYEE,
        {"name": None, "email": None, "isInvite": None},
    )
    assert treasury.sandbox.sandbox.calls["createExpense"] == 0
    state = _state(treasury, "Seed library")
    assert (state["status"], state["expense_id"]) == ("invited", expense.public_id)
    with treasury.app.app_context():
        entry = db.session.scalars(
            db.select(LedgerEntry).where(LedgerEntry.action == "payout.requested").order_by(LedgerEntry.seq.desc())
        ).first()
        assert entry is not None
        assert entry.data["method"] == "draftExpenseAndInviteUser" and entry.data["payee_administered"] is False
    # The payee's own admins complete it on Open Collective; the host approves and pays it.
    running.sandbox.complete_invitation(expense.public_id)
    running.sandbox.process_as_host(expense.public_id, "APPROVE")
    running.sandbox.process_as_host(expense.public_id, "PAY")
    assert "1 payout(s) changed" in quick.test_cli_runner().invoke(args=["payouts", "sync"]).output
    assert _state(treasury, "Seed library")["status"] == "paid"


def test_a_payee_the_token_administers_gets_create_expense(treasury: Treasury, quick: Flask) -> None:
    _approve(treasury, "Seed library")
    _submit(quick)
    (expense,) = _expenses(treasury)
    assert expense.status == "PENDING" and expense.payee_slug == SANDBOX_PAYEE
    assert treasury.sandbox.sandbox.calls["createExpense"] == 1
    assert treasury.sandbox.sandbox.calls["draftExpenseAndInviteUser"] == 0


def test_a_two_factor_token_without_advanced_privileges_fails_the_payout_with_guidance(
    app: Flask, make_sandbox: Any, mailing: Flask, smtp: tuple[int, Inbox]
) -> None:
    treasury = build_treasury(app, make_sandbox(two_factor=True))
    _approve(treasury, "Seed library")
    _submit(mailing)
    state = _state(treasury, "Seed library")
    assert state["status"] == "failed" and _expenses(treasury) == []
    assert "not pre-authorized for 2FA" in state["failure_message"]
    assert "“Advanced privileges”" in state["failure_message"]
    # Not retried forever as an unknown outcome: looked up before and after the refusal, then a treasurer decides.
    assert treasury.sandbox.sandbox.calls["expenses"] == 2 and treasury.sandbox.sandbox.calls["createExpense"] == 1
    _submit(mailing)
    assert treasury.sandbox.sandbox.calls["createExpense"] == 1
    assert _told(smtp[1], treasury, "needs a new Open Collective token") == ["tomas", "tess", "author"]
    with treasury.app.app_context():
        entry = db.session.scalars(
            db.select(LedgerEntry).where(LedgerEntry.action == "payout.request_failed").order_by(LedgerEntry.seq)
        ).one()
        assert entry.data["code"] == "2FA_NOT_PREAUTHORIZED" and entry.data["status"] == "failed"


def test_unknown_outcomes_are_retried_a_bounded_number_of_times_then_a_treasurer_is_told(
    treasury: Treasury, mailing: Flask, smtp: tuple[int, Inbox]
) -> None:
    _approve(treasury, "Seed library")
    treasury.sandbox.sandbox.fail_next("error_500", operation="createExpense", count=5)
    _submit(mailing)
    assert _state(treasury, "Seed library")["status"] == "requesting"
    _submit(mailing)
    state = _state(treasury, "Seed library")
    assert state["status"] == "failed" and state["outcome_unknown"] and state["attempts"] == 2
    assert "answer was lost 2 times" in state["failure_message"]
    _submit(mailing)  # no more attempts without a treasurer
    assert treasury.sandbox.sandbox.calls["createExpense"] == 2
    assert _told(smtp[1], treasury, "answers were lost") == ["tomas", "tess", "author"]


def test_the_backoff_after_an_unknown_outcome_doubles(treasury: Treasury, make_app: Any) -> None:
    worker = make_app(OPENCOLLECTIVE_READ_TIMEOUT=1.0, PAYOUT_CLAIM_LEASE_SECONDS=0, PAYOUT_UNKNOWN_BACKOFF_SECONDS=100)
    _approve(treasury, "Seed library")
    treasury.sandbox.sandbox.fail_next("error_500", operation="createExpense", count=2)
    start = utcnow()
    _submit(worker, now=start)
    _submit(worker, now=start + timedelta(seconds=50))  # within the first backoff: not due
    assert _state(treasury, "Seed library")["attempts"] == 1
    _submit(worker, now=start + timedelta(seconds=101))
    assert _state(treasury, "Seed library")["attempts"] == 2
    with treasury.app.app_context():
        retry_at = treasury.payout("Seed library").retry_at
        assert retry_at is not None and retry_at - (start + timedelta(seconds=101)) == timedelta(seconds=200)


def test_an_expense_marked_as_spam_is_found_by_the_look_up_and_not_requested_again(
    treasury: Treasury, quick: Flask, after_lease: Flask
) -> None:
    _approve(treasury, "Seed library")
    treasury.sandbox.sandbox.fail_next("error_500_after", operation="createExpense")
    _submit(quick)
    (expense,) = _expenses(treasury)
    treasury.sandbox.sandbox.process_as_host(expense.public_id, "REJECT")
    treasury.sandbox.sandbox.process_as_host(expense.public_id, "MARK_AS_SPAM")
    _submit(after_lease)
    assert len(_expenses(treasury)) == 1 and treasury.sandbox.sandbox.calls["createExpense"] == 1
    state = _state(treasury, "Seed library")
    assert (state["status"], state["expense_id"]) == ("rejected", expense.public_id)


def test_invite_drafts_are_spaced_within_a_run(app: Flask, make_sandbox: Any, make_app: Any) -> None:
    running = make_sandbox(payee_accounts=[], invite_interval_seconds=0.5)
    running.sandbox.add_account(SANDBOX_PAYEE, token="grantee-token")
    treasury = build_treasury(app, running)
    _approve(treasury, "Seed library")
    _approve(treasury, "Bike repair")
    spaced = make_app(OPENCOLLECTIVE_READ_TIMEOUT=2.0, OPENCOLLECTIVE_INVITE_INTERVAL_SECONDS=0.6)
    started = time.monotonic()
    _submit(spaced)
    elapsed = time.monotonic() - started
    assert sorted(e.status for e in _expenses(treasury)) == ["DRAFT", "DRAFT"]
    assert _state(treasury, "Seed library")["status"] == _state(treasury, "Bike repair")["status"] == "invited"
    assert elapsed >= 0.6


def test_without_spacing_the_second_invite_of_a_run_is_rate_limited(
    app: Flask, make_sandbox: Any, make_app: Any
) -> None:
    """What the spacing prevents: Open Collective refuses the second draft within its interval."""
    running = make_sandbox(payee_accounts=[], invite_interval_seconds=30)
    running.sandbox.add_account(SANDBOX_PAYEE, token="grantee-token")
    treasury = build_treasury(app, running)
    _approve(treasury, "Seed library")
    _approve(treasury, "Bike repair")
    _submit(make_app(OPENCOLLECTIVE_READ_TIMEOUT=2.0, OPENCOLLECTIVE_INVITE_INTERVAL_SECONDS=0))
    assert len(_expenses(treasury)) == 1
    assert sorted(_state(treasury, t)["status"] for t in ("Seed library", "Bike repair")) == ["approved", "invited"]


def test_a_yen_payout_is_requested_in_open_collectives_hundredths(app: Flask, make_sandbox: Any, quick: Flask) -> None:
    """JPY has no minor unit (CLDR), but Open Collective counts every amount in hundredths: 25,000 JPY is
    valueInCents 2500000 there (server/lib/currency.ts)."""
    treasury = build_treasury(app, make_sandbox(currency="JPY", balance_minor=10_000_000), currency="JPY")
    with treasury.app.app_context():
        refresh_balance(treasury.circle_id)  # 10,000,000 hundredths: 100,000 JPY
        connection = db.session.get(OpenCollectiveConnection, treasury.circle_id)
        assert connection is not None and (connection.balance_minor, connection.balance_currency) == (100_000, "JPY")
    _approve(treasury, "Seed library")
    _submit(quick)
    (expense,) = _expenses(treasury)
    assert (expense.currency, expense.amount_minor) == ("JPY", 2_500_000)
    assert _state(treasury, "Seed library")["status"] == "requested"
