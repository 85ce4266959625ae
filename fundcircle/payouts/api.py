"""The payouts' part of the JSON API: the circle's Open Collective connection, payouts, approvals and
cancellations. Requests to Open Collective happen after the commit."""

from __future__ import annotations

import functools
from typing import Any

from flask import g
from flask_babel import gettext
from flask_login import current_user

from fundcircle.access import circle_role, requires
from fundcircle.db import utcnow
from fundcircle.errors import Conflict, FundCircleError, NotFound, ValidationFailed
from fundcircle.fields import PageQuerySchema
from fundcircle.openapi import api_blueprint
from fundcircle.payouts import services
from fundcircle.payouts.models import OpenCollectiveConnection, Payout
from fundcircle.payouts.requesting import submit_after_approval
from fundcircle.payouts.schemas import (
    ApprovedPayoutsSchema,
    ApproveManySchema,
    ApproveSchema,
    CancelSchema,
    ConnectionInSchema,
    ConnectionSchema,
    EmptySchema,
    PayoutListSchema,
    PayoutSchema,
)
from fundcircle.unit_of_work import after_commit

blp = api_blueprint("payouts", __name__, "The Open Collective connection, payouts and their approvals")

TREASURER = circle_role("treasurer")


@blp.route("/circles/<int:circle_id>/opencollective", methods=["PUT"])
@requires(TREASURER)
@blp.arguments(ConnectionInSchema)
@blp.response(200, ConnectionSchema)
def put_connection(data: dict[str, Any], circle_id: int) -> OpenCollectiveConnection:
    """Connect the circle to its collective (treasurers). Open Collective is asked first whether the token works and
    administers the collective; the token is stored sealed and never shown again."""
    return services.connect_open_collective(current_user, g.circle, services.ConnectionInput(**data), utcnow())


@blp.route("/circles/<int:circle_id>/opencollective", methods=["GET"])
@requires(TREASURER)
@blp.response(200, ConnectionSchema)
def get_connection(circle_id: int) -> OpenCollectiveConnection:
    """The circle's Open Collective connection and last known balance (treasurers); 404 if not connected."""
    connection = services.connection_of(circle_id)
    if connection is None:
        raise NotFound(gettext("This circle is not connected to Open Collective."))
    return connection


@blp.route("/circles/<int:circle_id>/payouts", methods=["GET"])
@requires(TREASURER)
@blp.arguments(PageQuerySchema, location="query")
@blp.response(200, PayoutListSchema)
def list_payouts(query: dict[str, Any], circle_id: int) -> dict[str, Any]:
    """The circle's payouts and their status (treasurers), in id order, a page at a time."""
    payouts = services.payouts_page(g.circle, after=query["after"], limit=query["limit"])
    return {"items": payouts, "next_after": payouts[-1].id if len(payouts) == query["limit"] else None}


@blp.route("/payouts/<int:payout_id>", methods=["GET"])
@requires(TREASURER)
@blp.response(200, PayoutSchema)
def get_payout(payout_id: int) -> Payout:
    """One payout, its approvals and where it stands on Open Collective (treasurers)."""
    return services.get_payout(payout_id)


@blp.route("/payouts/<int:payout_id>/approve", methods=["POST"])
@requires(TREASURER)
@blp.arguments(ApproveSchema)
@blp.response(200, PayoutSchema)
def approve_payout(data: dict[str, Any], payout_id: int) -> Payout:
    """Approve with a fresh code from your authenticator app (treasurers; never the author or payee). The approval
    that completes the number needed requests the payout on Open Collective, after the commit, provided one of the
    approvals came from a treasurer who held the role when the payout was created (otherwise it keeps waiting, and
    `approvals_waiting_for` says why); the answer shows the payout as it stands then."""
    payout = services.approve_payout(
        current_user,
        services.get_payout(payout_id),
        data["totp"],
        utcnow(),
        confirm_beyond_balance=data["confirm_beyond_balance"],
    )
    after_commit(lambda: submit_after_approval(payout_id))
    return payout


@blp.route("/circles/<int:circle_id>/payouts/approvals", methods=["POST"])
@requires(TREASURER)
@blp.arguments(ApproveManySchema)
@blp.response(200, ApprovedPayoutsSchema)
def approve_payouts(data: dict[str, Any], circle_id: int) -> dict[str, Any]:
    """Approve several payouts of the circle with one fresh code from your authenticator app (treasurers), as the
    treasury page does: each approval is its own ledger entry, under the same rules as approving one. All or
    nothing: if one cannot be approved, none is, the code is not used, and `error.fields.payout_ids` names each
    refused payout by its id, with a stable `code` (not_in_circle, not_awaiting_approval, own_proposal, own_payout,
    approved_already, disagrees_with_ledger) and a `message`. Those fully approved are requested on Open
    Collective after the commit."""
    try:
        approved = services.approve_payouts(
            current_user,
            g.circle,
            data["payout_ids"],
            data["totp"],
            utcnow(),
            confirm_beyond_balance=data["confirm_beyond_balance"],
        )
    except services.PayoutsRefused as refused:
        raise _refusal_for_the_api(refused) from None
    for payout in approved:
        if payout.status == "approved":
            after_commit(functools.partial(submit_after_approval, payout.id))
    return {"items": approved}


def _refusal_for_the_api(refused: services.PayoutsRefused) -> FundCircleError:
    """The service's refusal under the name the client sent, `payout_ids`, each refused payout under its id."""
    each = {
        str(refusal.payout_id): {"code": refusal.code, "title": refusal.title, "message": refusal.message}
        for refusal in refused.refusals
    }
    error_class = Conflict if refused.status == 409 else ValidationFailed
    return error_class(refused.message, fields={"payout_ids": each})


@blp.route("/payouts/<int:payout_id>/cancel", methods=["POST"])
@requires(TREASURER)
@blp.arguments(CancelSchema)
@blp.response(200, PayoutSchema)
def cancel_payout(data: dict[str, Any], payout_id: int) -> Payout:
    """Cancel a payout not yet requested on Open Collective, with a reason (treasurers)."""
    return services.cancel_payout(current_user, services.get_payout(payout_id), data["reason"], utcnow())


@blp.route("/payouts/<int:payout_id>/retry", methods=["POST"])
@requires(TREASURER)
@blp.arguments(EmptySchema)
@blp.response(200, PayoutSchema)
def retry_payout(data: dict[str, Any], payout_id: int) -> Payout:
    """Request a failed payout again once its cause is fixed (treasurers); Open Collective is asked first, after the
    commit."""
    payout = services.retry_payout(current_user, services.get_payout(payout_id), utcnow())
    after_commit(lambda: submit_after_approval(payout_id))
    return payout
