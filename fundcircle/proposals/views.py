from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Response

from fundcircle.access import ANY_MEMBER, has_role, requires
from fundcircle.auth.forms import ConfirmForm
from fundcircle.db import utcnow
from fundcircle.deliberation.forms import CommentForm, HideForm
from fundcircle.deliberation.services import DISCUSSION_PHASES, is_following, set_following, threads_of
from fundcircle.errors import Conflict, FundCircleError, ValidationFailed
from fundcircle.extensions import db
from fundcircle.forms import attach_error
from fundcircle.money import format_minor
from fundcircle.proposals import services
from fundcircle.proposals.diff import body_changes, field_changes
from fundcircle.proposals.forms import ProposalForm
from fundcircle.proposals.models import Proposal, ProposalVersion
from fundcircle.rounds.services import get_round
from fundcircle.voting.consent_rounds import consent_rounds_of

bp = Blueprint("proposals", __name__)


def render_proposal(proposal: Proposal, comment_form: CommentForm | None = None, status: int = 200) -> tuple[str, int]:
    """The proposal page: its current version, versions, and discussion (a constant number of queries)."""
    versions = services.versions_of(proposal)
    current = (
        versions[-1]
        if versions and versions[-1].number == proposal.current_version
        else services.current_version(proposal)
    )
    round_ = proposal.round
    now = utcnow()
    # The phase the round is really in: a deadline that passed counts, though `rounds tick` has not moved it yet.
    phase = round_.phase_at(now)
    is_author = proposal.author_id == current_user.id
    consent_history = consent_rounds_of(proposal) if round_.method == "consent" else []
    consent_open = any(cr.closed_at is None for cr in consent_history)
    consented = any(cr.outcome == "consented" for cr in consent_history)
    amendable_in_consent = (
        round_.method == "consent" and phase == "deciding" and proposal.status == "submitted"
        and not consent_open and not consented
    )  # fmt: skip
    editable_phase = phase in ("proposals", "deliberation") and not (
        proposal.status == "draft" and phase != "proposals"
    )
    return (
        render_template(
            "proposals/view.html",
            proposal=proposal,
            version=current,
            versions=versions,
            round=round_,
            phase_now=phase,
            circle=round_.circle,
            threads=threads_of(proposal),
            comment_form=comment_form or CommentForm(formdata=None),
            confirm_form=ConfirmForm(),
            hide_form=HideForm(formdata=None),
            is_author=is_author,
            is_admin=has_role("admin"),
            following=is_following(current_user, proposal),
            discussion_open=phase in DISCUSSION_PHASES and proposal.status != "withdrawn",
            can_edit=is_author and proposal.status != "withdrawn" and (editable_phase or amendable_in_consent),
            consent_history=consent_history,
            consented=consented,
            can_open_consent=has_role("admin")
            and amendable_in_consent
            and not any(cr.version == proposal.current_version for cr in consent_history),
            can_withdraw=is_author
            and proposal.status != "withdrawn"
            and phase in ("proposals", "deliberation", "deciding"),
            show_payee_email=is_author or has_role("treasurer") or has_role("admin"),
            now=now,
        ),
        status,
    )


@bp.route("/rounds/<int:round_id>/proposals/new", methods=["GET", "POST"])
@requires(ANY_MEMBER)
def create(round_id: int) -> str | Response | tuple[str, int]:
    round_ = get_round(round_id)
    form = ProposalForm().for_round(round_)
    status = 200
    try:
        services.require_open_for_proposals(round_, utcnow())
    except Conflict as error:
        flash(error.message, "error")
        return redirect(url_for("rounds.view", round_id=round_.id))
    if form.validate_on_submit():
        try:
            proposal = services.create_proposal(
                current_user, round_, form.to_input(round_), submit=request.form.get("action") == "submit", now=utcnow()
            )
        except FundCircleError as error:
            db.session.rollback()
            attach_error(form, error, aliases=ProposalForm.ALIASES)
            status = error.status
        else:
            db.session.commit()
            flash(
                "Your proposal is submitted." if proposal.status == "submitted" else "Your draft is saved.", "success"
            )
            return redirect(url_for("proposals.view", proposal_id=proposal.id))
    elif form.is_submitted():
        status = 400
    return render_template("proposals/form.html", form=form, round=round_, circle=round_.circle, proposal=None), status


@bp.route("/proposals/<int:proposal_id>")
@requires(ANY_MEMBER)
def view(proposal_id: int) -> tuple[str, int]:
    return render_proposal(services.get_visible_proposal(proposal_id, current_user))


def _form_data_of(version: ProposalVersion) -> MultiDict[str, Any]:
    return MultiDict(
        {
            "title": version.title,
            "summary": version.summary,
            "body": version.body,
            "amount": format_minor(version.amount_minor, version.currency, with_code=False).replace(",", ""),
            "category": version.category or "",
            "payee_kind": "account" if version.payee_slug else "person",
            "payee_slug": version.payee_slug or "",
            "payee_name": version.payee_name or "",
            "payee_email": version.payee_email or "",
        }
    )


@bp.route("/proposals/<int:proposal_id>/edit", methods=["GET", "POST"])
@requires(ANY_MEMBER)
def edit(proposal_id: int) -> str | Response | tuple[str, int]:
    proposal = services.get_visible_proposal(proposal_id, current_user)
    if proposal.author_id != current_user.id:
        return render_template(
            "errors/error.html", status=403, message="Only the proposal's author can change it."
        ), 403
    round_ = proposal.round
    if request.method == "POST":
        form = ProposalForm().for_round(round_)
    else:
        form = ProposalForm(formdata=_form_data_of(services.current_version(proposal))).for_round(round_)
    status = 200
    if request.method == "POST" and form.validate_on_submit():
        try:
            services.update_proposal(
                current_user, proposal, form.to_input(round_), change_note=form.change_note.data or "", now=utcnow()
            )
        except FundCircleError as error:
            db.session.rollback()
            attach_error(form, error, aliases=ProposalForm.ALIASES)
            status = error.status
        else:
            db.session.commit()
            flash(
                "Saved." if proposal.status == "draft" else f"Saved as version {proposal.current_version}.", "success"
            )
            return redirect(url_for("proposals.view", proposal_id=proposal.id))
    elif request.method == "POST":
        status = 400
    return render_template(
        "proposals/form.html", form=form, round=round_, circle=round_.circle, proposal=proposal
    ), status


def _change_status(proposal_id: int, change: Any, done: str) -> Response:
    proposal = services.get_visible_proposal(proposal_id, current_user)
    if ConfirmForm().validate_on_submit():
        try:
            change(current_user, proposal, utcnow())
        except (Conflict, ValidationFailed) as error:
            db.session.rollback()
            flash(error.message, "error")
        else:
            db.session.commit()
            flash(done, "success")
    return redirect(url_for("proposals.view", proposal_id=proposal_id))


@bp.route("/proposals/<int:proposal_id>/submit", methods=["POST"])
@requires(ANY_MEMBER)
def submit(proposal_id: int) -> Response:
    return _change_status(proposal_id, services.submit_proposal, "Your proposal is submitted.")


@bp.route("/proposals/<int:proposal_id>/withdraw", methods=["POST"])
@requires(ANY_MEMBER)
def withdraw(proposal_id: int) -> Response:
    return _change_status(proposal_id, services.withdraw_proposal, "Your proposal is withdrawn.")


@bp.route("/proposals/<int:proposal_id>/follow", methods=["POST"])
@requires(ANY_MEMBER)
def follow(proposal_id: int) -> Response:
    proposal = services.get_visible_proposal(proposal_id, current_user)
    if ConfirmForm().validate_on_submit():
        wanted = request.form.get("follow") == "1"
        set_following(current_user, proposal, wanted, utcnow())
        db.session.commit()
        flash("You follow this proposal's discussion." if wanted else "You no longer follow this proposal.", "success")
    return redirect(url_for("proposals.view", proposal_id=proposal_id))


@bp.route("/proposals/<int:proposal_id>/diff")
@requires(ANY_MEMBER)
def diff(proposal_id: int) -> tuple[str, int]:
    proposal = services.get_visible_proposal(proposal_id, current_user)
    versions = {version.number: version for version in services.versions_of(proposal)}
    try:
        old_number = int(request.args.get("from", max(1, proposal.current_version - 1)))
        new_number = int(request.args.get("to", proposal.current_version))
    except ValueError:
        raise ValidationFailed("Versions are numbers, like ?from=1&to=2.") from None
    if old_number not in versions or new_number not in versions:
        raise ValidationFailed(f"This proposal has versions 1 to {proposal.current_version}.")
    old, new = versions[old_number], versions[new_number]
    return (
        render_template(
            "proposals/diff.html",
            proposal=proposal,
            round=proposal.round,
            circle=proposal.round.circle,
            old=old,
            new=new,
            versions=list(versions.values()),
            fields=field_changes(services.version_content(old), services.version_content(new)),
            lines=body_changes(old.body, new.body),
        ),
        200,
    )
