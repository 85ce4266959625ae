"""Rotating circles: an admin opens a call for volunteers, members volunteer until it closes, and the draw (by the
admin after the close, or the worker's tick) chooses the next deciding members by sortition (circles/sortition.py).

The chosen get the "circle" role for their term; those whose term ended lose it; every change is in the ledger in
the same transaction. Services flush and never commit."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask_babel import gettext
from sqlalchemy import func, select

from fundcircle.auth.models import User
from fundcircle.circles import sortition
from fundcircle.circles.models import Circle, Membership, RotationCall, RotationTerm, RotationVolunteer
from fundcircle.circles.services import _roles_now, _set_roles, check_roles, circle_role_lost, membership_of
from fundcircle.db import lock
from fundcircle.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from fundcircle.extensions import db
from fundcircle.ledger.models import LedgerChain, LedgerEntry
from fundcircle.ledger.record import record

MAX_SEATS = 50
MAX_TERM_DAYS = 3650
MAX_TERM_ROUNDS = 12
#: The newcomers' shares an admin may choose from: none, or at least a third, half or all of the picks.
NEWCOMER_SHARES = (0, 34, 50, 100)


@dataclass(frozen=True)
class CallInput:
    """A call's settings: the term is `term_days` or `term_rounds` (the circle's rounds closed after the draw)."""

    seats: int
    term_days: int | None
    closes_at: datetime
    newcomer_share_percent: int = 0
    term_rounds: int | None = None


def _require_admin(actor: User, circle: Circle) -> None:
    if "admin" not in _roles_now(circle, actor.id):
        raise PermissionDenied(gettext("Only a circle's admins can do this."))


def open_call(circle: Circle) -> RotationCall | None:
    """The circle's call that has not been drawn yet, if any."""
    return db.session.scalar(
        select(RotationCall)
        .where(RotationCall.circle_id == circle.id, RotationCall.drawn_at.is_(None))
        .execution_options(populate_existing=True)
    )


def last_draw(circle: Circle) -> RotationCall | None:
    return db.session.scalar(
        select(RotationCall)
        .where(RotationCall.circle_id == circle.id, RotationCall.drawn_at.is_not(None))
        .order_by(RotationCall.drawn_at.desc(), RotationCall.id.desc())
        .limit(1)
    )


def serving_terms(circle: Circle) -> list[RotationTerm]:
    """The terms that run now, soonest ending first."""
    return list(
        db.session.scalars(
            select(RotationTerm)
            .where(RotationTerm.circle_id == circle.id, RotationTerm.ended_at.is_(None))
            # Terms in days by their end, then terms in rounds by the rounds still to close: the same order on both
            # databases (they sort NULLs differently, so no NULL is left to the sort).
            .order_by(
                RotationTerm.ends_at.is_(None),
                RotationTerm.ends_at,
                (func.coalesce(RotationTerm.term_rounds, 0) - RotationTerm.rounds_closed),
                RotationTerm.user_id,
            )
        )
    )


def open_volunteer_call(actor: User, circle: Circle, data: CallInput, now: datetime) -> RotationCall:
    """An admin opens a call; its seed is the circle's ledger head hash now, written in the opening entry.

    :raises PermissionDenied: unless the actor is the circle's admin.
    :raises Conflict: while another call of the circle is open.
    :raises ValidationFailed: for seats, a term or a close time out of range.
    """
    lock(circle)
    _require_admin(actor, circle)
    if open_call(circle) is not None:
        raise Conflict(gettext("A call for volunteers is already open: draw it first."))
    if not 1 <= data.seats <= MAX_SEATS:
        raise ValidationFailed(
            gettext("Choose between 1 and %(max)d deciding members to draw.", max=MAX_SEATS), field="seats"
        )
    if (data.term_days is None) == (data.term_rounds is None):
        raise ValidationFailed(
            gettext("Set how long a term lasts: in days or in rounds, one of the two."), field="term_days"
        )
    if data.term_days is not None and not 1 <= data.term_days <= MAX_TERM_DAYS:
        raise ValidationFailed(
            gettext("A term lasts between 1 and %(max)d days.", max=MAX_TERM_DAYS), field="term_days"
        )
    if data.term_rounds is not None and not 1 <= data.term_rounds <= MAX_TERM_ROUNDS:
        raise ValidationFailed(
            gettext("A term lasts between 1 and %(max)d rounds.", max=MAX_TERM_ROUNDS), field="term_rounds"
        )
    if data.newcomer_share_percent not in NEWCOMER_SHARES:
        raise ValidationFailed(
            gettext("Choose one of the shares offered for people new to the role."), field="newcomer_share"
        )
    if data.closes_at.tzinfo is None or data.closes_at <= now:
        raise ValidationFailed(gettext("The call must close in the future."), field="closes_at")
    if data.closes_at > now + timedelta(days=365):
        raise ValidationFailed(gettext("The call must close within a year."), field="closes_at")
    # The head is read after the circle's lock and before the opening entry is appended: the seed is the hash of the
    # entry just before the call's own, which anyone can find in the ledger.
    chain = db.session.scalar(
        select(LedgerChain).where(LedgerChain.circle_id == circle.id).execution_options(populate_existing=True)
    )
    if chain is None:
        raise NotFound(gettext("This circle has no ledger."))
    call = RotationCall(
        circle_id=circle.id,
        opened_by_id=actor.id,
        opened_at=now,
        closes_at=data.closes_at,
        seats=data.seats,
        term_days=data.term_days,
        term_rounds=data.term_rounds,
        newcomer_share_percent=data.newcomer_share_percent,
        seed=chain.head_hash,
    )
    db.session.add(call)
    record(
        "rotation.call_opened",
        actor=actor,
        circle_id=circle.id,
        subject=call,
        data={
            "seats": call.seats,
            **({"term_days": call.term_days} if call.term_days is not None else {"term_rounds": call.term_rounds}),
            "closes_at": call.closes_at.isoformat(),
            "strata": {"newcomer_share_percent": call.newcomer_share_percent},
            "seed": call.seed,
            "seed_is_hash_of_seq": chain.head_seq,
        },
        at=now,
    )
    return call


def _call_taking_volunteers(circle: Circle, now: datetime) -> RotationCall:
    call = open_call(circle)
    if call is None:
        raise Conflict(gettext("There is no open call for volunteers."))
    if now >= call.closes_at:
        raise Conflict(gettext("The call for volunteers has closed."))
    return call


def volunteer(actor: User, circle: Circle, now: datetime) -> RotationVolunteer:
    """A member of the circle volunteers for the open call.

    :raises PermissionDenied: unless the actor is a member of the circle.
    :raises Conflict: with no open call, after it closed, or when they have volunteered already.
    """
    lock(circle)
    if membership_of(actor, circle) is None:
        raise PermissionDenied(gettext("Only the circle's members can do this."))
    call = _call_taking_volunteers(circle, now)
    if any(row.user_id == actor.id for row in call.volunteers):
        raise Conflict(gettext("You have volunteered already."))
    row = RotationVolunteer(call=call, user_id=actor.id, volunteered_at=now)
    db.session.add(row)
    record("rotation.volunteered", actor=actor, circle_id=circle.id, subject=call, data={"user": actor.id}, at=now)
    return row


def withdraw(actor: User, circle: Circle, now: datetime) -> RotationCall:
    """A volunteer takes back their name before the call closes.

    :raises Conflict: with no open call, after it closed, or when they had not volunteered.
    """
    lock(circle)
    if membership_of(actor, circle) is None:
        raise PermissionDenied(gettext("Only the circle's members can do this."))
    call = _call_taking_volunteers(circle, now)
    row = next((row for row in call.volunteers if row.user_id == actor.id), None)
    if row is None:
        raise Conflict(gettext("You had not volunteered."))
    call.volunteers.remove(row)
    record("rotation.withdrew", actor=actor, circle_id=circle.id, subject=call, data={"user": actor.id}, at=now)
    return call


def _drop_circle_role(actor: User | None, circle: Circle, user_id: int, now: datetime) -> None:
    membership = db.session.scalar(
        select(Membership).where(Membership.circle_id == circle.id, Membership.user_id == user_id)
    )
    if membership is None or "circle" not in membership.roles:
        return
    old_roles = check_roles(membership.roles, allow_empty=True)
    new_roles = [role for role in old_roles if role != "circle"]
    if not new_roles:
        new_roles = ["member"]  # the term ends, the membership does not
    _set_roles(membership, new_roles, now)
    data = {"user": user_id, "name": membership.user.name, "from": old_roles, "to": new_roles}
    record("member.roles_changed", actor=actor, circle_id=circle.id, subject=membership, data=data, at=now)
    for receiver in circle_role_lost.receivers():
        receiver(actor, circle, user_id, now)


def term_is_over(term: RotationTerm, now: datetime) -> bool:
    """A term in days is over at its end time; a term in rounds once that many of the circle's rounds have closed."""
    if term.term_rounds is not None:
        return term.rounds_closed >= term.term_rounds
    return term.ends_at is not None and term.ends_at <= now


def end_terms(actor: User | None, circle: Circle, now: datetime, *, keep: frozenset[int] = frozenset()) -> int:
    """End the terms that are over (`term_is_over`): each person loses the "circle" role, unless another term of
    theirs runs on or they are in `keep` (just chosen again). Returns how many terms ended."""
    serving = serving_terms(circle)
    ended = [term for term in serving if term_is_over(term, now)]
    still_serving = {term.user_id for term in serving if not term_is_over(term, now)} | keep
    for term in ended:
        term.ended_at = now
        end = (
            {"ends_at": term.ends_at.isoformat()}
            if term.ends_at is not None
            else {"term_rounds": term.term_rounds, "rounds_closed": term.rounds_closed}
        )
        record(
            "rotation.term_ended",
            actor=actor,
            circle_id=circle.id,
            subject=term,
            data={"user": term.user_id, **end},
            at=now,
        )
        if term.granted_role and term.user_id not in still_serving:
            _drop_circle_role(actor, circle, term.user_id, now)
            still_serving.add(term.user_id)  # once per person
    return len(ended)


def _served_before(circle: Circle, user_ids: list[int]) -> set[int]:
    if not user_ids:
        return set()
    return set(
        db.session.scalars(
            select(RotationTerm.user_id).where(RotationTerm.circle_id == circle.id, RotationTerm.user_id.in_(user_ids))
        )
    )


def draw_call(actor: User | None, circle: Circle, now: datetime) -> RotationCall:
    """Draw the circle's closed call: by an admin (actor) or the worker (None). Ended terms end first, then the
    chosen get the "circle" role for their term; all in the ledger, in this transaction.

    The draw's entry holds every input (algorithm and version, seed, ordered volunteers with who served before,
    seats, the strata rule) and the result, so that `python -m fundcircle.circles.sortition` re-runs it from the
    entry alone. Volunteers who left the circle before the draw are not in it.

    :raises PermissionDenied: unless the actor is the circle's admin.
    :raises Conflict: with no open call, or before it closes.
    """
    lock(circle)
    if actor is not None:
        _require_admin(actor, circle)
    call = open_call(circle)
    if call is None:
        raise Conflict(gettext("There is no open call for volunteers to draw."))
    if now < call.closes_at:
        raise Conflict(gettext("The call is still open: it can be drawn once it closes."))
    member_ids = set(db.session.scalars(select(Membership.user_id).where(Membership.circle_id == circle.id)))
    candidate_ids = sorted(row.user_id for row in call.volunteers if row.user_id in member_ids)
    served = _served_before(circle, candidate_ids)
    volunteers = [sortition.Volunteer(user_id, user_id in served) for user_id in candidate_ids]
    data = sortition.entry_data(call.seed, volunteers, call.seats, call.newcomer_share_percent)
    chosen: list[int] = data["chosen"]
    # Someone chosen again while their drawn term runs keeps a role the rotation gave, and loses it at the new end.
    by_rotation = {term.user_id for term in serving_terms(circle) if term.granted_role}
    end_terms(actor, circle, now, keep=frozenset(chosen))
    ends_at = now + timedelta(days=call.term_days) if call.term_days is not None else None
    if ends_at is not None:
        data["term_ends_at"] = ends_at.isoformat()
    else:
        data["term_rounds"] = call.term_rounds
    call.drawn_at = now
    entry = record("rotation.drawn", actor=actor, circle_id=circle.id, subject=call, data=data, at=now)
    call.draw_seq = entry.seq
    for user_id in chosen:
        membership = db.session.scalar(
            select(Membership).where(Membership.circle_id == circle.id, Membership.user_id == user_id)
        )
        if membership is None:  # the candidates were members when read above; one who left since is refused
            raise Conflict(gettext("Someone drawn left the circle during the draw: nothing was drawn. Draw again."))
        old_roles = check_roles(membership.roles, allow_empty=True)
        granted = "circle" not in old_roles or user_id in by_rotation
        db.session.add(
            RotationTerm(
                circle_id=circle.id,
                call_id=call.id,
                user_id=user_id,
                starts_at=now,
                ends_at=ends_at,
                term_rounds=call.term_rounds,
                rounds_closed=0,
                granted_role=granted,
            )
        )
        if "circle" not in old_roles:
            new_roles = check_roles([*old_roles, "circle"])
            _set_roles(membership, new_roles, now)
            record(
                "member.roles_changed",
                actor=actor,
                circle_id=circle.id,
                subject=membership,
                data={"user": user_id, "name": membership.user.name, "from": old_roles, "to": new_roles},
                at=now,
            )
    db.session.flush()
    return call


def count_closed_round(actor: User | None, circle: Circle, round_id: int, now: datetime) -> int:
    """A round of the circle has closed (by `actor`, or None: the payouts settling): every running term in rounds
    that began before it counts it, and those that have now counted enough end, with their role taken back. Called
    in the transaction that closes the round; returns how many terms ended.

    A round that a reversed payout reopens and that closes again is counted again: each close is one the circle
    went through, and the entries say which round it was."""
    lock(circle)  # as a draw does: two rounds closing at once count one after the other, none lost
    counting = [term for term in serving_terms(circle) if term.term_rounds is not None and term.starts_at <= now]
    if not counting:
        return 0
    for term in counting:
        term.rounds_closed += 1
    record(
        "rotation.round_counted",
        actor=actor,
        circle_id=circle.id,
        data={"round": round_id, "terms": sorted(term.id for term in counting)},
        at=now,
    )
    return end_terms(actor, circle, now)


def draw_due_calls(now: datetime) -> int:
    """The worker's tick: draw every call whose close time has passed, and end every term whose time is up.
    Returns how many calls were drawn. Each circle in its own savepoint, so one failing leaves the others."""
    due = list(
        db.session.scalars(
            select(RotationCall.circle_id)
            .where(RotationCall.drawn_at.is_(None), RotationCall.closes_at <= now)
            .order_by(RotationCall.circle_id)
        )
    )
    ending = set(
        db.session.scalars(
            select(RotationTerm.circle_id).where(RotationTerm.ended_at.is_(None), RotationTerm.ends_at <= now)
        )
    ) - set(due)
    drawn = 0
    for circle_id in sorted(set(due) | ending):
        circle = db.session.get(Circle, circle_id)
        if circle is None:
            continue
        try:
            with db.session.begin_nested():
                if circle_id in due:
                    draw_call(None, circle, now)
                    drawn += 1
                else:
                    end_terms(None, circle, now)
        except Conflict:
            continue
    return drawn


def get_call(circle: Circle, call_id: int) -> RotationCall:
    call = db.session.get(RotationCall, call_id)
    if call is None or call.circle_id != circle.id:
        raise NotFound(gettext("There is no such call for volunteers."))
    return call


def terms_of_call(call: RotationCall) -> list[RotationTerm]:
    return list(db.session.scalars(select(RotationTerm).where(RotationTerm.call_id == call.id)))


def draw_entry_of(circle: Circle, call: RotationCall) -> LedgerEntry | None:
    """The ledger entry of the call's draw (None before the draw)."""
    if call.draw_seq is None:
        return None
    return db.session.scalar(
        select(LedgerEntry)
        .join(LedgerChain, LedgerChain.id == LedgerEntry.chain_id)
        .where(LedgerChain.circle_id == circle.id, LedgerEntry.seq == call.draw_seq)
    )


def entry_json(entry: LedgerEntry) -> str:
    """The entry as the file the sortition command reads (its data holds every input of the draw)."""
    return json.dumps(
        {"seq": entry.seq, "action": entry.action, "hash": entry.hash, "data": entry.data}, indent=2, sort_keys=True
    )


def names_of(circle: Circle, entry: LedgerEntry | None) -> dict[int, str]:
    """The names of the volunteers of a draw, for the page (the entry holds their user ids)."""
    if entry is None:
        return {}
    ids = [int(v["user"]) for v in entry.data.get("volunteers", [])]
    if not ids:
        return {}
    return {user_id: name for user_id, name in db.session.execute(select(User.id, User.name).where(User.id.in_(ids)))}
