"""The accounts' part of the JSON API: name, e-mail address and password, password reset, personal API tokens,
e-mail notices and the authenticator app (TOTP)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import current_app, request, session
from flask_babel import gettext
from flask_login import current_user

from fundcircle.access import PUBLIC, SIGNED_IN, requires
from fundcircle.auth import services, totp
from fundcircle.auth.models import ApiToken, User
from fundcircle.auth.schemas import (
    AccountChangeSchema,
    AccountSchema,
    EmailChangePendingSchema,
    EmailChangeSchema,
    MessageSchema,
    NewTokenSchema,
    NoticePreferencesSchema,
    NoticesSchema,
    PasswordChangeSchema,
    ResetPasswordSchema,
    ResetRequestSchema,
    SessionsEndedSchema,
    TokenCreateSchema,
    TokenListSchema,
    TokenSchema,
    TotpConfirmSchema,
    TotpSecretSchema,
    TotpStartSchema,
    TotpStatusSchema,
)
from fundcircle.db import utcnow
from fundcircle.openapi import api_blueprint
from fundcircle.outbox import preferences_of, set_notice_deliveries

blp = api_blueprint(
    "auth",
    __name__,
    "Your name, language, time zone, e-mail address and password, API tokens, e-mail notices and authenticator app",
)


@dataclass(frozen=True)
class IssuedToken:
    """A token just made: its record, and the token itself, which is shown this once."""

    record: ApiToken
    token: str

    def __getattr__(self, name: str) -> Any:
        return getattr(self.record, name)


@blp.route("/me/tokens", methods=["GET"])
@requires(SIGNED_IN)
@blp.response(200, TokenListSchema)
def list_tokens() -> dict[str, list[ApiToken]]:
    """Your API tokens, with when each was last used."""
    return {"items": services.list_api_tokens(current_user)}


@blp.route("/me/tokens", methods=["POST"])
@requires(SIGNED_IN)
@blp.arguments(TokenCreateSchema)
@blp.response(201, NewTokenSchema)
def create_token(data: dict[str, Any]) -> IssuedToken:
    """Create a personal API token; the token is in this answer and never again."""
    return IssuedToken(*services.create_api_token(current_user, data["name"]))


@blp.route("/me/tokens/<int:token_id>", methods=["DELETE"])
@requires(SIGNED_IN)
@blp.response(200, TokenSchema)
def revoke_token(token_id: int) -> ApiToken:
    """Revoke one of your tokens; it stops working at once."""
    return services.revoke_api_token(current_user, token_id, utcnow())


@blp.route("/me/notices", methods=["PUT"])
@requires(SIGNED_IN)
@blp.arguments(NoticesSchema)
@blp.response(200, NoticesSchema)
def set_notices(data: dict[str, Any]) -> User:
    """Turn your e-mail notices on or off."""
    services.set_email_notices(current_user, data["email_notices"])
    return current_user  # type: ignore[no-any-return]


@blp.route("/me/notice-preferences", methods=["GET"])
@requires(SIGNED_IN)
@blp.response(200, NoticePreferencesSchema)
def get_notice_preferences() -> dict[str, Any]:
    """How you hear of each kind of notice."""
    return {"preferences": preferences_of(current_user.id)}


@blp.route("/me/notice-preferences", methods=["PUT"])
@requires(SIGNED_IN)
@blp.arguments(NoticePreferencesSchema)
@blp.response(200, NoticePreferencesSchema)
def set_notice_preferences(data: dict[str, Any]) -> dict[str, Any]:
    """Choose how you hear of some kinds of notice; the others keep their setting."""
    set_notice_deliveries(current_user, data["preferences"])
    return {"preferences": preferences_of(current_user.id)}


@blp.route("/me/totp", methods=["POST"])
@requires(SIGNED_IN)
@blp.arguments(TotpStartSchema)
@blp.response(201, TotpSecretSchema)
def start_totp(data: dict[str, Any]) -> dict[str, str]:
    """Enrol an authenticator app: a new secret, returned once. It counts once confirmed with a code."""
    secret = totp.start_enrolment(
        current_user, password=data["password"], now=utcnow(), client_address=request.remote_addr or "unknown"
    )
    return {"secret": secret, "otpauth_uri": totp.provisioning_uri(current_user, secret)}


@blp.route("/me/totp/confirm", methods=["POST"])
@requires(SIGNED_IN)
@blp.arguments(TotpConfirmSchema)
@blp.response(200, TotpStatusSchema)
def confirm_totp(data: dict[str, Any]) -> dict[str, bool]:
    """Confirm the enrolment with the first code the app shows."""
    totp.confirm_enrolment(current_user, data["code"], utcnow(), client_address=request.remote_addr or "unknown")
    return {"enabled": True}


def _session_token() -> str | None:
    """The request's own log-in session, if it came with the cookie (a bearer token has none to keep)."""
    return None if request.headers.get("Authorization") else session.get("sid")


@blp.route("/me/account", methods=["PATCH"])
@requires(SIGNED_IN)
@blp.arguments(AccountChangeSchema)
@blp.response(200, AccountSchema)
def change_account(data: dict[str, Any]) -> User:
    """Change your name (as the circles see it), your language, or the time zone times are shown to you in; what
    the body leaves out stays as it is. Each change is written in the ledger."""
    if "name" in data:
        services.change_name(current_user, data["name"])
    if "language" in data:
        services.change_language(current_user, data["language"])
    if "time_zone" in data:
        services.change_time_zone(current_user, data["time_zone"])
    return current_user  # type: ignore[no-any-return]


@blp.route("/me/password", methods=["PUT"])
@requires(SIGNED_IN)
@blp.arguments(PasswordChangeSchema)
@blp.response(200, SessionsEndedSchema)
def change_password(data: dict[str, Any]) -> dict[str, int]:
    """Set a new password, giving the current one; every other log-in session of yours ends."""
    ended = services.change_password(
        current_user,
        current_password=data["current_password"],
        new_password=data["password"],
        keep_session=_session_token(),
        client_address=request.remote_addr or "unknown",
        now=utcnow(),
    )
    return {"sessions_ended": ended}


@blp.route("/me/email", methods=["POST"])
@requires(SIGNED_IN)
@blp.arguments(EmailChangeSchema)
@blp.response(202, EmailChangePendingSchema)
def change_email(data: dict[str, Any]) -> dict[str, str]:
    """Ask to change your address, giving your password: a link goes to the new address (it changes once that is
    opened) and a notice to the current one."""
    pending = services.request_email_change(
        current_user,
        new_email=data["email"],
        password=data["current_password"],
        client_address=request.remote_addr or "unknown",
        now=utcnow(),
    )
    return {"pending_email": pending.new_email}


@blp.route("/password-resets", methods=["POST"])
@requires(PUBLIC)
@blp.doc(security=[{}])
@blp.arguments(ResetRequestSchema)
@blp.response(202, MessageSchema)
def request_password_reset(data: dict[str, Any]) -> dict[str, str]:
    """Ask for a password reset link by e-mail. The answer is the same whether or not the address has an account."""
    services.request_password_reset(data["email"], utcnow())
    minutes = current_app.config["PASSWORD_RESET_VALID_MINUTES"]
    return {
        "message": gettext(
            "If an account has this address, a link to set a new password was e-mailed to it (it works for "
            "%(minutes)d minutes).",
            minutes=minutes,
        )
    }


@blp.route("/password-resets/<reset_token>", methods=["POST"])
@requires(PUBLIC)
@blp.doc(security=[{}])
@blp.arguments(ResetPasswordSchema)
@blp.response(200, MessageSchema)
def reset_password(data: dict[str, Any], reset_token: str) -> dict[str, str]:
    """Set a new password with the token of an e-mailed reset link (once); every session of the account ends."""
    services.reset_password(reset_token, data["password"], utcnow())
    return {"message": gettext("The new password is set; every session of the account ended. Log in with it.")}


@blp.route("/email-changes/<email_token>", methods=["POST"])
@requires(SIGNED_IN)
@blp.response(200, AccountSchema)
def confirm_email_change(email_token: str) -> User:
    """Confirm a new address with the token of the link sent to it (once), as the account's owner; every other
    session of the account ends."""
    return services.confirm_email_change(current_user, email_token, keep_session=_session_token(), now=utcnow())
