from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_login import current_user
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Response

from fundcircle.access import ANY_MEMBER, Place, circle_role, finds_place, has_role, requires
from fundcircle.circles.models import Circle
from fundcircle.circles.views import circle_page, home_page
from fundcircle.db import utcnow
from fundcircle.errors import FundCircleError
from fundcircle.extensions import db
from fundcircle.forms import attach_error
from fundcircle.hooks import PageParts
from fundcircle.money import format_minor
from fundcircle.rounds import services
from fundcircle.rounds.forms import ALL_METHOD_SETTINGS, AdvanceForm, RoundForm
from fundcircle.rounds.models import Round
from fundcircle.rounds.phases import CANCELLED, COUNTING, PHASE_LABELS, next_phases, time_left
from fundcircle.unit_of_work import refuse

bp = Blueprint("rounds", __name__)


@finds_place("round_id")
def _place_of_round(round_id: int) -> Place | None:
    """A round in draft is its admins' work in progress: to everybody else it does not exist yet."""
    round_ = db.session.get(Round, round_id)
    return Place(round_.circle, admins_only=round_.phase == "draft") if round_ is not None else None


ADMIN = circle_role("admin")

#: What the areas above add to the round page (its proposals, its result); each part is called with the round.
round_page = PageParts("round page")


@circle_page.part
def rounds_in_circle(circle: Circle, membership: Any) -> dict[str, Any]:
    """The circle page's rounds (drafts for its admins only)."""
    is_admin = membership is not None and "admin" in membership.roles
    return {"rounds": services.rounds_of_circle(circle, include_drafts=is_admin)}


@home_page.part
def open_rounds(mine: list[tuple[Circle, Any]]) -> dict[str, Any]:
    """The rounds under way in the person's circles."""
    admin_of = {circle.id for circle, membership in mine if "admin" in membership.roles}
    return {"rounds": services.open_rounds_of([circle.id for circle, _ in mine], admin_of)}


def _form_data_of(round_: Round) -> MultiDict[str, Any]:
    """A round's settings as the form shows them (money in major units)."""
    data: dict[str, Any] = {
        name: getattr(round_, name)
        for name in (
            "title",
            "description",
            "method",
            "credits",
            "quorum_percent",
            "consent_rules",
            "allocation_rule",
            "max_proposals_per_member",
            "remind_before_hours",
        )
    }
    data["max_approvals"] = "" if round_.max_approvals is None else str(round_.max_approvals)
    data["budget"] = format_minor(round_.budget_minor, round_.currency, with_code=False).replace(",", "")
    data["per_proposal_cap"] = format_minor(round_.per_proposal_cap_minor, round_.currency, with_code=False).replace(
        ",", ""
    )
    data["categories"] = "\n".join(round_.categories)
    for name in ("proposals_close_at", "deliberation_close_at", "deciding_close_at"):
        value = getattr(round_, name)
        data[name] = value.strftime("%Y-%m-%dT%H:%M") if value else ""
    formdata: MultiDict[str, Any] = MultiDict(data)
    if round_.allow_negative:
        formdata["allow_negative"] = "y"
    if round_.secret_ballot:
        formdata["secret_ballot"] = "y"  # nosec B105  # a checkbox's form value, not a password
    return formdata


@bp.route("/circles/<int:circle_id>/rounds/new", methods=["GET", "POST"])
@requires(ADMIN)
def create(circle_id: int) -> str | Response | tuple[str, int]:
    circle: Circle = g.circle
    form = RoundForm()
    if form.is_submitted() and form.check(circle.currency):
        try:
            round_ = services.create_round(current_user, circle, form.to_input(circle.currency))
        except FundCircleError as error:
            refuse()
            attach_error(form, error, aliases=RoundForm.ALIASES)
            return render_template("rounds/form.html", circle=circle, form=form, round=None), error.status
        flash("The round is created as a draft. Open it for proposals when it is ready.", "success")
        return redirect(url_for("rounds.view", round_id=round_.id))
    return render_template("rounds/form.html", circle=circle, form=form, round=None), form.status


@bp.route("/rounds/<int:round_id>")
@requires(ANY_MEMBER)
def view(round_id: int) -> str:
    round_ = services.get_round(round_id)
    now = utcnow()
    # The phase the round is really in: a deadline that passed counts, though `rounds tick` has not moved it yet.
    phase = round_.phase_at(now)
    deadline = round_.deadline_of(phase)
    return render_template(
        "rounds/view.html",
        **round_page.context(round_),
        round=round_,
        circle=round_.circle,
        deadline=deadline,
        time_left=time_left(deadline, now),
        phase_now=phase,
        # Moves go from the stored phase; once deciding has closed, the round can only be counted, not cancelled.
        next_phases=tuple(to for to in next_phases(round_.phase) if not (phase == COUNTING and to == CANCELLED))
        if has_role("admin")
        else (),
        advance_form=AdvanceForm(),
        is_admin=has_role("admin"),
        can_vote=has_role("circle"),
        phase_labels=PHASE_LABELS,
    )


@bp.route("/rounds/<int:round_id>/edit", methods=["GET", "POST"])
@requires(ADMIN)
def edit(round_id: int) -> str | Response | tuple[str, int]:
    round_ = services.get_round(round_id)
    form = RoundForm() if request.method == "POST" else RoundForm(formdata=_form_data_of(round_))
    # Another method's settings, ignored on the page, stay as the round has them.
    if request.method == "POST" and form.check(round_.currency, kept=_settings_of(round_)):
        try:
            services.update_round(current_user, round_, form.to_input(round_.currency), now=utcnow())
        except FundCircleError as error:
            refuse()
            attach_error(form, error, aliases=RoundForm.ALIASES)
            return render_template("rounds/form.html", circle=round_.circle, form=form, round=round_), error.status
        flash("Settings saved.", "success")
        return redirect(url_for("rounds.view", round_id=round_.id))
    return render_template("rounds/form.html", circle=round_.circle, form=form, round=round_), form.status


def _settings_of(round_: Round) -> dict[str, Any]:
    """A round's method settings as the form's fields hold them."""
    return {name: getattr(round_, name) for name in ALL_METHOD_SETTINGS}


@bp.route("/rounds/<int:round_id>/advance", methods=["POST"])
@requires(ADMIN)
def advance(round_id: int) -> Response:
    round_ = services.get_round(round_id)
    form = AdvanceForm()
    if not form.validate_on_submit():
        flash("Choose the phase to move to.", "error")
        return redirect(url_for("rounds.view", round_id=round_.id))
    try:
        services.advance_round(current_user, round_, form.to.data or "", utcnow())
    except FundCircleError as error:
        refuse()
        flash(error.message, "error")
        return redirect(url_for("rounds.view", round_id=round_id))
    flash(f"The round is now: {PHASE_LABELS[round_.phase_at(utcnow())]}.", "success")
    return redirect(url_for("rounds.view", round_id=round_.id))
