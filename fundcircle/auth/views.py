from __future__ import annotations

import io
from urllib.parse import urlsplit

import segno
from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext, ngettext, refresh
from flask_login import current_user, login_user, logout_user
from werkzeug.wrappers import Response

from fundcircle.access import PUBLIC, SIGNED_IN, requires
from fundcircle.auth import services, totp
from fundcircle.auth.forms import (
    ApiTokenForm,
    EmailChangeForm,
    ForgotPasswordForm,
    LanguageForm,
    LoginForm,
    NameForm,
    NoticesForm,
    PasswordChangeForm,
    ResetPasswordForm,
    TimeZoneForm,
    TotpConfirmForm,
    TotpStartForm,
)
from fundcircle.db import utcnow
from fundcircle.errors import FundCircleError, PermissionDenied, RateLimited
from fundcircle.extensions import db
from fundcircle.forms import ConfirmForm, attach_error
from fundcircle.i18n import SESSION_KEY, check_language, translated
from fundcircle.notices import DELIVERY_LABELS, DELIVERY_MODES, KIND_LABELS, NOTICE_KINDS
from fundcircle.outbox import preferences_of, read_unsubscribe_token, set_notice_deliveries, set_notice_delivery
from fundcircle.phrases import PhrasedError
from fundcircle.timezones import time_zone_names
from fundcircle.unit_of_work import refuse

bp = Blueprint("auth", __name__)


def _safe_next(target: str | None) -> str | None:
    """Only a path on this site: never another host, scheme or protocol-relative URL."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    return target


def _client_address() -> str:
    """The client, for throttling: its address (behind the configured proxies, as ProxyFix gives it)."""
    return request.remote_addr or "unknown"


def begin_session(user: services.User) -> None:
    """Log the person in with a new server-side session (also after signing up from an invitation)."""
    token = services.start_session(user)
    session.clear()  # a new session at log-in: nothing set before it (by anybody) carries over
    session["sid"] = token
    session["seen"] = int(utcnow().timestamp())  # the idle limit counts from here (fundcircle/__init__.py)
    login_user(user)


@bp.route("/login", methods=["GET", "POST"])
@requires(PUBLIC)
def login() -> str | Response | tuple[str, int, dict[str, str]]:
    if current_user.is_authenticated:
        return redirect(url_for("circles.home"))
    form = LoginForm()
    status = 200
    headers: dict[str, str] = {}
    if form.validate_on_submit():
        try:
            user = services.authenticate(
                form.email.data or "",
                form.password.data or "",
                client_address=_client_address(),
                now=utcnow(),
            )
        except RateLimited as error:
            refuse()
            form.form_errors.append(error.message)
            status = 429
            headers["Retry-After"] = str(error.retry_after_seconds)
        except FundCircleError as error:
            form.password.errors = [error.message]
            status = 401
        else:
            begin_session(user)
            flash(gettext("Welcome, %(name)s.", name=user.name), "success")
            return redirect(_safe_next(request.args.get("next")) or url_for("circles.home"))
    elif form.is_submitted():
        status = 400
    return render_template("auth/login.html", form=form), status, headers


@bp.route("/logout", methods=["POST"])
@requires(PUBLIC)
def logout() -> Response:
    token = session.get("sid")
    if token:
        services.end_session(token, utcnow())
    logout_user()
    session.clear()
    flash(gettext("You are logged out."), "info")
    return redirect(url_for("auth.login"))


def _profile(status: int = 200, **forms: object) -> tuple[str, int]:
    """The profile page; `forms` replaces a form with the one just submitted (to show its errors) or adds a value."""
    context: dict[str, object] = {
        "tokens": services.list_api_tokens(current_user),
        "token_form": ApiTokenForm(formdata=None),
        "revoke_form": ConfirmForm(),
        "notices_form": NoticesForm(formdata=None, data={"email_notices": current_user.email_notices}),
        "totp_start_form": TotpStartForm(formdata=None),
        "totp_confirm_form": TotpConfirmForm(formdata=None),
        "totp_pending_secret": totp.pending_secret(current_user),
        "name_form": NameForm(formdata=None, data={"name": current_user.name}),
        "email_form": EmailChangeForm(formdata=None),
        "password_form": PasswordChangeForm(formdata=None),
        "language_form": LanguageForm(formdata=None, data={"language": current_user.language or ""}),
        "time_zone_form": TimeZoneForm(formdata=None, data={"time_zone": current_user.time_zone or ""}),
        "time_zone_names": sorted(time_zone_names()),
        "just_created": None,  # an API token made by this request, shown once
    }
    context.update(forms)
    return render_template("auth/profile.html", **context), status


@bp.route("/profile")
@requires(SIGNED_IN)
def profile() -> tuple[str, int]:
    return _profile()


@bp.route("/profile/tokens", methods=["POST"])
@requires(SIGNED_IN)
def create_token() -> tuple[str, int]:
    form = ApiTokenForm()
    if not form.validate_on_submit():
        return _profile(400, token_form=form)
    try:
        _, new_token = services.create_api_token(current_user, form.name.data or "")
    except FundCircleError as error:
        refuse()
        form.name.errors = [error.message]
        return _profile(error.status, token_form=form)
    return _profile(just_created=new_token)


@bp.route("/profile/tokens/<int:token_id>/revoke", methods=["POST"])
@requires(SIGNED_IN)
def revoke_token(token_id: int) -> Response:
    if ConfirmForm().validate_on_submit():
        revoked = services.revoke_api_token(current_user, token_id, utcnow())
        flash(gettext("The token “%(name)s” is revoked: it no longer works.", name=revoked.name), "success")
    return redirect(url_for("auth.profile"))


@bp.route("/profile/notices", methods=["POST"])
@requires(SIGNED_IN)
def notices() -> Response:
    form = NoticesForm()
    if form.validate_on_submit():
        enabled = bool(form.email_notices.data)
        services.set_email_notices(current_user, enabled)
        flash(
            gettext("You will get e-mail notices.") if enabled else gettext("You will get no e-mail notices."),
            "success",
        )
    return redirect(url_for("auth.profile"))


@bp.route("/profile/totp", methods=["POST"])
@requires(SIGNED_IN)
def start_totp() -> Response | tuple[str, int]:
    """Begin setting up an authenticator app (again): a new secret, shown until it is confirmed with a code."""
    form = TotpStartForm()
    if not form.validate_on_submit():
        return _profile(400, totp_start_form=form)
    try:
        totp.start_enrolment(
            current_user, password=form.password.data or "", now=utcnow(), client_address=_client_address()
        )
    except FundCircleError as error:
        refuse()
        form.password.errors = [error.message]
        return _profile(error.status, totp_start_form=form)
    return redirect(url_for("auth.profile", _anchor="second-factor"))


@bp.route("/profile/totp/confirm", methods=["POST"])
@requires(SIGNED_IN)
def confirm_totp() -> Response | tuple[str, int]:
    form = TotpConfirmForm()
    if not form.validate_on_submit():
        return _profile(400, totp_confirm_form=form)
    try:
        totp.confirm_enrolment(current_user, form.code.data or "", utcnow(), client_address=_client_address())
    except FundCircleError as error:
        refuse()
        form.code.errors = [error.message]
        return _profile(error.status, totp_confirm_form=form)
    flash(gettext("Your authenticator app is set up: it gives the codes that confirm your approvals."), "success")
    return redirect(url_for("auth.profile", _anchor="second-factor"))


@bp.route("/profile/totp/qr.svg")
@requires(SIGNED_IN)
def totp_qr() -> Response:
    """The QR code of the secret being set up, for the authenticator app to scan. Never cached."""
    secret = totp.pending_secret(current_user)
    if secret is None:
        abort(404)
    qr = segno.make(totp.provisioning_uri(current_user, secret), error="m")
    buffer = io.BytesIO()
    qr.save(buffer, kind="svg", scale=5, border=2, title=gettext("QR code for your authenticator app"))
    response = Response(buffer.getvalue(), mimetype="image/svg+xml")
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/profile/name", methods=["POST"])
@requires(SIGNED_IN)
def change_name() -> Response | tuple[str, int]:
    form = NameForm()
    if not form.validate_on_submit():
        return _profile(400, name_form=form)
    try:
        changed = services.change_name(current_user, form.name.data or "")
    except FundCircleError as error:
        refuse()
        attach_error(form, error)
        return _profile(error.status, name_form=form)
    if changed:
        flash(gettext("Your name is saved."), "success")
    return redirect(url_for("auth.profile", _anchor="account"))


@bp.route("/language", methods=["POST"])
@requires(PUBLIC)
def choose_language() -> Response:
    """The switcher in every page's header: a signed-in person's choice is kept on their account (and in the
    ledger), a visitor's in their session; then back to the page they were on (on this site only)."""
    back = _safe_next(request.form.get("next")) or url_for("circles.home")
    code = request.form.get("language", "").strip()
    if current_user.is_authenticated:
        try:
            services.change_language(current_user, code)
        except FundCircleError as error:
            refuse()
            flash(error.message, "error")
        return redirect(back)
    try:
        session[SESSION_KEY] = check_language(code)
    except PhrasedError as error:
        flash(translated(error), "error")
    return redirect(back)


@bp.route("/profile/language", methods=["POST"])
@requires(SIGNED_IN)
def change_language() -> Response | tuple[str, int]:
    """The profile's choice, which (unlike the header's switcher) may leave the language to the circle and browser."""
    form = LanguageForm()
    if not form.validate_on_submit():
        return _profile(400, language_form=form)
    try:
        changed = services.change_language(current_user, form.language.data or None)
    except FundCircleError as error:
        refuse()
        attach_error(form, error)
        return _profile(error.status, language_form=form)
    if changed:
        refresh()  # said in the language just chosen
        flash(gettext("Your language is saved."), "success")
    return redirect(url_for("auth.profile", _anchor="language-and-time"))


@bp.route("/profile/time-zone", methods=["POST"])
@requires(SIGNED_IN)
def change_time_zone() -> Response | tuple[str, int]:
    form = TimeZoneForm()
    if not form.validate_on_submit():
        return _profile(400, time_zone_form=form)
    try:
        changed = services.change_time_zone(current_user, form.time_zone.data or None)
    except FundCircleError as error:
        refuse()
        attach_error(form, error)
        return _profile(error.status, time_zone_form=form)
    if changed:
        flash(gettext("Your time zone is saved."), "success")
    return redirect(url_for("auth.profile", _anchor="language-and-time"))


@bp.route("/profile/email", methods=["POST"])
@requires(SIGNED_IN)
def change_email() -> Response | tuple[str, int]:
    """Ask to change the address: a link goes to the new one, a notice to the current one; nothing changes yet."""
    form = EmailChangeForm()
    if not form.validate_on_submit():
        return _profile(400, email_form=form)
    try:
        pending = services.request_email_change(
            current_user,
            new_email=form.email.data or "",
            password=form.current_password.data or "",
            client_address=_client_address(),
            now=utcnow(),
        )
    except FundCircleError as error:
        refuse()
        attach_error(form, error)
        return _profile(error.status, email_form=form)
    flash(
        gettext(
            "We e-mailed a link to %(new_email)s: your address changes once you open it. Until then it stays "
            "%(email)s.",
            new_email=pending.new_email,
            email=current_user.email,
        ),
        "success",
    )
    return redirect(url_for("auth.profile", _anchor="account"))


@bp.route("/profile/password", methods=["POST"])
@requires(SIGNED_IN)
def change_password() -> Response | tuple[str, int]:
    form = PasswordChangeForm()
    if not form.validate_on_submit():
        return _profile(400, password_form=form)
    try:
        ended = services.change_password(
            current_user,
            current_password=form.current_password.data or "",
            new_password=form.password.data or "",
            keep_session=session.get("sid"),
            client_address=_client_address(),
            now=utcnow(),
        )
    except FundCircleError as error:
        refuse()
        attach_error(form, error)
        return _profile(error.status, password_form=form)
    if ended:
        changed = ngettext(
            "Your password is changed. You were signed out everywhere else (%(num)d).",
            "Your password is changed. You were signed out everywhere else (%(num)d).",
            ended,
        )
    else:
        changed = gettext("Your password is changed.")
    flash(changed, "success")
    return redirect(url_for("auth.profile", _anchor="account"))


@bp.route("/password/forgot", methods=["GET", "POST"])
@requires(PUBLIC)
def forgot_password() -> str | Response | tuple[str, int]:
    """Ask for a reset link. The answer is the same whether or not the address has an account."""
    form = ForgotPasswordForm()
    if not form.validate_on_submit():
        return render_template("auth/forgot.html", form=form), 400 if form.is_submitted() else 200
    try:
        services.request_password_reset(form.email.data or "", utcnow())
    except FundCircleError as error:
        refuse()
        attach_error(form, error)
        return render_template("auth/forgot.html", form=form), error.status
    minutes = current_app.config["PASSWORD_RESET_VALID_MINUTES"]
    flash(
        ngettext(
            "If an account has the address %(email)s, we e-mailed it a link to set a new password (it works for "
            "%(num)d minute). Check your inbox.",
            "If an account has the address %(email)s, we e-mailed it a link to set a new password (it works for "
            "%(num)d minutes). Check your inbox.",
            minutes,
            email=form.email.data,
        ),
        "info",
    )
    return redirect(url_for("auth.login"))


@bp.route("/password/reset/<reset_token>", methods=["GET", "POST"])
@requires(PUBLIC)
def reset_password(reset_token: str) -> str | Response | tuple[str, int]:
    """Set a new password with the e-mailed link; it signs the person in, and ends every other session."""
    now = utcnow()
    token = reset_token
    services.find_account_link("password_reset", token, now)  # NotFound renders the 404 page with its message
    form = ResetPasswordForm()
    if not form.validate_on_submit():
        return render_template("auth/reset.html", form=form), 400 if form.is_submitted() else 200
    try:
        user = services.reset_password(token, form.password.data or "", now)
    except FundCircleError as error:
        refuse()
        attach_error(form, error)
        return render_template("auth/reset.html", form=form), error.status
    logout_user()  # whoever was signed in here (the reset ended every session of the account already)
    begin_session(user)
    flash(
        gettext(
            "Your new password is set, %(name)s; you are signed in, and signed out everywhere else.", name=user.name
        ),
        "success",
    )
    return redirect(url_for("circles.home"))


@bp.route("/email/confirm/<email_token>", methods=["GET", "POST"])
@requires(SIGNED_IN)
def confirm_email(email_token: str) -> str | Response | tuple[str, int]:
    """Confirm a new address with the link sent to it, signed in as the account's owner (a button: opening a link
    changes nothing by itself). A visitor is sent to log in first and comes back here."""
    now = utcnow()
    link = services.find_account_link("email_change", email_token, now)
    if link.user_id != current_user.id:
        raise PermissionDenied(
            gettext("This link is for another account: log in as the account whose address changes.")
        )
    form = ConfirmForm()
    if not form.validate_on_submit():
        return render_template("auth/confirm_email.html", form=form, link=link), 400 if form.is_submitted() else 200
    try:
        user = services.confirm_email_change(current_user, email_token, keep_session=session.get("sid"), now=now)
    except FundCircleError as error:
        refuse()
        form.form_errors.append(error.message)
        return render_template("auth/confirm_email.html", form=form, link=link), error.status
    flash(gettext("Your address is now %(email)s; you were signed out everywhere else.", email=user.email), "success")
    return redirect(url_for("auth.profile"))


@bp.route("/profile/notice-preferences", methods=["GET", "POST"])
@requires(SIGNED_IN)
def notice_preferences() -> Response | str | tuple[str, int]:
    """How the person hears of each kind of notice: at once, in a daily or weekly digest, or in the inbox only."""
    form = ConfirmForm()
    errors: dict[str, str] = {}
    if request.method == "POST" and form.validate_on_submit():
        choices = {kind: request.form.get(f"delivery-{kind}", "") for kind in NOTICE_KINDS}
        errors = {
            kind: gettext(
                "Choose one of: %(modes)s.", modes=", ".join(str(label) for label in DELIVERY_LABELS.values())
            )
            for kind, value in choices.items()
            if value not in DELIVERY_MODES
        }
        if not errors:
            changed = set_notice_deliveries(current_user, choices)
            flash(
                ngettext(
                    "Your notice settings are saved (%(num)d changed).",
                    "Your notice settings are saved (%(num)d changed).",
                    changed,
                ),
                "success",
            )
            return redirect(url_for("auth.notice_preferences"))
    page = render_template(
        "auth/notice_preferences.html",
        form=form,
        preferences=preferences_of(current_user.id),
        kinds=KIND_LABELS,
        modes=DELIVERY_LABELS,
        errors=errors,
        email_notices=current_user.email_notices,
    )
    return (page, 400) if errors else page


@bp.route("/unsubscribe/<token>", methods=["GET", "POST"])
@requires(PUBLIC)
def unsubscribe(token: str) -> str | tuple[str, int]:
    """The one-click link of a notice mail (RFC 8058): a POST, from the mail program or the button here, turns
    mail of that one kind off (inbox only) without log-in; a GET only asks, since link checkers open links."""
    named = read_unsubscribe_token(token)
    if named is None:
        return render_template("auth/unsubscribe.html", valid=False, done=False), 400
    user_id, kind = named
    done = False
    if request.method == "POST":
        person = db.session.get(services.User, user_id)
        if person is None:  # the account was deleted since the mail went out
            return render_template("auth/unsubscribe.html", valid=False, done=False), 400
        set_notice_delivery(None, person, kind, "inbox")
        done = True
    return render_template("auth/unsubscribe.html", valid=True, done=done, kind=KIND_LABELS[kind])
