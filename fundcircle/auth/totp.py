"""A second factor for treasurers: time-based one-time codes (RFC 6238) from an authenticator app.

A code is accepted once: the user's last accepted 30-second time step is stored, and only a later step is accepted
after it (a compare-and-set, so two requests racing with one code cannot both pass). Wrong codes (and wrong passwords
when setting up) are throttled like log-ins (auth/throttling.py): per person and client, so that somebody guessing
from another client cannot lock the treasurer out, and per person across clients with a growing delay. They are still
counted when the refused request rolls back.
"""

from __future__ import annotations

import hmac
from datetime import datetime

import pyotp
from flask import has_request_context, request
from flask_babel import gettext
from sqlalchemy import or_

from fundcircle.auth.models import User
from fundcircle.auth.services import check_guess, note_guess_failure, password_matches
from fundcircle.auth.throttling import GuessKeys
from fundcircle.crypto import SealBroken, seal, unseal
from fundcircle.db import compare_and_set
from fundcircle.errors import Conflict, ValidationFailed
from fundcircle.extensions import db
from fundcircle.ledger.record import record

SEAL_PURPOSE = "totp-secret"
STEP_SECONDS = 30
#: Codes of the step before and after the current one are accepted too, for clocks a little off.
DRIFT_STEPS = 1
ISSUER = "Fund Circle"


class TotpRejected(ValidationFailed):
    """The code is missing, wrong, or the user has no authenticator set up."""


def _client(client_address: str | None) -> str:
    """The client guessing: given, or the current request's address (behind a proxy, as ProxyFix gives it)."""
    if client_address is not None:
        return client_address
    return (request.remote_addr or "unknown") if has_request_context() else "local"


def _check(user: User, client_address: str | None, now: datetime) -> GuessKeys:
    """:raises RateLimited: if this person and client, or (with a growing delay) this person, failed too often."""
    return check_guess("totp", str(user.id), _client(client_address), now)


def _refuse(keys: GuessKeys, message: str, now: datetime, *, field: str = "totp") -> TotpRejected:
    note_guess_failure("totp", keys, now)
    return TotpRejected(message, field=field)


def provisioning_uri(user: User, secret: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=ISSUER)


def start_enrolment(actor: User, *, password: str, now: datetime, client_address: str | None = None) -> str:
    """Make a new secret for the actor's authenticator app and return it (shown once). It counts after `confirm`.

    The password is asked again, so a borrowed session alone cannot move the second factor to another phone.
    An earlier secret stops counting at once (a treasurer who starts over has usually lost the old phone);
    approvals need the new one confirmed.

    :raises RateLimited: after too many wrong passwords or codes.
    :raises TotpRejected: on `password` if it is wrong.
    """
    keys = _check(actor, client_address, now)
    if not password_matches(actor, password):
        raise _refuse(keys, gettext("That is not your password."), now, field="password")
    secret = pyotp.random_base32()
    actor.totp_secret_sealed = seal(SEAL_PURPOSE, secret)
    actor.totp_confirmed_at = None
    actor.totp_last_step = None
    record("user.totp_enrolment_started", actor=actor, circle_id=None, subject=actor, data={}, at=now)
    db.session.flush()
    return secret


def pending_secret(user: User) -> str | None:
    """The secret of an enrolment not yet confirmed (to show again while the user sets up their app)."""
    if user.totp_secret_sealed is None or user.totp_confirmed_at is not None:
        return None
    return _secret(user)


def _secret(user: User) -> str:
    try:
        return unseal(SEAL_PURPOSE, user.totp_secret_sealed or "")
    except SealBroken:
        raise TotpRejected(
            gettext(
                "Your authenticator set-up can no longer be read (the server's key changed): set it up again on your "
                "profile."
            ),
            field="totp",
        ) from None


def _matching_step(secret: str, code: str, now: datetime) -> int | None:
    code = code.strip().replace(" ", "")
    if not (code.isascii() and code.isdigit() and len(code) == 6):
        return None
    totp = pyotp.TOTP(secret)
    current = int(now.timestamp()) // STEP_SECONDS
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        if hmac.compare_digest(totp.at(step * STEP_SECONDS), code):
            return step
    return None


def _use_step(user: User, step: int) -> None:
    """Accept the code of `step` once: compare-and-set on the last accepted step."""
    compare_and_set(
        user,
        expected=or_(User.totp_last_step.is_(None), User.totp_last_step < step),
        values={"totp_last_step": step},
        conflict=Conflict(
            gettext("That code was already used. Wait for your app to show the next one, then try again."), field="totp"
        ),
    )


def confirm_enrolment(actor: User, code: str, now: datetime, *, client_address: str | None = None) -> None:
    """The first code from the app proves it is set up; from now on it is the actor's second factor.

    :raises RateLimited, TotpRejected, Conflict: as `verify_code`.
    """
    keys = _check(actor, client_address, now)
    if actor.totp_secret_sealed is None:
        raise TotpRejected(gettext("Set up an authenticator app first."), field="totp")
    if actor.totp_confirmed_at is not None:
        raise Conflict(gettext("Your authenticator app is already set up."), field="totp")
    step = _matching_step(_secret(actor), code, now)
    if step is None:
        raise _refuse(keys, gettext("That code does not match. Enter the 6 digits your app shows now."), now)
    _use_step(actor, step)
    actor.totp_confirmed_at = now
    record("user.totp_enabled", actor=actor, circle_id=None, subject=actor, data={}, at=now)
    db.session.flush()


def verify_code(actor: User, code: str, now: datetime, *, client_address: str | None = None) -> None:
    """Check a fresh code from the actor's confirmed authenticator, and use it up. `client_address` defaults to
    the current request's.

    :raises RateLimited: after too many wrong codes in the window from this client (or, delayed, from all).
    :raises TotpRejected: on `totp` if the actor has no authenticator or the code is wrong (counted).
    :raises Conflict: on `totp` if the code was already used.
    """
    keys = _check(actor, client_address, now)
    if not actor.has_totp:
        raise TotpRejected(
            gettext("Set up an authenticator app on your profile first: approving payouts needs a code from it."),
            field="totp",
        )
    step = _matching_step(_secret(actor), code, now)
    if step is None:
        raise _refuse(
            keys, gettext("That code does not match. Enter the 6 digits your authenticator app shows now."), now
        )
    _use_step(actor, step)
