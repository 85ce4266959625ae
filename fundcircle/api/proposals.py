"""API operations for proposals, their versions and their discussion, on the same services as the pages."""

from __future__ import annotations

from typing import Any

from flask_login import current_user

from fundcircle.access import ANY_MEMBER, circle_role, has_role, requires
from fundcircle.api.views import blp, renamed_fields
from fundcircle.db import utcnow
from fundcircle.deliberation import services as deliberation
from fundcircle.deliberation.models import Comment
from fundcircle.deliberation.schemas import (
    CommentCreateSchema,
    CommentEditSchema,
    CommentListSchema,
    CommentSchema,
    FollowSchema,
    HideSchema,
)
from fundcircle.errors import ValidationFailed
from fundcircle.extensions import db
from fundcircle.proposals import services as proposals
from fundcircle.proposals.models import Proposal, ProposalVersion
from fundcircle.proposals.schemas import (
    PageQuerySchema,
    ProposalCreateSchema,
    ProposalListQuerySchema,
    ProposalListSchema,
    ProposalPatchSchema,
    ProposalSchema,
    VersionListSchema,
)
from fundcircle.rounds.services import get_round

#: Where the API names a proposal's field otherwise than the service does.
PROPOSAL_FIELDS_IN_API = {
    "payee_slug": ("payee", "slug"),
    "payee_name": ("payee", "name"),
    "payee_email": ("payee", "email"),
}


def _version_out(version: ProposalVersion, proposal: Proposal) -> dict[str, Any]:
    may_see_email = proposal.author_id == current_user.id or has_role("treasurer") or has_role("admin")
    return {
        "number": version.number,
        "title": version.title,
        "summary": version.summary,
        "body": version.body,
        "body_html": version.body_html,
        "amount_minor": version.amount_minor,
        "currency": version.currency,
        "category": version.category,
        "payee": {
            "slug": version.payee_slug,
            "name": version.payee_name,
            "email": version.payee_email if may_see_email else None,
        },
        "change_note": version.change_note,
        "created_at": version.created_at,
    }


def _proposal_out(proposal: Proposal) -> dict[str, Any]:
    return {
        **_version_out(proposals.current_version(proposal), proposal),
        "id": proposal.id,
        "round_id": proposal.round_id,
        "status": proposal.status,
        "version": proposal.current_version,
        "author": {"id": proposal.author_id, "name": proposal.author.name},
        "submitted_at": proposal.submitted_at,
        "withdrawn_at": proposal.withdrawn_at,
    }


def _comment_out(comment: Comment, author_name: str) -> dict[str, Any]:
    state = "deleted" if comment.deleted_at else "hidden" if comment.hidden_at else "visible"
    return {
        "id": comment.id,
        "parent_id": comment.parent_id,
        "author": {"id": comment.author_id, "name": author_name},
        "version": comment.version_number,
        "state": state,
        "body": comment.body if state == "visible" else None,
        "body_html": comment.body_html if state == "visible" else None,
        "hidden_reason": comment.hidden_reason if state == "hidden" else None,
        "question": comment.is_question,
        "answered": comment.answered_at is not None,
        "created_at": comment.created_at,
        "edited_at": comment.edited_at,
    }


def _input(data: dict[str, Any], base: ProposalVersion | None = None) -> proposals.ProposalInput:
    """The API's fields as the service's input; a PATCH keeps what it does not name."""
    payee = data.get("payee")
    if payee is None and base is not None:
        payee = {"slug": base.payee_slug, "name": base.payee_name, "email": base.payee_email}
    payee = payee or {}

    def pick(name: str) -> Any:
        return data[name] if name in data else getattr(base, name, None)

    return proposals.ProposalInput(
        title=pick("title") or "",
        summary=pick("summary") or "",
        body=pick("body") or "",
        amount_minor=pick("amount_minor") or 0,
        category=pick("category"),
        payee_slug=payee.get("slug"),
        payee_name=payee.get("name"),
        payee_email=payee.get("email"),
    )


@blp.route("/rounds/<int:round_id>/proposals", methods=["GET"])
@requires(ANY_MEMBER)
@blp.arguments(ProposalListQuerySchema, location="query")
@blp.response(200, ProposalListSchema)
def list_proposals(query: dict[str, Any], round_id: int) -> dict[str, Any]:
    """The round's proposals (drafts only your own) in id order, filtered by category and status, a page at a time."""
    rows = proposals.list_proposals(get_round(round_id), current_user, **query)
    return {
        "items": [{**row.as_dict(), "author": {"id": row.author_id, "name": row.author_name}} for row in rows],
        "next_after": rows[-1].id if len(rows) == query["limit"] else None,
    }


@blp.route("/rounds/<int:round_id>/proposals", methods=["POST"])
@requires(ANY_MEMBER)
@blp.arguments(ProposalCreateSchema)
@blp.response(201, ProposalSchema)
def create_proposal(data: dict[str, Any], round_id: int) -> dict[str, Any]:
    """Write a proposal while the round is open for proposals: a draft, or submitted with `submit: true`."""
    submit = data.pop("submit")
    try:
        proposal = proposals.create_proposal(
            current_user, get_round(round_id), _input(data), submit=submit, now=utcnow()
        )
    except ValidationFailed as error:
        raise renamed_fields(error, PROPOSAL_FIELDS_IN_API) from None
    db.session.commit()
    return _proposal_out(proposal)


@blp.route("/proposals/<int:proposal_id>", methods=["GET"])
@requires(ANY_MEMBER)
@blp.response(200, ProposalSchema)
def get_proposal(proposal_id: int) -> dict[str, Any]:
    """A proposal as its current version says."""
    return _proposal_out(proposals.get_visible_proposal(proposal_id, current_user))


@blp.route("/proposals/<int:proposal_id>", methods=["PATCH"])
@requires(ANY_MEMBER)
@blp.arguments(ProposalPatchSchema)
@blp.response(200, ProposalSchema)
def edit_proposal(data: dict[str, Any], proposal_id: int) -> dict[str, Any]:
    """The author changes the proposal: a draft in place, a submitted one as a new version (an amendment in
    deliberation, with `change_note`). Fields not given keep their value."""
    proposal = proposals.get_visible_proposal(proposal_id, current_user)
    change_note = data.pop("change_note")
    try:
        proposals.update_proposal(
            current_user,
            proposal,
            _input(data, proposals.current_version(proposal)),
            change_note=change_note,
            now=utcnow(),
        )
    except ValidationFailed as error:
        raise renamed_fields(error, PROPOSAL_FIELDS_IN_API) from None
    db.session.commit()
    return _proposal_out(proposal)


@blp.route("/proposals/<int:proposal_id>/submit", methods=["POST"])
@requires(ANY_MEMBER)
@blp.response(200, ProposalSchema)
def submit_proposal(proposal_id: int) -> dict[str, Any]:
    """The author submits a draft."""
    proposal = proposals.submit_proposal(
        current_user, proposals.get_visible_proposal(proposal_id, current_user), utcnow()
    )
    db.session.commit()
    return _proposal_out(proposal)


@blp.route("/proposals/<int:proposal_id>/withdraw", methods=["POST"])
@requires(ANY_MEMBER)
@blp.response(200, ProposalSchema)
def withdraw_proposal(proposal_id: int) -> dict[str, Any]:
    """The author withdraws the proposal (until the round is decided)."""
    proposal = proposals.withdraw_proposal(
        current_user, proposals.get_visible_proposal(proposal_id, current_user), utcnow()
    )
    db.session.commit()
    return _proposal_out(proposal)


@blp.route("/proposals/<int:proposal_id>/versions", methods=["GET"])
@requires(ANY_MEMBER)
@blp.response(200, VersionListSchema)
def list_versions(proposal_id: int) -> dict[str, Any]:
    """Every version of the proposal, oldest first."""
    proposal = proposals.get_visible_proposal(proposal_id, current_user)
    return {"items": [_version_out(version, proposal) for version in proposals.versions_of(proposal)]}


@blp.route("/proposals/<int:proposal_id>/comments", methods=["GET"])
@requires(ANY_MEMBER)
@blp.arguments(PageQuerySchema, location="query")
@blp.response(200, CommentListSchema)
def list_comments(query: dict[str, Any], proposal_id: int) -> dict[str, Any]:
    """The discussion in the order it was written, a page at a time; `parent_id`, `question` and `answered` let a
    client build the threads (the page lists open questions first)."""
    proposal = proposals.get_visible_proposal(proposal_id, current_user)
    rows = deliberation.comments_page(proposal, after=query["after"], limit=query["limit"])
    return {
        "items": [_comment_out(comment, name) for comment, name in rows],
        "next_after": rows[-1][0].id if len(rows) == query["limit"] else None,
    }


@blp.route("/proposals/<int:proposal_id>/comments", methods=["POST"])
@requires(ANY_MEMBER)
@blp.arguments(CommentCreateSchema)
@blp.response(201, CommentSchema)
def add_comment(data: dict[str, Any], proposal_id: int) -> dict[str, Any]:
    """Comment, ask a question (`question: true`) or reply (`parent_id`); the author's reply answers a question."""
    proposal = proposals.get_visible_proposal(proposal_id, current_user)
    comment = deliberation.add_comment(current_user, proposal, **data, now=utcnow())
    db.session.commit()
    return _comment_out(comment, current_user.name)


@blp.route("/comments/<int:comment_id>", methods=["PATCH"])
@requires(ANY_MEMBER)
@blp.arguments(CommentEditSchema)
@blp.response(200, CommentSchema)
def edit_comment(data: dict[str, Any], comment_id: int) -> dict[str, Any]:
    """Correct your comment, within 15 minutes of writing it."""
    comment = deliberation.get_comment(comment_id)
    deliberation.edit_comment(current_user, comment, data["body"], utcnow())
    db.session.commit()
    return _comment_out(comment, current_user.name)


@blp.route("/comments/<int:comment_id>", methods=["DELETE"])
@requires(ANY_MEMBER)
@blp.response(200, CommentSchema)
def delete_comment(comment_id: int) -> dict[str, Any]:
    """Delete your comment: it shows as deleted; the ledger keeps what it said."""
    comment = deliberation.get_comment(comment_id)
    deliberation.delete_comment(current_user, comment, utcnow())
    db.session.commit()
    return _comment_out(comment, current_user.name)


@blp.route("/comments/<int:comment_id>/hide", methods=["POST"])
@requires(circle_role("admin"))
@blp.arguments(HideSchema)
@blp.response(200, CommentSchema)
def hide_comment(data: dict[str, Any], comment_id: int) -> dict[str, Any]:
    """Hide a comment, with a reason everyone sees (admins)."""
    comment = deliberation.get_comment(comment_id)
    deliberation.hide_comment(current_user, comment, data["reason"], utcnow())
    db.session.commit()
    return _comment_out(comment, comment.author.name)


@blp.route("/proposals/<int:proposal_id>/follow", methods=["PUT"])
@requires(ANY_MEMBER)
@blp.arguments(FollowSchema)
@blp.response(200, FollowSchema)
def follow_proposal(data: dict[str, Any], proposal_id: int) -> dict[str, Any]:
    """Follow a proposal's discussion (e-mail notices of new comments), or stop following it."""
    proposal = proposals.get_visible_proposal(proposal_id, current_user)
    deliberation.set_following(current_user, proposal, data["following"], utcnow())
    db.session.commit()
    return {"following": deliberation.is_following(current_user, proposal)}
