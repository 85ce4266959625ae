from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from fundcircle.access import ANY_MEMBER, circle_role, requires
from fundcircle.auth.forms import ConfirmForm
from fundcircle.db import utcnow
from fundcircle.deliberation import services
from fundcircle.deliberation.forms import CommentEditForm, CommentForm, HideForm
from fundcircle.errors import Conflict, FundCircleError, PermissionDenied, ValidationFailed
from fundcircle.extensions import db
from fundcircle.forms import attach_error
from fundcircle.proposals.services import get_visible_proposal
from fundcircle.proposals.views import render_proposal

bp = Blueprint("deliberation", __name__)


def _back_to(comment_id: int, proposal_id: int) -> Response:
    return redirect(url_for("proposals.view", proposal_id=proposal_id) + f"#comment-{comment_id}")


@bp.route("/proposals/<int:proposal_id>/comments", methods=["POST"])
@requires(ANY_MEMBER)
def add(proposal_id: int) -> Response | tuple[str, int]:
    proposal = get_visible_proposal(proposal_id, current_user)
    form = CommentForm()
    if not form.validate_on_submit():
        return render_proposal(proposal, form, 400)
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
        db.session.rollback()
        attach_error(form, error)
        return render_proposal(proposal, form, error.status)
    db.session.commit()
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
            db.session.rollback()
            attach_error(form, error)
            status = error.status
        else:
            db.session.commit()
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
            db.session.rollback()
            flash(error.message, "error")
        else:
            db.session.commit()
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
        db.session.rollback()
        flash(error.message, "error")
    else:
        db.session.commit()
        flash("The comment is hidden.", "success")
    return _back_to(comment_id, comment.proposal_id)
