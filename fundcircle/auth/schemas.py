from __future__ import annotations

from marshmallow import Schema, fields

from fundcircle.api.fields import StrictBoolean


class MyCircleSchema(Schema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)
    slug = fields.String(required=True)
    currency = fields.String(required=True)
    public = fields.Boolean(required=True)
    roles = fields.List(fields.String(), required=True)


class MeSchema(Schema):
    id = fields.Integer(required=True)
    email = fields.String(required=True)
    name = fields.String(required=True)
    is_superuser = fields.Boolean(required=True)
    created_at = fields.DateTime(format="iso", required=True)
    circles = fields.List(fields.Nested(MyCircleSchema), required=True)


class TokenCreateSchema(Schema):
    name = fields.String(required=True, metadata={"description": "What will use it"})


class TokenSchema(Schema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)
    prefix = fields.String(required=True, metadata={"description": "The token's first characters"})
    created_at = fields.DateTime(format="iso", required=True)
    last_used_at = fields.DateTime(
        format="iso",
        allow_none=True,
        required=True,
        metadata={"description": "When the token last made a state-changing request; reads leave it as it is."},
    )
    revoked_at = fields.DateTime(format="iso", allow_none=True, required=True)


class NewTokenSchema(TokenSchema):
    token = fields.String(required=True, metadata={"description": "Shown this once; only its hash is kept"})


class TokenListSchema(Schema):
    items = fields.List(fields.Nested(TokenSchema), required=True)


class NoticesSchema(Schema):
    email_notices = StrictBoolean(required=True)
