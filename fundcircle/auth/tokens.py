"""Who an API request with `Authorization: Bearer <token>` speaks for.

A bearer token is used instead of the session for API requests that carry an Authorization header, so that a
browser's session cookie (and Flask-Login's session protection, which would drop the request as anonymous) plays no
part in them. Most operations have the token's owner looked up before the view runs; an operation marked
`authenticates_itself` (a ballot save) reads the owner in its own first query instead, and falls back to
`authenticate_bearer` for every answer but its success."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import g, request
from flask_login import AnonymousUserMixin

from fundcircle.auth.services import sha256_hex, user_for_api_token
from fundcircle.unit_of_work import SAFE_METHODS

F = TypeVar("F", bound=Callable[..., Any])


def bearer_token() -> str | None:
    """The request's bearer token, or None when its Authorization header carries none."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def bearer_token_hash() -> str | None:
    """The SHA-256 of the request's bearer token (as stored), or None."""
    token = bearer_token()
    return sha256_hex(token) if token is not None else None


def authenticate_bearer() -> Any:
    """Set the request's user to the owner of its API token, or an anonymous user; return it. A read changes
    nothing, not even the token's time of last use."""
    token = bearer_token()
    user = user_for_api_token(token, note_use=request.method not in SAFE_METHODS) if token is not None else None
    g._login_user = user or AnonymousUserMixin()
    return g._login_user


def authenticates_itself(view: F) -> F:
    """Mark an API operation that reads its bearer token's owner itself (the request hook then leaves it)."""
    view.authenticates_itself = True  # type: ignore[attr-defined]
    return view
