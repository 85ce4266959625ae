"""Payouts in the database: connecting a circle to Open Collective, treasurer approvals, cancelling, retrying, and
moving a payout on when Open Collective reports its expense.

Like every service: the actor is explicit, role and status are checked, the change and its ledger entry are flushed
together, and the caller commits. Nothing here talks to Open Collective; payouts/requesting.py does, after commit.
"""

from __future__ import annotations

import functools
import re
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode, urlsplit

from flask import current_app
from flask_babel import gettext, ngettext
from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from fundcircle.auth.models import User
from fundcircle.auth.services import normalise_email
from fundcircle.auth.totp import verify_code
from fundcircle.circles.models import Circle, Membership, MembershipRole
from fundcircle.circles.services import people_holding, require_role
from fundcircle.crypto import SealBroken, seal, unseal
from fundcircle.db import Base, compare_and_set, lock
from fundcircle.errors import Conflict, FundCircleError, NotFound, PermissionDenied, ValidationFailed
from fundcircle.extensions import db
from fundcircle.i18n import moment_text, money_text
from fundcircle.ledger.record import NewEntry, append_entries, record
from fundcircle.ledger.signing import checkpoint_circle
from fundcircle.mail import external_url
from fundcircle.money import CURRENCY_EXPONENTS, from_open_collective_cents
from fundcircle.notices import queue_notices
from fundcircle.payouts.binding import email_digest
from fundcircle.payouts.models import (
    FINAL_STATUSES,
    FOLLOWED_STATUSES,
    PAYOUT_STATUSES,
    REQUESTABLE_EXPENSE_TYPES,
    SETTLED_ON_OPEN_COLLECTIVE,
    STATUS_IN_SENTENCE,
    OpenCollectiveConnection,
    Payout,
    PayoutApproval,
)
from fundcircle.payouts.opencollective import Collective, Me, OpenCollectiveClient, PayoutGatewayError
from fundcircle.payouts.outbound import AddressPolicy, AddressRefused, check_url_and_host
from fundcircle.payouts.terms import check_against_ledger
from fundcircle.phrases import N_
from fundcircle.proposals.authorship import author_ids_of, authored_by, is_author, is_lead_author
from fundcircle.proposals.models import Proposal, ProposalVersion
from fundcircle.proposals.services import payee_lookup, payee_lookup_ready
from fundcircle.rounds.models import Round
from fundcircle.rounds.services import before_closing, round_has_closed
from fundcircle.unit_of_work import end_read_transaction
from fundcircle.voting.services import CandidateVersion, round_funded

TOKEN_SEAL_PURPOSE = "opencollective-token"  # nosec B105  # the name of a key's purpose, not a secret
SLUG_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{0,99}$")
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}

#: Where Open Collective's expense statuses put a payout. Once a payout has its expense, its status is Open
#: Collective's, whichever way that moves (a rejected expense approved again, a paid one marked unpaid); PROGRESS
#: orders only our own steps before that (`requesting` is never moved back to by an expense).
PAYOUT_STATUS_OF_EXPENSE = {
    "DRAFT": "invited",
    "UNVERIFIED": "requested",
    "PENDING": "requested",
    "INCOMPLETE": "requested",
    "APPROVED": "approved_on_oc",
    "PROCESSING": "approved_on_oc",
    "SCHEDULED_FOR_PAYMENT": "approved_on_oc",
    "ERROR": "approved_on_oc",
    "PAID": "paid",
    "REJECTED": "rejected",
    "SPAM": "rejected",
    "INVITE_DECLINED": "rejected",
    "CANCELED": "cancelled",
}
PROGRESS = {
    "requesting": 0,
    "invited": 1,
    "requested": 2,
    "approved_on_oc": 3,
    "paid": 4,
    "rejected": 4,
    "cancelled": 4,
}


# -- the Open Collective connection ------------------------------------------------------------------------------


def is_sandbox_url(api_url: str) -> bool:
    """A local stand-in (`flask oc-sandbox`): no money moves there, and the pages say so."""
    return (urlsplit(api_url).hostname or "") in LOCAL_HOSTS


@dataclass(frozen=True)
class ConnectionInput:
    api_url: str
    slug: str
    token: str
    expense_type: str | None = None


def check_connection_input(data: ConnectionInput) -> ConnectionInput:
    """Shape checks before anything is sent to Open Collective.

    :raises ValidationFailed: naming the field at fault.
    """
    api_url = data.api_url.strip()
    parts = urlsplit(api_url)
    if parts.scheme not in ("https", "http") or not parts.hostname or len(api_url) > 300:
        raise ValidationFailed(
            gettext(
                "Give the API's full address, such as %(example)s.",
                example=current_app.config["OPENCOLLECTIVE_API_URL"],
            ),
            field="api_url",
        )
    if parts.scheme == "http" and not (is_sandbox_url(api_url) and address_policy().allow_loopback):
        raise ValidationFailed(
            gettext(
                "The address must start with https:// (plain http only reaches the local sandbox, in development)."
            ),
            field="api_url",
        )
    try:
        # Checked again at every connection (payouts/outbound.py): what the name resolves to can change.
        check_url_and_host(api_url, address_policy())
    except AddressRefused as error:
        raise ValidationFailed(str(error), field="api_url") from None
    slug = data.slug.strip().lower()
    if not SLUG_PATTERN.match(slug):
        raise ValidationFailed(
            gettext(
                "Give the collective's slug as in its address on Open Collective: lower-case letters, "
                "digits and dashes, e.g. riverside-circle."
            ),
            field="slug",
        )
    token = data.token.strip()
    if not token or len(token) > 400 or any(c.isspace() for c in token):
        raise ValidationFailed(
            gettext("Paste the personal token from your Open Collective settings (For developers → Personal tokens)."),
            field="token",
        )
    expense_type = (data.expense_type or "").strip().upper() or None
    if expense_type is not None and expense_type not in REQUESTABLE_EXPENSE_TYPES:
        raise ValidationFailed(
            gettext(
                "Choose one of %(types)s: Fund Circle cannot request a receipt (it needs a file on every item) or "
                "other types.",
                types=", ".join(REQUESTABLE_EXPENSE_TYPES),
            ),
            field="expense_type",
        )
    return ConnectionInput(api_url, slug, token, expense_type)


def address_policy() -> AddressPolicy:
    """Where the server may connect: public https addresses, and the local sandbox only where the configuration
    explicitly allows loopback (never in production: fundcircle/config.py refuses it)."""
    return AddressPolicy(allow_loopback=bool(current_app.config["OPENCOLLECTIVE_ALLOW_LOOPBACK"]))


def make_client(api_url: str, token: str) -> OpenCollectiveClient:
    config = current_app.config
    return OpenCollectiveClient(
        api_url,
        token,
        connect_timeout=config["OPENCOLLECTIVE_CONNECT_TIMEOUT"],
        read_timeout=config["OPENCOLLECTIVE_READ_TIMEOUT"],
        backoff_seconds=config["OPENCOLLECTIVE_READ_BACKOFF_SECONDS"],
        policy=address_policy(),
    )


def client_for(connection: OpenCollectiveConnection) -> OpenCollectiveClient:
    """:raises ValidationFailed: if the stored token cannot be read (the server's key changed)."""
    try:
        token = unseal(TOKEN_SEAL_PURPOSE, connection.token_sealed)
    except SealBroken:
        raise ValidationFailed(
            gettext(
                "The circle's Open Collective token can no longer be read (the server's key changed): a treasurer "
                "must connect the circle again."
            ),
            field="token",
        ) from None
    return make_client(connection.api_url, token)


def ask_open_collective(data: ConnectionInput) -> tuple[Me, Collective]:
    """Ask Open Collective who the token is and what the collective is, before a connection is stored. Call with no
    transaction open (no lock is held while Open Collective answers).

    :raises ValidationFailed: on `token` if Open Collective refuses it, on `slug` if it has no such account, on
        `api_url` if it cannot be reached or answers otherwise; the message is Open Collective's.
    """
    try:
        with make_client(data.api_url, data.token) as client:
            return client.me(), client.collective(data.slug)
    except PayoutGatewayError as error:
        field = "token" if error.status in (401, 403) else "slug" if error.code == "NotFound" else "api_url"
        raise ValidationFailed(error.message, field=field) from None


@payee_lookup_ready.provide("open collective")
def can_look_up_payees(circle: Circle) -> bool:
    """Whether proposals' payee accounts are checked on Open Collective when saved: the circle is connected."""
    return connection_of(circle.id) is not None


@payee_lookup.provide("open collective")
def look_up_payee(circle: Circle, slug: str) -> str | None:
    """The name Open Collective gives the account `slug`, checked when a proposal naming it is saved, so that a
    mistyped payee is caught then and not at payout time. None when it cannot be asked (the circle is not connected,
    or Open Collective does not answer): the payout checks again before anything is requested. Call with no
    transaction open (nothing is held while Open Collective answers).

    :raises ValidationFailed: on `payee_slug` if Open Collective has no such account.
    """
    connection = connection_of(circle.id)
    if connection is None:
        return None
    try:
        client = client_for(connection)
    except ValidationFailed:
        return None
    end_read_transaction()
    try:
        with client:
            payee = client.payee(slug)
    except PayoutGatewayError:
        return None
    if payee is None:
        raise ValidationFailed(
            gettext(
                "Open Collective has no account “%(slug)s”: check its short name in its address, "
                "opencollective.com/short-name.",
                slug=slug,
            ),
            field="payee_slug",
        )
    return payee.name


def connection_of(circle_id: int) -> OpenCollectiveConnection | None:
    return db.session.get(OpenCollectiveConnection, circle_id)


def save_connection(
    actor: User, circle: Circle, data: ConnectionInput, *, me: Me, collective: Collective, now: datetime
) -> OpenCollectiveConnection:
    """Store a connection that Open Collective has just confirmed (`me` and `collective` come from its answers).

    :raises PermissionDenied: unless the actor is the circle's treasurer.
    :raises ValidationFailed: if the token's account is not the collective's admin, the collective holds another
        currency, or it does not accept the expense type.
    """
    require_role(actor, circle, "treasurer")
    if not collective.is_admin:
        raise ValidationFailed(
            gettext(
                "The token's account (%(account)s) is not an admin of “%(collective)s”. Expenses can only be "
                "requested with a token of one of the collective's admins.",
                account=me.slug,
                collective=collective.name,
            ),
            field="token",
        )
    if collective.balance_currency != circle.currency:
        raise ValidationFailed(
            gettext(
                "“%(collective)s” holds %(held)s, but this circle's budgets are in %(currency)s.",
                collective=collective.name,
                held=collective.balance_currency,
                currency=circle.currency,
            ),
            field="slug",
        )
    supported = [kind for kind in collective.supported_expense_types if kind in REQUESTABLE_EXPENSE_TYPES]
    expense_type = data.expense_type or "GRANT"
    if expense_type not in collective.supported_expense_types:
        accepted = ", ".join(supported) or gettext("none that Fund Circle can use")
        raise ValidationFailed(
            gettext(
                "“%(collective)s” does not accept %(type)s expenses; it accepts %(accepted)s. Choose one of them.",
                collective=collective.name,
                type=expense_type,
                accepted=accepted,
            ),
            field="expense_type",
        )
    connection = connection_of(circle.id)
    is_new = connection is None
    if connection is None:
        connection = OpenCollectiveConnection(circle_id=circle.id, webhook_secret=secrets.token_urlsafe(24))
        db.session.add(connection)
    connection.api_url = data.api_url
    connection.collective_slug = collective.slug
    connection.collective_name = collective.name
    connection.token_sealed = seal(TOKEN_SEAL_PURPOSE, data.token)
    connection.token_account = me.slug
    connection.token_two_factor = me.has_two_factor_auth
    connection.expense_type = expense_type
    connection.supported_expense_types = list(collective.supported_expense_types)
    connection.balance_minor = balance_in_minor_units(collective)
    connection.balance_currency = collective.balance_currency
    connection.balance_checked_at = now
    connection.connected_by_id = actor.id
    connection.connected_at = now
    record(
        "opencollective.connected" if is_new else "opencollective.reconnected",
        actor=actor,
        circle_id=circle.id,
        subject=circle,
        data={
            "api_url": data.api_url,
            "collective": collective.slug,
            "name": collective.name,
            "token_account": me.slug,
            "token_two_factor": me.has_two_factor_auth,
            "expense_type": expense_type,
        },
        at=now,
    )
    db.session.flush()
    return connection


#: Translated where it is shown (views.py).
TWO_FACTOR_WARNING = N_(
    "The token's Open Collective account uses two-factor authentication: Open Collective refuses its payout "
    "requests unless the token was made with “Advanced privileges” (pre-authorised for 2FA). If it was not, make "
    "one in the account's settings (For developers → Personal tokens) and connect again."
)


def store_balance(connection: OpenCollectiveConnection, collective: Collective, now: datetime) -> None:
    """Keep the balance Open Collective last reported, to show on the treasury page without asking on every view.
    A reading, not a change of the circle's state: it is not written to the ledger."""
    connection.balance_minor = balance_in_minor_units(collective)
    connection.balance_currency = collective.balance_currency
    connection.balance_checked_at = now


def balance_in_minor_units(collective: Collective) -> int:
    """Open Collective's balance (in hundredths of the unit) in the currency's minor units, as Fund Circle keeps
    money; a currency Fund Circle does not know is kept as Open Collective gave it."""
    if collective.balance_currency not in CURRENCY_EXPONENTS:
        return collective.balance_minor
    return from_open_collective_cents(collective.balance_minor, collective.balance_currency)


# -- approvals -----------------------------------------------------------------------------------------------------


def get_payout(payout_id: int) -> Payout:
    payout = db.session.get(Payout, payout_id)
    if payout is None:
        raise NotFound(gettext("There is no such payout."))
    return payout


def circle_of(payout: Payout) -> Circle:
    circle = db.session.get(Circle, payout.circle_id)
    if circle is None:  # the foreign key forbids it
        raise LookupError(f"payout {payout.id} has no circle")
    return circle


def webhook_url(connection: OpenCollectiveConnection) -> str:
    """Where Open Collective delivers the circle's webhooks; it holds the secret, so only treasurers see it."""
    return external_url("payouts.webhook", secret=connection.webhook_secret)


def connect_open_collective(
    actor: User, circle: Circle, data: ConnectionInput, now: datetime
) -> OpenCollectiveConnection:
    """Connect the circle to its collective: check the input, ask Open Collective whether the token works and
    administers the collective, then store the connection. No transaction (nor SQLite's write lock) is held while
    Open Collective answers.

    :raises ValidationFailed: on the field at fault, or with Open Collective's answer.
    :raises PermissionDenied: unless the actor is the circle's treasurer.
    """
    given = check_connection_input(data)
    end_read_transaction()
    me, collective = ask_open_collective(given)
    return save_connection(actor, circle, given, me=me, collective=collective, now=now)


def approvals_needed(payout: Payout) -> int:
    return circle_of(payout).approvals_needed(payout.amount_minor)


def held_treasurer_role_before(membership: Membership, payout: Payout) -> bool:
    """Whether the member was a treasurer already when the payout was created (and has been ever since)."""
    granted = membership.granted_at("treasurer")
    return granted is not None and granted <= payout.created_at


def has_earlier_treasurer_approval(payout: Payout) -> bool:
    """Whether one of the payout's approvals came from a treasurer who held the role when it was created: the rule
    that keeps someone made treasurer afterwards from completing a payout's approvals alone."""
    return (
        db.session.scalar(
            select(func.count())
            .select_from(PayoutApproval)
            .where(PayoutApproval.payout_id == payout.id, PayoutApproval.held_role_before.is_(True))
        )
        or 0
    ) > 0


def earlier_treasurers_left(payout: Payout) -> int:
    """How many of the circle's current treasurers held the role when the payout was created and may approve it
    (neither an author of the proposal, co-authors included, nor its payee)."""
    query = (
        select(func.count())
        .select_from(MembershipRole)
        .join(Membership, Membership.id == MembershipRole.membership_id)
        .join(User, User.id == Membership.user_id)
        .where(
            Membership.circle_id == payout.circle_id,
            MembershipRole.role == "treasurer",
            MembershipRole.granted_at <= payout.created_at,
            Membership.user_id.not_in(author_ids_of(payout.proposal_id)),
        )
    )
    if payout.payee_email is not None:
        query = query.where(User.email != normalise_email(payout.payee_email))
    return db.session.scalar(query) or 0


def approvals_waiting_for(payout: Payout) -> str | None:
    """What a payout awaiting approval still needs besides more approvals, in words: one approval from a treasurer
    who held the role when it was created. None while that does not matter yet (no approval so far, and such a
    treasurer is there to give one) or no longer (one gave it). Shown on the payout page and in the API."""
    # The approvals as loaded with the payout (a list loads them for the whole page at once); approve_payout itself
    # asks the database, which has the approvals given at the same moment.
    if payout.status != "awaiting_approval" or any(approval.held_role_before for approval in payout.approvals):
        return None
    none_left = earlier_treasurers_left(payout) == 0
    if not payout.approvals and not none_left:
        return None
    circle = db.session.get(Circle, payout.circle_id)
    since = moment_text(payout.created_at, circle.time_zone if circle is not None else None)
    if none_left:
        return gettext(
            "At least one approval must come from a treasurer who held the role when this payout was created "
            "(%(since)s); approvals from treasurers made since then do not complete it on their own. None of the "
            "circle's current treasurers held the role then, so the payout waits: it cannot be completed as things "
            "stand. A treasurer can cancel it (the proposal can be funded again in a new round).",
            since=since,
        )
    return gettext(
        "At least one approval must come from a treasurer who held the role when this payout was created "
        "(%(since)s); approvals from treasurers made since then do not complete it on their own.",
        since=since,
    )


def approval_refusal(actor: User, payout: Payout) -> FundCircleError | None:
    """Why the actor may not approve this payout (as the error to raise), or None if they may; their code is
    checked apart. The payout page shows the message instead of the approval form."""
    refusal = coded_approval_refusal(actor, payout)
    return refusal[1] if refusal is not None else None


def coded_approval_refusal(actor: User, payout: Payout) -> tuple[str, FundCircleError] | None:
    """`approval_refusal` with a stable code for the reason (the API names each refused payout by it)."""
    if payout.status != "awaiting_approval":
        return "not_awaiting_approval", Conflict(
            gettext("This payout is %(status)s; it takes no more approvals.", status=_status_words(payout.status))
        )
    proposal = db.session.get(Proposal, payout.proposal_id)
    if proposal is not None and is_author(proposal, actor):
        return "own_proposal", PermissionDenied(
            gettext("You wrote this proposal, so another treasurer must approve its payout.")
            if is_lead_author(proposal, actor)
            else gettext("You co-author this proposal, so another treasurer must approve its payout.")
        )
    if payout.payee_email is not None and normalise_email(payout.payee_email) == actor.email:
        return "own_payout", PermissionDenied(
            gettext("You are this payout's payee, so another treasurer must approve it.")
        )
    if any(approval.treasurer_id == actor.id for approval in payout.approvals):
        return "approved_already", Conflict(
            gettext("You have approved this payout already; it needs another treasurer's approval.")
        )
    return None


def approvable_by(actor: User, payouts: list[Payout]) -> set[int]:
    """The ids of the payouts awaiting approval that the actor may approve (`approval_refusal` for a whole list, in
    two queries): not their own proposal's, not paid to them, not approved by them already."""
    waiting = [payout for payout in payouts if payout.status == "awaiting_approval"]
    if not waiting:
        return set()
    ids = [payout.id for payout in waiting]
    own = set(
        db.session.scalars(
            select(Payout.id)
            .join(Proposal, Proposal.id == Payout.proposal_id)
            .where(Payout.id.in_(ids), authored_by(actor.id))
        )
    )
    approved = set(
        db.session.scalars(
            select(PayoutApproval.payout_id).where(
                PayoutApproval.payout_id.in_(ids), PayoutApproval.treasurer_id == actor.id
            )
        )
    )
    return {
        payout.id
        for payout in waiting
        if payout.id not in own
        and payout.id not in approved
        and (payout.payee_email is None or normalise_email(payout.payee_email) != actor.email)
    }


@dataclass(frozen=True)
class Funds:
    """What the collective has (its balance as Open Collective last reported it) and what approved payouts that are
    not yet paid already commit of it."""

    balance_minor: int | None
    currency: str | None
    checked_at: datetime | None
    committed_minor: int

    @property
    def left_minor(self) -> int | None:
        return None if self.balance_minor is None else self.balance_minor - self.committed_minor


def funds_of(circle: Circle) -> Funds:
    connection = connection_of(circle.id)
    committed = db.session.scalar(
        select(func.coalesce(func.sum(Payout.amount_minor), 0)).where(
            Payout.circle_id == circle.id, Payout.status.in_(UNPAID_STATUSES)
        )
    )
    if connection is None or connection.balance_currency != circle.currency:
        return Funds(None, None, None, int(committed or 0))
    return Funds(
        connection.balance_minor, connection.balance_currency, connection.balance_checked_at, int(committed or 0)
    )


def beyond_balance(payout: Payout) -> str | None:
    """If approving this payout completes its approvals and it, with what is already committed, comes to more than
    the collective's balance: the warning to confirm. None otherwise, or when the balance is not known."""
    if payout.status != "awaiting_approval" or payout.approvals_count + 1 < approvals_needed(payout):
        return None
    funds = funds_of(circle_of(payout))
    if funds.balance_minor is None or funds.currency != payout.currency:
        return None
    if funds.committed_minor + payout.amount_minor <= funds.balance_minor:
        return None
    money = functools.partial(money_text, currency=payout.currency)
    return gettext(
        "The collective's balance on Open Collective is %(balance)s, and approved payouts not yet paid already "
        "commit %(committed)s: with this one (%(amount)s) that is %(beyond)s more than the collective has. Open "
        "Collective will not pay it until the money is there. Confirm to approve it anyway.",
        balance=money(funds.balance_minor),
        committed=money(funds.committed_minor),
        amount=money(payout.amount_minor),
        beyond=money(funds.committed_minor + payout.amount_minor - funds.balance_minor),
    )


def approve_payout(
    actor: User, payout: Payout, totp_code: str, now: datetime, *, confirm_beyond_balance: bool = False
) -> Payout:
    """A treasurer approves a payout with a fresh code from their authenticator app. The approval that makes the
    number the circle requires moves the payout to `approved` and fixes the key it will carry on Open Collective,
    provided one of the approvals came from a treasurer who held the role when the payout was created: otherwise
    the payout keeps waiting for such an approval (`approvals_waiting_for` says so).

    :raises PermissionDenied: unless the actor is a treasurer of the circle, and not the proposal's author or payee.
    :raises Conflict: if the payout takes no more approvals, the actor approved it already, the code was used, or
        its amount, currency or payee disagree with the ledger.
    :raises TotpRejected, RateLimited: for a wrong code, or after too many.
    :raises ValidationFailed: on `confirm_beyond_balance` if this approval completes a payout that, with what is
        already committed, exceeds the collective's balance, and it was not confirmed (the code is not used).
    """
    # The circle's row first, as a roles change and a change of the approvals it requires take it: an approval sent
    # as its treasurer is demoted (or as the circle asks for more approvals) is decided after that change, or before
    # it, never on roles read before it and stored after it.
    circle = lock(circle_of(payout))
    membership = _current_treasurer(actor, circle)
    refusal = approval_refusal(actor, payout) or _ledger_refusal(payout)
    if refusal is not None:
        raise refusal
    warning = beyond_balance(payout)
    if warning is not None and not confirm_beyond_balance:
        raise ValidationFailed(warning, field="confirm_beyond_balance")
    verify_code(actor, totp_code, now)
    _give_approval(actor, circle, membership, payout, now, confirmed_beyond_balance=warning is not None)
    db.session.refresh(payout)
    return payout


#: At most this many payouts in one approval with one code (the treasury lists the open ones a page at a time).
MAX_APPROVED_AT_ONCE = 200


@dataclass(frozen=True)
class PayoutRefusal:
    """One payout of several that could not be approved: which (`payout_id`, `title`), why in words (`message`)
    and as a stable `code`: not_in_circle, not_awaiting_approval, own_proposal, own_payout, approved_already or
    disagrees_with_ledger."""

    payout_id: int
    title: str
    code: str
    message: str


class PayoutsRefused(FundCircleError):
    """Some of several payouts cannot be approved, so none is: `refusals` says which and why. A Conflict (409), or
    a ValidationFailed (422) when one is not a payout of the circle at all."""

    def __init__(self, message: str, refusals: list[PayoutRefusal], *, status: int) -> None:
        super().__init__(message, field="payouts")
        self.refusals = refusals
        self.status = status
        self.code = "conflict" if status == 409 else "invalid"


def approve_payouts(
    actor: User,
    circle: Circle,
    payout_ids: list[int],
    totp_code: str,
    now: datetime,
    *,
    confirm_beyond_balance: bool = False,
) -> list[Payout]:
    """A treasurer approves several payouts of the circle at once with one fresh code: each approval is checked
    and recorded exactly as `approve_payout` does (its own ledger entry, the same two-person rules), all in the
    caller's transaction. All or nothing: if any of them cannot be approved, none is, and the error names each one
    and why; the code is then not used.

    :raises ValidationFailed: on `payouts` if none is chosen or too many are; on `confirm_beyond_balance` if the
        approvals completed here, with what is already committed, exceed the collective's balance and that was not
        confirmed.
    :raises PermissionDenied: unless the actor is a treasurer of the circle.
    :raises PayoutsRefused: on `payouts` (422) if one is not a payout of the circle; (409) naming every payout the
        actor may not approve (their own proposal, their own payout, one they approved already, one no longer
        awaiting approval, or one that disagrees with the ledger), each with a stable code.
    :raises TotpRejected, RateLimited: for a wrong code, or after too many.
    """
    wanted = sorted(set(payout_ids))
    if not wanted:
        raise ValidationFailed(gettext("Tick the payouts to approve: none was chosen."), field="payouts")
    if len(wanted) > MAX_APPROVED_AT_ONCE:
        raise ValidationFailed(
            gettext("Approve at most %(most)s payouts at once.", most=MAX_APPROVED_AT_ONCE), field="payouts"
        )
    circle = lock(circle)
    membership = _current_treasurer(actor, circle)
    payouts = list(
        db.session.scalars(
            select(Payout).where(Payout.circle_id == circle.id, Payout.id.in_(wanted)).order_by(Payout.id)
        )
    )
    if len(payouts) != len(wanted):
        found = {payout.id for payout in payouts}
        missing = gettext("This is not a payout of this circle (any more).")
        raise PayoutsRefused(
            gettext("One of the chosen payouts is not a payout of this circle any more: reload the treasury."),
            [PayoutRefusal(payout_id, "", "not_in_circle", missing) for payout_id in wanted if payout_id not in found],
            status=422,
        )
    titles = titles_of(payouts)
    refusals = []
    for payout in payouts:
        coded = coded_approval_refusal(actor, payout)
        if coded is None and (ledger := _ledger_refusal(payout)) is not None:
            coded = "disagrees_with_ledger", ledger
        if coded is not None:
            title = titles.get(payout.proposal_id, gettext("a payout"))
            refusals.append(PayoutRefusal(payout.id, title, coded[0], coded[1].message))
    if refusals:
        reasons = " ".join(
            gettext("“%(title)s”: %(reason)s", title=refusal.title, reason=refusal.message) for refusal in refusals
        )
        raise PayoutsRefused(
            gettext("It was not approved. %(reasons)s", reasons=reasons)
            if len(payouts) == 1
            else gettext(
                "None of them was approved. %(reasons)s Untick those and approve the others.", reasons=reasons
            ),
            refusals,
            status=409,
        )
    warning = beyond_balance_together(circle, payouts)
    if warning is not None and not confirm_beyond_balance:
        raise ValidationFailed(warning, field="confirm_beyond_balance")
    verify_code(actor, totp_code, now)
    for payout in payouts:
        _give_approval(actor, circle, membership, payout, now, confirmed_beyond_balance=warning is not None)
    for payout in payouts:
        db.session.refresh(payout)
    return payouts


def titles_of(payouts: list[Payout]) -> dict[int, str]:
    """Each payout's proposal title as in the funded version, by proposal id, in one query."""
    if not payouts:
        return {}
    rows = db.session.execute(
        select(Payout.proposal_id, ProposalVersion.title)
        .join(
            ProposalVersion,
            (ProposalVersion.proposal_id == Payout.proposal_id) & (ProposalVersion.number == Payout.proposal_version),
        )
        .where(Payout.id.in_([p.id for p in payouts]))
    )
    return {proposal_id: title for proposal_id, title in rows}


def beyond_balance_together(circle: Circle, payouts: list[Payout]) -> str | None:
    """`beyond_balance` for several approvals at once: the payouts these approvals complete, with what is already
    committed, against the collective's balance. None when they fit or the balance is not known."""
    if len(payouts) == 1:
        return beyond_balance(payouts[0])
    completed = [p for p in payouts if p.status == "awaiting_approval" and p.approvals_count + 1 >= approvals_needed(p)]
    funds = funds_of(circle)
    if not completed or funds.balance_minor is None or funds.currency != circle.currency:
        return None
    total = sum(p.amount_minor for p in completed if p.currency == funds.currency)
    if funds.committed_minor + total <= funds.balance_minor:
        return None
    money = functools.partial(money_text, currency=funds.currency)
    return gettext(
        "The collective's balance on Open Collective is %(balance)s, and approved payouts not yet paid already "
        "commit %(committed)s: with these (%(amount)s) that is %(beyond)s more than the collective has. Open "
        "Collective will not pay them until the money is there. Confirm to approve them anyway.",
        balance=money(funds.balance_minor),
        committed=money(funds.committed_minor),
        amount=money(total),
        beyond=money(funds.committed_minor + total - funds.balance_minor),
    )


def _current_treasurer(actor: User, circle: Circle) -> Membership:
    """The actor's membership, its roles as committed now (call with the circle's row locked).

    :raises PermissionDenied: unless the actor is a treasurer of the circle.
    """
    membership = require_role(actor, circle, "treasurer")
    db.session.refresh(membership)  # its roles as committed now, not as loaded before the lock
    if "treasurer" not in membership.roles:
        raise PermissionDenied(gettext("Only a circle's treasurers can do this."))
    return membership


def _ledger_refusal(payout: Payout) -> FundCircleError | None:
    """A treasurer approves what the ledger says the circle decided, never a row changed behind the app's back: the
    same check that holds a payout before it is requested, made before anyone puts their name to it."""
    if found := check_against_ledger(payout):
        return Conflict(
            gettext(
                "This payout cannot be approved: it disagrees with the circle's ledger (%(disagreements)s). Somebody "
                "may have changed the database directly; tell the circle's admins.",
                disagreements="; ".join(d.sentence(gettext) for d in found),
            )
        )
    return None


def _give_approval(
    actor: User, circle: Circle, membership: Membership, payout: Payout, now: datetime, *,
    confirmed_beyond_balance: bool,
) -> None:  # fmt: skip
    """Store one checked approval and its ledger entry; the one that completes the payout moves it to `approved`.

    :raises Conflict: if the actor approved it already or it changed meanwhile.
    """
    earlier = held_treasurer_role_before(membership, payout)
    try:
        with db.session.begin_nested():
            db.session.add(
                PayoutApproval(payout_id=payout.id, treasurer_id=actor.id, approved_at=now, held_role_before=earlier)
            )
    except IntegrityError:
        raise Conflict(
            gettext("You have approved this payout already; it needs another treasurer's approval.")
        ) from None
    # Counted in the row itself, so that two treasurers approving at once both count and one of them completes it.
    count = db.session.execute(
        update(Payout)
        .where(Payout.id == payout.id, Payout.status == "awaiting_approval")
        .values(approvals_count=Payout.approvals_count + 1)
        .returning(Payout.approvals_count),
        execution_options={"synchronize_session": False},
    ).scalar_one_or_none()
    if count is None:
        raise Conflict(gettext("This payout changed meanwhile; reload to see where it stands."))
    needed = circle.approvals_needed(payout.amount_minor)
    # Read after the counter's UPDATE, which waited for any approval given at the same moment to commit: so of two
    # concurrent approvals, the one that completes the count also sees the other's row.
    complete = count >= needed and has_earlier_treasurer_approval(payout)
    data: dict[str, Any] = {"proposal": payout.proposal_id, "approvals": count, "needed": needed,
                            "amount_minor": payout.amount_minor, "currency": payout.currency,
                            "held_role_before": earlier}  # fmt: skip
    if count >= needed and not complete:
        data["waiting_for"] = "an approval from a treasurer who held the role when the payout was created"
    if confirmed_beyond_balance:
        data["confirmed_beyond_balance"] = True
    record("payout.approval_given", actor=actor, circle_id=circle.id, subject=payout, data=data, at=now)
    if complete:
        key = f"fc-{uuid.uuid4()}"
        _move(payout, "awaiting_approval", "approved", now, request_key=key)
        record(
            "payout.approved",
            actor=actor,
            circle_id=circle.id,
            subject=payout,
            data={"proposal": payout.proposal_id, "approvals": count, "request_key": key,
                  "amount_minor": payout.amount_minor, "currency": payout.currency},
            at=now,
        )  # fmt: skip
        # The payout request is signed into a checkpoint, so its inclusion can be proved to anyone.
        checkpoint_circle(circle.id, "payout", now)


CANCELLABLE = ("awaiting_approval", "approved", "failed", "held")


def cancel_payout(actor: User, payout: Payout, reason: str, now: datetime) -> Payout:
    """A treasurer cancels a payout that has not been requested on Open Collective (nothing exists there yet).

    :raises PermissionDenied: unless the actor is a treasurer of the circle.
    :raises ValidationFailed: on `reason` if it is missing or too long.
    :raises Conflict: if the payout is already requested (cancel the expense on Open Collective instead) or final.
    """
    circle = circle_of(payout)
    require_role(actor, circle, "treasurer")
    reason = reason.strip()
    if len(reason) < 3:
        raise ValidationFailed(
            gettext("Say why the payout is cancelled; the circle will read it in the ledger."), field="reason"
        )
    if len(reason) > 1000:
        raise ValidationFailed(gettext("Use at most 1,000 characters."), field="reason")
    if payout.status == "failed" and payout.outcome_unknown:
        # Open Collective may have made the expense after all (its answers were lost): cancelling here could leave
        # it there to be paid. Requesting again looks it up first, and then it can be rejected on Open Collective.
        raise Conflict(
            gettext(
                "Open Collective may have created this payout's expense (its answers were lost), so it cannot be "
                "cancelled here: request it again, which looks the expense up first, and reject it on Open "
                "Collective if it should not be paid."
            )
        )
    if payout.status not in CANCELLABLE:
        status = _status_words(payout.status)
        raise Conflict(
            gettext("This payout is %(status)s, so it can no longer be cancelled here.", status=status)
            if payout.is_final
            else gettext(
                "This payout is %(status)s, so it can no longer be cancelled here; reject or cancel its expense on "
                "Open Collective instead.",
                status=status,
            )
        )
    before = payout.status
    _move(payout, before, "cancelled", now, cancel_reason=reason, claimed_at=None)
    record(
        "payout.cancelled",
        actor=actor,
        circle_id=circle.id,
        subject=payout,
        data={"proposal": payout.proposal_id, "from": before, "reason": reason},
        at=now,
    )
    close_round_if_settled(payout.round_id, now)
    return payout


def retry_payout(actor: User, payout: Payout, now: datetime) -> Payout:
    """A treasurer who fixed the cause of a failed request asks for it again (Open Collective is asked first
    whether the expense exists, as for every request).

    :raises PermissionDenied: unless the actor is a treasurer of the circle.
    :raises Conflict: unless the payout failed.
    """
    circle = circle_of(payout)
    require_role(actor, circle, "treasurer")
    if payout.status not in ("failed", "held"):
        raise Conflict(
            gettext("Only a failed payout can be retried; this one is %(status)s.", status=_status_words(payout.status))
        )
    # A held payout is checked against the ledger again before it is requested: retrying it helps only once its
    # row says again what the ledger says.
    _move(payout, payout.status, "approved", now, failure_message=None, retry_at=None)
    record("payout.retry_requested", actor=actor, circle_id=circle.id, subject=payout,
           data={"proposal": payout.proposal_id, "status": "approved"}, at=now)  # fmt: skip
    return payout


# -- status changes ------------------------------------------------------------------------------------------------


def _move(payout: Payout, from_status: str, to_status: str, now: datetime, **values: Any) -> None:
    """Compare-and-set the payout's status: of two processes moving it at once, one wins, the other gets Conflict."""
    compare_and_set(
        payout,
        expected=Payout.status == from_status,
        values={"status": to_status, "status_changed_at": now, **values},
        conflict=Conflict(gettext("This payout changed meanwhile; reload to see where it stands.")),
    )


def apply_expense_status(payout: Payout, expense_id: str, expense_status: str, now: datetime, *, via: str) -> bool:
    """Follow what Open Collective says about the payout's expense, whichever way it moves: REJECTED and PAID are not
    final there (an expense can be approved again, or marked unpaid), so neither is `rejected` nor `paid` here. Every
    move is in the ledger; a move back from a settled status is a reversal: the circle's treasurers are told, and a
    round that had closed because everything was settled is decided again. Returns whether anything changed.

    :raises Conflict: if another process moved the payout meanwhile.
    """
    target = PAYOUT_STATUS_OF_EXPENSE.get(expense_status)
    before, before_expense_status = payout.status, payout.expense_status
    moves = (
        target is not None
        and target != before
        and (
            before in FOLLOWED_STATUSES
            or before in SETTLED_ON_OPEN_COLLECTIVE
            or PROGRESS.get(target, -1) > PROGRESS.get(before, 99)
        )
    )
    changed = moves or before_expense_status != expense_status
    payout.synced_at = now
    if not changed:
        return False
    values: dict[str, Any] = {"expense_status": expense_status, "synced_at": now}
    if moves and target is not None:
        _move(payout, before, target, now, **values)
    else:
        db.session.execute(
            update(Payout).where(Payout.id == payout.id, Payout.status == before).values(**values),
            execution_options={"synchronize_session": False},
        )
        db.session.refresh(payout)
    reversed_ = before in FINAL_STATUSES and not payout.is_final
    data: dict[str, Any] = {"proposal": payout.proposal_id, "expense_id": expense_id, "expense_status": expense_status,
                            "from": before, "to": payout.status, "via": via}  # fmt: skip
    if reversed_:
        data["reversed"] = True
    record("payout.expense_updated", actor=None, circle_id=payout.circle_id, subject=payout, data=data, at=now)
    if payout.is_final:
        close_round_if_settled(payout.round_id, now)
    elif reversed_:
        reopen_round_if_closed(payout.round_id, payout, now)
        # In words, by the proposal's title: the expense's id and Open Collective's raw statuses are in the ledger
        # entry above and on the payout page's technical details.
        title = titles_of([payout]).get(payout.proposal_id)
        after = payout.status

        def reversal() -> tuple[str, str]:
            named = title if title is not None else gettext("A payout")
            values = {"title": named, "before": _status_words(before), "after": _status_words(after)}
            return (
                gettext("“%(title)s”: its payout moved back on Open Collective: %(before)s → %(after)s", **values),
                gettext(
                    "Open Collective now says the payout for “%(title)s” is %(after)s; it was %(before)s before. "
                    "Someone on Open Collective approved a rejected expense again, or marked a paid one as unpaid. "
                    "Check it there; Fund Circle keeps following it.",
                    **values,
                ),
            )

        tell_treasurers(payout, reversal, kind="payout.reversed")
    return True


def reopen_round_if_closed(round_id: int, payout: Payout, now: datetime) -> bool:
    """A closed round said that every payout was settled; when one moves back, it is decided again (and closes by
    itself once everything is settled once more)."""
    round_ = db.session.get(Round, round_id)
    if round_ is None or not compare_and_set(
        round_, expected=Round.phase == "closed", values={"phase": "decided", "phase_changed_at": now}
    ):
        return False
    record("round.phase_changed", actor=None, circle_id=round_.circle_id, subject=round_,
           data={"from": "closed", "to": "decided", "by": "payouts", "cause": "payout_reversed", "payout": payout.id,
                 "proposal": payout.proposal_id, "reason": "a settled payout moved back on Open Collective"},
           at=now)  # fmt: skip
    return True


def _status_words(status: str) -> str:
    """A payout's status in the middle of a sentence, in the reader's language."""
    return gettext(STATUS_IN_SENTENCE[status])


def tell_treasurers(payout: Payout, words: Callable[[], tuple[str, str]], *, kind: str) -> None:
    """E-mail every treasurer of the payout's circle, after the commit, with a link to the payout: `words` gives
    the (subject, body), called in each treasurer's language (fundcircle/notices.py writes it once per language)."""
    link = external_url("payouts.view", payout_id=payout.id)
    queue_notices(
        people_holding(payout.circle_id, "treasurer"),
        lambda: words()[0],
        lambda: f"{words()[1]}\n\n{link}\n",
        kind=kind,
        circle_id=payout.circle_id,
        url=link,
    )


_PAYOUTS = Base.metadata.tables[Payout.__tablename__]


@round_funded.connect
def create_payouts(actor: User | None, round_: Round, funded: list[CandidateVersion], now: datetime) -> None:
    """A payout for each funded version of a decided round, awaiting approval, in the deciding transaction: in Core
    statements whose number does not grow with the round (one batched insert of the payouts, one append of their
    ledger entries, in the order of the result), so that deciding a round of thousands of proposals takes a
    handful of statements."""
    if not funded:
        return
    # A plain executemany, then the ids read back by proposal (one payout per proposal, UNIQUE): two statements
    # whatever the number, and psycopg parses the short INSERT once, where an INSERT ... RETURNING of hundreds of
    # rows is one long statement it parses anew every time.
    db.session.execute(
        insert(_PAYOUTS),
        [
            {
                "proposal_id": version.proposal_id,
                "round_id": round_.id,
                "circle_id": round_.circle_id,
                "proposal_version": version.number,
                "amount_minor": version.amount_minor,
                "currency": version.currency,
                "payee_slug": version.payee_slug,
                "payee_name": version.payee_name,
                "payee_email": version.payee_email,
                "status": "awaiting_approval",
                "created_at": now,
            }
            for version in funded
        ],
    )
    ids: dict[int, int] = dict(
        db.session.execute(select(Payout.proposal_id, Payout.id).where(Payout.round_id == round_.id)).all()
    )
    append_entries(
        [
            NewEntry(
                "payout.created",
                "payout",
                ids[version.proposal_id],
                {
                    "proposal": version.proposal_id,
                    "version": version.number,
                    "amount_minor": version.amount_minor,
                    "currency": version.currency,
                    # Who is paid, so that a payout is requested only as the ledger says (payouts/binding.py); the
                    # address stays out of the ledger, which a public circle shows to everyone.
                    "payee_slug": version.payee_slug,
                    "payee_name": version.payee_name,
                    "payee_email_sha256": email_digest(version.payee_email),
                    "status": "awaiting_approval",
                },
            )
            for version in funded
        ],
        actor=actor,
        circle_id=round_.circle_id,
        at=now,
    )
    _tell_treasurers_of_waiting_payouts(round_, len(funded))


def _tell_treasurers_of_waiting_payouts(round_: Round, count: int) -> None:
    """The circle's treasurers hear that payouts wait for their approval (nobody else can move them on)."""
    link = external_url("payouts.treasury", circle_id=round_.circle_id)

    def subject() -> str:
        return ngettext(
            "%(round)s: %(num)d payout(s) wait for your approval",
            "%(round)s: %(num)d payout(s) wait for your approval",
            count,
            round=round_.title,
        )

    def body() -> str:
        decided = ngettext(
            "The round “%(round)s” is decided: %(num)d payout(s) wait for a treasurer's approval.",
            "The round “%(round)s” is decided: %(num)d payout(s) wait for a treasurer's approval.",
            count,
            round=round_.title,
        )
        return f"{decided}\n\n{link}\n"

    queue_notices(
        people_holding(round_.circle_id, "treasurer"),
        subject,
        body,
        kind="payout.awaiting_approval",
        circle_id=round_.circle_id,
        url=link,
        round_id=round_.id,
    )


@before_closing.connect
def refuse_closing_with_unsettled_payouts(round_: Round) -> None:
    """A round closes once every payout is paid, rejected or cancelled.

    :raises ValidationFailed: on `to` while some are not.
    """
    if unsettled := unsettled_payouts(round_.id):
        raise ValidationFailed(
            ngettext(
                "%(num)d payout(s) of this round are not yet paid, rejected or cancelled; the round closes by "
                "itself when they are.",
                "%(num)d payout(s) of this round are not yet paid, rejected or cancelled; the round closes by "
                "itself when they are.",
                unsettled,
            ),
            field="to",
        )


def unsettled_payouts(round_id: int) -> int:
    return (
        db.session.scalar(
            select(func.count())
            .select_from(Payout)
            .where(Payout.round_id == round_id, Payout.status.not_in(FINAL_STATUSES))
        )
        or 0
    )


def close_round_if_settled(round_id: int, now: datetime) -> bool:
    """A decided round closes when every payout is paid, rejected or cancelled."""
    if unsettled_payouts(round_id):
        return False
    round_ = db.session.get(Round, round_id)
    if round_ is None or not compare_and_set(
        round_, expected=Round.phase == "decided", values={"phase": "closed", "phase_changed_at": now}
    ):
        return False
    record("round.phase_changed", actor=None, circle_id=round_.circle_id, subject=round_,
           data={"from": "decided", "to": "closed", "by": "payouts", "cause": "payouts_settled"},
           at=now)  # fmt: skip
    round_has_closed(None, round_, now)
    return True


# -- reading -------------------------------------------------------------------------------------------------------


#: How many payouts the treasury page lists: every open one up to this many, and the latest settled ones.
OPEN_ON_PAGE = 200
SETTLED_ON_PAGE = 20
UNPAID_STATUSES = ("approved", "requesting", "requested", "invited", "approved_on_oc", "failed", "held")


#: The statuses the treasury can be filtered by, in the order a payout moves through them (`requesting` is a
#: moment's claim while Open Collective is asked, shown with `approved`).
FILTER_STATUSES = tuple(status for status in PAYOUT_STATUSES if status != "requesting")


@dataclass(frozen=True)
class TreasuryFilter:
    """What the treasury lists: one round's payouts, and those in one status (None: all)."""

    round_id: int | None = None
    status: str | None = None


@dataclass(frozen=True)
class Treasury:
    #: Payouts still under way (awaiting approval first), then the latest settled ones.
    open: list[Payout]
    open_not_shown: int
    settled: list[Payout]
    awaiting_minor: int
    approved_unpaid_minor: int
    paid_minor: int
    #: The circle's rounds that have payouts, newest first: (id, title), for the round column and the filter.
    rounds: list[tuple[int, str]]
    shown: TreasuryFilter

    @property
    def round_titles(self) -> dict[int, str]:
        return dict(self.rounds)


def rounds_with_payouts(circle: Circle) -> list[tuple[int, str]]:
    """The circle's rounds that have payouts, newest first, as (id, title)."""
    in_payouts = select(Payout.round_id).where(Payout.circle_id == circle.id)
    query = select(Round.id, Round.title).where(Round.circle_id == circle.id, Round.id.in_(in_payouts))
    return [(round_id, title) for round_id, title in db.session.execute(query.order_by(Round.id.desc()))]


def sandbox_page_url(connection: OpenCollectiveConnection, back: str) -> str | None:
    """The local sandbox's host page, for a circle connected to it (None for Open Collective itself), with the
    address of the page to come back to (the sandbox offers a link to it)."""
    if not is_sandbox_url(connection.api_url):
        return None
    return connection.api_url.rsplit("/graphql", 1)[0] + "/?" + urlencode({"back": back})


def expense_link(payout: Payout, connection: OpenCollectiveConnection, back: str) -> str | None:
    """Where a person finds the payout's expense on Open Collective's website: the collective's expenses, searched
    for the payout's title (Fund Circle keeps the expense's API id, not the number in its web address). On the local
    sandbox: its host page, at the expense's row. None until the expense exists."""
    if payout.expense_id is None:
        return None
    if is_sandbox_url(connection.api_url):
        page = sandbox_page_url(connection, back) or ""
        return page + "#expense-" + payout.expense_id
    parts = urlsplit(connection.api_url)
    host = parts.hostname or ""
    # api.opencollective.com serves opencollective.com, api-staging.opencollective.com serves staging.
    site = host.removeprefix("api.") if host.startswith("api.") else host.replace("api-", "", 1)
    title = titles_of([payout]).get(payout.proposal_id, "")
    return f"https://{site}/{connection.collective_slug}/expenses?" + urlencode({"searchTerm": title})


def treasury_of(circle: Circle, shown: TreasuryFilter | None = None) -> Treasury:
    """What the treasury page shows, in a fixed number of queries whatever the circle's history: the totals by
    status (of the round shown, or of every round), the open payouts (awaiting approval first, oldest first) and the
    latest settled ones, each list narrowed to the round and status shown."""
    shown = shown or TreasuryFilter()
    rounds = rounds_with_payouts(circle)
    of_circle = Payout.circle_id == circle.id
    if shown.round_id is not None:
        of_circle = of_circle & (Payout.round_id == shown.round_id)
    totals = dict(
        db.session.execute(
            select(Payout.status, func.sum(Payout.amount_minor)).where(of_circle).group_by(Payout.status)
        ).all()
    )
    listed = of_circle
    if shown.status is not None:
        statuses = ("approved", "requesting") if shown.status == "approved" else (shown.status,)
        listed = listed & Payout.status.in_(statuses)
    open_filter = listed & Payout.status.not_in(FINAL_STATUSES)
    awaiting_first = (Payout.status != "awaiting_approval", Payout.id)
    open_payouts = list(
        db.session.scalars(select(Payout).where(open_filter).order_by(*awaiting_first).limit(OPEN_ON_PAGE))
    )
    open_count = db.session.scalar(select(func.count()).where(open_filter)) or 0
    settled = list(
        db.session.scalars(
            select(Payout)
            .where(listed, Payout.status.in_(FINAL_STATUSES))
            .order_by(Payout.status_changed_at.desc(), Payout.id.desc())
            .limit(SETTLED_ON_PAGE)
        )
    )
    return Treasury(
        open=open_payouts,
        open_not_shown=max(0, open_count - len(open_payouts)),
        settled=settled,
        awaiting_minor=int(totals.get("awaiting_approval") or 0),
        approved_unpaid_minor=sum(int(totals.get(status) or 0) for status in UNPAID_STATUSES),
        paid_minor=int(totals.get("paid") or 0),
        rounds=rounds,
        shown=shown,
    )


def payouts_page(circle: Circle, *, after: int, limit: int) -> list[Payout]:
    query = select(Payout).where(Payout.circle_id == circle.id, Payout.id > after).order_by(Payout.id).limit(limit)
    return list(db.session.scalars(query.options(selectinload(Payout.approvals))))
