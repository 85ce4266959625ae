"""A round's retrospective: once a round has closed, the circle's members answer what worked, what to change, and
rate the process's fairness and effort, anonymously if they wish. Services flush and never commit."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime

from flask import current_app
from flask_babel import gettext
from sqlalchemy import select

from fundcircle.auth.models import User
from fundcircle.circles.models import Circle
from fundcircle.circles.services import membership_of
from fundcircle.db import lock
from fundcircle.errors import Conflict, PermissionDenied, ValidationFailed
from fundcircle.extensions import db
from fundcircle.ledger.record import record
from fundcircle.rounds.models import RetrospectiveAnswer, Round
from fundcircle.rounds.retrospective_summary import Answer, Summary, summarise

MAX_TEXT = 2000
#: The phases in which a later round of the circle has not opened yet: while every later round is in one of them,
#: answers can still be changed.
NOT_OPEN = ("draft", "cancelled")


@dataclass(frozen=True)
class RetrospectiveInput:
    worked: str
    change: str
    fairness: int
    effort: int
    anonymous: bool = False


def voter_key(round_id: int, user_id: int) -> str:
    """The commitment that keeps one answer per member and round without storing who gave an anonymous answer.

    HMAC-SHA256 under a key derived from the app's SECRET_KEY, not a plain hash: user ids are small numbers, so
    anyone holding a copy of the database could hash (round, user) for every member and see who answered what. With
    the key, only the running server (which must recompute the key to find a member's own answer) can link an
    answer to a person; a database copy or backup alone cannot. The key is derived for this purpose only, so it
    is not the key that signs sessions."""
    secret = current_app.config["SECRET_KEY"].encode()
    key = hmac.new(secret, b"fundcircle.retrospective.voter_key", hashlib.sha256).digest()
    return hmac.new(key, f"{round_id}:{user_id}".encode(), hashlib.sha256).hexdigest()


def _texts_hash(worked: str, change: str) -> str:
    """What the ledger keeps of the texts: their hash (the texts themselves may be personal, and a ledger entry is
    never deleted), which still shows whether the stored texts were changed after the entry."""
    return hashlib.sha256(f"{len(worked)}:{worked}{change}".encode()).hexdigest()


def own_answer(actor: User, round_: Round) -> RetrospectiveAnswer | None:
    """The actor's answer to the round's retrospective, anonymous or not (found by its voter key)."""
    return db.session.scalar(
        select(RetrospectiveAnswer).where(
            RetrospectiveAnswer.round_id == round_.id, RetrospectiveAnswer.voter_key == voter_key(round_.id, actor.id)
        )
    )


def next_round_opened(round_: Round) -> bool:
    """Whether a later round of the circle has opened (for proposals or beyond): answers are then final."""
    later = db.session.scalar(
        select(Round.id)
        .where(Round.circle_id == round_.circle_id, Round.id > round_.id, Round.phase.not_in(NOT_OPEN))
        .limit(1)
    )
    return later is not None


def _check(data: RetrospectiveInput) -> RetrospectiveInput:
    errors: dict[str, list[str]] = {}
    for name, value in (("fairness", data.fairness), ("effort", data.effort)):
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 5:
            errors[name] = [gettext("Choose a rating from 1 to 5.")]
    worked, change = data.worked.strip(), data.change.strip()
    for name, text in (("worked", worked), ("change", change)):
        if len(text) > MAX_TEXT:
            errors[name] = [gettext("At most %(most)s characters.", most=MAX_TEXT)]
    if errors:
        first = next(iter(errors))
        raise ValidationFailed(errors[first][0], fields=errors)
    return RetrospectiveInput(worked, change, data.fairness, data.effort, bool(data.anonymous))


def answer_retrospective(actor: User, round_: Round, data: RetrospectiveInput, now: datetime) -> RetrospectiveAnswer:
    """A member of the round's circle answers its retrospective, or changes their answer.

    Only once the round is closed; once per member (anonymous answers too, through the voter key); an answer can be
    changed, and made anonymous or named, until the circle's next round opens.

    The ledger entry has the round, the ratings and the hash of the texts. For an anonymous answer its actor is None
    and its data says `anonymous`: the ledger's actor is the only place an entry names a person, and "nobody in
    particular" is the truth the entry can tell without undoing the anonymity (None elsewhere is the clock or the
    system; the entry's `anonymous` says which it is here).

    :raises PermissionDenied: unless the actor is a member of the round's circle.
    :raises Conflict: before the round is closed, or once the next round has opened.
    :raises ValidationFailed: for a rating outside 1-5 or a text over 2000 characters.
    """
    lock(round_)
    circle: Circle = round_.circle
    if membership_of(actor, circle) is None:
        raise PermissionDenied(gettext("Only the circle's members can answer its retrospective."))
    if round_.phase != "closed":
        raise Conflict(gettext("The retrospective opens once the round is closed."))
    clean = _check(data)
    answer = own_answer(actor, round_)
    if answer is not None and next_round_opened(round_):
        raise Conflict(
            gettext("The circle's next round has opened: answers to this retrospective can no longer change.")
        )
    if answer is None:
        answer = RetrospectiveAnswer(round_id=round_.id, voter_key=voter_key(round_.id, actor.id), created_at=now)
        db.session.add(answer)
        action = "retrospective.answered"
    else:
        action = "retrospective.changed"
    answer.anonymous = clean.anonymous
    answer.user_id = None if clean.anonymous else actor.id
    answer.worked, answer.change = clean.worked, clean.change
    answer.fairness, answer.effort = clean.fairness, clean.effort
    answer.updated_at = now
    record(
        action,
        actor=None if clean.anonymous else actor,
        circle_id=round_.circle_id,
        subject=answer,
        data={
            "round": round_.id,
            "fairness": clean.fairness,
            "effort": clean.effort,
            "texts_sha256": _texts_hash(clean.worked, clean.change),
            "anonymous": clean.anonymous,
        },
        at=now,
    )
    return answer


def answers_of(round_: Round) -> list[RetrospectiveAnswer]:
    return list(
        db.session.scalars(
            select(RetrospectiveAnswer)
            .where(RetrospectiveAnswer.round_id == round_.id)
            .order_by(RetrospectiveAnswer.created_at, RetrospectiveAnswer.id)
        )
    )


def summary_of(round_: Round) -> Summary:
    """The round's retrospective summarised; names only on answers that are not anonymous."""
    return summarise(
        [
            Answer(
                worked=row.worked,
                change=row.change,
                fairness=row.fairness,
                effort=row.effort,
                name=None if row.anonymous or row.user is None else row.user.name,
            )
            for row in answers_of(round_)
        ]
    )


def last_retrospective(circle: Circle) -> tuple[Round, Summary] | None:
    """The circle's most recently closed round that has retrospective answers, and their summary: what the next
    round's form shows."""
    round_ = db.session.scalar(
        select(Round)
        .where(
            Round.circle_id == circle.id,
            Round.phase == "closed",
            select(RetrospectiveAnswer.id).where(RetrospectiveAnswer.round_id == Round.id).exists(),
        )
        .order_by(Round.phase_changed_at.desc(), Round.id.desc())
        .limit(1)
    )
    return (round_, summary_of(round_)) if round_ is not None else None
