"""Accounts, log-in sessions, throttling and API tokens."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from email_validator import EmailNotValidError, validate_email
from flask import current_app
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError

from fundcircle.auth.models import ApiToken, AuthSession, ThrottleEvent, User
from fundcircle.db import compare_and_set, utcnow
from fundcircle.errors import Conflict, NotFound, RateLimited, ValidationFailed
from fundcircle.extensions import db
from fundcircle.ledger.record import record
from fundcircle.unit_of_work import after_commit, keep_after_rollback

MIN_PASSWORD_LENGTH = 10
API_TOKEN_PREFIX = "fc_"  # nosec B105  # the tokens' public prefix, not a secret


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def normalise_email(email: str) -> str:
    """Check an address's form and return it lower-cased.

    :raises ValidationFailed: on the `email` field if it is not an e-mail address.
    """
    try:
        return validate_email(email.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError as error:
        raise ValidationFailed(f"Not a valid e-mail address: {error}", field="email") from None


def _password_hasher() -> PasswordHasher:
    parameters = current_app.config.get("PASSWORD_HASH_PARAMETERS")
    return PasswordHasher(**parameters) if parameters else PasswordHasher()


def check_password_rules(password: str) -> None:
    """:raises ValidationFailed: on `password` if it is too short or too long."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationFailed(f"Use at least {MIN_PASSWORD_LENGTH} characters.", field="password")
    if len(password) > 1000:
        raise ValidationFailed("Use at most 1000 characters.", field="password")


def hash_password(password: str) -> str:
    return _password_hasher().hash(password)


def password_matches(user: User, password: str) -> bool:
    """Whether `password` is the user's (asked again before a change to their second factor)."""
    try:
        return bool(_password_hasher().verify(user.password_hash, password))
    except (VerificationError, InvalidHashError):
        return False


def find_user_by_email(email: str) -> User | None:
    return db.session.scalar(select(User).where(User.email == email.strip().lower()))


def create_user(actor: User | None, *, email: str, name: str, password: str, superuser: bool = False, via: str) -> User:
    """Create an account. `via` says how ("cli", "invitation", "demo") and goes into the ledger.

    :raises ValidationFailed: for a malformed address, an empty name or a weak password.
    :raises Conflict: on `email` if an account with that address exists.
    """
    email = normalise_email(email)
    name = name.strip()
    if not name:
        raise ValidationFailed("Enter a name.", field="name")
    if len(name) > 80:
        raise ValidationFailed("Use at most 80 characters.", field="name")
    check_password_rules(password)
    if find_user_by_email(email) is not None:
        raise Conflict("An account with this e-mail address exists already.", field="email")
    user = User(email=email, name=name, password_hash=hash_password(password), is_superuser=superuser)
    try:
        # The check above reads no lock: two sign-ups for one address at once (two invitations to different
        # circles, say) both pass it, and the unique address decides; the second is told so, not shown a 500.
        with db.session.begin_nested():
            db.session.add(user)
    except IntegrityError:
        raise Conflict("An account with this e-mail address exists already.", field="email") from None
    record(
        "user.created",
        actor=actor or user,
        circle_id=None,
        subject=user,
        data={"email": email, "name": name, "superuser": superuser, "via": via},
    )
    return user


def _throttle_keys(email: str, client_address: str) -> dict[str, int]:
    config = current_app.config
    return {
        f"login:email:{email.strip().lower()}": config["LOGIN_FAILURES_PER_EMAIL"],
        f"login:address:{client_address}": config["LOGIN_FAILURES_PER_ADDRESS"],
    }


def check_throttle(limits: dict[str, int], window_seconds: int, now: datetime) -> None:
    """:raises RateLimited: if any key has reached its limit of failures within the window."""
    since = now - timedelta(seconds=window_seconds)
    rows = db.session.execute(
        select(ThrottleEvent.key, func.sum(ThrottleEvent.weight))
        .where(ThrottleEvent.key.in_(list(limits)), ThrottleEvent.at > since)
        .group_by(ThrottleEvent.key)
    )
    counts = {key: total for key, total in rows}
    if any((counts.get(key) or 0) >= limit for key, limit in limits.items()):
        minutes = max(1, window_seconds // 60)
        raise RateLimited(
            f"Too many failed attempts. Wait {minutes} minutes, then try again.",
            retry_after_seconds=window_seconds,
        )


def note_failure(keys: list[str], window_seconds: int, now: datetime) -> None:
    """Count one failure against each key, and forget failures long past the window.

    The failure counts even though the request that saw it is refused and rolled back: the count is written in the
    current transaction and, if that rolls back, again in a transaction of its own."""

    def count() -> None:
        db.session.execute(delete(ThrottleEvent).where(ThrottleEvent.at < now - timedelta(seconds=4 * window_seconds)))
        db.session.add_all(ThrottleEvent(key=key, at=now) for key in keys)
        db.session.flush()

    count()
    keep_after_rollback(count)


class LoginFailed(ValidationFailed):
    pass


def authenticate(email: str, password: str, *, client_address: str, now: datetime) -> User:
    """Check an e-mail address and password, counting failures against the address and the client.

    A failure is counted even though the request is refused (see `note_failure`).

    :raises RateLimited: after too many recent failures for this address or client (checked first).
    :raises LoginFailed: if the address or password is wrong (the message does not say which).
    """
    limits = _throttle_keys(email, client_address)
    window = current_app.config["LOGIN_FAILURE_WINDOW_SECONDS"]
    check_throttle(limits, window, now)
    user = find_user_by_email(email)
    hasher = _password_hasher()
    try:
        if user is None:
            # Spend the same time as for a real account, so that timing does not tell which addresses exist.
            hasher.hash(password)
            raise VerificationError()
        hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        note_failure(list(limits), window, now)
        raise LoginFailed("That e-mail address and password do not match an account.", field="password") from None
    if hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hasher.hash(password)
    return user


def start_session(user: User) -> str:
    """Open a log-in session and return the token that the session cookie carries."""
    token = secrets.token_urlsafe(32)
    db.session.add(AuthSession(user_id=user.id, token_hash=sha256_hex(token)))
    db.session.flush()
    return token


def user_for_session(token: str) -> User | None:
    auth_session = db.session.scalar(
        select(AuthSession).where(AuthSession.token_hash == sha256_hex(token), AuthSession.revoked_at.is_(None))
    )
    return auth_session.user if auth_session is not None else None


def end_session(token: str, now: datetime) -> None:
    """Revoke the session, so that its cookie stops working even if somebody copied it."""
    db.session.execute(
        update(AuthSession)
        .where(AuthSession.token_hash == sha256_hex(token), AuthSession.revoked_at.is_(None))
        .values(revoked_at=now)
    )


def create_api_token(actor: User, name: str) -> tuple[ApiToken, str]:
    """Create a personal API token for `actor`; the token itself is returned once and only its hash is kept.

    :raises ValidationFailed: on `name` if it is empty or longer than 80 characters.
    """
    name = name.strip()
    if not name:
        raise ValidationFailed("Give the token a name, such as the script that will use it.", field="name")
    if len(name) > 80:
        raise ValidationFailed("Use at most 80 characters.", field="name")
    token = API_TOKEN_PREFIX + secrets.token_urlsafe(32)
    api_token = ApiToken(user_id=actor.id, name=name, prefix=token[:10], token_hash=sha256_hex(token))
    db.session.add(api_token)
    record("api_token.created", actor=actor, circle_id=None, subject=api_token, data={"name": name})
    return api_token, token


def list_api_tokens(user: User) -> list[ApiToken]:
    return list(
        db.session.scalars(
            select(ApiToken)
            .where(ApiToken.user_id == user.id)
            .order_by(ApiToken.revoked_at.is_not(None), ApiToken.id.desc())
        )
    )


def revoke_api_token(actor: User, token_id: int, now: datetime) -> ApiToken:
    """Revoke one of the actor's own tokens.

    :raises NotFound: if the token is not the actor's.
    :raises Conflict: if it was revoked already.
    """
    api_token = db.session.get(ApiToken, token_id)
    if api_token is None or api_token.user_id != actor.id:
        raise NotFound("There is no such token among yours.")
    compare_and_set(
        api_token,
        expected=ApiToken.revoked_at.is_(None),
        values={"revoked_at": now},
        conflict=Conflict("This token was revoked already."),
    )
    record("api_token.revoked", actor=actor, circle_id=None, subject=api_token, data={"name": api_token.name})
    return api_token


def user_for_api_token(token: str, now: datetime | None = None, *, note_use: bool = True) -> User | None:
    """The owner of a live token. With `note_use` (requests that may change something; a read changes nothing),
    note when it was last used, at most once a minute to spare writes, once the request's own change is committed
    (so that the note neither holds a lock while the request waits on Open Collective nor rolls back with it)."""
    if not token.startswith(API_TOKEN_PREFIX):
        return None
    found = db.session.execute(
        select(ApiToken, User)  # the owner in the same query: every API request with a token comes here
        .join(User, User.id == ApiToken.user_id)
        .where(ApiToken.token_hash == sha256_hex(token), ApiToken.revoked_at.is_(None))
    ).one_or_none()
    if found is None:
        return None
    api_token, user = found
    now = now or utcnow()
    if note_use and (api_token.last_used_at is None or now - api_token.last_used_at > timedelta(minutes=1)):
        token_id, used_at = api_token.id, now
        after_commit(lambda: _note_token_use(token_id, used_at), key=("token used", token_id))
    return user


def _note_token_use(token_id: int, now: datetime) -> None:
    """Work after the request's commit, in a transaction of its own."""
    db.session.execute(update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=now))
    db.session.commit()


def set_email_notices(actor: User, enabled: bool) -> bool:
    """Turn the actor's e-mail notices on or off; returns whether anything changed."""
    if actor.email_notices == enabled:
        return False
    actor.email_notices = enabled
    record("user.notices_changed", actor=actor, circle_id=None, subject=actor, data={"email_notices": enabled})
    return True
