"""Payouts: what a decided round owes its funded proposals, approved by treasurers and requested on Open Collective."""

from __future__ import annotations

from datetime import datetime

from flask_babel import gettext
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fundcircle.auth.models import User
from fundcircle.db import Base, UTCDateTime, utcnow
from fundcircle.phrases import N_
from fundcircle.proposals.models import ONE_KIND_OF_PAYEE

#: `requesting` is the worker's claim while it asks Open Collective (see payouts/requesting.py); the others are the
#: statuses a treasurer sees. `held`: its amount, currency or payee disagrees with the ledger, so it was not requested
#: (payouts/binding.py); a treasurer restores the row and asks again, or cancels it.
PAYOUT_STATUSES = (
    "awaiting_approval",
    "approved",
    "requesting",
    "requested",
    "invited",
    "approved_on_oc",
    "paid",
    "rejected",
    "failed",
    "held",
    "cancelled",
)
FINAL_STATUSES = ("paid", "rejected", "cancelled")
#: Statuses whose expense exists on Open Collective and is followed by `payouts sync` and the webhook.
FOLLOWED_STATUSES = ("requested", "invited", "approved_on_oc")
#: Settled, but not for good: on Open Collective a rejected expense can be approved again and a paid one marked
#: unpaid (server/graphql/common/expenses.ts, canApprove and canMarkAsUnpaid). A payout in one of these with an
#: expense is followed for PAYOUT_FOLLOW_SETTLED_DAYS by `payouts sync`, and whenever a webhook names it.
SETTLED_ON_OPEN_COLLECTIVE = ("paid", "rejected", "cancelled")

STATUS_LABELS = {
    "awaiting_approval": N_("Awaiting approval"),
    "approved": N_("Approved, to be requested"),
    "requesting": N_("Being requested on Open Collective"),
    "requested": N_("Requested on Open Collective"),
    "invited": N_("Payee invited by Open Collective"),
    "approved_on_oc": N_("Approved on Open Collective"),
    "paid": N_("Paid"),
    "rejected": N_("Rejected on Open Collective"),
    "failed": N_("Failed: needs a treasurer"),
    "held": N_("Held: disagrees with the ledger"),
    "cancelled": N_("Cancelled"),
}
#: The statuses in the middle of a sentence ("This payout is paid; it takes no more approvals."): their own messages,
#: as a translation may not simply lower-case the label.
STATUS_IN_SENTENCE = {
    "awaiting_approval": N_("awaiting approval"),
    "approved": N_("approved, to be requested"),
    "requesting": N_("being requested on Open Collective"),
    "requested": N_("requested on Open Collective"),
    "invited": N_("payee invited by Open Collective"),
    "approved_on_oc": N_("approved on Open Collective"),
    "paid": N_("paid"),
    "rejected": N_("rejected on Open Collective"),
    "failed": N_("failed: needs a treasurer"),
    "held": N_("held: disagrees with the ledger"),
    "cancelled": N_("cancelled"),
}

#: Expense types a connection may have stored (the database's check); older connections may hold any of them.
EXPENSE_TYPES = ("GRANT", "INVOICE", "RECEIPT", "FUNDING_REQUEST")
#: The types Fund Circle can really request, where the collective accepts them: a RECEIPT needs a file on every item
#: ("Some items are missing a file", server/graphql/common/expenses.ts), which a grant of a fund does not have.
REQUESTABLE_EXPENSE_TYPES = ("GRANT", "INVOICE")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN (" + ", ".join(f"'{value}'" for value in values) + ")"


class Payout(Base):
    """What a funded proposal is owed: created when its round is decided, one per proposal."""

    __tablename__ = "payouts"
    __table_args__ = (
        CheckConstraint("amount_minor > 0", name="amount_positive"),
        CheckConstraint(_in("status", PAYOUT_STATUSES), name="status_known"),
        CheckConstraint(ONE_KIND_OF_PAYEE, name="one_kind_of_payee"),
        CheckConstraint("approvals_count >= 0", name="approvals_count_not_negative"),
        # A payout held back because it disagrees with the ledger always says what disagreed.
        CheckConstraint("status <> 'held' OR failure_message IS NOT NULL", name="held_says_why"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    proposal_id: Mapped[int] = mapped_column(ForeignKey("proposals.id"), unique=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id"), index=True)
    circle_id: Mapped[int] = mapped_column(ForeignKey("circles.id"), index=True)
    proposal_version: Mapped[int] = mapped_column(Integer)
    amount_minor: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    payee_slug: Mapped[str | None] = mapped_column(String(100))
    payee_name: Mapped[str | None] = mapped_column(String(120))
    payee_email: Mapped[str | None] = mapped_column(String(254))
    status: Mapped[str] = mapped_column(String(24), default="awaiting_approval")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    status_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: Distinct treasurer approvals so far; incremented with a conditional UPDATE so concurrent approvals all count.
    approvals_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    #: The payout's own key on Open Collective (customData and reference), fixed at the final approval.
    request_key: Mapped[str | None] = mapped_column(String(64), unique=True)
    #: Requests tried so far; the ledger has each one.
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    #: When a worker claimed the payout to request it; a claim older than the lease is a crashed worker's.
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: The last request's outcome is unknown: Open Collective must be asked before anything is sent again.
    outcome_unknown: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    #: Requests whose outcome stayed unknown; at PAYOUT_MAX_UNKNOWN_OUTCOMES the payout waits for a treasurer.
    unknown_outcomes: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    #: Not before this time (Open Collective's rate limit said to wait, or the backoff after an unknown outcome).
    retry_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    expense_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    #: The expense's status as Open Collective last reported it (DRAFT, PENDING, APPROVED, PAID, ...).
    expense_status: Mapped[str | None] = mapped_column(String(32))
    synced_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: Open Collective's message when a request failed, for the treasurers.
    failure_message: Mapped[str | None] = mapped_column(Text)
    cancel_reason: Mapped[str | None] = mapped_column(Text)

    approvals: Mapped[list[PayoutApproval]] = relationship(back_populates="payout", order_by="PayoutApproval.id")

    @property
    def status_label(self) -> str:
        return gettext(STATUS_LABELS[self.status])

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATUSES

    def payee_text(self) -> str:
        if self.payee_slug:
            return gettext("Open Collective account “%(slug)s”", slug=self.payee_slug)
        return gettext("%(name)s (invited by e-mail)", name=self.payee_name)

    def __repr__(self) -> str:
        return f"<Payout {self.id} {self.status}>"


class PayoutApproval(Base):
    """One treasurer's approval of one payout, confirmed with their second factor."""

    __tablename__ = "payout_approvals"
    __table_args__ = (UniqueConstraint("payout_id", "treasurer_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    payout_id: Mapped[int] = mapped_column(ForeignKey("payouts.id"), index=True)
    treasurer_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    approved_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    #: The approver held the treasurer role already when the payout was created. A payout needs at least one such
    #: approval, so that someone made treasurer afterwards (perhaps by themselves) cannot approve it alone.
    held_role_before: Mapped[bool] = mapped_column(Boolean)

    payout: Mapped[Payout] = relationship(back_populates="approvals")
    treasurer: Mapped[User] = relationship(lazy="joined")


class OpenCollectiveConnection(Base):
    """Where a circle's money is held: its collective on Open Collective, and the token that acts for it."""

    __tablename__ = "opencollective_connections"
    __table_args__ = (CheckConstraint(_in("expense_type", EXPENSE_TYPES), name="expense_type_known"),)

    circle_id: Mapped[int] = mapped_column(ForeignKey("circles.id"), primary_key=True)
    api_url: Mapped[str] = mapped_column(String(300))
    collective_slug: Mapped[str] = mapped_column(String(100))
    collective_name: Mapped[str] = mapped_column(String(200))
    #: The personal token, sealed with a key from the app's configuration; never shown again, never in the ledger.
    token_sealed: Mapped[str] = mapped_column(Text)
    #: The account the token acts as, as Open Collective named it when the circle connected.
    token_account: Mapped[str] = mapped_column(String(100))
    #: The token's account uses two-factor authentication (Open Collective's `me.hasTwoFactorAuth` when the circle
    #: connected; None: connected before this was asked). Its token then works only if made with "Advanced
    #: privileges", which Open Collective does not tell; a refusal says so on the payout.
    token_two_factor: Mapped[bool | None] = mapped_column(Boolean)
    expense_type: Mapped[str] = mapped_column(String(24))
    supported_expense_types: Mapped[list[str]] = mapped_column(JSON)
    #: The secret in the webhook's URL. Open Collective does not sign deliveries; a delivery only makes us re-fetch
    #: an expense of this circle from Open Collective, so knowing the secret lets nobody change anything.
    webhook_secret: Mapped[str] = mapped_column(String(64), unique=True)
    balance_minor: Mapped[int | None] = mapped_column(BigInteger)
    balance_currency: Mapped[str | None] = mapped_column(String(3))
    balance_checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    connected_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    connected_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    connected_by: Mapped[User] = relationship()
