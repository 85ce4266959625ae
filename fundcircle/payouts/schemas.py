"""JSON shapes of the payouts API: the Open Collective connection, payouts and their actions."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from fundcircle.payouts import services
from fundcircle.payouts.models import PAYOUT_STATUSES, REQUESTABLE_EXPENSE_TYPES


class ConnectionInSchema(Schema):
    api_url = fields.String(required=True, validate=validate.Length(min=1, max=300))
    slug = fields.String(required=True, validate=validate.Length(min=1, max=100))
    token = fields.String(required=True, validate=validate.Length(min=1, max=400), load_only=True)
    expense_type = fields.String(validate=validate.OneOf(REQUESTABLE_EXPENSE_TYPES))


class ConnectionSchema(Schema):
    """An `OpenCollectiveConnection` (never its token)."""

    circle_id = fields.Integer(required=True)
    api_url = fields.String(required=True)
    slug = fields.String(attribute="collective_slug", required=True)
    name = fields.String(attribute="collective_name", required=True)
    token_account = fields.String(required=True, metadata={"description": "the account the token acts as"})
    expense_type = fields.String(required=True)
    supported_expense_types = fields.List(fields.String(), required=True)
    balance_minor = fields.Integer(allow_none=True, required=True)
    currency = fields.String(attribute="balance_currency", allow_none=True, required=True)
    balance_checked_at = fields.DateTime(format="iso", allow_none=True, required=True)
    webhook_url = fields.Function(
        services.webhook_url,
        required=True,
        metadata={"type": "string", "description": "holds a secret: give it only to Open Collective"},
    )
    sandbox = fields.Function(
        lambda connection: services.is_sandbox_url(connection.api_url),
        required=True,
        metadata={"type": "boolean", "description": "a local stand-in: no money moves"},
    )
    connected_at = fields.DateTime(format="iso", required=True)


class ApproveSchema(Schema):
    totp = fields.String(required=True, validate=validate.Length(min=1, max=10))
    confirm_beyond_balance = fields.Boolean(
        load_default=False,
        metadata={
            "description": "needed when the final approval, with the payouts already committed, exceeds the "
            "collective's balance on Open Collective"
        },
    )


class ApproveManySchema(Schema):
    payout_ids = fields.List(
        fields.Integer(strict=True, validate=validate.Range(min=1)),
        required=True,
        validate=validate.Length(min=1, max=services.MAX_APPROVED_AT_ONCE),
        metadata={"description": "the payouts of this circle to approve, all or none"},
    )
    totp = fields.String(
        required=True,
        validate=validate.Length(min=1, max=10),
        metadata={"description": "one fresh code from your authenticator app, for them all"},
    )
    confirm_beyond_balance = fields.Boolean(
        load_default=False,
        metadata={
            "description": "needed when the payouts these approvals complete, with those already committed, exceed "
            "the collective's balance on Open Collective"
        },
    )


class CancelSchema(Schema):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=1000))


class EmptySchema(Schema):
    pass


class PayoutApprovalSchema(Schema):
    """A `PayoutApproval`."""

    treasurer_id = fields.Integer(required=True)
    name = fields.String(attribute="treasurer.name", required=True)
    approved_at = fields.DateTime(format="iso", required=True)


class PayoutSchema(Schema):
    """A `Payout`, its approvals and where it stands on Open Collective."""

    id = fields.Integer(required=True)
    circle_id = fields.Integer(required=True)
    round_id = fields.Integer(required=True)
    proposal_id = fields.Integer(required=True)
    proposal_version = fields.Integer(required=True)
    amount_minor = fields.Integer(required=True)
    currency = fields.String(required=True)
    payee_slug = fields.String(allow_none=True, required=True)
    payee_name = fields.String(allow_none=True, required=True)
    status = fields.String(required=True, validate=validate.OneOf(PAYOUT_STATUSES))
    status_label = fields.String(required=True)
    approvals = fields.List(fields.Nested(PayoutApprovalSchema), required=True)
    approvals_needed = fields.Function(services.approvals_needed, required=True, metadata={"type": "integer"})
    #: What it still needs besides the number: an approval from a treasurer who held the role when it was created.
    approvals_waiting_for = fields.Function(
        services.approvals_waiting_for, required=True, metadata={"type": "string", "nullable": True}
    )
    expense_id = fields.String(allow_none=True, required=True)
    expense_status = fields.String(allow_none=True, required=True)
    failure_message = fields.String(allow_none=True, required=True)
    cancel_reason = fields.String(allow_none=True, required=True)
    attempts = fields.Integer(required=True)
    outcome_unknown = fields.Boolean(required=True)
    created_at = fields.DateTime(format="iso", required=True)
    status_changed_at = fields.DateTime(format="iso", allow_none=True, required=True)
    synced_at = fields.DateTime(format="iso", allow_none=True, required=True)


class PayoutListSchema(Schema):
    items = fields.List(fields.Nested(PayoutSchema), required=True)
    next_after = fields.Integer(allow_none=True, required=True, metadata={"description": "pass as `after` for more"})


class ApprovedPayoutsSchema(Schema):
    """The payouts approved at once, as they stand after the commit (those fully approved are being requested)."""

    items = fields.List(fields.Nested(PayoutSchema), required=True)
