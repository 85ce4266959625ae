"""Accounts, log-in sessions, throttling and API tokens."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from email_validator import EmailNotValidError, validate_email
from flask import current_app
from flask_babel import gettext
from sqlalchemy import bindparam, delete, func, select, update
from sqlalchemy.exc import IntegrityError

from fundcircle.auth.models import AccountLink, ApiToken, AuthSession, ThrottleEvent, User
from fundcircle.auth.throttling import GuessKeys, GuessLimits, decide, guess_keys
from fundcircle.db import compare_and_set, utcnow
from fundcircle.errors import Conflict, NotFound, PermissionDenied, RateLimited, ValidationFailed
from fundcircle.extensions import db
from fundcircle.i18n import check_language, current_language, in_language, translated
from fundcircle.ledger.record import record
from fundcircle.mail import external_url, send_mail
from fundcircle.phrases import PhrasedError
from fundcircle.text import SINGLE_LINE_MESSAGE, is_single_line
from fundcircle.timezones import TimeZoneError, check_time_zone
from fundcircle.unit_of_work import after_commit, keep_after_rollback, write

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
        raise ValidationFailed(
            gettext("Not a valid e-mail address: %(reason)s", reason=str(error)), field="email"
        ) from None


def _password_hasher() -> PasswordHasher:
    parameters = current_app.config.get("PASSWORD_HASH_PARAMETERS")
    return PasswordHasher(**parameters) if parameters else PasswordHasher()


def check_password_rules(password: str) -> None:
    """:raises ValidationFailed: on `password` if it is too short or too long."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationFailed(gettext("Use at least %(most)d characters.", most=MIN_PASSWORD_LENGTH), field="password")
    if len(password) > 1000:
        raise ValidationFailed(gettext("Use at most %(most)d characters.", most=1000), field="password")


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
    name = check_display_name(name)
    check_password_rules(password)
    if find_user_by_email(email) is not None:
        raise Conflict(gettext("An account with this e-mail address exists already."), field="email")
    user = User(email=email, name=name, password_hash=hash_password(password), is_superuser=superuser)
    try:
        # The check above reads no lock: two sign-ups for one address at once (two invitations to different
        # circles, say) both pass it, and the unique address decides; the second is told so, not shown a 500.
        with db.session.begin_nested():
            db.session.add(user)
    except IntegrityError:
        raise Conflict(gettext("An account with this e-mail address exists already."), field="email") from None
    record(
        "user.created",
        actor=actor or user,
        circle_id=None,
        subject=user,
        data={"email": email, "name": name, "superuser": superuser, "via": via},
    )
    return user


def _guess_limits(kind: str) -> GuessLimits:
    config = current_app.config
    if kind == "login":
        return GuessLimits(
            per_pair=config["LOGIN_FAILURES_PER_ACCOUNT_AND_CLIENT"],
            per_client=config["LOGIN_FAILURES_PER_ADDRESS"],
            account_free=config["LOGIN_FAILURES_PER_ACCOUNT_BEFORE_DELAY"],
            account_delay_cap_seconds=config["GUESS_DELAY_MAX_SECONDS"],
            window_seconds=config["LOGIN_FAILURE_WINDOW_SECONDS"],
        )
    return GuessLimits(
        per_pair=config["TOTP_FAILURES_PER_USER_AND_CLIENT"],
        per_client=2**31,  # a code is guessed for one's own account only: the pair and account limits suffice
        account_free=config["TOTP_FAILURES_PER_USER_BEFORE_DELAY"],
        account_delay_cap_seconds=config["GUESS_DELAY_MAX_SECONDS"],
        window_seconds=config["TOTP_FAILURE_WINDOW_SECONDS"],
    )


def _refusal_message(reason: str, retry_after_seconds: int, *, offer_reset: bool) -> str:
    """Why a guess must wait, and for how long; a log-in's also offers the e-mailed reset link (whole sentences,
    for the translations' sake)."""
    minutes = max(1, retry_after_seconds // 60)
    if reason == "pair" and offer_reset:
        return gettext(
            "Too many failed attempts from this device. Wait %(minutes)d minutes, then try again, or use “Forgot "
            "your password?” to be let in by an e-mailed link.",
            minutes=minutes,
        )
    if reason == "pair":
        return gettext(
            "Too many failed attempts from this device. Wait %(minutes)d minutes, then try again.", minutes=minutes
        )
    if reason == "client" and offer_reset:
        return gettext(
            "Too many failed attempts from this network. Wait %(minutes)d minutes, then try again, or use “Forgot "
            "your password?” to be let in by an e-mailed link.",
            minutes=minutes,
        )
    if reason == "client":
        return gettext(
            "Too many failed attempts from this network. Wait %(minutes)d minutes, then try again.", minutes=minutes
        )
    if offer_reset:
        return gettext(
            "Many wrong attempts were made on this account from elsewhere, so every attempt waits a little: try again "
            "in %(seconds)d seconds, or use “Forgot your password?” to be let in by an e-mailed link.",
            seconds=retry_after_seconds,
        )
    return gettext(
        "Many wrong attempts were made on this account from elsewhere, so every attempt waits a little: try again "
        "in %(seconds)d seconds.",
        seconds=retry_after_seconds,
    )


def check_guess(kind: str, account: str, client: str, now: datetime, *, offer_reset: bool = False) -> GuessKeys:
    """Refuse a guess (a password or a code) that must wait, and return the keys a failure counts against.

    :raises RateLimited: if this account and client, this client, or (past its much higher limit, with a growing
        delay) this account from all clients has failed too often within the window.
    """
    limits = _guess_limits(kind)
    keys = guess_keys(kind, account, client, per_client=kind == "login")
    since = now - timedelta(seconds=limits.window_seconds)
    wanted = [key for key in (keys.pair, keys.account, keys.client) if key is not None]
    rows = db.session.execute(
        select(ThrottleEvent.key, func.sum(ThrottleEvent.weight), func.max(ThrottleEvent.at))
        .where(ThrottleEvent.key.in_(wanted), ThrottleEvent.at > since)
        .group_by(ThrottleEvent.key)
    )
    counts = {key: (int(total or 0), latest) for key, total, latest in rows}
    refusal = decide(
        pair_failures=counts.get(keys.pair, (0, None))[0],
        client_failures=counts.get(keys.client or "", (0, None))[0],
        account_failures=counts.get(keys.account, (0, None))[0],
        latest_account_failure=counts.get(keys.account, (0, None))[1],
        limits=limits,
        now=now,
    )
    if refusal is not None:
        raise RateLimited(
            _refusal_message(refusal.reason, refusal.retry_after_seconds, offer_reset=offer_reset),
            retry_after_seconds=refusal.retry_after_seconds,
        )
    return keys


def note_guess_failure(kind: str, keys: GuessKeys, now: datetime) -> None:
    """Count a wrong guess against its keys; it is counted even though the request is refused (`note_failure`)."""
    wanted = [key for key in (keys.pair, keys.account, keys.client) if key is not None]
    note_failure(wanted, _guess_limits(kind).window_seconds, now)


def check_throttle(limits: dict[str, int], window_seconds: int, now: datetime) -> None:
    """:raises RateLimited: if any key has reached its limit of events within the window."""
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
            gettext("Too many attempts. Wait %(minutes)d minutes, then try again.", minutes=minutes),
            retry_after_seconds=window_seconds,
        )


def note_failure(keys: list[str], window_seconds: int, now: datetime) -> None:
    """Count one failure against each key, and forget failures long past the window.

    Each failure is a row of its own (an insert, never a read-then-write), so that concurrent guesses are all
    counted. The failure counts even though the request that saw it is refused and rolled back: the count is written
    in the current transaction and, if that rolls back, again in a transaction of its own."""

    def count() -> None:
        db.session.execute(delete(ThrottleEvent).where(ThrottleEvent.at < now - timedelta(seconds=4 * window_seconds)))
        db.session.add_all(ThrottleEvent(key=key, at=now) for key in keys)
        db.session.flush()

    count()
    keep_after_rollback(count)


class LoginFailed(ValidationFailed):
    pass


def authenticate(email: str, password: str, *, client_address: str, now: datetime) -> User:
    """Check an e-mail address and password, counting failures against the account and client together, the
    client, and the account (auth/throttling.py), so that an attacker elsewhere cannot lock the owner out.

    A failure is counted even though the request is refused (see `note_failure`).

    :raises RateLimited: after too many recent failures (checked first).
    :raises LoginFailed: if the address or password is wrong (the message does not say which).
    """
    keys = check_guess("login", email.strip().lower(), client_address, now, offer_reset=True)
    user = find_user_by_email(email)
    hasher = _password_hasher()
    try:
        if user is None:
            # Spend the same time as for a real account, so that timing does not tell which addresses exist.
            hasher.hash(password)
            raise VerificationError()
        hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        note_guess_failure("login", keys, now)
        raise LoginFailed(
            gettext("That e-mail address and password do not match an account."), field="password"
        ) from None
    if hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hasher.hash(password)
    return user


def start_session(user: User) -> str:
    """Open a log-in session and return the token that the session cookie carries."""
    token = secrets.token_urlsafe(32)
    db.session.add(AuthSession(user_id=user.id, token_hash=sha256_hex(token)))
    db.session.flush()
    return token


def user_for_session(token: str, now: datetime | None = None) -> User | None:
    """The owner of a live session: not revoked, and opened less than SESSION_MAX_HOURS ago (the absolute lifetime,
    checked here on the server whatever the cookie says; the idle limit is checked where the cookie is read)."""
    now = now or utcnow()
    oldest = now - timedelta(hours=current_app.config["SESSION_MAX_HOURS"])
    # The user in the same query: every signed-in request comes here.
    return db.session.scalar(
        select(User)
        .join(AuthSession, AuthSession.user_id == User.id)
        .where(
            AuthSession.token_hash == sha256_hex(token),
            AuthSession.revoked_at.is_(None),
            AuthSession.created_at > oldest,
        )
    )


def end_session(token: str, now: datetime) -> None:
    """Revoke the session, so that its cookie stops working even if somebody copied it."""
    db.session.execute(
        update(AuthSession)
        .where(AuthSession.token_hash == sha256_hex(token), AuthSession.revoked_at.is_(None))
        .values(revoked_at=now)
    )


def end_other_sessions(user: User, keep_token: str | None, now: datetime) -> int:
    """Revoke every live session of `user` but the one whose token is `keep_token` (None: every one); returns how
    many ended. A cookie of an ended session no longer works, wherever it is."""
    condition = (AuthSession.user_id == user.id) & AuthSession.revoked_at.is_(None)
    if keep_token is not None:
        condition &= AuthSession.token_hash != sha256_hex(keep_token)
    result = db.session.execute(update(AuthSession).where(condition).values(revoked_at=now))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def check_display_name(name: str) -> str:
    """A name people see (a person's, a circle's): trimmed, 1 to 80 characters, on one line.

    :raises ValidationFailed: on `name` otherwise.
    """
    name = name.strip()
    if not name:
        raise ValidationFailed(gettext("Enter a name."), field="name")
    if len(name) > 80:
        raise ValidationFailed(gettext("Use at most %(most)d characters.", most=80), field="name")
    if not is_single_line(name):
        raise ValidationFailed(gettext(SINGLE_LINE_MESSAGE), field="name")
    return name


def change_name(actor: User, name: str) -> bool:
    """The actor changes the name the circles see; returns whether anything changed.

    :raises ValidationFailed: on `name` if it is empty, longer than 80 characters or not on one line.
    """
    name = check_display_name(name)
    if name == actor.name:
        return False
    old = actor.name
    actor.name = name
    record("user.name_changed", actor=actor, circle_id=None, subject=actor, data={"from": old, "to": name})
    db.session.flush()
    return True


def _check_current_password(actor: User, password: str, client_address: str, now: datetime) -> None:
    """A wrong current password counts like a failed log-in of this account from this client.

    :raises RateLimited: after too many failures.
    :raises ValidationFailed: on `current_password` if it is wrong.
    """
    keys = check_guess("login", actor.email, client_address, now, offer_reset=True)
    if not password_matches(actor, password):
        note_guess_failure("login", keys, now)
        raise ValidationFailed(gettext("That is not your current password."), field="current_password")


def change_password(
    actor: User,
    *,
    current_password: str,
    new_password: str,
    keep_session: str | None,
    client_address: str,
    now: datetime,
) -> int:
    """The actor sets a new password, giving the current one; every other session of theirs ends (the one with the
    token `keep_session` stays), and so does any address change waiting for its link (somebody who had the session
    and the old password may have asked for it). Returns how many sessions ended. The ledger says that it changed,
    never what to.

    :raises RateLimited: after too many wrong passwords.
    :raises ValidationFailed: on `current_password` if it is wrong, on `password` if the new one is too weak.
    """
    _check_current_password(actor, current_password, client_address, now)
    check_password_rules(new_password)
    actor.password_hash = hash_password(new_password)
    _cancel_links(actor, "email_change", now)
    ended = end_other_sessions(actor, keep_session, now)
    record("user.password_changed", actor=actor, circle_id=None, subject=actor, data={"sessions_ended": ended}, at=now)
    db.session.flush()
    return ended


def _new_link(user: User, purpose: str, now: datetime, minutes: int, new_email: str | None = None) -> str:
    token = secrets.token_urlsafe(32)
    db.session.add(
        AccountLink(
            user_id=user.id,
            purpose=purpose,
            token_hash=sha256_hex(token),
            new_email=new_email,
            created_at=now,
            expires_at=now + timedelta(minutes=minutes),
        )
    )
    db.session.flush()
    return token


def _mail_after_commit(to: str, subject: str, body: str) -> None:
    """Account mail goes out whatever the person's notice setting: it is about their account's safety."""
    after_commit(lambda: _send_account_mail(to, subject, body), key=("account mail", to, subject))


def _send_account_mail(to: str, subject: str, body: str) -> None:
    send_mail(to, subject, body)


def request_password_reset(email: str, now: datetime) -> str | None:
    """Someone asks for a password reset link for `email`. If an account has that address, a one-time link valid
    for PASSWORD_RESET_VALID_MINUTES is e-mailed to it (at most PASSWORD_RESET_MAILS_PER_HOUR an hour, so that the
    form cannot flood a mailbox). The answer to the asker is the same either way, so the form does not tell which
    addresses have accounts; the link's token is returned (for the tests' world) when a mail was queued, else None.

    :raises ValidationFailed: on `email` if it is not an e-mail address.
    """
    email = normalise_email(email)
    user = find_user_by_email(email)
    if user is None:
        return None
    config = current_app.config
    key = f"reset:account:{user.id}"
    try:
        check_throttle({key: config["PASSWORD_RESET_MAILS_PER_HOUR"]}, 3600, now)
    except RateLimited:
        return None
    db.session.add(ThrottleEvent(key=key, at=now))
    minutes = config["PASSWORD_RESET_VALID_MINUTES"]
    token = _new_link(user, "password_reset", now, minutes)
    record("user.password_reset_requested", actor=user, circle_id=None, subject=user, data={}, at=now)
    link = external_url("auth.reset_password", reset_token=token)
    with in_language(user.language or current_language()):  # no choice of theirs: the asker's page's
        _mail_after_commit(
            user.email,
            gettext("Set a new password for Fund Circle"),
            gettext(
                "Hello %(name)s,\n\nsomebody (we hope you) asked to set a new password for your Fund Circle "
                "account.\nOpen this link to choose one; it works once, for %(minutes)d minutes, and signs you "
                "in:\n%(link)s\n\nIf it was not you, ignore this e-mail: your password stays as it is.\n",
                name=user.name,
                minutes=minutes,
                link=link,
            ),
        )
    return token


def find_account_link(purpose: str, token: str, now: datetime) -> AccountLink:
    """:raises NotFound: if the link is unknown, used or expired (one message: the link no longer works)."""
    link = db.session.scalar(
        select(AccountLink).where(AccountLink.token_hash == sha256_hex(token), AccountLink.purpose == purpose)
    )
    if link is None or link.used_at is not None or link.expires_at <= now:
        raise NotFound(gettext("This link does not work any more: it was used, or it expired. Ask for a new one."))
    return link


def _use_link(link: AccountLink, now: datetime) -> None:
    compare_and_set(
        link,
        expected=AccountLink.used_at.is_(None) & (AccountLink.expires_at > now),
        values={"used_at": now},
        conflict=Conflict(gettext("This link was used a moment ago.")),
    )


def _cancel_links(user: User, purpose: str, now: datetime) -> None:
    """Every unused link of `purpose` for the user stops working (marked used)."""
    db.session.execute(
        update(AccountLink)
        .where(AccountLink.user_id == user.id, AccountLink.purpose == purpose, AccountLink.used_at.is_(None))
        .values(used_at=now)
    )


def reset_password(token: str, new_password: str, now: datetime) -> User:
    """Set a new password with an e-mailed reset link, once. Every session of the account ends (whoever had one),
    and every other reset link and any address change waiting for its link stop working; the caller signs the
    person in afresh.

    :raises NotFound: if the link is unknown, used or expired.
    :raises ValidationFailed: on `password` if it is too weak (the link stays usable).
    :raises Conflict: if the link was used at the same moment.
    """
    link = find_account_link("password_reset", token, now)
    check_password_rules(new_password)
    _use_link(link, now)
    user = link.user
    user.password_hash = hash_password(new_password)
    _cancel_links(user, "password_reset", now)
    _cancel_links(user, "email_change", now)
    ended = end_other_sessions(user, None, now)
    record("user.password_reset", actor=user, circle_id=None, subject=user, data={"sessions_ended": ended}, at=now)
    db.session.flush()
    return user


@dataclass(frozen=True)
class PendingEmailChange:
    new_email: str
    #: The token of the link e-mailed to the new address (never shown to the asker; for the tests' world).
    token: str


def request_email_change(
    actor: User, *, new_email: str, password: str, client_address: str, now: datetime
) -> PendingEmailChange:
    """The actor asks to change their address, giving their password (so that a borrowed session alone cannot take
    the account). Nothing changes yet: a one-time link valid for EMAIL_CHANGE_VALID_HOURS goes to the new address,
    and a notice to the current one.

    :raises RateLimited: after too many wrong passwords.
    :raises ValidationFailed: on `current_password` if it is wrong, on `email` for a malformed or unchanged address.
    """
    _check_current_password(actor, password, client_address, now)
    email = normalise_email(new_email)
    if email == actor.email:
        raise ValidationFailed(gettext("That is your address already."), field="email")
    hours = current_app.config["EMAIL_CHANGE_VALID_HOURS"]
    token = _new_link(actor, "email_change", now, hours * 60, new_email=email)
    record("user.email_change_requested", actor=actor, circle_id=None, subject=actor, data={"to": email}, at=now)
    link = external_url("auth.confirm_email", email_token=token)
    # Both mails are the account owner's, in their language (the new address is theirs too, once confirmed).
    with in_language(actor.language or current_language()):
        _mail_after_commit(
            email,
            gettext("Confirm your new e-mail address for Fund Circle"),
            gettext(
                "Hello %(name)s,\n\nopen this link to make %(email)s the address of your Fund Circle account (it "
                "works once, for %(hours)d hours):\n%(link)s\n\nIf you did not ask for this, ignore this e-mail.\n",
                name=actor.name,
                email=email,
                hours=hours,
                link=link,
            ),
        )
        _mail_after_commit(
            actor.email,
            gettext("A change of your Fund Circle e-mail address was asked for"),
            gettext(
                "Hello %(name)s,\n\nsomebody signed in to your Fund Circle account asked to change its address "
                "from %(old_email)s to %(email)s. It changes only once the link sent to the new address is "
                "opened.\n\nIf this was not you, change your password now (on your profile, or with “Forgot your "
                "password?” on the log-in page): that ends every other session and cancels this change.\n",
                name=actor.name,
                old_email=actor.email,
                email=email,
            ),
        )
    db.session.flush()
    return PendingEmailChange(new_email=email, token=token)


def confirm_email_change(actor: User, token: str, *, keep_session: str | None, now: datetime) -> User:
    """The account's owner, signed in, makes the new address theirs with the link sent to it, once: the link proves
    the new mailbox is theirs, the session that it is their account. Every other session of the account ends (the
    one with the token `keep_session` stays).

    :raises NotFound: if the link is unknown, used or expired.
    :raises PermissionDenied: if the link is for another account than the actor's.
    :raises Conflict: if another account has the address by now, or the link was used at the same moment.
    """
    link = find_account_link("email_change", token, now)
    if link.user_id != actor.id:
        raise PermissionDenied(
            gettext("This link is for another account: log in as the account whose address changes.")
        )
    new_email = link.new_email or ""
    user = actor
    if find_user_by_email(new_email) is not None:
        raise Conflict(gettext("Another account has this address now: ask for a change to another one."), field="email")
    _use_link(link, now)
    old = user.email
    user.email = new_email
    _cancel_links(user, "email_change", now)
    ended = end_other_sessions(user, keep_session, now)
    record(
        "user.email_changed",
        actor=user,
        circle_id=None,
        subject=user,
        data={"from": old, "to": new_email, "sessions_ended": ended},
        at=now,
    )
    db.session.flush()
    return user


def create_api_token(actor: User, name: str) -> tuple[ApiToken, str]:
    """Create a personal API token for `actor`; the token itself is returned once and only its hash is kept.

    :raises ValidationFailed: on `name` if it is empty, longer than 80 characters or not on one line.
    """
    name = name.strip()
    if not name:
        raise ValidationFailed(gettext("Give the token a name, such as the script that will use it."), field="name")
    if len(name) > 80:
        raise ValidationFailed(gettext("Use at most %(most)d characters.", most=80), field="name")
    if not is_single_line(name):
        raise ValidationFailed(gettext(SINGLE_LINE_MESSAGE), field="name")
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
        raise NotFound(gettext("There is no such token among yours."))
    compare_and_set(
        api_token,
        expected=ApiToken.revoked_at.is_(None),
        values={"revoked_at": now},
        conflict=Conflict(gettext("This token was revoked already.")),
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


#: A token's time of last use is noted at most this often, to spare writes.
TOKEN_USE_NOTED_EVERY = timedelta(minutes=1)


def note_token_use(token_id: int, last_used_at: datetime | None, now: datetime) -> None:
    """Note, in the caller's transaction, that a token made a state-changing request now, if it was last noted over
    TOKEN_USE_NOTED_EVERY ago (the condition is checked again by the UPDATE, so two requests at once note it once).
    A refused request rolls back with its note, as `user_for_api_token`'s note after the commit is dropped then."""
    if last_used_at is not None and now - last_used_at <= TOKEN_USE_NOTED_EVERY:
        return
    write(_NOTE_TOKEN_USE, {"token_id": token_id, "now": now, "noted_before": now - TOKEN_USE_NOTED_EVERY})


_API_TOKENS = ApiToken.__table__
#: `note_token_use`'s UPDATE on the table, built once (the ballot save's path runs it).
_NOTE_TOKEN_USE = (
    update(_API_TOKENS)
    .where(
        _API_TOKENS.c.id == bindparam("token_id"),
        _API_TOKENS.c.last_used_at.is_(None)
        | (_API_TOKENS.c.last_used_at < bindparam("noted_before", type_=_API_TOKENS.c.last_used_at.type)),
    )
    .values(last_used_at=bindparam("now", type_=_API_TOKENS.c.last_used_at.type))
)


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


def change_language(actor: User, language: str | None) -> bool:
    """The actor chooses the language of their pages and e-mails (None: as their circle's, else their browser's);
    returns whether anything changed.

    :raises ValidationFailed: on `language` if Fund Circle does not speak it.
    """
    if language is not None:
        try:
            language = check_language(language)
        except PhrasedError as error:
            raise ValidationFailed(translated(error), field="language") from None
    if language == actor.language:
        return False
    old = actor.language
    actor.language = language
    record("user.language_changed", actor=actor, circle_id=None, subject=actor, data={"from": old, "to": language})
    db.session.flush()
    return True


def change_time_zone(actor: User, time_zone: str | None) -> bool:
    """The actor chooses the zone times are shown to them in (an IANA name; None or empty: each circle's own zone);
    returns whether anything changed.

    :raises ValidationFailed: on `time_zone` if zoneinfo does not know the name.
    """
    zone = (time_zone or "").strip() or None
    if zone is not None:
        try:
            zone = check_time_zone(zone)
        except TimeZoneError as error:
            message = translated(error) if isinstance(error, PhrasedError) else str(error)
            raise ValidationFailed(message, field="time_zone") from None
    if zone == actor.time_zone:
        return False
    old = actor.time_zone
    actor.time_zone = zone
    record("user.time_zone_changed", actor=actor, circle_id=None, subject=actor, data={"from": old, "to": zone})
    db.session.flush()
    return True
