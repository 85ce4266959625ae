from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from fundcircle.access import ANY_MEMBER, Place, circle_role, finds_place, requires
from fundcircle.db import utcnow
from fundcircle.deliberation import services
from fundcircle.deliberation.forms import CommentEditForm, CommentForm, HideForm
from fundcircle.deliberation.models import Comment
from fundcircle.errors import Conflict, FundCircleError, PermissionDenied, ValidationFailed
from fundcircle.extensions import db
from fundcircle.forms import ConfirmForm, attach_error
from fundcircle.proposals.models import Proposal
from fundcircle.proposals.services import get_visible_proposal
from fundcircle.proposals.views import proposal_page, render_proposal
from fundcircle.unit_of_work import refuse

bp = Blueprint("deliberation", __name__)


@finds_place("comment_id")
def _place_of_comment(comment_id: int) -> Place | None:
    comment = db.session.get(Comment, comment_id)
    return Place(comment.proposal.round.circle) if comment is not None else None


@proposal_page.part
def discussion_of(proposal: Proposal, phase: str) -> dict[str, Any]:
    """The proposal page's discussion: its threads, the forms to comment and moderate, and following."""
    return {
        "threads": services.threads_of(proposal),
        "comment_form": CommentForm(formdata=None),
        "hide_form": HideForm(formdata=None),
        "following": services.is_following(current_user, proposal),
        "discussion_open": services.may_discuss(current_user, proposal, phase),
        # While deciding, the discussion is open only for some (a consent round's author and objectors): say so.
        "discussion_for_few": phase not in services.DISCUSSION_PHASES
        and services.may_discuss(current_user, proposal, phase),
    }


def _back_to(comment_id: int, proposal_id: int) -> Response:
    return redirect(url_for("proposals.view", proposal_id=proposal_id) + f"#comment-{comment_id}")


@bp.route("/proposals/<int:proposal_id>/comments", methods=["POST"])
@requires(ANY_MEMBER)
def add(proposal_id: int) -> Response | tuple[str, int]:
    proposal = get_visible_proposal(proposal_id, current_user)
    form = CommentForm()
    if not form.validate_on_submit():
        return render_proposal(proposal, 400, comment_form=form)
    raw_parent = (form.parent_id.data or "").strip()
    if not raw_parent:
        parent_id = None
    elif raw_parent.isascii() and raw_parent.isdigit() and len(raw_parent) <= 9:
        parent_id = int(raw_parent)
    else:
        parent_id = -1  # no such comment: the service says so
    try:
        comment = services.add_comment(
            current_user,
            proposal,
            form.body.data or "",
            parent_id=parent_id,
            question=bool(form.question.data),
            now=utcnow(),
        )
    except FundCircleError as error:
        refuse()
        attach_error(form, error)
        return render_proposal(proposal, error.status, comment_form=form)
    return _back_to(comment.id, proposal_id)


@bp.route("/comments/<int:comment_id>/edit", methods=["GET", "POST"])
@requires(ANY_MEMBER)
def edit(comment_id: int) -> str | Response | tuple[str, int]:
    comment = services.get_comment(comment_id)
    if comment.author_id != current_user.id:
        raise PermissionDenied("Only the comment's author can edit it.")
    form = CommentEditForm(data={"body": comment.body})
    status = 200
    if form.validate_on_submit():
        try:
            services.edit_comment(current_user, comment, form.body.data or "", utcnow())
        except FundCircleError as error:
            refuse()
            attach_error(form, error)
            status = error.status
        else:
            return _back_to(comment.id, comment.proposal_id)
    elif form.is_submitted():
        status = 400
    return render_template("deliberation/edit.html", comment=comment, form=form, proposal=comment.proposal), status


@bp.route("/comments/<int:comment_id>/delete", methods=["POST"])
@requires(ANY_MEMBER)
def delete(comment_id: int) -> Response:
    comment = services.get_comment(comment_id)
    if ConfirmForm().validate_on_submit():
        try:
            services.delete_comment(current_user, comment, utcnow())
        except Conflict as error:
            refuse()
            flash(error.message, "error")
        else:
            flash("Your comment is deleted.", "success")
    return _back_to(comment_id, comment.proposal_id)


@bp.route("/comments/<int:comment_id>/hide", methods=["POST"])
@requires(circle_role("admin"))
def hide(comment_id: int) -> Response:
    comment = services.get_comment(comment_id)
    form = HideForm()
    if not form.validate_on_submit():
        flash("Say why the comment is hidden; the circle will see the reason.", "error")
        return _back_to(comment_id, comment.proposal_id)
    try:
        services.hide_comment(current_user, comment, form.reason.data or "", utcnow())
    except (Conflict, ValidationFailed) as error:
        refuse()
        flash(error.message, "error")
    else:
        flash("The comment is hidden.", "success")
    return _back_to(comment_id, comment.proposal_id)


@bp.route("/proposals/<int:proposal_id>/follow", methods=["POST"])
@requires(ANY_MEMBER)
def follow(proposal_id: int) -> Response:
    proposal = get_visible_proposal(proposal_id, current_user)
    if ConfirmForm().validate_on_submit():
        wanted = request.form.get("follow") == "1"
        services.set_following(current_user, proposal, wanted, utcnow())
        flash("You follow this proposal's discussion." if wanted else "You no longer follow this proposal.", "success")
    return redirect(url_for("proposals.view", proposal_id=proposal_id))
