"""A hypothesis state machine over the payouts of one circle, on the app's real database and a real Open Collective
sandbox over HTTP.

Each example builds its own world on an emptied database: a circle with two funded payouts ("Seed library",
250.00 EUR, which needs two treasurer approvals, and "Bike repair", 150.00 EUR to a payee invited by e-mail, which
needs one), three treasurers with authenticator apps, and the circle connected to a fresh sandbox. The rules approve
(with fresh, and sometimes replayed, codes; some payouts are approved by an initial step), cancel, retry, submit
(sometimes with a failure injected into the sandbox: a timeout, a connection dropped after the work, a 500 before or
after the work, a 429), act on the sandbox as the host (complete an invitation, approve, reject, unapprove, pay, mark
as unpaid, mark as spam, or delete as the collective's admin; Open Collective's rules let a rejected expense be approved
again and a paid one be marked unpaid), sync, and deliver webhooks in Open Collective's shape. Time is a clock of the
test's own that only moves forward, so that a dead worker's claim expires and a Retry-After passes without waiting.

After every step: at most one expense per payout on Open Collective, a payout's expense is the one with its key,
our own statuses only move forward while a payout with an expense follows Open Collective's either way (reversals
included), approvals are counted right, the ledger verifies and records every attempt, and the
round is closed exactly when every payout is settled. At the end everything is driven to a final state and each
approved payout that was not cancelled must have ended with exactly one expense.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pyotp
import pytest
from flask import Flask
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from fundcircle.auth.models import User
from fundcircle.circles.models import Circle
from fundcircle.circles.services import update_circle_settings
from fundcircle.db import utcnow
from fundcircle.errors import Conflict, PermissionDenied, ValidationFailed
from fundcircle.extensions import db
from fundcircle.ledger.models import LedgerEntry
from fundcircle.ledger.reading import verify_ledger
from fundcircle.payouts.models import (
    FINAL_STATUSES,
    OpenCollectiveConnection,
    Payout,
    PayoutApproval,
)
from fundcircle.payouts.requesting import submit_due_payouts, sync_open_payouts
from fundcircle.payouts.services import (
    CANCELLABLE,
    PAYOUT_STATUS_OF_EXPENSE,
    approve_payout,
    cancel_payout,
    get_payout,
    retry_payout,
)
from fundcircle.rounds.models import Round
from oc_sandbox.sandbox import RunningSandbox, SandboxError, load_schema, start_sandbox
from tests.conftest import reset_database
from tests.worlds.sandbox import (
    SANDBOX_BALANCE_MINOR,
    SANDBOX_COLLECTIVE,
    SANDBOX_CURRENCY,
    SANDBOX_PAYEE,
    SANDBOX_TOKEN,
)
from tests.worlds.treasury import Treasury, build_treasury

TITLES = ("Seed library", "Bike repair")
TREASURERS = ("tomas", "tess", "author")
#: Who may never approve a payout: the proposal's author ("author" wrote Seed library), its payee (tess is invited
#: by e-mail for Bike repair).
BARRED = {"Seed library": {"author"}, "Bike repair": {"tess"}}
#: Seed library (25,000) is above the circle's two-approvals threshold; Bike repair (15,000) is below it.
TWO_APPROVALS_FROM_MINOR = 20_000
NEEDED = {"Seed library": 2, "Bike repair": 1}

LEASE_SECONDS = 60
#: Every answer the sandbox gives on time must come well within the read timeout even on a loaded machine (the whole
#: suite runs beside it in CI): an answer that came late by accident would send the payout down another path, and
#: hypothesis, replaying the example, would see other rules enabled (FlakyStrategyDefinition).
READ_TIMEOUT = 2.0
TIMEOUT_DELAY = 2.3  # longer than the read timeout: the sandbox does the work, the answer comes too late
RETRY_AFTER = 120  # above the client's max_retry_after_seconds: a read is not retried, a creation is put off

#: How far along a payout is. `failed` is a detour (see `check_statuses_only_move_forward`).
RANK = {
    "awaiting_approval": 0,
    "approved": 1,
    "requesting": 1,
    "invited": 2,
    "requested": 3,
    "approved_on_oc": 4,
    "paid": 5,
    "rejected": 5,
    "cancelled": 5,
}
SETTLED = set(FINAL_STATUSES)

FAILURES = st.one_of(
    st.none(),
    st.tuples(
        st.sampled_from(["timeout", "drop_after_create", "error_500", "error_500_after", "rate_limit"]),
        st.sampled_from(["expenses", "createExpense", "draftExpenseAndInviteUser"]),
    ),
)
APPROVALS = ("fresh", "fresh, then request", "replayed")
#: What the host does to an expense: "next" is what moves it on (the payee completes the invitation of a DRAFT,
#: the host approves a PENDING one and pays an APPROVED one), drawn more often than the rest so that runs get far.
#: "DELETE" is the collective's admin deleting an unpaid expense on the site: the payout fails, a treasurer retries.
HOST_ACTIONS = ("next", "next", "next", "complete", "APPROVE", "PAY", "REJECT", "UNAPPROVE", "DELETE",
                "MARK_AS_UNPAID", "MARK_AS_SPAM")  # fmt: skip
#: The statuses a payout takes from its expense: among these it moves whichever way Open Collective moves.
FOLLOWING = frozenset(PAYOUT_STATUS_OF_EXPENSE.values())
NEXT_ACTION = {"DRAFT": "complete", "PENDING": "APPROVE", "APPROVED": "PAY", "ERROR": "PAY"}


def step(method: Callable[..., None]) -> Callable[..., None]:
    """Mark the machine unclean while a rule or an invariant runs, so that teardown does not mask its failure."""

    @functools.wraps(method)
    def run(self: PayoutMachine, *args: Any, **kwargs: Any) -> None:
        self.clean = False
        method(self, *args, **kwargs)
        self.clean = True

    return run


class PayoutMachine(RuleBasedStateMachine):
    def __init__(self, web: Flask, worker: Flask) -> None:
        super().__init__()
        self.web, self.worker = web, worker  # the app serving treasurers, and the app as a worker runs it
        self.clean = True
        reset_database(web)
        self.running: RunningSandbox = start_sandbox(
            collective=SANDBOX_COLLECTIVE,
            token=SANDBOX_TOKEN,
            currency=SANDBOX_CURRENCY,
            balance_minor=SANDBOX_BALANCE_MINOR,
            payee_accounts=[SANDBOX_PAYEE],
            rate_limit_per_minute=100_000,
            invite_interval_seconds=0,  # a second invitation for one payout must show up, not be rate limited away
        )
        try:
            self.treasury: Treasury = build_treasury(web, self.running)
            with web.app_context():
                circle = db.session.get(Circle, self.treasury.circle_id)
                assert circle is not None
                admin = self._user("admin")
                update_circle_settings(
                    admin,
                    circle,
                    name=circle.name,
                    description=circle.description,
                    public=circle.public,
                    two_approvals_from_minor=TWO_APPROVALS_FROM_MINOR,
                )
                db.session.commit()
                connection = db.session.get(OpenCollectiveConnection, self.treasury.circle_id)
                assert connection is not None
                self.webhook_secret = connection.webhook_secret
                self.user_ids = {name: self._user(name).id for name in TREASURERS}
        except BaseException:
            self.running.stop()
            raise
        self.sandbox = self.running.sandbox
        self.payout_ids = dict(self.treasury.payout_ids)
        # The test's clock starts at the beginning of a 30-second TOTP step, so that which codes are still within the
        # accepted drift depends on the steps alone, not on the wall clock (hypothesis must see the same run twice).
        start = (int(utcnow().timestamp()) // 30 + 2) * 30
        self.now: datetime = datetime.fromtimestamp(start, UTC)
        self.status = dict.fromkeys(TITLES, "awaiting_approval")
        self.last_rank = dict.fromkeys(TITLES, 0)
        self.approved_by: dict[str, set[str]] = {title: set() for title in TITLES}
        self.deleted: set[str] = set()  # expenses the collective's admin deleted on Open Collective
        self.last_code: dict[str, tuple[str, int]] = {}  # treasurer -> (code, its time step), last accepted

    # -- helpers -------------------------------------------------------------------------------------------------

    def _user(self, name: str) -> User:
        return db.session.scalars(db.select(User).where(User.email == self.treasury.emails[name])).one()

    def _payouts(self) -> dict[str, Payout]:
        payouts = {}
        for title in TITLES:
            payout = db.session.get(Payout, self.payout_ids[title])
            assert payout is not None
            db.session.refresh(payout)
            payouts[title] = payout
        return payouts

    def _advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)

    def _expense_ids(self) -> list[str]:
        return [e.public_id for e in sorted(self.sandbox.expenses(SANDBOX_COLLECTIVE), key=lambda e: e.legacy_id)]

    def _approve(self, treasurer: str, title: str, *, replay: bool = False) -> tuple[str, bool]:
        """Approve as `treasurer` at the next time step, with a fresh code or (if `replay` and it is still within
        the accepted drift) the code they last used; returns "ok" or the kind of refusal, and whether it replayed."""
        self._advance(31)  # a new 30-second step, so a fresh code is accepted
        step_now = int(self.now.timestamp()) // 30
        if replay and treasurer in self.last_code and self.last_code[treasurer][1] >= step_now - 1:
            code = self.last_code[treasurer][0]
        else:
            replay = False
            code = pyotp.TOTP(self.treasury.totp_secrets[treasurer]).at(self.now)
        with self.web.app_context():
            actor = self._user(treasurer)
            try:
                approve_payout(actor, get_payout(self.payout_ids[title]), code, self.now)
                db.session.commit()
            except (Conflict, PermissionDenied) as error:
                db.session.rollback()
                return type(error).__name__, replay
        assert not replay, "a used code was accepted again"
        self.last_code[treasurer] = (code, step_now)
        return "ok", replay

    def _submit(self) -> None:
        with self.worker.app_context():
            submit_due_payouts(self.now, self.treasury.circle_id)

    def _sync(self) -> None:
        with self.worker.app_context():
            _, problems = sync_open_payouts(self.now, self.treasury.circle_id)
            assert problems == [], problems  # no failure is ever injected into the reads that sync makes
            connection = db.session.get(OpenCollectiveConnection, self.treasury.circle_id)
            assert connection is not None and connection.balance_minor == self.sandbox.balance_minor(SANDBOX_COLLECTIVE)
            for title, payout in self._payouts().items():
                if payout.expense_id in self.deleted:
                    # Open Collective lets a rejected expense be deleted; the payout stays rejected (it is settled,
                    # and nothing is left to follow). Any other payout whose expense is gone has moved to failed,
                    # without the expense's id, when the sync found it missing.
                    assert payout.status == "rejected", (title, payout.status, "its expense was deleted")
                elif payout.expense_id is not None and payout.status in FOLLOWING:
                    self._check_follows(title, payout)

    def _check_follows(self, title: str, payout: Payout) -> None:
        """A payout with an expense that was just synced says what Open Collective says, whichever way it moved
        (settled ones too: they are followed for PAYOUT_FOLLOW_SETTLED_DAYS)."""
        assert payout.expense_id is not None
        expense_status = self.sandbox.expense(payout.expense_id).status
        assert payout.expense_status == expense_status, (title, payout.expense_status, expense_status)
        assert payout.status == PAYOUT_STATUS_OF_EXPENSE[expense_status], (title, payout.status, expense_status)

    # -- rules ---------------------------------------------------------------------------------------------------

    @initialize(titles=st.sampled_from([TITLES, ("Bike repair",), ("Seed library",), ()]))
    @step
    def approved_at_the_start(self, titles: tuple[str, ...]) -> None:
        """The treasurers have fully approved these payouts before the run's other steps (so that runs get far)."""
        for title in titles:
            for treasurer in ("tomas", "tess")[: NEEDED[title]]:
                self.approve((treasurer, title), "fresh")

    @precondition(lambda self: "awaiting_approval" in self.status.values())
    @rule(who=st.sampled_from([(t, title) for title in TITLES for t in TREASURERS]), how=st.sampled_from(APPROVALS))
    @step
    def approve(self, who: tuple[str, str], how: str) -> None:
        """A treasurer approves with a fresh code or replays their last one; the page then requests a fully approved
        payout at once ("fresh, then request"), or leaves it to the worker."""
        treasurer, title = who
        before = self.status[title]
        barred = treasurer in BARRED[title]
        again = treasurer in self.approved_by[title]
        outcome, replayed = self._approve(treasurer, title, replay=how == "replayed")
        if before != "awaiting_approval" or again:
            assert outcome == "Conflict", (treasurer, title, before, outcome)
        elif barred:
            assert outcome == "PermissionDenied", (treasurer, title, outcome)
        elif replayed:
            assert outcome == "Conflict"  # the code was used already
        else:
            assert outcome == "ok", (treasurer, title, before, outcome)
            self.approved_by[title].add(treasurer)
            expected = "approved" if len(self.approved_by[title]) >= NEEDED[title] else "awaiting_approval"
            with self.web.app_context():
                assert self._payouts()[title].status == expected
            if expected == "approved" and how == "fresh, then request":
                self._submit()

    #: A reason too short is refused; drawn more often, so that payouts are not cancelled in most runs.
    @rule(title=st.sampled_from(TITLES), reason=st.sampled_from(["no", "no", "The project was dropped"]))
    @step
    def cancel(self, title: str, reason: str) -> None:
        self._advance(1)
        with self.web.app_context():
            payout = self._payouts()[title]
            before, unknown = payout.status, payout.outcome_unknown
            try:
                cancel_payout(self._user("tomas"), get_payout(self.payout_ids[title]), reason, self.now)
                db.session.commit()
                outcome = "ok"
            except (Conflict, ValidationFailed) as error:
                db.session.rollback()
                outcome = type(error).__name__
        if len(reason) < 3:
            assert outcome == "ValidationFailed"
        elif before in CANCELLABLE and not (before == "failed" and unknown):
            assert outcome == "ok", (title, before, outcome)
        else:
            assert outcome == "Conflict", (title, before, outcome)

    @precondition(lambda self: "failed" in self.status.values())
    @rule(title=st.sampled_from(TITLES))
    @step
    def retry(self, title: str) -> None:
        self._advance(1)
        with self.web.app_context():
            before = self._payouts()[title].status
            try:
                retry_payout(self._user("tess"), get_payout(self.payout_ids[title]), self.now)
                db.session.commit()
                assert before == "failed"
            except Conflict:
                db.session.rollback()
                assert before != "failed"

    @precondition(lambda self: any(s in ("approved", "requesting") for s in self.status.values()))
    @rule(advance=st.sampled_from([0, 5, LEASE_SECONDS + 1, RETRY_AFTER + 1]), failure=FAILURES)
    @step
    def submit(self, advance: int, failure: tuple[str, str] | None) -> None:
        self._advance(advance)
        if failure is not None:
            mode, operation = failure
            event(f"injected {mode} on {operation}")
            delay = {"timeout": TIMEOUT_DELAY, "rate_limit": RETRY_AFTER}.get(mode)
            self.sandbox.fail_next(mode, operation=operation, delay=delay)
        self._submit()

    @precondition(lambda self: bool(self.sandbox.expenses(SANDBOX_COLLECTIVE)))
    @rule(which=st.integers(min_value=0, max_value=3), action=st.sampled_from(HOST_ACTIONS))
    @step
    def host(self, which: int, action: str) -> None:
        ids = self._expense_ids()
        expense_id = ids[which % len(ids)]
        if action == "next":
            action = NEXT_ACTION.get(self.sandbox.expense(expense_id).status, "PAY")
        try:
            if action == "complete":
                self.sandbox.complete_invitation(expense_id)
            elif action == "DELETE":
                self.sandbox.delete_expense(expense_id)
                self.deleted.add(expense_id)
            else:
                self.sandbox.process_as_host(expense_id, action)
        except SandboxError:
            pass  # Open Collective's rules refuse it in this status

    @rule(advance=st.sampled_from([1, 30]))
    @step
    def sync(self, advance: int) -> None:
        self._advance(advance)
        self._sync()

    @rule(which=st.integers(min_value=0, max_value=4))
    @step
    def webhook(self, which: int) -> None:
        ids = self._expense_ids()
        expense_id = ids[which] if which < len(ids) else "ex_unknown"
        with self.worker.app_context():
            known = db.session.scalar(
                db.select(Payout.id).where(Payout.circle_id == self.treasury.circle_id, Payout.expense_id == expense_id)
            )
            db.session.rollback()
        body = {
            "createdAt": "2026-11-25T10:00:00.000Z",
            "id": 12345,
            "type": "collective.expense.updated",
            "CollectiveId": 1,
            # Open Collective's shape (server/lib/webhooks.ts); the amount is a lie: only a look-up's answer counts.
            "data": {
                "expense": {
                    "idV2": expense_id,
                    "id": 1,
                    "description": "x",
                    "amount": 1,
                    "currency": "EUR",
                    "publicId": expense_id,
                }
            },  # fmt: skip
        }
        response = self.worker.test_client().post(f"/hooks/opencollective/{self.webhook_secret}", json=body)
        if known is None:
            assert response.status_code == 202, response.get_json()
        else:
            assert response.status_code == 200, response.get_json()
            assert response.get_json()["result"] in ("changed", "unchanged")
            with self.worker.app_context():
                payout = db.session.get(Payout, known)
                assert payout is not None
                if payout.expense_id == expense_id and (title := self._title_of(known)) is not None:
                    if payout.status in FOLLOWING:
                        self._check_follows(title, payout)
                db.session.rollback()

    def _title_of(self, payout_id: int) -> str | None:
        return next((title for title, pid in self.payout_ids.items() if pid == payout_id), None)

    # -- invariants ----------------------------------------------------------------------------------------------

    @invariant()
    @step
    def check_everything(self) -> None:
        with self.web.app_context():
            payouts = self._payouts()
            self._check_expenses(payouts)
            self._check_statuses_only_move_forward(payouts)
            self._check_approvals(payouts)
            self._check_ledger(payouts)
            self._check_round(payouts)
            db.session.rollback()

    def _check_expenses(self, payouts: dict[str, Payout]) -> None:
        expenses = self.sandbox.expenses(SANDBOX_COLLECTIVE)
        keys = Counter((e.custom_data or {}).get("fundCirclePayoutKey") for e in expenses)
        assert all(n == 1 for n in keys.values()), f"two expenses with one key: {keys}"
        ours = {p.request_key for p in payouts.values() if p.request_key is not None}
        assert set(keys) <= ours, f"an expense without a payout's key: {set(keys) - ours}"
        by_id = {e.public_id: e for e in expenses}
        for title, payout in payouts.items():
            mine = [e for e in expenses if payout.request_key is not None
                    and (e.custom_data or {}).get("fundCirclePayoutKey") == payout.request_key]  # fmt: skip
            assert len(mine) <= 1, (title, [e.public_id for e in mine])
            if payout.status == "awaiting_approval":
                assert payout.request_key is None and not mine
            if payout.expense_id is not None and payout.expense_id not in self.deleted:
                expense = by_id.get(payout.expense_id)
                assert expense is not None, (title, payout.expense_id, "not on Open Collective")
                assert expense.custom_data["fundCirclePayoutKey"] == payout.request_key == expense.reference
            if payout.status in ("invited", "requested", "approved_on_oc", "paid", "rejected"):
                assert payout.expense_id is not None, (title, payout.status)
            # What Open Collective said when last asked (it may have moved since: the next sync follows).
            if payout.status == "paid":
                assert payout.expense_status == "PAID", title
            if payout.status == "rejected" and payout.expense_id not in self.deleted:
                assert payout.expense_status in ("REJECTED", "SPAM"), title
            if payout.status == "cancelled":
                # Cancelling is only possible before a request; nothing may exist on Open Collective to be paid.
                assert not mine, (title, "cancelled, but its expense exists", [(e.public_id, e.status) for e in mine])

    def _check_statuses_only_move_forward(self, payouts: dict[str, Payout]) -> None:
        """Our own steps only move forward; once a payout has its expense it follows Open Collective either way."""
        for title, payout in payouts.items():
            before, now = self.status[title], payout.status
            if payout.expense_id is not None and before in FOLLOWING and now in FOLLOWING:
                if RANK[now] < RANK[before]:
                    event(f"{title}: reversed {before} -> {now}")
                self.last_rank[title] = RANK[now]
            elif now != "failed":
                # A failed payout is requested again (retry: back to approved) or cancelled.
                floor = RANK["approved"] if before == "failed" else self.last_rank[title]
                assert RANK[now] >= floor, f"{title} moved back from {before} to {now}"
                self.last_rank[title] = RANK[now]
            if now != before:
                event(f"{title}: {before} -> {now}")
            self.status[title] = now

    def _check_approvals(self, payouts: dict[str, Payout]) -> None:
        for title, payout in payouts.items():
            rows = db.session.scalars(db.select(PayoutApproval).where(PayoutApproval.payout_id == payout.id)).all()
            assert payout.approvals_count == len(rows), (title, payout.approvals_count, len(rows))
            assert payout.approvals_count <= min(len(TREASURERS), NEEDED[title])
            assert {r.treasurer_id for r in rows} == {self.user_ids[t] for t in self.approved_by[title]}
            assert len({r.treasurer_id for r in rows}) == len(rows)

    def _check_ledger(self, payouts: dict[str, Payout]) -> None:
        reports = verify_ledger([self.treasury.circle_id])
        assert all(report.result.ok for report in reports), [r.result for r in reports]
        # Whatever path a payout took, its row says what the ledger's entries replay to (ledger/replay.py).
        assert [r.mismatch.sentence() for r in reports if r.mismatch is not None] == []
        for title, payout in payouts.items():
            started = db.session.scalars(
                db.select(LedgerEntry).where(
                    LedgerEntry.circle_id == self.treasury.circle_id,
                    LedgerEntry.action == "payout.request_started",
                    LedgerEntry.subject_type == "payout",
                    LedgerEntry.subject_id == payout.id,
                )
            ).all()
            attempts = sorted(entry.data["attempt"] for entry in started)
            assert attempts == list(range(1, payout.attempts + 1)), (title, payout.attempts, attempts)

    def _check_round(self, payouts: dict[str, Payout]) -> None:
        round_ = db.session.get(Round, self.treasury.round_id)
        assert round_ is not None
        db.session.refresh(round_)
        settled = all(p.status in SETTLED for p in payouts.values())
        assert (round_.phase == "closed") == settled, (round_.phase, {t: p.status for t, p in payouts.items()})

    # -- the end -------------------------------------------------------------------------------------------------

    def teardown(self) -> None:
        try:
            if self.clean:
                self._drive_to_the_end()
        finally:
            self.running.stop()

    def _reverse_and_settle_again(self) -> None:
        """Open Collective's settled statuses are not final: each paid expense is marked unpaid and each rejected one
        approved again; the payouts follow back (the round is decided again), then forward once more when the host
        pays, and the round closes again. Every step is checked like any other."""
        for expense_id in self._expense_ids():
            status = self.sandbox.expense(expense_id).status
            if status not in ("PAID", "REJECTED"):
                continue
            self.sandbox.process_as_host(expense_id, "MARK_AS_UNPAID" if status == "PAID" else "APPROVE")
            self._advance(1)
            self._sync()
            self.check_everything()
            assert "approved_on_oc" in self.status.values(), self.status
            event("reversal at the end")
            self.sandbox.process_as_host(expense_id, "PAY")
            self._advance(1)
            self._sync()
            self.check_everything()
        assert all(status in SETTLED for status in self.status.values()), self.status

    def _drive_to_the_end(self) -> None:
        """Approve what awaits, retry what failed, then submit past the lease, play the host to PAID and sync,
        until every payout is settled; each approved payout must end with exactly one expense."""
        for _ in range(8):
            for title in TITLES:
                for treasurer in TREASURERS:
                    may = treasurer not in BARRED[title] and treasurer not in self.approved_by[title]
                    if self.status[title] == "awaiting_approval" and may:
                        assert self._approve(treasurer, title) == ("ok", False)
                        self.approved_by[title].add(treasurer)
                        self.check_everything()
                if self.status[title] == "failed":
                    self.retry(title)
            self._advance(max(LEASE_SECONDS, RETRY_AFTER) + 1)
            self._submit()
            self.check_everything()
            for expense_id in self._expense_ids():
                status = self.sandbox.expense(expense_id).status
                try:
                    if status == "DRAFT":
                        self.sandbox.complete_invitation(expense_id)
                        status = "PENDING"
                    if status == "PENDING":
                        self.sandbox.process_as_host(expense_id, "APPROVE")
                        status = "APPROVED"
                    if status in ("APPROVED", "ERROR"):
                        self.sandbox.process_as_host(expense_id, "PAY")
                except SandboxError as error:
                    raise AssertionError(f"the host could not settle {expense_id} ({status}): {error}") from None
            self._advance(1)
            self._sync()
            self.check_everything()
            if all(status in SETTLED for status in self.status.values()):
                break
        assert all(status in SETTLED for status in self.status.values()), self.status
        self._reverse_and_settle_again()
        with self.web.app_context():
            payouts = self._payouts()
            expenses = self.sandbox.expenses(SANDBOX_COLLECTIVE)
            for title, payout in payouts.items():
                mine = [e for e in expenses if payout.request_key is not None
                        and e.custom_data["fundCirclePayoutKey"] == payout.request_key]  # fmt: skip
                if payout.status == "cancelled" or (payout.status == "rejected" and payout.expense_id in self.deleted):
                    assert mine == [], title
                else:
                    assert len(mine) == 1 and mine[0].public_id == payout.expense_id, (title, payout.status, mine)
            db.session.rollback()


@pytest.mark.slow
def test_payouts_state_machine(app: Flask, make_app: Any) -> None:
    load_schema()  # built once per process, before the first request's short read timeout starts counting
    worker = make_app(
        OPENCOLLECTIVE_READ_TIMEOUT=READ_TIMEOUT,
        OPENCOLLECTIVE_CONNECT_TIMEOUT=READ_TIMEOUT,
        OPENCOLLECTIVE_READ_BACKOFF_SECONDS=0.01,
        PAYOUT_CLAIM_LEASE_SECONDS=LEASE_SECONDS,
        PAYOUT_UNKNOWN_BACKOFF_SECONDS=5,  # 5, 10, 20, 40 s: within the lease the test's clock jumps past
    )
    run_state_machine_as_test(
        lambda: PayoutMachine(app, worker),
        settings=settings(
            max_examples=20, stateful_step_count=30, deadline=None, suppress_health_check=[HealthCheck.too_slow]
        ),
    )
