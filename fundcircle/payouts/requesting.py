"""Requesting approved payouts on Open Collective exactly once, and following their expenses.

Open Collective has no idempotency key, so "once" is built here:

1. The final approval moved the payout to `approved` with its own key and committed.
2. A worker claims it: a compare-and-set from `approved` to `requesting` (or of a `requesting` claim older than the
   lease, left by a worker that died), committed before anything is sent. Two workers never hold one payout.
   Before anything is sent, the payout's amount, currency and payee are checked against the ledger entries that
   created, approved and funded it (payouts/binding.py); a payout that disagrees is held, not requested.
3. It looks the expense up on the collective by the key in `customData`; if it exists (a crash, a lost answer), it
   records it and stops.
4. Only when it is certainly not there does it create it, with the key in `customData` and `reference`, and records
   the id in a second transaction: `createExpense` when the payee is an account the token's user administers (Open
   Collective refuses any other payee there: `checkFromCollective` in server/graphql/common/expenses.ts), else
   `draftExpenseAndInviteUser`, with the payee's slug (its admins complete the draft) or name and e-mail. Invite
   drafts are spaced within a run: Open Collective takes one per user every 10 seconds.
5. When the outcome is unknown (timeout, dropped connection, 5xx), the payout stays claimed until the lease passes and
   a backoff that doubles each time, so that an expense Open Collective is still creating is found by the next look-up
   instead of made twice. After PAYOUT_MAX_UNKNOWN_OUTCOMES of them it fails and the circle's treasurers are told.
6. A token of a user with two-factor authentication that was not made with "Advanced privileges" is refused with a
   plain message; once a look-up confirms that nothing was created, the payout fails saying how to make one.

Every attempt and its outcome is in the ledger, without the token. No database transaction is open while a request
is on the wire: each step commits before the network call and opens a new transaction after it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from flask_babel import gettext
from sqlalchemy import and_, or_, select, update

from fundcircle.circles.models import Circle
from fundcircle.db import compare_and_set, utcnow
from fundcircle.errors import Conflict, FundCircleError
from fundcircle.extensions import db
from fundcircle.i18n import in_language
from fundcircle.ledger.record import record
from fundcircle.money import format_minor, to_open_collective_cents
from fundcircle.payouts.binding import TERM_WORDS, Disagreement
from fundcircle.payouts.models import FOLLOWED_STATUSES, SETTLED_ON_OPEN_COLLECTIVE, OpenCollectiveConnection, Payout
from fundcircle.payouts.opencollective import (
    TWO_FACTOR_CODE,
    Expense,
    OpenCollectiveClient,
    PayoutGatewayError,
)
from fundcircle.payouts.services import (
    PAYOUT_STATUS_OF_EXPENSE,
    apply_expense_status,
    client_for,
    connection_of,
    reopen_round_if_closed,
    store_balance,
    tell_treasurers,
    titles_of,
)
from fundcircle.payouts.terms import check_against_ledger
from fundcircle.phrases import N_
from fundcircle.proposals.models import ProposalVersion
from fundcircle.rounds.models import Round
from fundcircle.unit_of_work import commit as commit_and_send
from fundcircle.voting.models import RoundTally

log = logging.getLogger(__name__)

#: A payout whose expense is followed when asked (a webhook, a sync): under way, or settled but still movable.
FOLLOWED_OR_SETTLED = FOLLOWED_STATUSES + SETTLED_ON_OPEN_COLLECTIVE


def claim_lease() -> timedelta:
    """How long a claim protects a payout. Longer than a worker can spend on one request (its look-up and its
    creation, each with connect and read timeouts, and the read's retries), so only a dead worker's claim expires."""
    config = current_app.config
    if config.get("PAYOUT_CLAIM_LEASE_SECONDS") is not None:
        return timedelta(seconds=config["PAYOUT_CLAIM_LEASE_SECONDS"])
    per_call = config["OPENCOLLECTIVE_CONNECT_TIMEOUT"] + config["OPENCOLLECTIVE_READ_TIMEOUT"]
    return timedelta(seconds=6 * per_call)


def _payout(payout_id: int) -> Payout:
    """The payout as the database has it now (another worker or a sync may have moved it)."""
    payout = db.session.get(Payout, payout_id)
    if payout is None:  # payouts are never deleted
        raise LookupError(f"payout {payout_id} vanished")
    db.session.refresh(payout)
    return payout


def _due_condition(now: datetime) -> Any:
    stale = now - claim_lease()
    not_held_back = or_(Payout.retry_at.is_(None), Payout.retry_at <= now)  # Open Collective's Retry-After
    return or_(
        and_(Payout.status == "approved", not_held_back),
        and_(Payout.status == "requesting", or_(Payout.claimed_at.is_(None), Payout.claimed_at < stale), not_held_back),
    )


def due_payout_ids(now: datetime, circle_id: int | None = None) -> list[int]:
    """Approved payouts of connected circles that a worker may claim now."""
    query = (
        select(Payout.id)
        .join(OpenCollectiveConnection, OpenCollectiveConnection.circle_id == Payout.circle_id)
        .where(_due_condition(now))
        .order_by(Payout.id)
    )
    if circle_id is not None:
        query = query.where(Payout.circle_id == circle_id)
    return list(db.session.scalars(query))


def _claim(payout_id: int, now: datetime) -> Payout | None:
    """Take the payout for this worker, or None if another has it or it is not due. Commits."""
    claimed = db.session.execute(
        update(Payout)
        .where(Payout.id == payout_id, _due_condition(now))
        .values(status="requesting", claimed_at=now, attempts=Payout.attempts + 1, retry_at=None)
        .returning(Payout.attempts),
        execution_options={"synchronize_session": False},
    ).scalar_one_or_none()
    if claimed is None:
        db.session.rollback()
        return None
    payout = _payout(payout_id)
    record(
        "payout.request_started",
        actor=None,
        circle_id=payout.circle_id,
        subject=payout,
        data={"proposal": payout.proposal_id, "attempt": claimed, "request_key": payout.request_key,
              "after_unknown_outcome": payout.outcome_unknown},
        at=now,
    )  # fmt: skip
    db.session.commit()
    return payout


def _settle(payout_id: int, action: str, data: dict[str, Any], now: datetime, *,
            tell: Callable[[], tuple[str, str]] | None = None, **values: Any) -> Payout:  # fmt: skip
    """Record the outcome of a step in a new transaction: the payout's new values and one ledger entry, and with
    `tell` (giving the subject and body, in each treasurer's language) a notice to the circle's treasurers, sent once
    committed. Commits."""
    db.session.rollback()
    payout = _payout(payout_id)
    if values:
        if "status" in values:
            values.setdefault("status_changed_at", now)
        db.session.execute(
            update(Payout).where(Payout.id == payout_id, Payout.status == "requesting").values(**values),
            execution_options={"synchronize_session": False},
        )
        db.session.refresh(payout)
    # The status the step left is in the entry, so that `ledger verify` can replay every payout's status.
    record(action, actor=None, circle_id=payout.circle_id, subject=payout,
           data={"proposal": payout.proposal_id, **data, "status": payout.status}, at=now)  # fmt: skip
    if tell is not None:
        tell_treasurers(payout, tell, kind="payout.needs_treasurer")
    commit_and_send()
    return payout


def _found(payout: Payout, expense: Expense, how: str, now: datetime, **extra: Any) -> Payout:
    status = PAYOUT_STATUS_OF_EXPENSE.get(expense.status, "requested")
    if status in ("paid", "rejected", "cancelled"):
        # Moved on while we did not know about it: record it first as requested, then follow it like a sync would.
        payout = _settle(payout.id, how, {"expense_id": expense.id, "expense_status": expense.status, **extra}, now,
                         status="requested", expense_id=expense.id, claimed_at=None, outcome_unknown=False)  # fmt: skip
        apply_expense_status(payout, expense.id, expense.status, now, via="request")
        commit_and_send()
        return payout
    return _settle(payout.id, how, {"expense_id": expense.id, "expense_status": expense.status, **extra}, now,
                   status=status, expense_id=expense.id, expense_status=expense.status, synced_at=now,
                   claimed_at=None, outcome_unknown=False)  # fmt: skip


@dataclass
class InvitePacer:
    """Spaces invite drafts within one run: Open Collective counts one `draftExpenseAndInviteUser` per user every 10
    seconds, refused ones included (server/graphql/v2/mutation/ExpenseMutations.ts)."""

    interval_seconds: float
    last_sent: float | None = None

    def wait(self) -> None:
        if self.last_sent is not None:
            remaining = self.interval_seconds - (time.monotonic() - self.last_sent)
            if remaining > 0:
                time.sleep(remaining)

    def sent(self) -> None:
        self.last_sent = time.monotonic()


def _invite_pacer() -> InvitePacer:
    return InvitePacer(float(current_app.config["OPENCOLLECTIVE_INVITE_INTERVAL_SECONDS"]))


def _failed(payout_id: int, details: dict[str, Any], message: str, now: datetime, *, subject: str,
            **values: Any) -> Payout:  # fmt: skip
    """The payout failed and needs a treasurer: recorded, and the circle's treasurers are told once committed."""
    # Named by the proposal's title, not the payout's id (the ledger entry keeps the id and the details).
    payout = db.session.get(Payout, payout_id)
    title = titles_of([payout]).get(payout.proposal_id) if payout is not None else None

    def tell() -> tuple[str, str]:
        named = title if title is not None else gettext("a proposal")
        return (
            gettext(subject, title=named),
            gettext("The payout for “%(title)s” could not be requested on Open Collective:", title=named)
            + f"\n\n{message}",
        )

    return _settle(payout_id, "payout.request_failed", details, now, status="failed", failure_message=message,
                   claimed_at=None, tell=tell, **values)  # fmt: skip


def _gateway_failed(payout: Payout, error: PayoutGatewayError, step: str, now: datetime) -> Payout:
    details = {"step": step, **error.to_record()}
    if error.outcome == "refused":
        return _failed(payout.id, details, error.message, now,
                       subject=N_("“%(title)s”: its payout needs a treasurer: Open Collective refused it"))  # fmt: skip
    if error.outcome == "not_sent" or step == "look-up":
        # Nothing was created by this attempt. After an earlier unknown outcome the next attempt looks up again.
        retry_at = now + timedelta(seconds=error.retry_after_seconds or 0)
        status = "requesting" if payout.outcome_unknown else "approved"
        return _settle(payout.id, "payout.request_not_sent", details, now, status=status, claimed_at=None,
                       retry_at=retry_at if error.retry_after_seconds else None)  # fmt: skip
    # Unknown: the expense may exist. Keep the claim until the lease and a backoff pass, then look it up before
    # anything else; after a bounded number of these, a treasurer decides.
    config = current_app.config
    unknown = payout.unknown_outcomes + 1
    details["unknown_outcomes"] = unknown
    if unknown >= config["PAYOUT_MAX_UNKNOWN_OUTCOMES"]:
        how_often = "once" if unknown == 1 else f"{unknown} times"
        message = (
            f"Open Collective's answer was lost {how_often} ({error.message}), so it is not known whether the "
            "expense exists. Look for it on Open Collective; “Request again” looks it up before creating anything, "
            "or cancel the payout."
        )
        return _failed(payout.id, details, message, now,
                       subject=N_("“%(title)s”: its payout needs a treasurer: Open Collective's answers were lost"),
                       outcome_unknown=True, unknown_outcomes=unknown)  # fmt: skip
    backoff = timedelta(seconds=config["PAYOUT_UNKNOWN_BACKOFF_SECONDS"] * 2 ** (unknown - 1))
    return _settle(payout.id, "payout.request_outcome_unknown", details, now, outcome_unknown=True,
                   unknown_outcomes=unknown, retry_at=now + backoff)  # fmt: skip


def expense_input(payout: Payout, connection: OpenCollectiveConnection, *, invite: bool) -> dict[str, Any]:
    """The expense Open Collective is asked to create for the payout: in `ExpenseCreateInput`'s shape for a payee
    the token's user administers, else in `ExpenseInviteDraftInput`'s (the payee's slug, or name and e-mail)."""
    version = db.session.scalar(
        select(ProposalVersion).where(
            ProposalVersion.proposal_id == payout.proposal_id, ProposalVersion.number == payout.proposal_version
        )
    )
    round_ = db.session.get(Round, payout.round_id)
    circle = db.session.get(Circle, payout.circle_id)
    tally = db.session.get(RoundTally, payout.round_id)
    if version is None or round_ is None or circle is None:  # foreign keys forbid it
        raise LookupError(f"payout {payout.id} lacks its proposal version, round or circle")
    checkpoint = f" Ledger checkpoint at the decision: {tally.checkpoint_seq}:{tally.checkpoint_hash}." if tally else ""
    long_description = (
        f"Funded by {circle.name} through Fund Circle: round “{round_.title}”, proposal {payout.proposal_id}, "
        f"version {payout.proposal_version}.{checkpoint} Fund Circle payout key {payout.request_key}."
    )
    expense: dict[str, Any] = {
        "type": connection.expense_type,
        "description": f"Fund Circle grant: {version.title}"[:250],
        "longDescription": long_description,
        "currency": payout.currency,
        # Open Collective counts hundredths of the unit whatever the currency's minor unit (fundcircle/money.py).
        "items": [{"description": version.title[:250],
                   "amountV2": {"valueInCents": to_open_collective_cents(payout.amount_minor, payout.currency),
                                "currency": payout.currency}}],
        "reference": payout.request_key,
        "customData": custom_data(payout),
        "tags": ["fund-circle"],
    }  # fmt: skip
    if not invite and payout.payee_slug is not None:
        expense["payee"] = {"slug": payout.payee_slug}
        expense["payoutMethod"] = {
            "type": "OTHER",
            "data": {"content": "As agreed with the collective's host.", "currency": payout.currency},
        }
    else:
        if payout.payee_slug is not None:  # an account somebody else administers: its admins complete the draft
            expense["payee"] = {"slug": payout.payee_slug}
        else:
            expense["payee"] = {"name": payout.payee_name, "email": payout.payee_email, "isInvite": True}
        expense["recipientNote"] = (
            f"Your proposal “{version.title}” was funded by {circle.name}. Please add your payout details and submit."
        )
    return expense


def custom_data(payout: Payout) -> dict[str, Any]:
    return {"fundCirclePayoutKey": payout.request_key, "fundCircleProposal": payout.proposal_id}


def _hold(payout: Payout, found: list[Disagreement], now: datetime) -> Payout:
    """Hold a payout that disagrees with the ledger: it is not requested, the ledger says what disagreed, and the
    circle's treasurers are told by e-mail once that is committed. Commits."""
    db.session.rollback()
    payout = _payout(payout.id)
    # Stored with the payout and shown on its page: in the circle's language (the worker has no reader).
    with in_language(db.session.scalar(select(Circle.language).where(Circle.id == payout.circle_id))):
        message = gettext(
            "Not requested: it disagrees with the ledger. %(disagreements)s.",
            disagreements="; ".join(d.sentence(gettext) for d in found),
        )
    held = db.session.execute(
        update(Payout)
        .where(Payout.id == payout.id, Payout.status == "requesting")
        .values(status="held", failure_message=message, claimed_at=None, status_changed_at=now)
        .returning(Payout.id),
        execution_options={"synchronize_session": False},
    ).scalar_one_or_none()
    if held is None:  # another worker's lease expired and it moved the payout; its own entry says what it did
        db.session.rollback()
        return _payout(payout.id)
    db.session.refresh(payout)
    record(
        "payout.held",
        actor=None,
        circle_id=payout.circle_id,
        subject=payout,
        data={
            "proposal": payout.proposal_id,
            "status": "held",
            "disagreements": [
                {"field": d.field, "stored": d.stored, "ledger": d.ledger, "seq": d.seq, "action": d.action}
                for d in found
            ],
        },
        at=now,
    )
    # In words, by the proposal's title: the payout's id and the fields' codes are in the ledger entry above.
    title = titles_of([payout]).get(payout.proposal_id)
    currency = payout.currency

    def held_words() -> tuple[str, str]:
        named = title if title is not None else gettext("a proposal")
        differences = "\n".join(f"- {line}" for line in _in_words(found, currency))
        return (
            gettext("“%(title)s”: its payout is held: it disagrees with the ledger", title=named),
            gettext(
                "The payout for “%(title)s” was not requested on Open Collective, because what Fund Circle holds of "
                "it no longer agrees with the circle's ledger:",
                title=named,
            )
            + f"\n\n{differences}\n\n"
            + gettext("Somebody may have changed the database directly. Check it, then request it again or cancel it."),
        )

    tell_treasurers(payout, held_words, kind="payout.needs_treasurer")
    commit_and_send()
    return payout


def _in_words(found: list[Disagreement], currency: str) -> list[str]:
    """The disagreements for a treasurer's mail: each term once, in words, with the entries that say otherwise by
    number, and amounts as money; without the field's or the action's code (Disagreement.sentence, for the ledger
    check, names them)."""
    by_term: dict[tuple[str, str, str], list[int]] = {}
    unstated: list[tuple[str, str]] = []
    for disagreement in found:
        stored, ledger = disagreement.stored, disagreement.ledger
        if disagreement.field == "amount_minor":
            stored, ledger = _as_money(stored, currency), _as_money(ledger, currency)
        term = (
            gettext("amount")
            if disagreement.field == "amount_minor"
            else gettext(TERM_WORDS.get(disagreement.field, N_("a term of the payout")))
        )
        if disagreement.seq is None:
            unstated.append((term, stored))
        else:
            by_term.setdefault((term, stored, ledger), []).append(disagreement.seq)
    lines = [
        gettext("%(term)s: the payout says %(stored)s, but no ledger entry states it", term=term, stored=stored)
        for term, stored in unstated
    ]
    for (term, stored, ledger), entries in by_term.items():
        values = {"term": term, "stored": stored, "ledger": ledger}
        if len(entries) == 1:
            lines.append(
                gettext(
                    "%(term)s: the payout says %(stored)s, but the ledger says %(ledger)s (entry %(seq)s)",
                    seq=entries[0],
                    **values,
                )
            )
        else:
            lines.append(
                gettext(
                    "%(term)s: the payout says %(stored)s, but the ledger says %(ledger)s (entries %(seqs)s)",
                    seqs=", ".join(map(str, entries)),
                    **values,
                )
            )
    return lines


def _as_money(value: str, currency: str) -> str:
    """An amount in minor units as money ("90.00 EUR"), or as it was when it is no whole number."""
    try:
        return format_minor(int(value), currency)
    except (ValueError, KeyError):
        return value


def submit_payout(payout_id: int, now: datetime | None = None, pacer: InvitePacer | None = None) -> Payout | None:
    """Request one payout on Open Collective if it is due and nobody else is at it. Returns the payout as it ended,
    or None if it was not claimed. Commits; must be called with no transaction of the caller's pending.

    Before anything is sent, the payout is checked against the ledger (`check_against_ledger`); one that disagrees
    is held instead (`_hold`), and nothing is asked of Open Collective."""
    now = now or utcnow()
    payout = _claim(payout_id, now)
    if payout is None:
        return None
    if found := check_against_ledger(payout):
        return _hold(payout, found, now)
    connection = connection_of(payout.circle_id)
    if connection is None:  # disconnected meanwhile
        return _settle(payout.id, "payout.request_not_sent", {"error": "The circle is not connected."}, now,
                       status="approved", claimed_at=None)  # fmt: skip
    try:
        client = client_for(connection)
    except FundCircleError as error:
        return _settle(payout.id, "payout.request_failed", {"error": error.message}, now, status="failed",
                       failure_message=error.message, claimed_at=None)  # fmt: skip
    request = _Request(
        collective_slug=connection.collective_slug,
        key=payout.request_key,
        payee_slug=payout.payee_slug,
        as_created=expense_input(payout, connection, invite=False) if payout.payee_slug is not None else None,
        as_invited=expense_input(payout, connection, invite=True),
    )
    db.session.commit()  # nothing is pending, and no transaction stays open while we wait for Open Collective
    with client:
        return _request(client, payout, request, pacer or _invite_pacer(), now)


@dataclass(frozen=True)
class _Request:
    """What a worker sends, read from the database before the transaction ends."""

    collective_slug: str
    key: str | None
    payee_slug: str | None
    as_created: dict[str, Any] | None
    as_invited: dict[str, Any]


def _request(client: OpenCollectiveClient, payout: Payout, request: _Request, pacer: InvitePacer,
             now: datetime) -> Payout:  # fmt: skip
    slug = request.collective_slug
    try:
        existing = client.find_expenses(slug, {"fundCirclePayoutKey": request.key})
    except PayoutGatewayError as error:
        return _gateway_failed(payout, error, "look-up", now)
    if existing:
        extra = {"duplicates": [e.id for e in existing[1:]]} if len(existing) > 1 else {}
        return _found(payout, existing[0], "payout.expense_found", now, **extra)
    administered = False
    if request.payee_slug is not None:
        try:
            payee = client.payee(request.payee_slug)
        except PayoutGatewayError as error:
            return _gateway_failed(payout, error, "payee look-up", now)
        if payee is None:
            message = (
                f"Open Collective has no account “{request.payee_slug}”, the proposal's payee: it may have been "
                "renamed or deleted. Cancel this payout, or ask Open Collective to restore the account."
            )
            subject = N_("“%(title)s”: its payout needs a treasurer: its payee is not on Open Collective")
            return _failed(payout.id, {"step": "payee look-up", "payee_slug": request.payee_slug}, message, now,
                           subject=subject)  # fmt: skip
        administered = payee.is_admin
    invite = not administered
    try:
        if invite:
            pacer.wait()
            try:
                expense = client.draft_and_invite(slug, request.as_invited)
            finally:
                pacer.sent()
        else:
            assert request.as_created is not None  # nosec B101  # a payee slug was given  # type narrowing
            expense = client.create_expense(slug, request.as_created)
    except PayoutGatewayError as error:
        if error.code == TWO_FACTOR_CODE:
            return _two_factor_refused(client, payout, request, error, now)
        return _gateway_failed(payout, error, "creation", now)
    method = "draftExpenseAndInviteUser" if invite else "createExpense"
    return _found(payout, expense, "payout.requested", now, request_id=expense.request_id, method=method,
                  payee_administered=administered)  # fmt: skip


def _two_factor_refused(client: OpenCollectiveClient, payout: Payout, request: _Request, error: PayoutGatewayError,
                        now: datetime) -> Payout:  # fmt: skip
    """Open Collective gives the refusal no code of its own (Apollo calls it INTERNAL_SERVER_ERROR), so the payout
    fails only once a look-up confirms that nothing was created; it then needs a new token."""
    try:
        existing = client.find_expenses(request.collective_slug, {"fundCirclePayoutKey": request.key})
    except PayoutGatewayError as look_up_error:
        return _gateway_failed(payout, PayoutGatewayError(error.message, outcome="unknown", code=error.code,
                               request_id=look_up_error.request_id), "creation", now)  # fmt: skip
    if existing:
        return _found(payout, existing[0], "payout.expense_found", now)
    subject = N_("“%(title)s”: its payout needs a new Open Collective token (two-factor authentication)")
    return _failed(payout.id, {"step": "creation", **error.to_record()}, error.message, now,
                   subject=subject)  # fmt: skip


def submit_due_payouts(now: datetime | None = None, circle_id: int | None = None) -> list[Payout]:
    """`flask payouts submit`: request every due payout, one after the other. Returns those this worker handled."""
    now = now or utcnow()
    handled = []
    pacer = _invite_pacer()  # one for the run: its invite drafts are spaced as Open Collective requires
    for payout_id in due_payout_ids(now, circle_id):
        db.session.rollback()
        try:
            payout = submit_payout(payout_id, now, pacer)
        except Conflict:
            db.session.rollback()
            continue
        if payout is not None:
            handled.append(payout)
    return handled


def sync_payout(payout_id: int, *, via: str, now: datetime | None = None) -> bool:
    """Fetch the payout's expense from Open Collective and move the payout on. Returns whether it changed. Commits.

    :raises PayoutGatewayError: if Open Collective cannot be asked (the caller reports it; nothing changed).
    """
    now = now or utcnow()
    payout = db.session.get(Payout, payout_id)
    if payout is None or payout.expense_id is None or payout.status not in FOLLOWED_OR_SETTLED:
        db.session.rollback()
        return False
    connection = connection_of(payout.circle_id)
    if connection is None:
        db.session.rollback()
        return False
    client = client_for(connection)
    expense_id = payout.expense_id
    db.session.commit()
    with client:
        expense = client.expense(expense_id)
    payout = _payout(payout_id)
    if payout.expense_id != expense_id:
        db.session.rollback()
        return False
    try:
        if expense is None:
            changed = _expense_gone(payout, expense_id, now, via=via)
        else:
            changed = apply_expense_status(payout, expense.id, expense.status, now, via=via)
    except Conflict:  # another sync moved it meanwhile; its entry says so
        db.session.rollback()
        return False
    commit_and_send()  # a reversal tells the treasurers
    return changed


def _expense_gone(payout: Payout, expense_id: str, now: datetime, *, via: str) -> bool:
    """The payout's expense is no longer on Open Collective: the collective's admin deleted it. A payout that was
    still moving there fails (it can be requested again or cancelled). A rejected one stays rejected: no money moved
    and nothing is left to follow. A paid one cannot simply stay paid: Open Collective deletes no paid expense
    (server/graphql/common/expenses.ts, canDeleteExpense: only a rejected, spam, draft or cancelled one, or a draft
    or pending one by its owner), so it was marked unpaid first and the money went back to the collective. That is
    a reversal: the payout fails, its round is decided again if it had closed, and the treasurers are told."""
    before = payout.status
    message = "The expense was deleted on Open Collective. Request it again, or cancel the payout."
    if before == "paid":
        message = (
            "The expense was marked unpaid, then deleted on Open Collective, so the payee was not paid. "
            "Request it again, or cancel the payout."
        )
    moved = compare_and_set(
        payout,
        expected=Payout.status.in_((*FOLLOWED_STATUSES, "paid")),
        values={
            "status": "failed", "failure_message": message, "expense_id": None, "expense_status": None,
            "status_changed_at": now,
        },
    )  # fmt: skip
    if not moved:
        return False
    data: dict[str, Any] = {"proposal": payout.proposal_id, "expense_id": expense_id, "via": via}
    if before == "paid":
        data["reversed"] = True
    record("payout.expense_missing", actor=None, circle_id=payout.circle_id, subject=payout, data=data, at=now)
    if before == "paid":
        reopen_round_if_closed(payout.round_id, payout, now)
        title = titles_of([payout]).get(payout.proposal_id)

        def undone() -> tuple[str, str]:
            named = title if title is not None else gettext("A payout")
            return (
                gettext("“%(title)s”: its payout was undone on Open Collective", title=named),
                gettext(
                    "The payout for “%(title)s” was paid, then marked unpaid and deleted on Open Collective: the "
                    "payee has not been paid. Request it again, or cancel the payout.",
                    title=named,
                ),
            )

        tell_treasurers(payout, undone, kind="payout.reversed")
    return True


def sync_open_payouts(now: datetime | None = None, circle_id: int | None = None) -> tuple[int, list[str]]:
    """`flask payouts sync`: follow every open payout's expense, and refresh each connected circle's balance.
    Returns how many payouts changed, and the problems met (one line each)."""
    now = now or utcnow()
    settled_since = now - timedelta(days=current_app.config["PAYOUT_FOLLOW_SETTLED_DAYS"])
    recently_settled = and_(Payout.status.in_(SETTLED_ON_OPEN_COLLECTIVE), Payout.status_changed_at >= settled_since)
    query = select(Payout.id).where(
        or_(Payout.status.in_(FOLLOWED_STATUSES), recently_settled), Payout.expense_id.is_not(None)
    )
    if circle_id is not None:
        query = query.where(Payout.circle_id == circle_id)
    changed, problems = 0, []
    for payout_id in list(db.session.scalars(query.order_by(Payout.id))):
        try:
            changed += sync_payout(payout_id, via="sync", now=now)
        except (PayoutGatewayError, FundCircleError) as error:
            db.session.rollback()
            problems.append(f"payout {payout_id}: {error.message}")
    connections = select(OpenCollectiveConnection.circle_id)
    if circle_id is not None:
        connections = connections.where(OpenCollectiveConnection.circle_id == circle_id)
    for connected_circle_id in list(db.session.scalars(connections)):
        try:
            refresh_balance(connected_circle_id, now)
        except (PayoutGatewayError, FundCircleError) as error:
            db.session.rollback()
            problems.append(f"circle {connected_circle_id}: {error.message}")
    return changed, problems


def refresh_balance(circle_id: int, now: datetime | None = None) -> None:
    """Ask Open Collective for the collective's balance and keep it. Commits.

    :raises PayoutGatewayError: if Open Collective cannot be asked.
    """
    now = now or utcnow()
    connection = connection_of(circle_id)
    if connection is None:
        return
    client, slug = client_for(connection), connection.collective_slug
    db.session.commit()
    with client:
        collective = client.collective(slug)
    connection = connection_of(circle_id)
    if connection is not None:
        store_balance(connection, collective, now)
        db.session.commit()


def submit_after_approval(payout_id: int) -> None:
    """Right after a commit that made a payout `approved` (its final approval, or a retry), request it in this process
    when the circle is connected and the app is set to (`PAYOUTS_SUBMIT_AFTER_APPROVAL`). Whatever happens is recorded
    on the payout; `payouts submit` picks up anything left."""
    payout = db.session.get(Payout, payout_id)
    if payout is None or payout.status != "approved" or connection_of(payout.circle_id) is None:
        return
    if not current_app.config["PAYOUTS_SUBMIT_AFTER_APPROVAL"]:
        return
    try:
        submit_payout(payout_id)
    except Exception:  # the approval stands; the worker will try again
        db.session.rollback()
        log.exception("requesting payout %s right after its approval failed", payout_id)
