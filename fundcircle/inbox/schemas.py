"""The inbox's API input and output."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from fundcircle.fields import BoundedInteger, StrictBoolean, StrictInteger
from fundcircle.inbox.services import MAX_PAGE, TURN_KINDS
from fundcircle.notices import NOTICE_KINDS


class NotificationQuerySchema(Schema):
    """Keyset paging, newest first: `before` is the `next_before` of the page before."""

    before = BoundedInteger(validate=validate.Range(min=1))
    limit = BoundedInteger(load_default=50, validate=validate.Range(min=1, max=MAX_PAGE))


class NotificationSchema(Schema):
    id = fields.Integer(required=True)
    kind = fields.String(required=True, metadata={"enum": list(NOTICE_KINDS)})
    circle_id = fields.Integer(required=True, allow_none=True)
    created_at = fields.DateTime(format="iso", required=True)
    read_at = fields.DateTime(format="iso", required=True, allow_none=True)
    text = fields.String(required=True)
    url = fields.String(required=True, allow_none=True, metadata={"description": "The page where you act on it"})


class TurnItemSchema(Schema):
    kind = fields.String(required=True, metadata={"enum": list(TURN_KINDS)})
    circle_id = fields.Integer(required=True)
    text = fields.String(required=True)
    url = fields.String(required=True, metadata={"description": "The page where you do it (a path on this site)"})
    due_at = fields.DateTime(format="iso", required=True, allow_none=True)


class NotificationPageSchema(Schema):
    items = fields.List(fields.Nested(NotificationSchema), required=True)
    next_before = fields.Integer(
        required=True, allow_none=True, metadata={"description": "Pass as `before` for older notices; null: no more"}
    )
    unread = fields.Integer(required=True, metadata={"description": "How many of your notices are unread"})
    your_turn = fields.List(
        fields.Nested(TurnItemSchema),
        required=True,
        metadata={"description": "What waits for you now, from the state of your circles (not from the notices)"},
    )


class MarkReadSchema(Schema):
    """Either `ids` (your notices to mark read) or `all: true`."""

    ids = fields.List(StrictInteger(validate=validate.Range(min=1)), validate=validate.Length(min=1, max=MAX_PAGE))
    all = StrictBoolean()


class MarkedSchema(Schema):
    marked = fields.Integer(required=True, metadata={"description": "How many unread notices were marked read"})
    unread = fields.Integer(required=True)
