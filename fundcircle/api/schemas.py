"""Schemas shared by every area's API: the one error shape."""

from __future__ import annotations

from marshmallow import Schema, fields


class ErrorBodySchema(Schema):
    code = fields.String(required=True, metadata={"description": "A stable machine-readable code, e.g. invalid"})
    message = fields.String(required=True, metadata={"description": "What went wrong, in words"})
    field_messages = fields.Dict(
        data_key="fields",
        keys=fields.String(),
        required=True,
        metadata={"description": "Messages per input field, for validation errors; empty otherwise"},
    )


class ErrorSchema(Schema):
    error = fields.Nested(ErrorBodySchema, required=True)
