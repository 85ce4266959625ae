from __future__ import annotations

from marshmallow import Schema, fields, validate

from fundcircle.api.fields import StrictBoolean, StrictInteger
from fundcircle.circles.models import ROLES

ROLE_FIELD = fields.String(validate=validate.OneOf(ROLES))


class CircleCreateSchema(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=80))
    slug = fields.String(required=True, validate=validate.Length(min=1, max=60))
    currency = fields.String(required=True, validate=validate.Length(equal=3))
    public = StrictBoolean(load_default=False)
    description = fields.String(load_default="", validate=validate.Length(max=5000))


class CircleSchema(Schema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)
    slug = fields.String(required=True)
    description = fields.String(required=True)
    currency = fields.String(required=True)
    public = fields.Boolean(required=True)
    approvals_required = fields.Integer(required=True, metadata={"description": "treasurer approvals a payout needs"})
    two_approvals_from_minor = fields.Integer(
        allow_none=True, required=True, metadata={"description": "from this amount up, at least two approvals"}
    )
    created_at = fields.DateTime(format="iso", required=True)
    my_roles = fields.List(fields.String(), required=True, metadata={"description": "Your roles here; empty if none"})


class MemberAddSchema(Schema):
    email = fields.String(required=True, validate=validate.Length(min=3, max=254))
    roles = fields.List(ROLE_FIELD, required=True, validate=validate.Length(min=1, max=len(ROLES)))


class MemberRolesSchema(Schema):
    roles = fields.List(
        ROLE_FIELD,
        required=True,
        validate=validate.Length(max=len(ROLES)),
        metadata={"description": "An empty list removes the person from the circle"},
    )


class MemberSchema(Schema):
    user_id = fields.Integer(required=True)
    name = fields.String(required=True)
    email = fields.String(required=True)
    roles = fields.List(fields.String(), required=True)
    joined_at = fields.DateTime(format="iso", required=True)


class InvitationSchema(Schema):
    url = fields.String(required=True, metadata={"description": "The one-time link to send to the person"})
    email = fields.String(required=True)
    roles = fields.List(fields.String(), required=True)
    expires_at = fields.DateTime(format="iso", required=True)


class MemberAddedSchema(Schema):
    member = fields.Nested(MemberSchema, allow_none=True, required=True)
    invitation = fields.Nested(InvitationSchema, allow_none=True, required=True)


class MemberUpdatedSchema(Schema):
    member = fields.Nested(MemberSchema, allow_none=True, required=True, metadata={"description": "null if removed"})


class CircleSettingsSchema(Schema):
    """Any of the circle's settings; those not given keep their value. The currency never changes."""

    name = fields.String(validate=validate.Length(min=1, max=80))
    description = fields.String(validate=validate.Length(max=5000))
    public = StrictBoolean()
    approvals_required = StrictInteger(validate=validate.Range(min=1, max=5))
    two_approvals_from_minor = StrictInteger(allow_none=True, validate=validate.Range(min=1))


class MemberListSchema(Schema):
    items = fields.List(fields.Nested(MemberSchema), required=True)
    next_after = fields.Integer(allow_none=True, required=True, metadata={"description": "pass as `after` for more"})
