from __future__ import annotations

from marshmallow import Schema, fields, validate

from fundcircle.api.fields import BoundedInteger


class LedgerQuerySchema(Schema):
    """Query-string parameters: numbers arrive as text, so these integers are not strict."""

    after = BoundedInteger(
        load_default=None, validate=validate.Range(min=0), metadata={"description": "seq to start after"}
    )
    limit = BoundedInteger(load_default=100, validate=validate.Range(min=1, max=1000))
    action = fields.String(load_default=None, validate=validate.Length(max=64))
    actor = BoundedInteger(load_default=None)
    proposal = BoundedInteger(load_default=None)


class SubjectSchema(Schema):
    type = fields.String(allow_none=True, required=True)
    id = fields.Integer(allow_none=True, required=True)


class LedgerEntrySchema(Schema):
    seq = fields.Integer(required=True)
    at = fields.DateTime(format="iso", required=True)
    actor = fields.Integer(allow_none=True, required=True)
    actor_name = fields.String(allow_none=True, required=True)
    action = fields.String(required=True)
    subject = fields.Nested(SubjectSchema, required=True)
    data = fields.Dict(required=True)
    words = fields.String(required=True)
    prev_hash = fields.String(required=True)
    hash = fields.String(required=True)


class LedgerPageSchema(Schema):
    items = fields.List(fields.Nested(LedgerEntrySchema), required=True)
    next_after = fields.Integer(allow_none=True, required=True, metadata={"description": "pass as `after` for more"})


class VerifyQuerySchema(Schema):
    circle_id = BoundedInteger(load_default=None, metadata={"description": "Only this circle's chain"})


class ChainResultSchema(Schema):
    chain = fields.String(required=True)
    circle_id = fields.Integer(allow_none=True, required=True)
    ok = fields.Boolean(required=True)
    count = fields.Integer(required=True)
    head = fields.String(required=True)
    bad_seq = fields.Integer(allow_none=True, required=True)
    problem = fields.String(allow_none=True, required=True)


class VerifySchema(Schema):
    ok = fields.Boolean(required=True)
    count = fields.Integer(required=True, metadata={"description": "entries verified, in all chains checked"})
    head = fields.String(allow_none=True, required=True, metadata={"description": "the head hash of a single chain"})
    chains = fields.List(fields.Nested(ChainResultSchema), required=True)
