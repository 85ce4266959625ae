from __future__ import annotations

from flask import Blueprint, current_app, flash, g, redirect, render_template, request, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from fundcircle.access import PUBLIC, SUPERUSER, circle_role, current_membership, requires
from fundcircle.auth.forms import ConfirmForm
from fundcircle.circles import services
from fundcircle.circles.forms import CircleForm, CircleSettingsWithPayoutsForm, InviteForm, RolesForm
from fundcircle.circles.models import Circle
from fundcircle.db import utcnow
from fundcircle.errors import FundCircleError
from fundcircle.extensions import db
from fundcircle.forms import attach_error
from fundcircle.mail import external_url, mail_configured, send_mail
from fundcircle.money import MoneyError, format_minor, parse_major
from fundcircle.rounds.services import open_rounds_of, rounds_of_circle

bp = Blueprint("circles", __name__)

ADMIN = circle_role("admin")


@bp.route("/")
@requires(PUBLIC)
def home() -> str:
    if not current_user.is_authenticated:
        return render_template("circles/welcome.html", circles=services.public_circles())
    mine = services.circles_of(current_user)
    admin_of = {circle.id for circle, membership in mine if "admin" in membership.roles}
    rounds = open_rounds_of([circle.id for circle, _ in mine], admin_of)
    return render_template("circles/home.html", mine=mine, rounds=rounds)


@bp.route("/circles/new", methods=["GET", "POST"])
@requires(SUPERUSER)
def create() -> str | Response | tuple[str, int]:
    form = CircleForm()
    if form.validate_on_submit():
        try:
            circle = services.create_circle(
                current_user,
                services.CircleInput(
                    name=form.name.data or "",
                    slug=form.slug.data or "",
                    currency=form.currency.data or "",
                    public=bool(form.public.data),
                    description=form.description.data or "",
                ),
            )
        except FundCircleError as error:
            db.session.rollback()
            attach_error(form, error)
            return render_template("circles/new.html", form=form), error.status
        db.session.commit()
        flash(f"{circle.name} is set up. Invite its members next.", "success")
        return redirect(url_for("circles.members", circle_id=circle.id))
    return render_template("circles/new.html", form=form), 400 if form.is_submitted() else 200


@bp.route("/circles/<int:circle_id>")
@requires(circle_role(public_read=True))
def view(circle_id: int) -> str:
    circle: Circle = g.circle
    membership = current_membership()
    return render_template(
        "circles/view.html",
        circle=circle,
        membership=membership,
        members=services.list_members(circle) if membership is not None else [],
        rounds=rounds_of_circle(circle, include_drafts=membership is not None and "admin" in membership.roles),
    )


@bp.route("/circles/<int:circle_id>/settings", methods=["GET", "POST"])
@requires(ADMIN)
def settings(circle_id: int) -> str | Response | tuple[str, int]:
    circle: Circle = g.circle
    form = CircleSettingsWithPayoutsForm(obj=circle)
    if request.method == "GET" and circle.two_approvals_from_minor is not None:
        form.two_approvals_from.data = format_minor(circle.two_approvals_from_minor, circle.currency, with_code=False)

    def show(status: int) -> tuple[str, int]:
        return render_template("circles/settings.html", circle=circle, form=form), status

    if not form.validate_on_submit():
        return show(400 if form.is_submitted() else 200)
    threshold_text = (form.two_approvals_from.data or "").strip()
    try:
        threshold = parse_major(threshold_text, circle.currency) if threshold_text else None
    except MoneyError as error:
        form.two_approvals_from.errors = [str(error)]
        return show(422)
    try:
        services.update_circle_settings(
            current_user,
            circle,
            name=form.name.data or "",
            description=form.description.data or "",
            public=bool(form.public.data),
            approvals_required=form.approvals_required.data,
            two_approvals_from_minor=threshold,
        )
    except FundCircleError as error:
        db.session.rollback()
        attach_error(form, error, aliases={"two_approvals_from_minor": "two_approvals_from"})
        return show(error.status)
    db.session.commit()
    flash("Settings saved.", "success")
    return redirect(url_for("circles.view", circle_id=circle.id))


def _render_members(
    circle: Circle, invite_form: InviteForm, status: int = 200, invitation_link: str | None = None
) -> tuple[str, int]:
    return (
        render_template(
            "circles/members.html",
            circle=circle,
            members=services.list_members(circle),
            invite_form=invite_form,
            roles_form=RolesForm,
            invitation_link=invitation_link,
            confirm_form=ConfirmForm(),
        ),
        status,
    )


@bp.route("/circles/<int:circle_id>/members", methods=["GET", "POST"])
@requires(ADMIN)
def members(circle_id: int) -> str | Response | tuple[str, int]:
    circle: Circle = g.circle
    form = InviteForm()
    if not form.validate_on_submit():
        return _render_members(circle, form, 400 if form.is_submitted() else 200)
    try:
        outcome = services.invite_member(
            current_user,
            circle,
            email=form.email.data or "",
            roles=form.roles.data or [],
            now=utcnow(),
            valid_days=current_app.config["INVITATION_VALID_DAYS"],
        )
    except FundCircleError as error:
        db.session.rollback()
        attach_error(form, error)
        return _render_members(circle, form, error.status)
    db.session.commit()
    if outcome.membership is not None:
        flash(f"{outcome.membership.user.name} has an account already and is now a member.", "success")
        return redirect(url_for("circles.members", circle_id=circle.id))
    assert outcome.invitation is not None and outcome.token is not None  # nosec B101  # type narrowing: no membership means an invitation
    link = external_url("auth.invitation", token=outcome.token)
    if mail_configured():
        sent = send_mail(
            outcome.invitation.email,
            f"You are invited to {circle.name} on Fund Circle",
            f"{current_user.name} invites you to {circle.name}.\n\n"
            f"Open this link to join (it works once, for {current_app.config['INVITATION_VALID_DAYS']} days):\n"
            f"{link}\n",
        )
        flash(
            f"The invitation was e-mailed to {outcome.invitation.email}."
            if sent
            else "The e-mail could not be sent; copy the link below and send it yourself.",
            "success" if sent else "warning",
        )
    return _render_members(circle, InviteForm(formdata=None), 200, invitation_link=link)


@bp.route("/circles/<int:circle_id>/members/<int:user_id>/roles", methods=["POST"])
@requires(ADMIN)
def set_roles(circle_id: int, user_id: int) -> Response | tuple[str, int]:
    circle: Circle = g.circle
    form = RolesForm()
    if not form.validate_on_submit():
        flash("Those roles could not be read; try again.", "error")
        return redirect(url_for("circles.members", circle_id=circle.id))
    try:
        membership = services.set_member_roles(current_user, circle, user_id, form.roles.data or [])
    except FundCircleError as error:
        db.session.rollback()
        flash(error.message, "error")
        return redirect(url_for("circles.members", circle_id=circle.id))
    db.session.commit()
    flash("Roles saved." if membership is not None else "The person was removed from the circle.", "success")
    return redirect(url_for("circles.members", circle_id=circle.id))
