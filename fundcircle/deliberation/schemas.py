from __future__ import annotations

from marshmallow import Schema, fields, validate

from fundcircle.api.fields import StrictBoolean, StrictInteger
from fundcircle.proposals.schemas import PersonSchema


class CommentCreateSchema(Schema):
    body = fields.String(required=True, metadata={"description": "Markdown; rendered and sanitised"})
    parent_id = StrictInteger(load_default=None, allow_none=True, metadata={"description": "Reply to this comment"})
    question = StrictBoolean(load_default=False, metadata={"description": "A question for the author"})


class CommentSchema(Schema):
    id = fields.Integer(required=True)
    parent_id = fields.Integer(allow_none=True, required=True)
    author = fields.Nested(PersonSchema, required=True)
    version = fields.Integer(required=True, metadata={"description": "The proposal version it was written against"})
    state = fields.String(required=True, validate=validate.OneOf(("visible", "deleted", "hidden")))
    body = fields.String(allow_none=True, required=True, metadata={"description": "null when deleted or hidden"})
    body_html = fields.String(allow_none=True, required=True)
    hidden_reason = fields.String(allow_none=True, required=True)
    question = fields.Boolean(required=True)
    answered = fields.Boolean(required=True)
    created_at = fields.DateTime(format="iso", required=True)
    edited_at = fields.DateTime(format="iso", allow_none=True, required=True)


class CommentListSchema(Schema):
    items = fields.List(fields.Nested(CommentSchema), required=True)
    next_after = fields.Integer(allow_none=True, required=True, metadata={"description": "pass as `after` for more"})


class CommentEditSchema(Schema):
    # Not required here: the service checks who may edit first, then says what is wrong with the text.
    body = fields.String(load_default="")


class HideSchema(Schema):
    reason = fields.String(required=True, metadata={"description": "Everyone in the circle sees it"})


class FollowSchema(Schema):
    following = StrictBoolean(required=True)
