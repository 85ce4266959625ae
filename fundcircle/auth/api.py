"""The accounts' part of the JSON API: personal API tokens, e-mail notices and the authenticator app (TOTP)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask_login import current_user

from fundcircle.access import SIGNED_IN, requires
from fundcircle.auth import services, totp
from fundcircle.auth.models import ApiToken, User
from fundcircle.auth.schemas import (
    NewTokenSchema,
    NoticesSchema,
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

blp = api_blueprint("auth", __name__, "Your API tokens, e-mail notices and authenticator app")


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


@blp.route("/me/totp", methods=["POST"])
@requires(SIGNED_IN)
@blp.arguments(TotpStartSchema)
@blp.response(201, TotpSecretSchema)
def start_totp(data: dict[str, Any]) -> dict[str, str]:
    """Enrol an authenticator app: a new secret, returned once. It counts once confirmed with a code."""
    secret = totp.start_enrolment(current_user, password=data["password"], now=utcnow())
    return {"secret": secret, "otpauth_uri": totp.provisioning_uri(current_user, secret)}


@blp.route("/me/totp/confirm", methods=["POST"])
@requires(SIGNED_IN)
@blp.arguments(TotpConfirmSchema)
@blp.response(200, TotpStatusSchema)
def confirm_totp(data: dict[str, Any]) -> dict[str, bool]:
    """Confirm the enrolment with the first code the app shows."""
    totp.confirm_enrolment(current_user, data["code"], utcnow())
    return {"enabled": True}
