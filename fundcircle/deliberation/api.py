"""The deliberation's part of the JSON API: comments, questions and answers, moderation and following."""

from __future__ import annotations

from typing import Any

from flask_login import current_user

from fundcircle.access import ANY_MEMBER, circle_role, requires
from fundcircle.db import utcnow
from fundcircle.deliberation import services
from fundcircle.deliberation.models import Comment
from fundcircle.deliberation.schemas import (
    CommentCreateSchema,
    CommentEditSchema,
    CommentListSchema,
    CommentSchema,
    FollowSchema,
    HideSchema,
)
from fundcircle.fields import PageQuerySchema
from fundcircle.openapi import api_blueprint
from fundcircle.proposals.services import get_visible_proposal

blp = api_blueprint("deliberation", __name__, "The discussion of proposals: comments, questions and answers")


@blp.route("/proposals/<int:proposal_id>/comments", methods=["GET"])
@requires(ANY_MEMBER)
@blp.arguments(PageQuerySchema, location="query")
@blp.response(200, CommentListSchema)
def list_comments(query: dict[str, Any], proposal_id: int) -> dict[str, Any]:
    """The discussion in the order it was written, a page at a time; `parent_id`, `question` and `answered` let a
    client build the threads (the page lists open questions first)."""
    proposal = get_visible_proposal(proposal_id, current_user)
    comments = services.comments_page(proposal, after=query["after"], limit=query["limit"])
    return {"items": comments, "next_after": comments[-1].id if len(comments) == query["limit"] else None}


@blp.route("/proposals/<int:proposal_id>/comments", methods=["POST"])
@requires(ANY_MEMBER)
@blp.arguments(CommentCreateSchema)
@blp.response(201, CommentSchema)
def add_comment(data: dict[str, Any], proposal_id: int) -> Comment:
    """Comment, ask a question (`question: true`) or reply (`parent_id`); the author's reply answers a question."""
    proposal = get_visible_proposal(proposal_id, current_user)
    return services.add_comment(current_user, proposal, **data, now=utcnow())


@blp.route("/comments/<int:comment_id>", methods=["PATCH"])
@requires(ANY_MEMBER)
@blp.arguments(CommentEditSchema)
@blp.response(200, CommentSchema)
def edit_comment(data: dict[str, Any], comment_id: int) -> Comment:
    """Correct your comment, within 15 minutes of writing it."""
    comment = services.get_comment(comment_id)
    services.edit_comment(current_user, comment, data["body"], utcnow())
    return comment


@blp.route("/comments/<int:comment_id>", methods=["DELETE"])
@requires(ANY_MEMBER)
@blp.response(200, CommentSchema)
def delete_comment(comment_id: int) -> Comment:
    """Delete your comment: it shows as deleted; the ledger keeps what it said."""
    comment = services.get_comment(comment_id)
    services.delete_comment(current_user, comment, utcnow())
    return comment


@blp.route("/comments/<int:comment_id>/hide", methods=["POST"])
@requires(circle_role("admin"))
@blp.arguments(HideSchema)
@blp.response(200, CommentSchema)
def hide_comment(data: dict[str, Any], comment_id: int) -> Comment:
    """Hide a comment, with a reason everyone sees (admins)."""
    comment = services.get_comment(comment_id)
    services.hide_comment(current_user, comment, data["reason"], utcnow())
    return comment


@blp.route("/proposals/<int:proposal_id>/follow", methods=["PUT"])
@requires(ANY_MEMBER)
@blp.arguments(FollowSchema)
@blp.response(200, FollowSchema)
def follow_proposal(data: dict[str, Any], proposal_id: int) -> dict[str, bool]:
    """Follow a proposal's discussion (e-mail notices of new comments), or stop following it."""
    proposal = get_visible_proposal(proposal_id, current_user)
    services.set_following(current_user, proposal, data["following"], utcnow())
    return {"following": services.is_following(current_user, proposal)}
