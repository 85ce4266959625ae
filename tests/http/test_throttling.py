"""Guess throttling as an owner and an attacker meet it: an attacker's client locks only itself, never the owner on
another client; a guess from many clients at once is slowed, not a lock; every wrong guess is counted, even many at
the same moment (fundcircle/auth/throttling.py)."""

from __future__ import annotations

import time

from flask import Flask
from sqlalchemy import func, select

from fundcircle.auth.models import ThrottleEvent, User
from fundcircle.auth.totp import start_enrolment
from fundcircle.db import utcnow
from fundcircle.extensions import db
from tests.concurrency import all_at_once
from tests.conftest import TEST_PASSWORD, Client
from tests.factories import make_user, totp_code

ATTACKER = "203.0.113.7"
OWNER = "198.51.100.2"


def _client_from(app: Flask, address: str) -> Client:
    client: Client = app.test_client()  # type: ignore[assignment]
    client.environ_base["REMOTE_ADDR"] = address
    return client


def _owner(app: Flask) -> str:
    with app.app_context():
        return make_user(name="Tomas Treasurer").email


def test_fifty_wrong_passwords_from_one_client_do_not_keep_the_owner_out_of_another(app: Flask) -> None:
    email = _owner(app)
    attacker = _client_from(app, ATTACKER)
    statuses = [
        attacker.post_form("/login", {"email": email, "password": f"guess number {n}"}).status_code for n in range(50)
    ]
    assert statuses[:5] == [401] * 5  # five real tries from that client...
    assert set(statuses[5:]) == {429}  # ...then that client waits

    owner = _client_from(app, OWNER)
    signed_in = owner.post_form("/login", {"email": email, "password": TEST_PASSWORD})
    assert signed_in.status_code == 302 and signed_in.headers["Location"] == "/"
    assert "My circles" in owner.get("/").get_data(as_text=True)

    # The attacker's client stays locked, even with the right password, and is told to wait and how long.
    locked = attacker.post_form("/login", {"email": email, "password": TEST_PASSWORD})
    assert locked.status_code == 429
    assert "Too many failed attempts from this device" in locked.get_data(as_text=True)
    assert int(locked.headers["Retry-After"]) > 0
    assert attacker.get("/profile").status_code == 302


def test_guesses_from_many_clients_are_slowed_by_a_short_wait_never_a_lock(make_app: object) -> None:
    app = make_app(LOGIN_FAILURES_PER_ACCOUNT_BEFORE_DELAY=8)  # type: ignore[operator]
    email = _owner(app)
    # A distributed attack: eight clients, one wrong password each (each well under its own limit).
    for n in range(8):
        wrong = _client_from(app, f"203.0.113.{n + 10}").post_form("/login", {"email": email, "password": "nope nope"})
        assert wrong.status_code == 401
    # Now every guess on the account, from anywhere, waits a moment first, and is told so.
    fresh = _client_from(app, "203.0.113.99").post_form("/login", {"email": email, "password": "another guess"})
    assert fresh.status_code == 429 and "try again in 1 seconds" in fresh.get_data(as_text=True)
    assert fresh.headers["Retry-After"] == "1"
    time.sleep(1.1)
    # After the wait the owner is let in: a delay, not a lock.
    owner = _client_from(app, OWNER).post_form("/login", {"email": email, "password": TEST_PASSWORD})
    assert owner.status_code == 302


def test_fifty_wrong_codes_from_one_client_do_not_keep_the_owner_from_confirming_their_app(app: Flask) -> None:
    with app.app_context():
        user = make_user(name="Tomas Treasurer")
        secret = start_enrolment(user, password=TEST_PASSWORD, now=utcnow())
        db.session.commit()
        email, user_id = user.email, user.id
    # Somebody who has the password (not the phone) signs in from another client and guesses codes.
    attacker = _client_from(app, ATTACKER)
    attacker.login(email)
    statuses = [attacker.post_form("/profile/totp/confirm", {"code": "000000"}).status_code for _ in range(50)]
    assert statuses[:5] == [422] * 5 and set(statuses[5:]) == {429}

    owner = _client_from(app, OWNER)
    owner.login(email)
    confirmed = owner.post_form("/profile/totp/confirm", {"code": totp_code(secret)})
    assert confirmed.status_code == 302, confirmed.get_data(as_text=True)
    with app.app_context():
        stored = db.session.get(User, user_id)
        assert stored is not None and stored.has_totp


def test_wrong_passwords_sent_at_the_same_moment_are_all_counted(app: Flask) -> None:
    email = _owner(app)
    clients = [_client_from(app, ATTACKER) for _ in range(12)]
    tokens = [client.csrf_token() for client in clients]

    def guess(index: int) -> int:
        data = {"email": email, "password": f"parallel guess {index}", "csrf_token": tokens[index]}
        return clients[index].post("/login", data=data).status_code

    statuses = all_at_once([lambda index=index: guess(index) for index in range(12)])
    assert set(statuses) <= {401, 429} and statuses.count(401) >= 5
    with app.app_context():
        counted = db.session.scalar(
            select(func.count()).select_from(ThrottleEvent).where(ThrottleEvent.key == f"login:pair:{email}|{ATTACKER}")
        )
    assert counted == statuses.count(401)  # every guess that was tried is counted, none lost to a race
    # The attacker's client is locked afterwards; the owner, elsewhere, is not.
    assert (
        _client_from(app, ATTACKER).post_form("/login", {"email": email, "password": TEST_PASSWORD}).status_code == 429
    )
    assert _client_from(app, OWNER).post_form("/login", {"email": email, "password": TEST_PASSWORD}).status_code == 302
