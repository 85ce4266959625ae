from __future__ import annotations

from marshmallow import Schema, fields


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
