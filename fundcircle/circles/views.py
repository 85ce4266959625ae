from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext, ngettext
from flask_login import current_user
from werkzeug.wrappers import Response

from fundcircle.access import (
    PUBLIC,
    SIGNED_IN,
    SUPERUSER,
    Place,
    circle_role,
    current_membership,
    finds_place,
    looks_up_memberships,
    requires,
)
from fundcircle.auth.forms import SignupForm
from fundcircle.auth.services import find_user_by_email
from fundcircle.auth.views import begin_session
from fundcircle.circles import joining, rotation, services
from fundcircle.circles.forms import (
    CircleForm,
    CircleSettingsWithPayoutsForm,
    DeclineJoinRequestForm,
    InviteForm,
    JoinRequestForm,
    JoinSettingsForm,
    RolesForm,
    RotationCallForm,
)
from fundcircle.circles.models import ROLE_NAMES, Circle, Membership
from fundcircle.db import utcnow
from fundcircle.errors import FundCircleError, NotFound
from fundcircle.extensions import db, login_manager
from fundcircle.forms import ConfirmForm, attach_error
from fundcircle.hooks import PageParts
from fundcircle.i18n import current_language, in_language
from fundcircle.mail import external_url, mail_configured, send_mail
from fundcircle.money import FORM_LOCALE, MoneyError, format_minor, parse_money
from fundcircle.timezones import DEFAULT_TIME_ZONE, TimeZoneError, time_zone_names, to_utc
from fundcircle.unit_of_work import after_commit, refuse

bp = Blueprint("circles", __name__)


@finds_place("circle_id")
def _circle_by_id(circle_id: int) -> Place | None:
    circle = db.session.get(Circle, circle_id)
    return Place(circle) if circle is not None else None


looks_up_memberships(services.membership_of)

#: What the areas above add to the home page (called with the person's circles and memberships) and to a circle's
#: page (called with the circle and the person's membership, if any): the rounds under way.
home_page = PageParts("home page")
circle_page = PageParts("circle page")

ADMIN = circle_role("admin")


@bp.route("/")
@requires(PUBLIC)
def home() -> str:
    if not current_user.is_authenticated:
        return render_template("circles/welcome.html", circles=services.public_circles())
    mine = services.circles_of(current_user)
    return render_template(
        "circles/home.html",
        **home_page.context(mine),
        mine=mine,
        invitations=services.pending_invitations_for(current_user, utcnow()),
    )


@bp.route("/circles/new", methods=["GET", "POST"])
@requires(SUPERUSER)
def create() -> str | Response | tuple[str, int]:
    form = CircleForm()
    if not form.is_submitted():
        form.language.data = current_language()  # the creator's language, to start from

    def show(status: int) -> tuple[str, int]:
        return render_template("circles/new.html", form=form, time_zone_names=sorted(time_zone_names())), status

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
                    time_zone=form.time_zone.data or DEFAULT_TIME_ZONE,
                    language=form.language.data if "language" in request.form else None,
                ),
            )
        except FundCircleError as error:
            refuse()
            attach_error(form, error)
            return show(error.status)
        flash(gettext("%(circle)s is set up. Invite its members next.", circle=circle.name), "success")
        return redirect(url_for("circles.members", circle_id=circle.id))
    return show(400 if form.is_submitted() else 200)


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
        **circle_page.context(circle, membership),
    )


@bp.route("/circles/<int:circle_id>/settings", methods=["GET", "POST"])
@requires(ADMIN)
def settings(circle_id: int) -> str | Response | tuple[str, int]:
    circle: Circle = g.circle
    form = CircleSettingsWithPayoutsForm(obj=circle)
    if request.method == "GET" and circle.two_approvals_from_minor is not None:
        form.two_approvals_from.data = format_minor(circle.two_approvals_from_minor, circle.currency, with_code=False)

    def show(status: int) -> tuple[str, int]:
        return render_template(
            "circles/settings.html", circle=circle, form=form, time_zone_names=sorted(time_zone_names())
        ), status

    if not form.validate_on_submit():
        return show(400 if form.is_submitted() else 200)
    threshold_text = (form.two_approvals_from.data or "").strip()
    try:
        threshold = parse_money(threshold_text, circle.currency, FORM_LOCALE) if threshold_text else None
    except MoneyError as error:
        form.two_approvals_from.errors = [services.said(error)]
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
            time_zone=form.time_zone.data or None,
            # A form without the field (a script older than languages) keeps the circle's; the empty choice clears it.
            language=(form.language.data or None) if "language" in request.form else services.KEEP,
        )
    except FundCircleError as error:
        refuse()
        attach_error(form, error, aliases={"two_approvals_from_minor": "two_approvals_from"})
        return show(error.status)
    flash(gettext("Settings saved."), "success")
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
            role_names=ROLE_NAMES,
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
        refuse()
        attach_error(form, error)
        return _render_members(circle, form, error.status)
    # The same answer whether or not the address has an account: the admin learns nothing about it.
    link = external_url("circles.invitation", token=outcome.token)
    to = outcome.invitation.email
    if mail_configured():
        with in_language(services.invitation_language(circle, to)):
            subject, body = services.invitation_mail(
                circle, current_user, link, current_app.config["INVITATION_VALID_DAYS"]
            )

        def send_invitation() -> None:
            if send_mail(to, subject, body):
                flash(gettext("The invitation was e-mailed to %(email)s.", email=to), "success")
            else:
                flash(
                    gettext(
                        "The invitation e-mail to %(email)s could not be sent; send them the link yourself.", email=to
                    ),
                    "warning",
                )

        # Sent once the invitation is stored; the outcome is told on the next page.
        after_commit(send_invitation)
        flash(
            gettext("Invitation sent to %(email)s: an e-mail with this link is being sent to %(email)s.", email=to),
            "info",
        )
    else:
        flash(gettext("Invitation made for %(email)s: send them the link below.", email=to), "success")
    return _render_members(circle, InviteForm(formdata=None), 200, invitation_link=link)


@bp.route("/circles/<int:circle_id>/members/<int:user_id>/roles", methods=["POST"])
@requires(ADMIN)
def set_roles(circle_id: int, user_id: int) -> Response | tuple[str, int]:
    circle: Circle = g.circle
    form = RolesForm()
    if not form.validate_on_submit():
        flash(gettext("Those roles could not be read; try again."), "error")
        return redirect(url_for("circles.members", circle_id=circle.id))
    try:
        membership = services.set_member_roles(current_user, circle, user_id, form.roles.data or [])
    except FundCircleError as error:
        refuse()
        flash(error.message, "error")
        return redirect(url_for("circles.members", circle_id=circle.id))
    flash(
        gettext("Roles saved.") if membership is not None else gettext("The person was removed from the circle."),
        "success",
    )
    return redirect(url_for("circles.members", circle_id=circle.id))


@bp.route("/invitations/<token>", methods=["GET", "POST"])
@requires(PUBLIC)
def invitation(token: str) -> str | Response | tuple[str, int]:
    now = utcnow()
    invitation = services.find_invitation(token, now)  # NotFound renders the 404 page with its message
    user = current_user if current_user.is_authenticated else None
    existing_account = user is None and find_user_by_email(invitation.email) is not None
    signup_form = SignupForm()
    confirm_form = ConfirmForm()
    form = confirm_form if user is not None else signup_form
    status = 200
    if request.method == "POST" and user is not None and request.form.get("answer") == "decline":
        if confirm_form.validate_on_submit():
            if user.email != invitation.email:
                confirm_form.form_errors.append(
                    gettext(
                        "This invitation is for %(invited)s, and you are signed in as %(email)s.",
                        invited=invitation.email,
                        email=user.email,
                    )
                )
                status = 403
            else:
                services.decline_invitation(user, invitation.id, now)
                flash(gettext("You declined the invitation to %(circle)s.", circle=invitation.circle.name), "info")
                return redirect(url_for("circles.home"))
        else:
            status = 400
    elif request.method == "POST" and not existing_account and form.validate_on_submit():
        try:
            joined_user, _ = services.accept_invitation(
                token,
                user=user,
                now=now,
                name=signup_form.name.data or "",
                password=signup_form.password.data or "",
            )
        except FundCircleError as error:
            refuse()
            target = getattr(signup_form, error.field or "", None) if user is None else None
            if target is not None:
                target.errors = [error.message]
            else:
                form.form_errors.append(error.message)
            status = error.status
        else:
            circle = invitation.circle
            if user is None:
                begin_session(joined_user)
            flash(gettext("Welcome to %(circle)s.", circle=circle.name), "success")
            return redirect(url_for("circles.view", circle_id=circle.id))
    elif request.method == "POST":
        status = 400
    return (
        render_template(
            "circles/invitation.html",
            invitation=invitation,
            signup_form=signup_form,
            confirm_form=confirm_form,
            existing_account=existing_account,
        ),
        status,
    )


@bp.route("/my-invitations/<int:invitation_id>/accept", methods=["POST"])
@requires(SIGNED_IN)
def accept_mine(invitation_id: int) -> Response:
    """Accept, from the home page, an invitation made for the signed-in person's address."""
    if not ConfirmForm().validate_on_submit():
        flash(gettext("That answer could not be read; try again."), "error")
        return redirect(url_for("circles.home"))
    membership = services.accept_invitation_by_id(current_user, invitation_id, utcnow())
    flash(gettext("Welcome to %(circle)s.", circle=membership.circle.name), "success")
    return redirect(url_for("circles.view", circle_id=membership.circle_id))


@bp.route("/my-invitations/<int:invitation_id>/decline", methods=["POST"])
@requires(SIGNED_IN)
def decline_mine(invitation_id: int) -> Response:
    """Decline, from the home page, an invitation made for the signed-in person's address."""
    if not ConfirmForm().validate_on_submit():
        flash(gettext("That answer could not be read; try again."), "error")
        return redirect(url_for("circles.home"))
    invitation = services.decline_invitation(current_user, invitation_id, utcnow())
    flash(gettext("You declined the invitation to %(circle)s.", circle=invitation.circle.name), "info")
    return redirect(url_for("circles.home"))


# --- joining by request (circles/joining.py) -----------------------------------------------------------------------


@circle_page.part
def _joining_part(circle: Circle, membership: Membership | None) -> dict[str, Any]:
    """The circle page's "Ask to join" button (for people not in it) and the admins' count of open requests."""
    is_admin = membership is not None and "admin" in membership.roles
    return {
        "takes_join_requests": joining.takes_requests(circle),
        "open_join_requests": joining.open_request_count(circle) if is_admin else 0,
    }


def _render_join_request(circle: Circle, form: JoinRequestForm, status: int = 200) -> tuple[str, int]:
    now = utcnow()
    again_at = joining.may_ask_again_at(current_user, circle)
    return (
        render_template(
            "circles/join_request.html",
            circle=circle,
            form=form,
            confirm_form=ConfirmForm(),
            membership=services.membership_of(current_user, circle),
            open_request=joining.open_request_of(current_user, circle),
            again_at=again_at if again_at is not None and now < again_at else None,
            declined=joining.latest_decline_of(current_user, circle),
        ),
        status,
    )


@bp.route("/circles/<int:circle_id>/join", methods=["GET", "POST"])
@requires(circle_role(public_read=True))
def ask_to_join(circle_id: int) -> str | Response | tuple[str, int]:
    """A signed-in person asks to join a public circle that takes requests (or sees where their request stands)."""
    circle: Circle = g.circle
    if not current_user.is_authenticated:
        return login_manager.unauthorized()  # type: ignore[no-any-return]
    form = JoinRequestForm()
    if not form.validate_on_submit():
        return _render_join_request(circle, form, 400 if form.is_submitted() else 200)
    try:
        joining.ask_to_join(current_user, circle, form.note.data or "", utcnow())
    except FundCircleError as error:
        refuse()
        attach_error(form, error)
        return _render_join_request(circle, form, error.status)
    flash(gettext("Your request to join %(circle)s is sent: its admins will answer it.", circle=circle.name), "success")
    return redirect(url_for("circles.ask_to_join", circle_id=circle.id))


@bp.route("/circles/<int:circle_id>/join/withdraw", methods=["POST"])
@requires(circle_role(public_read=True))
def withdraw_join_request(circle_id: int) -> Response:
    circle: Circle = g.circle
    if not current_user.is_authenticated:
        return login_manager.unauthorized()  # type: ignore[no-any-return]
    if not ConfirmForm().validate_on_submit():
        flash(gettext("That answer could not be read; try again."), "error")
        return redirect(url_for("circles.ask_to_join", circle_id=circle.id))
    try:
        joining.withdraw_request(current_user, circle, utcnow())
    except FundCircleError as error:
        refuse()
        flash(error.message, "error")
        return redirect(url_for("circles.ask_to_join", circle_id=circle.id))
    flash(gettext("Your request to join is withdrawn."), "info")
    return redirect(url_for("circles.view", circle_id=circle.id))


def _decline_form(join_request_id: int, formdata: Any = None) -> DeclineJoinRequestForm:
    """Each request's decline form has its own prefix: its field ids differ on the page, and a form sent back with
    an error opens under the right person. The app's CSRF protection checks every POST's plain `csrf_token`
    field; the form's own check would look for a prefixed one, so it is left to the app's."""
    return DeclineJoinRequestForm(formdata=formdata, prefix=f"request-{join_request_id}", meta={"csrf": False})


def _render_join_requests(
    circle: Circle, status: int = 200, failed: DeclineJoinRequestForm | None = None, failed_id: int | None = None
) -> tuple[str, int]:
    requests = joining.open_requests(current_user, circle)
    decline_forms = {item.id: _decline_form(item.id) for item in requests}
    if failed is not None and failed_id in decline_forms:
        decline_forms[failed_id] = failed
    return (
        render_template(
            "circles/join_requests.html",
            circle=circle,
            requests=requests,
            decline_forms=decline_forms,
            settings_form=JoinSettingsForm(obj=circle),
        ),
        status,
    )


@bp.route("/circles/<int:circle_id>/join-requests")
@requires(ADMIN)
def join_requests(circle_id: int) -> tuple[str, int]:
    """The circle's open requests to join, for its admins to accept or decline."""
    return _render_join_requests(g.circle)


@bp.route("/circles/<int:circle_id>/join-requests/<int:join_request_id>/accept", methods=["POST"])
@requires(ADMIN)
def accept_join_request(circle_id: int, join_request_id: int) -> Response:
    circle: Circle = g.circle
    if not ConfirmForm().validate_on_submit():
        flash(gettext("That answer could not be read; try again."), "error")
        return redirect(url_for("circles.join_requests", circle_id=circle.id))
    try:
        membership = joining.accept_request(current_user, circle, join_request_id, utcnow())
    except FundCircleError as error:
        refuse()
        flash(error.message, "error")
        return redirect(url_for("circles.join_requests", circle_id=circle.id))
    flash(
        gettext(
            "%(name)s is a member of %(circle)s now, and is told so.", name=membership.user.name, circle=circle.name
        ),
        "success",
    )
    return redirect(url_for("circles.join_requests", circle_id=circle.id))


@bp.route("/circles/<int:circle_id>/join-requests/<int:join_request_id>/decline", methods=["POST"])
@requires(ADMIN)
def decline_join_request(circle_id: int, join_request_id: int) -> Response | tuple[str, int]:
    circle: Circle = g.circle
    form = _decline_form(join_request_id, request.form)
    if not form.validate_on_submit():
        return _render_join_requests(circle, 400 if not form.errors.get("reason") else 422, form, join_request_id)
    try:
        declined = joining.decline_request(current_user, circle, join_request_id, form.reason.data or "", utcnow())
    except FundCircleError as error:
        refuse()
        if error.field == "reason":
            attach_error(form, error)
            return _render_join_requests(circle, error.status, form, join_request_id)
        flash(error.message, "error")
        return redirect(url_for("circles.join_requests", circle_id=circle.id))
    flash(gettext("The request of %(name)s is declined, and they are told.", name=declined.user.name), "info")
    return redirect(url_for("circles.join_requests", circle_id=circle.id))


@bp.route("/circles/<int:circle_id>/settings/joining", methods=["POST"])
@requires(ADMIN)
def join_settings(circle_id: int) -> Response:
    """Turn requests to join on or off (its own small form on the settings and the requests pages)."""
    circle: Circle = g.circle
    form = JoinSettingsForm()
    if not form.validate_on_submit():
        flash(gettext("That setting could not be read; try again."), "error")
        return redirect(url_for("circles.join_requests", circle_id=circle.id))
    joining.set_accepts_join_requests(current_user, circle, bool(form.accepts_join_requests.data))
    if circle.accepts_join_requests and not circle.public:
        flash(gettext("Requests to join are on, but only a public circle shows the “Ask to join” button."), "warning")
    elif circle.accepts_join_requests:
        flash(gettext("The circle takes requests to join: its page shows an “Ask to join” button."), "success")
    else:
        flash(gettext("The circle takes no requests to join now; open requests still wait for an answer."), "info")
    return redirect(url_for("circles.join_requests", circle_id=circle.id))


# --- Rotating circles (issue 19): the rotation page, its forms, and the page that tells how to check a draw ---


def _rotation_page(circle: Circle, call_form: RotationCallForm, status: int = 200) -> tuple[str, int]:
    now = utcnow()
    call = rotation.open_call(circle)
    drawn = rotation.last_draw(circle)
    draw_entry = rotation.draw_entry_of(circle, drawn) if drawn is not None else None
    names = rotation.names_of(circle, draw_entry)
    membership = current_membership()
    return (
        render_template(
            "circles/rotation.html",
            circle=circle,
            membership=membership,
            now=now,
            call=call,
            call_closed=call is not None and now >= call.closes_at,
            volunteered=call is not None and any(row.user_id == current_user.id for row in call.volunteers),
            serving=rotation.serving_terms(circle),
            drawn=drawn,
            draw_entry=draw_entry,
            names=names,
            call_form=call_form,
            confirm_form=ConfirmForm(),
        ),
        status,
    )


@bp.route("/circles/<int:circle_id>/rotation")
@requires(circle_role())
def rotation_page(circle_id: int) -> tuple[str, int]:
    """Who decides until when, the open call for volunteers, and the last draw."""
    return _rotation_page(g.circle, RotationCallForm(formdata=None, zone=g.circle.time_zone))


@bp.route("/circles/<int:circle_id>/rotation/call", methods=["POST"])
@requires(ADMIN)
def rotation_open_call(circle_id: int) -> Response | tuple[str, int]:
    circle: Circle = g.circle
    form = RotationCallForm(zone=circle.time_zone)
    if not form.validate_on_submit():
        return _rotation_page(circle, form, 400)
    if form.closes_at.data is None:  # InputRequired refused an empty field already; a value WTForms could not read
        return _rotation_page(circle, form, 400)
    try:
        # Typed as a wall time in the circle's zone, on that date's own offset (as a round's deadlines are).
        closes_at = to_utc(form.closes_at.data, circle.time_zone)
    except TimeZoneError as error:
        form.closes_at.errors = [*form.closes_at.errors, services.said(error)]
        return _rotation_page(circle, form, 400)
    in_rounds = form.term_kind.data == "rounds"
    length = form.term_rounds if in_rounds else form.term_days
    if length.data is None:
        length.errors = [*length.errors, gettext("Say how long a term lasts.")]
        return _rotation_page(circle, form, 400)
    try:
        rotation.open_volunteer_call(
            current_user,
            circle,
            rotation.CallInput(
                seats=form.seats.data or 0,
                term_days=None if in_rounds else length.data,
                term_rounds=length.data if in_rounds else None,
                closes_at=closes_at,
                newcomer_share_percent=int(form.newcomer_share.data or "0"),
            ),
            utcnow(),
        )
    except FundCircleError as error:
        refuse()
        attach_error(form, error, aliases={"newcomer_share_percent": "newcomer_share"})
        return _rotation_page(circle, form, error.status)
    flash(gettext("The call for volunteers is open: members can volunteer on this page until it closes."), "success")
    return redirect(url_for("circles.rotation_page", circle_id=circle.id))


def _rotation_action(action: str) -> Response:
    circle: Circle = g.circle
    back = redirect(url_for("circles.rotation_page", circle_id=circle.id))
    if not ConfirmForm().validate_on_submit():
        flash(gettext("That could not be read; try again."), "error")
        return back
    try:
        if action == "volunteer":
            rotation.volunteer(current_user, circle, utcnow())
            flash(gettext("You volunteered. You can take your name back until the call closes."), "success")
        elif action == "withdraw":
            rotation.withdraw(current_user, circle, utcnow())
            flash(gettext("You took your name back."), "success")
        else:
            call = rotation.draw_call(current_user, circle, utcnow())
            chosen = len(rotation.terms_of_call(call))
            flash(
                # English keeps the pages' "member(s)" (both forms alike); the other languages say it properly.
                ngettext(
                    "The draw is made: %(num)d deciding member(s) chosen.",
                    "The draw is made: %(num)d deciding member(s) chosen.",
                    chosen,
                ),
                "success",
            )
    except FundCircleError as error:
        refuse()
        flash(error.message, "error")
    return back


@bp.route("/circles/<int:circle_id>/rotation/volunteer", methods=["POST"])
@requires(circle_role())
def rotation_volunteer(circle_id: int) -> Response:
    return _rotation_action("volunteer")


@bp.route("/circles/<int:circle_id>/rotation/withdraw", methods=["POST"])
@requires(circle_role())
def rotation_withdraw(circle_id: int) -> Response:
    return _rotation_action("withdraw")


@bp.route("/circles/<int:circle_id>/rotation/draw", methods=["POST"])
@requires(ADMIN)
def rotation_draw(circle_id: int) -> Response:
    return _rotation_action("draw")


@bp.route("/circles/<int:circle_id>/rotation/draws/<int:call_id>/check")
@requires(circle_role())
def rotation_check(circle_id: int, call_id: int) -> str:
    """For the technically minded: a draw's ledger entry as a file and the command that re-runs it."""
    circle: Circle = g.circle
    call = rotation.get_call(circle, call_id)
    entry = rotation.draw_entry_of(circle, call)
    if entry is None:
        raise NotFound(gettext("This call has not been drawn yet."))
    return render_template(
        "circles/rotation_check.html",
        circle=circle,
        call=call,
        entry=entry,
        entry_json=rotation.entry_json(entry),
        names=rotation.names_of(circle, entry),
    )
