from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields

from fundcircle.deliberation.models import Comment
from fundcircle.fields import StrictBoolean, StrictInteger
from fundcircle.proposals.schemas import PersonSchema


class CommentCreateSchema(Schema):
    body = fields.String(required=True, metadata={"description": "Markdown; rendered and sanitised"})
    parent_id = StrictInteger(load_default=None, allow_none=True, metadata={"description": "Reply to this comment"})
    question = StrictBoolean(load_default=False, metadata={"description": "A question for the author"})


def comment_state(comment: Comment) -> str:
    return "deleted" if comment.deleted_at else "hidden" if comment.hidden_at else "visible"


def _shown_if(state: str, attribute: str) -> Any:
    return lambda comment: getattr(comment, attribute) if comment_state(comment) == state else None


class CommentSchema(Schema):
    """A `Comment`; what a deleted or hidden one said is not shown."""

    id = fields.Integer(required=True)
    parent_id = fields.Integer(allow_none=True, required=True)
    author = fields.Nested(PersonSchema, required=True)
    version = fields.Integer(
        attribute="version_number",
        required=True,
        metadata={"description": "The proposal version it was written against"},
    )
    state = fields.Function(
        comment_state,
        required=True,
        metadata={"type": "string", "enum": ["visible", "deleted", "hidden"]},
    )
    body = fields.Function(
        _shown_if("visible", "body"),
        allow_none=True,
        required=True,
        metadata={"type": "string", "nullable": True, "description": "null when deleted or hidden"},
    )
    body_html = fields.Function(
        _shown_if("visible", "body_html"), allow_none=True, required=True, metadata={"type": "string", "nullable": True}
    )
    hidden_reason = fields.Function(
        _shown_if("hidden", "hidden_reason"),
        allow_none=True,
        required=True,
        metadata={"type": "string", "nullable": True},
    )
    question = fields.Boolean(attribute="is_question", required=True)
    answered = fields.Function(
        lambda comment: comment.answered_at is not None, required=True, metadata={"type": "boolean"}
    )
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
