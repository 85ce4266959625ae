"""Joining by request: a signed-in person asks to join a public circle that takes requests, with a short note; an
admin accepts (the person joins with the default role, by the same path as an accepted invitation) or declines
(with an optional reason, which only the person sees); the person may withdraw an open request.

Rules, decided here:
- One open request per person and circle (a second is refused; the partial unique index holds it under races).
- Only a public circle with "accepts requests to join" on takes requests: a private circle's page is not shown to
  outsiders, so it is found by invitation only; a private circle answers "no such circle" (nothing leaks).
- A person declined may ask again DECLINED_WAIT after the answer (30 days), so an admin is not asked daily; a
  withdrawn request may be followed by a new one at once.
- The note and the reason stay out of the ledger, which a public circle shows to everyone: the entries say who
  asked and who answered, and how.

Services flush and never commit; every change writes the ledger in the same transaction, and the people told
(the circle's admins of a new request, the person of the answer) get a notice through the outbox in it too.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from babel.dates import format_date
from flask_babel import format_decimal, gettext
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import contains_eager

from fundcircle.auth.models import User
from fundcircle.circles.models import JOIN_NOTE_MAX, JOIN_REASON_MAX, Circle, JoinRequest, Membership
from fundcircle.circles.services import (
    join_with_roles,
    membership_of,
    people_holding,
    queue_notices_in_their_language,
    require_role,
)
from fundcircle.db import compare_and_set, lock
from fundcircle.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from fundcircle.extensions import db
from fundcircle.i18n import DEFAULT_LANGUAGE, current_language
from fundcircle.ledger.record import record
from fundcircle.mail import external_url
from fundcircle.phrases import N_

#: The roles a person gets when their request is accepted: those an invitation offers by default.
DEFAULT_ROLES = ["member"]
#: How long after a decline the person may ask again.
DECLINED_WAIT = timedelta(days=30)

NOT_TAKING = N_("This circle does not take requests to join: ask one of its admins for an invitation.")
NO_SUCH_CIRCLE = N_("There is no such circle.")
NO_SUCH_REQUEST = N_("There is no such open request to join this circle: it may have been answered or withdrawn.")
ALREADY_ASKED = N_("You have asked to join already: the circle's admins will answer your request.")


def _day(moment: datetime) -> str:
    """A date as members read it, in their language: 2 January 2027, 2. Januar 2027, 2 de enero de 2027."""
    language = current_language()
    if language == DEFAULT_LANGUAGE:
        return f"{moment.day} {moment:%B %Y}"
    return format_date(moment, format="long", locale=language)


def takes_requests(circle: Circle) -> bool:
    """Whether an outsider can ask to join: the circle is public and its admins turned requests on."""
    return circle.public and circle.accepts_join_requests


def set_accepts_join_requests(actor: User, circle: Circle, accepts: bool) -> Circle:
    """An admin turns requests to join on or off. Turning them off leaves open requests for the admins to answer.

    :raises PermissionDenied: unless the actor is the circle's admin.
    """
    require_role(actor, circle, "admin")
    if circle.accepts_join_requests == accepts:
        return circle
    circle.accepts_join_requests = accepts
    record("circle.join_requests_set", actor=actor, circle_id=circle.id, subject=circle, data={"accepts": accepts})
    db.session.flush()
    return circle


def check_note(note: str, *, field: str = "note", limit: int = JOIN_NOTE_MAX) -> str:
    """Plain text, trimmed, at most `limit` characters (shown escaped, never as Markdown).

    :raises ValidationFailed: on `field` if longer, or holding a NUL character.
    """
    note = note.strip()
    if len(note) > limit:
        raise ValidationFailed(
            gettext(
                "Use at most %(limit)s characters (this has %(length)s).",
                limit=format_decimal(limit),
                length=format_decimal(len(note)),
            ),
            field=field,
        )
    if "\x00" in note:
        raise ValidationFailed(gettext("Remove the invisible control character from the text."), field=field)
    return note


def open_request_of(user: User | None, circle: Circle) -> JoinRequest | None:
    if user is None or not user.is_authenticated:
        return None
    return db.session.scalar(
        select(JoinRequest).where(
            JoinRequest.circle_id == circle.id, JoinRequest.user_id == user.id, JoinRequest.status == "open"
        )
    )


def latest_request_of(user: User, circle: Circle) -> JoinRequest | None:
    """The person's newest request to join the circle, open or answered (where their asking stands); None if they
    never asked."""
    return db.session.scalar(
        select(JoinRequest)
        .where(JoinRequest.circle_id == circle.id, JoinRequest.user_id == user.id)
        .order_by(JoinRequest.created_at.desc(), JoinRequest.id.desc())
        .limit(1)
    )


def latest_decline_of(user: User, circle: Circle) -> JoinRequest | None:
    return db.session.scalar(
        select(JoinRequest)
        .where(JoinRequest.circle_id == circle.id, JoinRequest.user_id == user.id, JoinRequest.status == "declined")
        .order_by(JoinRequest.answered_at.desc(), JoinRequest.id.desc())
        .limit(1)
    )


def may_ask_again_at(user: User, circle: Circle) -> datetime | None:
    """When a person declined may ask again (None: nothing holds them back)."""
    declined = latest_decline_of(user, circle)
    if declined is None or declined.answered_at is None:
        return None
    return declined.answered_at + DECLINED_WAIT


def ask_to_join(actor: User, circle: Circle, note: str, now: datetime) -> JoinRequest:
    """A signed-in person who is not a member asks to join; the circle's admins are told.

    :raises NotFound: for a private circle (an outsider does not learn it exists; a member is told they are one).
    :raises PermissionDenied: if the circle does not take requests.
    :raises Conflict: for a member, for a second open request, or within DECLINED_WAIT of a decline.
    :raises ValidationFailed: on `note` for a note too long.
    """
    # The circle's row first: of two requests sent at once by one person, the second sees the first.
    circle = lock(circle)
    if membership_of(actor, circle) is not None:
        raise Conflict(gettext("You are a member of %(circle)s already.", circle=circle.name))
    if not circle.public:
        raise NotFound(gettext(NO_SUCH_CIRCLE))
    if not circle.accepts_join_requests:
        raise PermissionDenied(gettext(NOT_TAKING))
    text = check_note(note)
    if open_request_of(actor, circle) is not None:
        raise Conflict(gettext(ALREADY_ASKED))
    again_at = may_ask_again_at(actor, circle)
    if again_at is not None and now < again_at:
        raise Conflict(
            gettext(
                "Your last request was declined: you may ask again from %(day)s, or ask one of the circle's admins "
                "for an invitation.",
                day=_day(again_at),
            )
        )
    join_request = JoinRequest(circle_id=circle.id, user_id=actor.id, note=text, status="open", created_at=now)
    try:
        with db.session.begin_nested():
            db.session.add(join_request)
    except IntegrityError:
        raise Conflict(gettext(ALREADY_ASKED)) from None
    record("join_request.created", actor=actor, circle_id=circle.id, subject=join_request, data={}, at=now)
    url = external_url("circles.join_requests", circle_id=circle.id)
    names = {"name": actor.name, "circle": circle.name}

    def compose() -> tuple[str, str]:
        body = (
            gettext("%(name)s asks to join “%(circle)s”.", **names)
            + "\n\n"
            + (gettext("Their note:") + f"\n{text}\n\n" if text else gettext("They wrote no note.") + "\n\n")
            + gettext("Accept or decline the request here:")
            + f"\n{url}\n"
        )
        return gettext("%(name)s asks to join “%(circle)s”", **names), body

    queue_notices_in_their_language(people_holding(circle.id, "admin"), circle, compose, kind="join.requested", url=url)
    db.session.flush()
    return join_request


def withdraw_request(actor: User, circle: Circle, now: datetime) -> JoinRequest:
    """The person withdraws their open request (they may ask again at once).

    :raises Conflict: if they have no open request here (none, or answered at the same moment).
    """
    join_request = open_request_of(actor, circle)
    if join_request is None:
        raise Conflict(gettext("You have no open request to join this circle: it may have been answered already."))
    _answer(join_request, actor, now, status="withdrawn", reason="")
    record("join_request.withdrawn", actor=actor, circle_id=circle.id, subject=join_request, data={}, at=now)
    return join_request


def _admins_request(actor: User, circle: Circle, join_request_id: int) -> JoinRequest:
    """:raises PermissionDenied: unless the actor is this circle's admin. :raises NotFound: unless the request is
    this circle's and open (another circle's request gives no hint that it exists)."""
    require_role(actor, circle, "admin")
    join_request = db.session.get(JoinRequest, join_request_id)
    if join_request is None or join_request.circle_id != circle.id or join_request.status != "open":
        raise NotFound(gettext(NO_SUCH_REQUEST))
    return join_request


def _answer(join_request: JoinRequest, actor: User, now: datetime, *, status: str, reason: str) -> None:
    compare_and_set(
        join_request,
        expected=JoinRequest.status == "open",
        values={"status": status, "answered_at": now, "answered_by_id": actor.id, "reason": reason},
        conflict=Conflict(gettext("This request was answered a moment ago.")),
    )


def accept_request(actor: User, circle: Circle, join_request_id: int, now: datetime) -> Membership:
    """An admin accepts: the person joins with DEFAULT_ROLES, as by an accepted invitation, and is told.

    :raises PermissionDenied: unless the actor is the circle's admin.
    :raises NotFound: unless the request is this circle's and open.
    :raises Conflict: if it was answered at the same moment.
    """
    # The circle's row first, as every change of its memberships does (circles/services.py).
    circle = lock(circle)
    join_request = _admins_request(actor, circle, join_request_id)
    _answer(join_request, actor, now, status="accepted", reason="")
    person = join_request.user
    record("join_request.accepted", actor=actor, circle_id=circle.id, subject=join_request, data={}, at=now)
    membership = join_with_roles(
        circle, person, list(DEFAULT_ROLES), now, actor=actor, origin={"join_request": join_request.id}
    )
    url = external_url("circles.view", circle_id=circle.id)

    def accepted() -> tuple[str, str]:
        subject = gettext("Welcome to “%(circle)s”: your request to join was accepted", circle=circle.name)
        body = gettext(
            "%(name)s accepted your request to join “%(circle)s”. You are a member now:",
            name=actor.name,
            circle=circle.name,
        )
        return subject, f"{body}\n{url}\n"

    queue_notices_in_their_language([person], circle, accepted, kind="join.answered", url=url)
    return membership


def decline_request(actor: User, circle: Circle, join_request_id: int, reason: str, now: datetime) -> JoinRequest:
    """An admin declines, with an optional reason that only the person sees; the person is told.

    :raises PermissionDenied: unless the actor is the circle's admin.
    :raises NotFound: unless the request is this circle's and open.
    :raises ValidationFailed: on `reason` if too long.
    :raises Conflict: if it was answered at the same moment.
    """
    join_request = _admins_request(actor, circle, join_request_id)
    text = check_note(reason, field="reason", limit=JOIN_REASON_MAX)
    _answer(join_request, actor, now, status="declined", reason=text)
    record("join_request.declined", actor=actor, circle_id=circle.id, subject=join_request, data={}, at=now)
    again_at = now + DECLINED_WAIT
    url = external_url("circles.view", circle_id=circle.id)

    def declined() -> tuple[str, str]:
        subject = gettext("Your request to join “%(circle)s” was declined", circle=circle.name)
        body = (
            gettext("The admins of “%(circle)s” declined your request to join.", circle=circle.name)
            + "\n\n"
            + (gettext("Their reason:") + f"\n{text}\n\n" if text else "")
            + gettext("You may ask again from %(day)s, or ask one of its admins for an invitation.", day=_day(again_at))
            + "\n"
        )
        return subject, body

    queue_notices_in_their_language([join_request.user], circle, declined, kind="join.answered", url=url)
    return join_request


def open_requests(actor: User, circle: Circle) -> list[JoinRequest]:
    """The circle's open requests, oldest first, with the people asking (for its admins).

    :raises PermissionDenied: unless the actor is the circle's admin.
    """
    require_role(actor, circle, "admin")
    return list(
        db.session.scalars(
            select(JoinRequest)
            .join(User, User.id == JoinRequest.user_id)
            .options(contains_eager(JoinRequest.user))
            .where(JoinRequest.circle_id == circle.id, JoinRequest.status == "open")
            .order_by(JoinRequest.created_at, JoinRequest.id)
        )
    )


def open_request_count(circle: Circle) -> int:
    return (
        db.session.scalar(
            select(func.count())
            .select_from(JoinRequest)
            .where(JoinRequest.circle_id == circle.id, JoinRequest.status == "open")
        )
        or 0
    )
