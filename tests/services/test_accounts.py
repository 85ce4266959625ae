"""Accounts through the services: password change and reset, name and address change, sessions' limits, second
factor throttled per client, and invitations that are answered by the person. Every change is in the ledger, and no
secret (password, token, hash) is in it."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from flask import Flask
from sqlalchemy import select

from fundcircle.auth import services
from fundcircle.auth.models import AuthSession, User
from fundcircle.auth.totp import verify_code
from fundcircle.circles.models import Membership
from fundcircle.circles.services import (
    accept_invitation,
    accept_invitation_by_id,
    decline_invitation,
    find_invitation,
    invite_member,
    pending_invitations_for,
)
from fundcircle.db import utcnow
from fundcircle.errors import Conflict, NotFound, PermissionDenied, RateLimited, ValidationFailed
from fundcircle.extensions import db
from fundcircle.ledger.models import LedgerEntry
from tests.concurrency import all_at_once
from tests.conftest import TEST_PASSWORD
from tests.factories import enrol_totp, make_circle, make_user, totp_code

NEW_PASSWORD = "a brand new passphrase"


def _entries(user: User) -> list[LedgerEntry]:
    return list(
        db.session.scalars(
            select(LedgerEntry).where(LedgerEntry.subject_id == user.id, LedgerEntry.action.like("user.%"))
        )
    )


def _no_secret_in_ledger(*secrets: str) -> None:
    text = json.dumps([entry.data for entry in db.session.scalars(select(LedgerEntry))])
    for secret in secrets:
        assert secret not in text
    assert "argon2" not in text and "password_hash" not in text


def _session(user: User) -> str:
    token = services.start_session(user)
    db.session.commit()
    return token


def test_changing_the_password_needs_the_current_one_and_ends_every_other_session(ctx: Flask) -> None:
    user = make_user()
    here, elsewhere = _session(user), _session(user)
    with pytest.raises(ValidationFailed) as wrong:
        services.change_password(
            user,
            current_password="not my password",
            new_password=NEW_PASSWORD,
            keep_session=here,
            client_address="10.0.0.1",
            now=utcnow(),
        )
    assert wrong.value.field == "current_password"
    db.session.rollback()
    assert services.password_matches(user, TEST_PASSWORD)

    ended = services.change_password(
        user,
        current_password=TEST_PASSWORD,
        new_password=NEW_PASSWORD,
        keep_session=here,
        client_address="10.0.0.1",
        now=utcnow(),
    )
    db.session.commit()
    assert ended == 1
    assert services.password_matches(user, NEW_PASSWORD) and not services.password_matches(user, TEST_PASSWORD)
    assert services.user_for_session(here) == user
    assert services.user_for_session(elsewhere) is None
    (entry,) = [e for e in _entries(user) if e.action == "user.password_changed"]
    assert entry.data == {"sessions_ended": 1}
    _no_secret_in_ledger(NEW_PASSWORD, TEST_PASSWORD, user.password_hash)


def test_a_new_password_must_be_long_enough(ctx: Flask) -> None:
    user = make_user()
    with pytest.raises(ValidationFailed) as short:
        services.change_password(
            user,
            current_password=TEST_PASSWORD,
            new_password="short",
            keep_session=None,
            client_address="x",
            now=utcnow(),
        )
    assert short.value.field == "password"


def test_a_reset_link_works_once_within_its_time_and_ends_every_session(ctx: Flask) -> None:
    user = make_user()
    old_session = _session(user)
    assert services.request_password_reset("nobody@example.org", utcnow()) is None  # no account: nothing happens
    token = services.request_password_reset(user.email.upper(), utcnow())
    db.session.commit()
    assert token is not None

    with pytest.raises(NotFound):  # a link is short-lived
        services.reset_password(token, NEW_PASSWORD, utcnow() + timedelta(minutes=31))
    with pytest.raises(ValidationFailed):  # a weak password leaves the link usable
        services.reset_password(token, "short", utcnow())
    db.session.rollback()
    services.reset_password(token, NEW_PASSWORD, utcnow())
    db.session.commit()
    assert services.password_matches(user, NEW_PASSWORD)
    assert services.user_for_session(old_session) is None
    with pytest.raises(NotFound):
        services.reset_password(token, "yet another password", utcnow())
    actions = [entry.action for entry in _entries(user)]
    assert "user.password_reset_requested" in actions and "user.password_reset" in actions
    _no_secret_in_ledger(token, NEW_PASSWORD, services.sha256_hex(token), user.password_hash)


def test_reset_mails_are_limited_per_account(ctx: Flask) -> None:
    user = make_user()
    sent = [services.request_password_reset(user.email, utcnow()) for _ in range(5)]
    db.session.commit()
    assert [token is not None for token in sent] == [True, True, True, False, False]


def test_a_reset_link_used_by_many_at_once_sets_one_password(app: Flask) -> None:
    with app.app_context():
        user = make_user()
        token = services.request_password_reset(user.email, utcnow())
        db.session.commit()
        user_id = user.id
    assert token is not None

    def reset(index: int) -> str:
        try:
            services.reset_password(token, f"password number {index:02d}", utcnow())
            db.session.commit()
            return f"password number {index:02d}"
        except (NotFound, Conflict):
            db.session.rollback()
            return "refused"

    results = all_at_once([lambda index=index: reset(index) for index in range(8)], app=app)
    winners = [result for result in results if result != "refused"]
    assert len(winners) == 1, results
    with app.app_context():
        stored = db.session.get(User, user_id)
        assert stored is not None and services.password_matches(stored, winners[0])
        resets = db.session.scalars(select(LedgerEntry).where(LedgerEntry.action == "user.password_reset")).all()
        assert len(resets) == 1


def test_the_address_changes_only_with_the_password_and_the_link_sent_to_the_new_address(ctx: Flask) -> None:
    user, other = make_user(), make_user()
    old_email = user.email
    here, elsewhere = _session(user), _session(user)
    with pytest.raises(ValidationFailed) as wrong:
        services.request_email_change(
            user, new_email="new@example.org", password="not my password", client_address="x", now=utcnow()
        )
    assert wrong.value.field == "current_password"
    db.session.rollback()
    pending = services.request_email_change(
        user, new_email="New@Example.org", password=TEST_PASSWORD, client_address="x", now=utcnow()
    )
    db.session.commit()
    assert pending.new_email == "new@example.org" and user.email == old_email  # nothing changes yet

    with pytest.raises(PermissionDenied):  # somebody else's session cannot use the link
        services.confirm_email_change(other, pending.token, keep_session=None, now=utcnow())
    services.confirm_email_change(user, pending.token, keep_session=here, now=utcnow())
    db.session.commit()
    assert user.email == "new@example.org"
    assert services.find_user_by_email(old_email) is None
    assert services.user_for_session(here) == user and services.user_for_session(elsewhere) is None
    with pytest.raises(NotFound):
        services.confirm_email_change(user, pending.token, keep_session=here, now=utcnow())
    entry = next(e for e in _entries(user) if e.action == "user.email_changed")
    assert entry.data == {"from": old_email, "to": "new@example.org", "sessions_ended": 1}
    _no_secret_in_ledger(pending.token, services.sha256_hex(pending.token))


def test_an_address_taken_meanwhile_is_refused_at_confirmation(ctx: Flask) -> None:
    user = make_user()
    pending = services.request_email_change(
        user, new_email="wanted@example.org", password=TEST_PASSWORD, client_address="x", now=utcnow()
    )
    db.session.commit()
    make_user(email="wanted@example.org")
    with pytest.raises(Conflict):
        services.confirm_email_change(user, pending.token, keep_session=None, now=utcnow())


def test_a_new_password_cancels_an_address_change_somebody_asked_for(ctx: Flask) -> None:
    user = make_user()
    pending = services.request_email_change(
        user, new_email="thief@example.org", password=TEST_PASSWORD, client_address="x", now=utcnow()
    )
    db.session.commit()
    services.change_password(
        user,
        current_password=TEST_PASSWORD,
        new_password=NEW_PASSWORD,
        keep_session=None,
        client_address="y",
        now=utcnow(),
    )
    db.session.commit()
    with pytest.raises(NotFound):
        services.confirm_email_change(user, pending.token, keep_session=None, now=utcnow())
    assert user.email != "thief@example.org"


def test_a_name_change_is_in_the_ledger(ctx: Flask) -> None:
    user = make_user(name="Bea")
    with pytest.raises(ValidationFailed):
        services.change_name(user, "   ")
    assert services.change_name(user, "  Beatriz ") is True
    assert services.change_name(user, "Beatriz") is False
    db.session.commit()
    (entry,) = [e for e in _entries(user) if e.action == "user.name_changed"]
    assert entry.data == {"from": "Bea", "to": "Beatriz"}


def test_a_session_ends_after_its_absolute_lifetime_on_the_server(ctx: Flask) -> None:
    user = make_user()
    token = _session(user)
    hours = ctx.config["SESSION_MAX_HOURS"]
    assert services.user_for_session(token, utcnow() + timedelta(hours=hours - 1)) == user
    assert services.user_for_session(token, utcnow() + timedelta(hours=hours, minutes=1)) is None
    row = db.session.scalars(select(AuthSession)).one()
    assert row.revoked_at is None  # the row says nothing: the server refuses it by its age


def test_wrong_codes_from_one_client_leave_the_owner_able_to_approve_from_another(ctx: Flask) -> None:
    user = make_user()
    secret = enrol_totp(user)
    for _ in range(5):
        with pytest.raises(ValidationFailed):
            verify_code(user, "000000", utcnow(), client_address="203.0.113.7")
        db.session.commit()
    with pytest.raises(RateLimited):
        verify_code(user, totp_code(secret, offset_steps=1), utcnow(), client_address="203.0.113.7")
    db.session.rollback()
    verify_code(user, totp_code(secret, offset_steps=1), utcnow(), client_address="198.51.100.2")


def test_an_existing_account_is_invited_not_added_and_accepts_or_declines(ctx: Flask) -> None:
    admin, person = make_user(), make_user(name="Kofi")
    circle, other_circle = make_circle(admin), make_circle(admin)
    outcome = invite_member(admin, circle, email=person.email, roles=["member", "circle"], now=utcnow(), valid_days=7)
    second = invite_member(admin, other_circle, email=person.email, roles=["member"], now=utcnow(), valid_days=7)
    db.session.commit()
    assert db.session.scalar(select(Membership).where(Membership.user_id == person.id)) is None
    created = db.session.scalars(select(LedgerEntry).where(LedgerEntry.action == "invitation.created")).all()
    assert all("Kofi" not in json.dumps(entry.data) and person.email not in json.dumps(entry.data) for entry in created)
    assert {i.id for i in pending_invitations_for(person, utcnow())} == {outcome.invitation.id, second.invitation.id}

    with pytest.raises(NotFound):  # nobody else answers it
        accept_invitation_by_id(admin, outcome.invitation.id, utcnow())
    membership = accept_invitation_by_id(person, outcome.invitation.id, utcnow())
    assert membership.roles == {"member", "circle"}
    decline_invitation(person, second.invitation.id, utcnow())
    db.session.commit()
    assert pending_invitations_for(person, utcnow()) == []
    with pytest.raises(NotFound):  # a declined invitation's link no longer works
        find_invitation(second.token, utcnow())
    with pytest.raises(NotFound):
        accept_invitation(second.token, user=person, now=utcnow())
    actions = db.session.scalars(
        select(LedgerEntry.action).where(LedgerEntry.actor_id == person.id).order_by(LedgerEntry.id)
    ).all()
    assert "member.joined" in actions and "invitation.declined" in actions
