"""Joining by request (circles/joining.py): who may ask, accept and decline; one open request per person; the
declined-then-ask-again rule; the ledger entries; the people told, by mail through a real SMTP server and in the
inbox."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from fundcircle.auth.models import User
from fundcircle.circles import joining
from fundcircle.circles.models import Circle, JoinRequest
from fundcircle.circles.services import membership_of
from fundcircle.db import utcnow
from fundcircle.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from fundcircle.extensions import db
from fundcircle.inbox.models import Notification
from fundcircle.ledger.models import LedgerEntry
from fundcircle.ledger.reading import verify_ledger
from fundcircle.notices import OutboxNotice
from fundcircle.unit_of_work import commit
from tests.concurrency import all_at_once
from tests.factories import add_member, make_circle, make_user
from tests.smtp import Inbox, body_of, running_smtp
from tests.worlds.treasury import ledger_actions


def _circle(circle_id: int) -> Circle:
    circle = db.session.get(Circle, circle_id, populate_existing=True)
    assert circle is not None
    return circle


def _user(user_id: int) -> User:
    user = db.session.get(User, user_id)
    assert user is not None
    return user


def _taking(admin: User, *, public: bool = True) -> Circle:
    """A circle of `admin` that takes requests to join (public unless told)."""
    circle = make_circle(admin, public=public)
    joining.set_accepts_join_requests(admin, circle, True)
    db.session.commit()
    return circle


def _verifies(circle_id: int) -> bool:
    return all(report.result.ok for report in verify_ledger([circle_id]))


def test_requests_are_off_by_default_and_a_circle_not_taking_them_refuses_clearly(ctx: Flask) -> None:
    admin, asker = make_user(name="Ana Admin"), make_user(name="Sam Asker")
    circle = make_circle(admin, public=True)
    assert circle.accepts_join_requests is False
    with pytest.raises(PermissionDenied, match="does not take requests to join: ask one of its admins"):
        joining.ask_to_join(asker, circle, "Hello", utcnow())
    db.session.rollback()
    assert db.session.scalars(select(JoinRequest)).all() == []


def test_a_private_circle_takes_no_request_and_does_not_say_it_exists(ctx: Flask) -> None:
    admin, asker = make_user(), make_user()
    circle = _taking(admin, public=False)
    with pytest.raises(NotFound, match="There is no such circle"):
        joining.ask_to_join(asker, circle, "", utcnow())


def test_only_an_admin_of_the_circle_turns_requests_on_and_it_is_in_the_ledger(ctx: Flask) -> None:
    admin, member, other_admin = make_user(), make_user(), make_user()
    circle = make_circle(admin, public=True)
    add_member(circle, member, ["member", "circle", "treasurer"], by=admin)
    make_circle(other_admin)
    for not_admin in (member, other_admin):
        with pytest.raises(PermissionDenied):
            joining.set_accepts_join_requests(not_admin, circle, True)
    joining.set_accepts_join_requests(admin, circle, True)
    db.session.commit()
    assert _circle(circle.id).accepts_join_requests is True
    (entry,) = db.session.scalars(select(LedgerEntry).where(LedgerEntry.action == "circle.join_requests_set"))
    assert entry.actor_id == admin.id and entry.data == {"accepts": True}


def test_asking_stores_the_note_as_plain_text_and_writes_the_ledger_without_it(ctx: Flask) -> None:
    admin, asker = make_user(), make_user(name="Sam Asker")
    circle = _taking(admin)
    join_request = joining.ask_to_join(asker, circle, "  I run the <b>repair</b> café.  ", utcnow())
    db.session.commit()
    assert join_request.status == "open" and join_request.note == "I run the <b>repair</b> café."
    (entry,) = db.session.scalars(select(LedgerEntry).where(LedgerEntry.action == "join_request.created"))
    # The ledger of a public circle is public: it says who asked, not what they wrote.
    assert entry.actor_id == asker.id and entry.data == {}
    assert _verifies(circle.id)


def test_a_note_too_long_is_refused_on_its_field(ctx: Flask) -> None:
    admin, asker = make_user(), make_user()
    circle = _taking(admin)
    with pytest.raises(ValidationFailed, match="at most 500 characters") as refused:
        joining.ask_to_join(asker, circle, "x" * 501, utcnow())
    assert refused.value.field == "note"


def test_a_second_open_request_and_a_members_request_are_refused(ctx: Flask) -> None:
    admin, asker, member = make_user(), make_user(), make_user()
    circle = _taking(admin)
    add_member(circle, member, ["member"], by=admin)
    joining.ask_to_join(asker, circle, "first", utcnow())
    db.session.commit()
    with pytest.raises(Conflict, match="asked to join already"):
        joining.ask_to_join(asker, _circle(circle.id), "second", utcnow())
    db.session.rollback()
    with pytest.raises(Conflict, match="member of .* already"):
        joining.ask_to_join(member, _circle(circle.id), "", utcnow())
    db.session.rollback()
    assert len(db.session.scalars(select(JoinRequest)).all()) == 1


def test_two_requests_sent_at_once_by_one_person_store_one(app: Flask) -> None:
    with app.app_context():
        admin, asker = make_user(), make_user()
        circle_id, asker_id = _taking(admin).id, asker.id
        db.session.remove()

    def ask() -> Any:
        request = joining.ask_to_join(_user(asker_id), _circle(circle_id), "", utcnow())
        commit()
        return request.id

    results = all_at_once([ask, ask], app=app)
    assert sum(isinstance(result, int) for result in results) == 1
    assert [type(result) for result in results if not isinstance(result, int)] == [Conflict]
    with app.app_context():
        assert len(db.session.scalars(select(JoinRequest)).all()) == 1


def test_the_person_withdraws_and_may_ask_again_at_once(ctx: Flask) -> None:
    admin, asker = make_user(), make_user()
    circle = _taking(admin)
    joining.ask_to_join(asker, circle, "", utcnow())
    db.session.commit()
    withdrawn = joining.withdraw_request(asker, _circle(circle.id), utcnow())
    db.session.commit()
    assert withdrawn.status == "withdrawn" and withdrawn.answered_by_id == asker.id
    with pytest.raises(Conflict, match="no open request"):
        joining.withdraw_request(asker, _circle(circle.id), utcnow())
    again = joining.ask_to_join(asker, _circle(circle.id), "", utcnow())
    db.session.commit()
    assert again.status == "open"
    assert ledger_actions(circle.id, "join_request.") == [
        "join_request.created",
        "join_request.withdrawn",
        "join_request.created",
    ]


def test_an_admin_accepts_and_the_person_joins_as_a_member_by_the_invitations_path(ctx: Flask) -> None:
    admin, asker = make_user(name="Ana Admin"), make_user(name="Sam Asker")
    circle = _taking(admin)
    join_request = joining.ask_to_join(asker, circle, "", utcnow())
    db.session.commit()
    membership = joining.accept_request(admin, _circle(circle.id), join_request.id, utcnow())
    db.session.commit()
    assert membership.sorted_roles() == ["member"]
    assert db.session.get(JoinRequest, join_request.id).status == "accepted"  # type: ignore[union-attr]
    joined = db.session.scalars(select(LedgerEntry).where(LedgerEntry.action == "member.joined")).one()
    assert joined.actor_id == admin.id
    assert joined.data == {"user": asker.id, "name": "Sam Asker", "roles": ["member"], "join_request": join_request.id}
    assert ledger_actions(circle.id, "join_request.") == ["join_request.created", "join_request.accepted"]
    # The ledger replays into the memberships as stored: the joining is the entry that made the membership.
    assert _verifies(circle.id)


def test_who_may_accept_and_decline(ctx: Flask) -> None:
    admin, asker, member, other_admin = make_user(), make_user(), make_user(), make_user()
    circle = _taking(admin)
    add_member(circle, member, ["member", "circle", "treasurer"], by=admin)
    other = _taking(other_admin)
    join_request = joining.ask_to_join(asker, circle, "", utcnow())
    db.session.commit()
    for not_admin in (member, other_admin, asker):
        with pytest.raises(PermissionDenied, match="Only the circle's admins"):
            joining.accept_request(not_admin, _circle(circle.id), join_request.id, utcnow())
        db.session.rollback()
        with pytest.raises(PermissionDenied, match="Only the circle's admins"):
            joining.decline_request(not_admin, _circle(circle.id), join_request.id, "", utcnow())
        db.session.rollback()
    # An admin of another circle, naming this circle's request through their own circle: no such request there.
    with pytest.raises(NotFound):
        joining.accept_request(other_admin, _circle(other.id), join_request.id, utcnow())
    db.session.rollback()
    with pytest.raises(PermissionDenied):
        joining.open_requests(member, _circle(circle.id))
    assert db.session.get(JoinRequest, join_request.id).status == "open"  # type: ignore[union-attr]
    assert membership_of(asker, _circle(circle.id)) is None
    assert ledger_actions(circle.id, "join_request.") == ["join_request.created"]


def test_an_answered_request_cannot_be_answered_again(ctx: Flask) -> None:
    admin, asker = make_user(), make_user()
    circle = _taking(admin)
    join_request = joining.ask_to_join(asker, circle, "", utcnow())
    db.session.commit()
    joining.decline_request(admin, _circle(circle.id), join_request.id, "", utcnow())
    db.session.commit()
    with pytest.raises(NotFound, match="no such open request"):
        joining.accept_request(admin, _circle(circle.id), join_request.id, utcnow())


def test_declined_the_person_may_ask_again_only_after_thirty_days(ctx: Flask) -> None:
    admin, asker = make_user(), make_user()
    circle = _taking(admin)
    asked_at = utcnow()
    join_request = joining.ask_to_join(asker, circle, "", asked_at)
    db.session.commit()
    declined = joining.decline_request(admin, _circle(circle.id), join_request.id, "  We are full.  ", asked_at)
    db.session.commit()
    assert declined.status == "declined" and declined.reason == "We are full."
    (entry,) = db.session.scalars(select(LedgerEntry).where(LedgerEntry.action == "join_request.declined"))
    assert entry.actor_id == admin.id and entry.data == {}  # the reason is for the person, not the public ledger
    with pytest.raises(Conflict, match="declined: you may ask again from"):
        joining.ask_to_join(asker, _circle(circle.id), "", asked_at + timedelta(days=29, hours=23))
    db.session.rollback()
    again = joining.ask_to_join(asker, _circle(circle.id), "", asked_at + joining.DECLINED_WAIT)
    db.session.commit()
    assert again.status == "open"


def test_a_reason_too_long_is_refused_on_its_field(ctx: Flask) -> None:
    admin, asker = make_user(), make_user()
    circle = _taking(admin)
    join_request = joining.ask_to_join(asker, circle, "", utcnow())
    db.session.commit()
    with pytest.raises(ValidationFailed) as refused:
        joining.decline_request(admin, _circle(circle.id), join_request.id, "y" * 501, utcnow())
    assert refused.value.field == "reason"
    db.session.rollback()
    assert db.session.get(JoinRequest, join_request.id).status == "open"  # type: ignore[union-attr]


def test_open_requests_are_the_circles_open_ones_oldest_first(ctx: Flask) -> None:
    admin, first, second, third = make_user(), make_user(), make_user(), make_user()
    circle = _taking(admin)
    now = utcnow()
    for minutes, person in enumerate((first, second, third)):
        joining.ask_to_join(person, _circle(circle.id), "", now + timedelta(minutes=minutes))
        db.session.commit()
    joining.withdraw_request(second, _circle(circle.id), now)
    db.session.commit()
    listed = joining.open_requests(admin, _circle(circle.id))
    assert [item.user_id for item in listed] == [first.id, third.id]
    assert joining.open_request_count(_circle(circle.id)) == 2


# -- the people told ---------------------------------------------------------------------------------------------


@pytest.fixture
def smtp() -> Iterator[tuple[int, Inbox]]:
    with running_smtp() as server:
        yield server


@pytest.fixture
def mail_app(make_app: Any, smtp: tuple[int, Inbox]) -> Flask:
    port, _ = smtp
    app: Flask = make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=port, BASE_URL="https://fund.example.org")
    return app


def _inbox_texts(user_id: int) -> list[str]:
    """What the person's inbox holds of requests to join."""
    return list(
        db.session.scalars(
            select(Notification.text).where(
                Notification.user_id == user_id, Notification.kind.in_(["join.requested", "join.answered"])
            )
        )
    )


def test_the_admins_are_told_of_a_request_and_the_person_of_the_answer(
    app: Flask, mail_app: Flask, smtp: tuple[int, Inbox]
) -> None:
    _, inbox = smtp
    with mail_app.app_context():
        ana = make_user(name="Ana Admin", email="ana@example.org")
        bob = make_user(name="Bob Admin", email="bob@example.org")
        tess = make_user(name="Tess Treasurer", email="tess@example.org")
        sam = make_user(name="Sam Asker", email="sam@example.org")
        kim = make_user(name="Kim Asker", email="kim@example.org")
        circle = _taking(ana)
        add_member(circle, bob, ["member", "admin"], by=ana)
        add_member(circle, tess, ["member", "treasurer"], by=ana)
        commit()
        inbox.clear()

        asked = joining.ask_to_join(sam, _circle(circle.id), "I run the repair café.", utcnow())
        commit()
        assert inbox.recipients() == ["ana@example.org", "bob@example.org"]  # admins only, not the treasurer
        message = inbox.messages[0]
        assert message["Subject"] == f"Sam Asker asks to join “{circle.name}”"
        assert "I run the repair café." in body_of(message)
        assert f"https://fund.example.org/circles/{circle.id}/join-requests" in body_of(message)
        assert _inbox_texts(ana.id) == [f"Sam Asker asks to join “{circle.name}”"]
        inbox.clear()

        joining.accept_request(bob, _circle(circle.id), asked.id, utcnow())
        commit()
        assert inbox.recipients() == ["sam@example.org"]
        assert inbox.messages[0]["Subject"] == f"Welcome to “{circle.name}”: your request to join was accepted"
        assert "Bob Admin accepted your request" in body_of(inbox.messages[0])
        assert _inbox_texts(sam.id) == [f"Welcome to “{circle.name}”: your request to join was accepted"]
        inbox.clear()

        kims = joining.ask_to_join(kim, _circle(circle.id), "", utcnow())
        commit()
        inbox.clear()
        joining.decline_request(ana, _circle(circle.id), kims.id, "We are full this season.", utcnow())
        commit()
        assert inbox.recipients() == ["kim@example.org"]
        body = body_of(inbox.messages[0])
        assert inbox.messages[0]["Subject"] == f"Your request to join “{circle.name}” was declined"
        assert "We are full this season." in body and "You may ask again from" in body


def test_a_person_who_chose_inbox_only_is_told_in_the_inbox_and_not_mailed(
    app: Flask, mail_app: Flask, smtp: tuple[int, Inbox]
) -> None:
    _, inbox = smtp
    with mail_app.app_context():
        ana = make_user(name="Ana Admin", email="ana@example.org")
        sam = make_user(name="Sam Asker", email="sam@example.org")
        sam.email_notices = False
        circle = _taking(ana)
        asked = joining.ask_to_join(sam, _circle(circle.id), "", utcnow())
        commit()
        inbox.clear()
        joining.accept_request(ana, _circle(circle.id), asked.id, utcnow())
        commit()
        assert inbox.messages == []
        (notice,) = db.session.scalars(select(OutboxNotice).where(OutboxNotice.user_id == sam.id))
        assert notice.kind == "join.answered" and notice.delivery == "inbox"
        assert len(_inbox_texts(sam.id)) == 1


def test_a_refused_acceptance_tells_nobody_and_writes_nothing(
    app: Flask, mail_app: Flask, smtp: tuple[int, Inbox]
) -> None:
    _, inbox = smtp
    with mail_app.app_context():
        ana, tess, sam = make_user(), make_user(), make_user()
        circle = _taking(ana)
        add_member(circle, tess, ["member", "treasurer"], by=ana)
        asked = joining.ask_to_join(sam, _circle(circle.id), "", utcnow())
        commit()
        inbox.clear()
        before = ledger_actions(circle.id, "")
        with pytest.raises(PermissionDenied):
            joining.accept_request(tess, _circle(circle.id), asked.id, utcnow())
        db.session.rollback()
        commit()
        assert inbox.messages == [] and ledger_actions(circle.id, "") == before
