from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_login import current_user
from werkzeug.wrappers import Response

from fundcircle.access import ANY_MEMBER, Place, circle_role, finds_place, requires
from fundcircle.attachments import services as attachments
from fundcircle.attachments.views import owner_pages
from fundcircle.auth.models import User
from fundcircle.circles.services import membership_of
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


def _comment_owner(comment_id: int) -> attachments.Owner | None:
    comment = db.session.get(Comment, comment_id)
    if comment is None:
        return None
    return attachments.Owner(
        "comment",
        comment.id,
        comment.proposal.round.circle,
        comment,
        ledger_data={"proposal": comment.proposal_id, "comment": comment.id},
    )


def _may_view_comment(owner: attachments.Owner, viewer: User | None) -> bool:
    """As the proposal page shows the comment: not a deleted one's files; a hidden one's to the circle's admins."""
    comment: Comment = owner.thing
    proposal = comment.proposal
    if proposal.status == "draft" and getattr(viewer, "id", None) != proposal.author_id:
        return False
    if comment.deleted_at is not None:
        return False
    if comment.hidden_at is not None:
        membership = membership_of(viewer, owner.circle)
        return membership is not None and "admin" in membership.roles
    return True


def _check_may_attach_to_comment(owner: attachments.Owner, actor: User, now: Any) -> None:
    """The comment's author attaches files to it while it is shown and they may still discuss the proposal."""
    comment: Comment = owner.thing
    if comment.author_id != actor.id:
        raise PermissionDenied(gettext("Only the comment's author can attach files to it."))
    if not comment.visible:
        raise Conflict(gettext("This comment is deleted or hidden; nothing can be attached to it."))
    if not services.may_discuss(actor, comment.proposal, comment.proposal.round.phase_at(now)):
        raise Conflict(gettext("The discussion is closed, so nothing more can be attached to its comments."))


attachments.register_owner_kind(
    "comment", attachments.OwnerKind(_comment_owner, _may_view_comment, _check_may_attach_to_comment)
)


def _comment_page(comment_id: int) -> str:
    comment = db.session.get(Comment, comment_id)
    if comment is None:
        return url_for("circles.home")
    return url_for("proposals.view", proposal_id=comment.proposal_id) + f"#comment-{comment_id}"


owner_pages.provide("comment")(_comment_page)


@proposal_page.part
def discussion_of(proposal: Proposal, phase: str) -> dict[str, Any]:
    """The proposal page's discussion: its threads, the forms to comment and moderate, and following."""
    threads = services.threads_of(proposal)
    comment_ids = [
        comment.id for thread in threads for comment in [thread.comment, *(reply for reply, _ in thread.replies)]
    ]
    files = attachments.attachments_of("comment", comment_ids)
    return {
        "threads": threads,
        # Each shown comment's files (a hidden comment's for admins, as its page shows them), and which the reader
        # may remove.
        "comment_attachments": files,
        "removable_comment_attachments": attachments.removable_ids(
            current_user, [a for found in files.values() for a in found]
        ),
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
        raise PermissionDenied(gettext("Only the comment's author can edit it."))
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
            flash(gettext("Your comment is deleted."), "success")
    return _back_to(comment_id, comment.proposal_id)


@bp.route("/comments/<int:comment_id>/hide", methods=["POST"])
@requires(circle_role("admin"))
def hide(comment_id: int) -> Response:
    comment = services.get_comment(comment_id)
    form = HideForm()
    if not form.validate_on_submit():
        flash(gettext("Say why the comment is hidden; the circle will see the reason."), "error")
        return _back_to(comment_id, comment.proposal_id)
    try:
        services.hide_comment(current_user, comment, form.reason.data or "", utcnow())
    except (Conflict, ValidationFailed) as error:
        refuse()
        flash(error.message, "error")
    else:
        flash(gettext("The comment is hidden."), "success")
    return _back_to(comment_id, comment.proposal_id)


@bp.route("/proposals/<int:proposal_id>/follow", methods=["POST"])
@requires(ANY_MEMBER)
def follow(proposal_id: int) -> Response:
    proposal = get_visible_proposal(proposal_id, current_user)
    if ConfirmForm().validate_on_submit():
        wanted = request.form.get("follow") == "1"
        services.set_following(current_user, proposal, wanted, utcnow())
        flash(
            gettext("You follow this proposal's discussion.")
            if wanted
            else gettext("You no longer follow this proposal."),
            "success",
        )
    return redirect(url_for("proposals.view", proposal_id=proposal_id))
