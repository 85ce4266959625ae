"""API operations for the Open Collective connection, TOTP enrolment and payouts. Same services as the pages;
requests to Open Collective happen after the commit."""

from __future__ import annotations

from typing import Any

from flask import g
from flask_login import current_user

from fundcircle.access import SIGNED_IN, circle_role, requires
from fundcircle.api.views import blp
from fundcircle.auth import totp
from fundcircle.db import utcnow
from fundcircle.errors import NotFound
from fundcircle.extensions import db
from fundcircle.payouts import services
from fundcircle.payouts.models import OpenCollectiveConnection, Payout
from fundcircle.payouts.requesting import submit_after_approval
from fundcircle.payouts.schemas import (
    ApproveSchema,
    CancelSchema,
    ConnectionInSchema,
    ConnectionSchema,
    EmptySchema,
    PayoutListSchema,
    PayoutSchema,
    TotpConfirmSchema,
    TotpSecretSchema,
    TotpStartSchema,
    TotpStatusSchema,
)
from fundcircle.payouts.views import webhook_url
from fundcircle.proposals.schemas import PageQuerySchema

TREASURER = circle_role("treasurer")


def connection_out(connection: OpenCollectiveConnection) -> dict[str, Any]:
    return {
        "circle_id": connection.circle_id,
        "api_url": connection.api_url,
        "slug": connection.collective_slug,
        "name": connection.collective_name,
        "token_account": connection.token_account,
        "expense_type": connection.expense_type,
        "supported_expense_types": connection.supported_expense_types,
        "balance_minor": connection.balance_minor,
        "currency": connection.balance_currency,
        "balance_checked_at": connection.balance_checked_at,
        "webhook_url": webhook_url(connection),
        "sandbox": services.is_sandbox_url(connection.api_url),
        "connected_at": connection.connected_at,
    }


def payout_out(payout: Payout) -> dict[str, Any]:
    return {
        "id": payout.id,
        "circle_id": payout.circle_id,
        "round_id": payout.round_id,
        "proposal_id": payout.proposal_id,
        "proposal_version": payout.proposal_version,
        "amount_minor": payout.amount_minor,
        "currency": payout.currency,
        "payee_slug": payout.payee_slug,
        "payee_name": payout.payee_name,
        "status": payout.status,
        "status_label": payout.status_label,
        "approvals": [
            {"treasurer_id": a.treasurer_id, "name": a.treasurer.name, "approved_at": a.approved_at}
            for a in payout.approvals
        ],
        "approvals_needed": services.approvals_needed(payout),
        "expense_id": payout.expense_id,
        "expense_status": payout.expense_status,
        "failure_message": payout.failure_message,
        "cancel_reason": payout.cancel_reason,
        "attempts": payout.attempts,
        "outcome_unknown": payout.outcome_unknown,
        "created_at": payout.created_at,
        "status_changed_at": payout.status_changed_at,
        "synced_at": payout.synced_at,
    }


@blp.route("/circles/<int:circle_id>/opencollective", methods=["PUT"])
@requires(TREASURER)
@blp.arguments(ConnectionInSchema)
@blp.response(200, ConnectionSchema)
def put_connection(data: dict[str, Any], circle_id: int) -> dict[str, Any]:
    """Connect the circle to its collective (treasurers). Open Collective is asked first whether the token works and
    administers the collective; the token is stored sealed and never shown again."""
    circle = g.circle
    given = services.check_connection_input(services.ConnectionInput(**data))
    db.session.rollback()  # no transaction open while Open Collective answers
    me, collective = services.ask_open_collective(given)
    connection = services.save_connection(current_user, circle, given, me=me, collective=collective, now=utcnow())
    db.session.commit()
    return connection_out(connection)


@blp.route("/circles/<int:circle_id>/opencollective", methods=["GET"])
@requires(TREASURER)
@blp.response(200, ConnectionSchema)
def get_connection(circle_id: int) -> dict[str, Any]:
    """The circle's Open Collective connection and last known balance (treasurers); 404 if not connected."""
    connection = services.connection_of(circle_id)
    if connection is None:
        raise NotFound("This circle is not connected to Open Collective.")
    return connection_out(connection)


@blp.route("/me/totp", methods=["POST"])
@requires(SIGNED_IN)
@blp.arguments(TotpStartSchema)
@blp.response(201, TotpSecretSchema)
def start_totp(data: dict[str, Any]) -> dict[str, Any]:
    """Enrol an authenticator app: a new secret, returned once. It counts once confirmed with a code."""
    secret = totp.start_enrolment(current_user, password=data["password"], now=utcnow())
    db.session.commit()
    return {"secret": secret, "otpauth_uri": totp.provisioning_uri(current_user, secret)}


@blp.route("/me/totp/confirm", methods=["POST"])
@requires(SIGNED_IN)
@blp.arguments(TotpConfirmSchema)
@blp.response(200, TotpStatusSchema)
def confirm_totp(data: dict[str, Any]) -> dict[str, Any]:
    """Confirm the enrolment with the first code the app shows."""
    totp.confirm_enrolment(current_user, data["code"], utcnow())
    db.session.commit()
    return {"enabled": True}


@blp.route("/circles/<int:circle_id>/payouts", methods=["GET"])
@requires(TREASURER)
@blp.arguments(PageQuerySchema, location="query")
@blp.response(200, PayoutListSchema)
def list_payouts(query: dict[str, Any], circle_id: int) -> dict[str, Any]:
    """The circle's payouts and their status (treasurers), in id order, a page at a time."""
    payouts = services.payouts_page(g.circle, after=query["after"], limit=query["limit"])
    return {
        "items": [payout_out(p) for p in payouts],
        "next_after": payouts[-1].id if len(payouts) == query["limit"] else None,
    }


@blp.route("/payouts/<int:payout_id>", methods=["GET"])
@requires(TREASURER)
@blp.response(200, PayoutSchema)
def get_payout(payout_id: int) -> dict[str, Any]:
    """One payout, its approvals and where it stands on Open Collective (treasurers)."""
    return payout_out(services.get_payout(payout_id))


@blp.route("/payouts/<int:payout_id>/approve", methods=["POST"])
@requires(TREASURER)
@blp.arguments(ApproveSchema)
@blp.response(200, PayoutSchema)
def approve_payout(data: dict[str, Any], payout_id: int) -> dict[str, Any]:
    """Approve with a fresh code from your authenticator app (treasurers; never the author or payee). The approval
    that completes the number needed requests the payout on Open Collective, after the commit."""
    payout = services.approve_payout(current_user, services.get_payout(payout_id), data["totp"], utcnow())
    db.session.commit()
    submit_after_approval(payout.id)
    return payout_out(services.get_payout(payout_id))


@blp.route("/payouts/<int:payout_id>/cancel", methods=["POST"])
@requires(TREASURER)
@blp.arguments(CancelSchema)
@blp.response(200, PayoutSchema)
def cancel_payout(data: dict[str, Any], payout_id: int) -> dict[str, Any]:
    """Cancel a payout not yet requested on Open Collective, with a reason (treasurers)."""
    payout = services.cancel_payout(current_user, services.get_payout(payout_id), data["reason"], utcnow())
    db.session.commit()
    return payout_out(payout)


@blp.route("/payouts/<int:payout_id>/retry", methods=["POST"])
@requires(TREASURER)
@blp.arguments(EmptySchema)
@blp.response(200, PayoutSchema)
def retry_payout(data: dict[str, Any], payout_id: int) -> dict[str, Any]:
    """Request a failed payout again once its cause is fixed (treasurers); Open Collective is asked first."""
    payout = services.retry_payout(current_user, services.get_payout(payout_id), utcnow())
    db.session.commit()
    submit_after_approval(payout.id)
    return payout_out(services.get_payout(payout_id))
