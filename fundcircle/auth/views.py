from __future__ import annotations

import io
from urllib.parse import urlsplit

import segno
from flask import Blueprint, abort, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_user, logout_user
from werkzeug.wrappers import Response

from fundcircle.access import PUBLIC, SIGNED_IN, requires
from fundcircle.auth import services, totp
from fundcircle.auth.forms import (
    ApiTokenForm,
    LoginForm,
    NoticesForm,
    TotpConfirmForm,
    TotpStartForm,
)
from fundcircle.db import utcnow
from fundcircle.errors import FundCircleError, RateLimited
from fundcircle.forms import ConfirmForm
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


def begin_session(user: services.User) -> None:
    """Log the person in with a new server-side session (also after signing up from an invitation)."""
    token = services.start_session(user)
    session.clear()  # a new session at log-in: nothing set before it (by anybody) carries over
    session["sid"] = token
    login_user(user)


@bp.route("/login", methods=["GET", "POST"])
@requires(PUBLIC)
def login() -> str | Response | tuple[str, int]:
    if current_user.is_authenticated:
        return redirect(url_for("circles.home"))
    form = LoginForm()
    status = 200
    if form.validate_on_submit():
        try:
            user = services.authenticate(
                form.email.data or "",
                form.password.data or "",
                client_address=request.remote_addr or "unknown",
                now=utcnow(),
            )
        except RateLimited as error:
            refuse()
            form.form_errors.append(error.message)
            status = 429
        except FundCircleError as error:
            form.password.errors = [error.message]
            status = 401
        else:
            begin_session(user)
            flash(f"Welcome, {user.name}.", "success")
            return redirect(_safe_next(request.args.get("next")) or url_for("circles.home"))
    elif form.is_submitted():
        status = 400
    return render_template("auth/login.html", form=form), status


@bp.route("/logout", methods=["POST"])
@requires(PUBLIC)
def logout() -> Response:
    token = session.get("sid")
    if token:
        services.end_session(token, utcnow())
    logout_user()
    session.clear()
    flash("You are logged out.", "info")
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
        flash(f"The token “{revoked.name}” is revoked: it no longer works.", "success")
    return redirect(url_for("auth.profile"))


@bp.route("/profile/notices", methods=["POST"])
@requires(SIGNED_IN)
def notices() -> Response:
    form = NoticesForm()
    if form.validate_on_submit():
        enabled = bool(form.email_notices.data)
        services.set_email_notices(current_user, enabled)
        flash("You will get e-mail notices." if enabled else "You will get no e-mail notices.", "success")
    return redirect(url_for("auth.profile"))


@bp.route("/profile/totp", methods=["POST"])
@requires(SIGNED_IN)
def start_totp() -> Response | tuple[str, int]:
    """Begin setting up an authenticator app (again): a new secret, shown until it is confirmed with a code."""
    form = TotpStartForm()
    if not form.validate_on_submit():
        return _profile(400, totp_start_form=form)
    try:
        totp.start_enrolment(current_user, password=form.password.data or "", now=utcnow())
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
        totp.confirm_enrolment(current_user, form.code.data or "", utcnow())
    except FundCircleError as error:
        refuse()
        form.code.errors = [error.message]
        return _profile(error.status, totp_confirm_form=form)
    flash("Your authenticator app is set up: it gives the codes that confirm your approvals.", "success")
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
    qr.save(buffer, kind="svg", scale=5, border=2, title="QR code for your authenticator app")
    response = Response(buffer.getvalue(), mimetype="image/svg+xml")
    response.headers["Cache-Control"] = "no-store"
    return response
