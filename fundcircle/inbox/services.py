"""The inbox's use cases: a person's notices (paged, marked read), what is their turn to do now, and reminders.

"Your turn" is read from the state, never from the notices: an item is there while the thing waits for the person
and gone once it is done (the ballot cast, the question answered, the payout approved), whatever was or was not
sent. Each kind of item is one bounded query over the person's circles, whatever their number, so a page that lists
them costs the same dozen queries for one item as for a hundred.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from flask_babel import gettext, ngettext
from sqlalchemy import Select, and_, exists, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from fundcircle import unit_of_work
from fundcircle.auth.models import User
from fundcircle.auth.services import normalise_email
from fundcircle.circles.models import Circle, Membership, MembershipRole
from fundcircle.circles.services import require_role
from fundcircle.consent.models import ConsentAnswer, ConsentRound
from fundcircle.consent.rules import STOPPING
from fundcircle.db import lock
from fundcircle.deliberation.models import Comment
from fundcircle.errors import Conflict, RateLimited, ValidationFailed
from fundcircle.extensions import db
from fundcircle.i18n import lazy_gettext, moment_text
from fundcircle.inbox.models import Notification, RoundReminder
from fundcircle.ledger.record import record
from fundcircle.mail import external_url
from fundcircle.notices import queue_notices
from fundcircle.payouts.models import Payout
from fundcircle.payouts.services import approval_refusal
from fundcircle.phrases import N_
from fundcircle.proposals.authorship import authored_by, proposal_authors
from fundcircle.proposals.models import Proposal, ProposalVersion
from fundcircle.rounds.models import Round
from fundcircle.rounds.words import phase_word
from fundcircle.voting.models import Ballot
from fundcircle.voting.services import circle_members

#: A page of the inbox holds at most this many notices.
MAX_PAGE = 200
#: A facilitator may remind the undecided of a round at most this often (server-enforced, see remind_undecided).
MANUAL_REMINDER_INTERVAL = timedelta(hours=1)
#: How long a paid payout stays in its author's and payee's "your turn" (to check the money arrived).
PAID_SHOWN_FOR = timedelta(days=7)
#: The phases of a round in which people have something to do, in order.
ACTIVE_PHASES = ("proposals", "deliberation", "deciding")
#: Payout statuses that need a treasurer: failed, held against the ledger, or rejected on Open Collective.
NEEDS_TREASURER = ("failed", "held", "rejected")
#: What the treasurers' item says of each, whole sentences (marked here, said with gettext).
NEEDS_TREASURER_WORDS = {
    "failed": N_("Payout %(id)d for “%(title)s” failed: retry or cancel it."),
    "held": N_("Payout %(id)d for “%(title)s” was held: it disagrees with the ledger: retry or cancel it."),
    "rejected": N_("Payout %(id)d for “%(title)s” was rejected: retry or cancel it."),
}


def _path(endpoint: str, **values: Any) -> str:
    """A page's path on this site, built without a request (the API, the page and a command alike)."""
    adapter = current_app.url_map.bind("localhost", script_name=current_app.config.get("APPLICATION_ROOT") or "/")
    return str(adapter.build(endpoint, values))


# --- notices ------------------------------------------------------------------------------------------------------


def notifications_page(user: User, *, before: int | None, limit: int) -> list[Notification]:
    """The person's notices, newest first, from before the notice `before` (None: from the newest); keyset paged
    on the (user_id, id) index."""
    query = select(Notification).where(Notification.user_id == user.id)
    if before is not None:
        query = query.where(Notification.id < before)
    return list(db.session.scalars(query.order_by(Notification.id.desc()).limit(min(limit, MAX_PAGE))))


def mark_read(actor: User, *, ids: list[int] | None, everything: bool, now: datetime) -> int:
    """Mark the actor's own notices read: those of `ids`, or all of them. Returns how many were unread. Ids that are
    not the actor's are refused as a whole (nothing changes), so nobody learns or touches another's notices.

    :raises ValidationFailed: for neither or both of `ids` and `everything`, or an id not among the actor's notices.
    """
    if everything == (ids is not None):
        raise ValidationFailed(gettext("Give either the ids of the notices to mark read, or all: true."), field="ids")
    where: list[Any] = [Notification.user_id == actor.id, Notification.read_at.is_(None)]
    if ids is not None:
        wanted = set(ids)
        mine = set(
            db.session.scalars(
                select(Notification.id).where(Notification.user_id == actor.id, Notification.id.in_(wanted))
            )
        )
        if unknown := sorted(wanted - mine):
            raise ValidationFailed(
                gettext(
                    "These are not notices of yours: %(ids)s. Nothing was marked.",
                    ids=", ".join(str(i) for i in unknown),
                ),
                field="ids",
            )
        where.append(Notification.id.in_(wanted))
    marked = len(
        db.session.execute(
            update(Notification).where(*where).values(read_at=now).returning(Notification.id),
            execution_options={"synchronize_session": False},
        ).all()
    )
    if marked:
        record(
            "inbox.marked_read",
            actor=actor,
            circle_id=None,
            data={"count": marked, "all": everything},
            at=now,
        )
    db.session.flush()
    return marked


# --- your turn ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TurnItem:
    """Something waiting for the person now: what, where, in words, and the page where they do it."""

    kind: str
    circle_id: int
    text: str
    url: str
    #: When it stops waiting, where that is known (the deadline of the phase).
    due_at: datetime | None = None


TURN_KINDS = (
    "round.open_for_proposals",
    "round.ballot_to_cast",
    "consent.answer_to_give",
    "proposal.question_to_answer",
    "proposal.objection_to_integrate",
    "payout.approval_waiting",
    "payout.needs_treasurer",
    "payout.yours_invited",
    "payout.yours_paid",
)


def _current_version_join() -> Any:
    return and_(ProposalVersion.proposal_id == Proposal.id, ProposalVersion.number == Proposal.current_version)


def your_turn(user: User, now: datetime, *, circle_id: int | None = None) -> list[TurnItem]:
    """What is the person's turn to do now, in their circles (or in one), from the state: rounds open for proposals
    (community and circle members), ballots to cast and consent rounds to answer (circle members who have not),
    questions on their proposals to answer, objections on them to integrate, payouts awaiting their approval (those
    treasurers whom `payouts.services.approval_refusal` lets approve), payouts that failed, were held or rejected
    (treasurers), and their own payouts invited or recently paid (author and payee). A bounded number of queries."""
    memberships = db.session.scalars(
        select(Membership).where(Membership.user_id == user.id, *_in_circle(Membership.circle_id, circle_id))
    ).all()
    roles = {membership.circle_id: membership.roles for membership in memberships}
    if not roles:
        return []
    circles = list(roles)
    items: list[TurnItem] = []
    rounds = db.session.scalars(
        select(Round).where(Round.circle_id.in_(circles), Round.phase.in_(ACTIVE_PHASES)).order_by(Round.id)
    ).all()
    phase_of = {round_.id: round_.phase_at(now) for round_ in rounds}
    items += _proposal_calls(user, rounds, phase_of, roles)
    items += _ballots_to_cast(user, rounds, phase_of, roles)
    items += _consent_to_answer(user, rounds, phase_of, roles)
    items += _questions_to_answer(user, circles, now)
    items += _objections_to_integrate(user, circles)
    treasurer_of = [circle for circle, held in roles.items() if "treasurer" in held]
    items += _approvals_waiting(user, treasurer_of)
    items += _payouts_needing_treasurer(treasurer_of)
    items += _my_payouts(user, circles, now)
    return items


def _in_circle(column: Any, circle_id: int | None) -> list[Any]:
    return [column == circle_id] if circle_id is not None else []


def _proposal_calls(
    user: User, rounds: Any, phase_of: dict[int, str], roles: dict[int, frozenset[str]]
) -> list[TurnItem]:
    open_rounds = [r for r in rounds if phase_of[r.id] == "proposals" and roles[r.circle_id] & {"member", "circle"}]
    if not open_rounds:
        return []
    proposed = set(
        db.session.scalars(
            select(Proposal.round_id).where(
                authored_by(user.id),
                Proposal.round_id.in_([r.id for r in open_rounds]),
                Proposal.status == "submitted",
            )
        )
    )
    return [
        TurnItem(
            "round.open_for_proposals",
            r.circle_id,
            gettext("“%(title)s” is open for proposals: write yours.", title=r.title),
            _path("proposals.create", round_id=r.id),
            r.proposals_close_at,
        )
        for r in open_rounds
        if r.id not in proposed
    ]


def _ballots_to_cast(
    user: User, rounds: Any, phase_of: dict[int, str], roles: dict[int, frozenset[str]]
) -> list[TurnItem]:
    voting = [
        r for r in rounds if r.method == "quadratic" and phase_of[r.id] == "deciding" and "circle" in roles[r.circle_id]
    ]
    if not voting:
        return []
    cast = set(
        db.session.scalars(
            select(Ballot.round_id).where(Ballot.user_id == user.id, Ballot.round_id.in_([r.id for r in voting]))
        )
    )
    return [
        TurnItem(
            "round.ballot_to_cast",
            r.circle_id,
            gettext("Cast your ballot in “%(title)s”.", title=r.title),
            _path("voting.ballot", round_id=r.id),
            r.deciding_close_at,
        )
        for r in voting
        if r.id not in cast
    ]


def _consent_to_answer(
    user: User, rounds: Any, phase_of: dict[int, str], roles: dict[int, frozenset[str]]
) -> list[TurnItem]:
    deciding = {
        r.id: r
        for r in rounds
        if r.method == "consent" and phase_of[r.id] == "deciding" and "circle" in roles[r.circle_id]
    }
    if not deciding:
        return []
    answered = exists().where(ConsentAnswer.consent_round_id == ConsentRound.id, ConsentAnswer.user_id == user.id)
    rows = db.session.execute(
        select(ConsentRound.id, ConsentRound.round_id, ProposalVersion.title)
        .join(
            ProposalVersion,
            and_(
                ProposalVersion.proposal_id == ConsentRound.proposal_id, ProposalVersion.number == ConsentRound.version
            ),
        )  # fmt: skip
        .where(ConsentRound.round_id.in_(list(deciding)), ConsentRound.closed_at.is_(None), ~answered)
        .order_by(ConsentRound.id)
    ).all()
    return [
        TurnItem(
            "consent.answer_to_give",
            deciding[row.round_id].circle_id,
            gettext("Answer the consent round on “%(title)s”.", title=row.title),
            _path("consent.view", consent_round_id=row.id),
            deciding[row.round_id].deciding_close_at,
        )
        for row in rows
    ]


def _questions_to_answer(user: User, circles: list[int], now: datetime) -> list[TurnItem]:
    rows = db.session.execute(
        select(Proposal.id, Round.circle_id, Round.deliberation_close_at, ProposalVersion.title, func.count(Comment.id))
        .join(Round, Round.id == Proposal.round_id)
        .join(ProposalVersion, _current_version_join())
        .join(Comment, Comment.proposal_id == Proposal.id)
        .where(
            authored_by(user.id),
            Proposal.status == "submitted",
            Round.circle_id.in_(circles),
            Round.phase.in_(("proposals", "deliberation")),
            Comment.is_question.is_(True),
            Comment.answered_at.is_(None),
            Comment.deleted_at.is_(None),
            Comment.hidden_at.is_(None),
            Comment.author_id != user.id,
        )
        .group_by(Proposal.id, Round.circle_id, Round.deliberation_close_at, ProposalVersion.title)
        .order_by(Proposal.id)
    ).all()
    return [
        TurnItem(
            "proposal.question_to_answer",
            row.circle_id,
            ngettext(
                "%(num)d question on your proposal “%(title)s” to answer.",
                "%(num)d questions on your proposal “%(title)s” to answer.",
                row[4],
                title=row.title,
            ),
            _path("proposals.view", proposal_id=row.id),
            row.deliberation_close_at,
        )
        for row in rows
        # Answering ends with the discussion: the stored phase may lag behind a deadline that passed.
        if row.deliberation_close_at is None or row.deliberation_close_at > now
    ]


def _objections_to_integrate(user: User, circles: list[int]) -> list[TurnItem]:
    stopping = or_(
        *(
            and_(Round.consent_rules == rules, ConsentAnswer.position == position)
            for rules, position in STOPPING.items()
        )
    )
    rows = db.session.execute(
        select(ConsentRound.id, Round.circle_id, ProposalVersion.title, func.count())
        .join(Round, Round.id == ConsentRound.round_id)
        .join(Proposal, Proposal.id == ConsentRound.proposal_id)
        .join(
            ProposalVersion,
            and_(
                ProposalVersion.proposal_id == ConsentRound.proposal_id, ProposalVersion.number == ConsentRound.version
            ),
        )  # fmt: skip
        .join(ConsentAnswer, ConsentAnswer.consent_round_id == ConsentRound.id)
        .where(
            authored_by(user.id),
            Round.circle_id.in_(circles),
            ConsentRound.closed_at.is_(None),
            ConsentAnswer.withdrawn_at.is_(None),
            ConsentAnswer.lapsed_at.is_(None),
            stopping,
        )
        .group_by(ConsentRound.id, Round.circle_id, ProposalVersion.title)
        .order_by(ConsentRound.id)
    ).all()
    return [
        TurnItem(
            "proposal.objection_to_integrate",
            row.circle_id,
            ngettext(
                "%(num)d objection to your proposal “%(title)s” to integrate.",
                "%(num)d objections to your proposal “%(title)s” to integrate.",
                row[3],
                title=row.title,
            ),
            _path("consent.view", consent_round_id=row.id),
        )
        for row in rows
    ]


def _payout_titles(payouts: list[Payout]) -> dict[int, str]:
    """The payouts' proposals loaded into the session (approval_refusal reads each by id, from the identity map
    then) and their titles, in one query."""
    if not payouts:
        return {}
    rows = db.session.execute(
        select(Proposal, ProposalVersion.title)
        .join(ProposalVersion, _current_version_join())
        .where(Proposal.id.in_([payout.proposal_id for payout in payouts]))
    ).all()
    return {proposal.id: title for proposal, title in rows}


def _approvals_waiting(user: User, treasurer_of: list[int]) -> list[TurnItem]:
    if not treasurer_of:
        return []
    payouts = list(
        db.session.scalars(
            select(Payout)
            .options(selectinload(Payout.approvals))
            .where(Payout.circle_id.in_(treasurer_of), Payout.status == "awaiting_approval")
            .order_by(Payout.id)
        )
    )
    titles = _payout_titles(payouts)
    return [
        TurnItem(
            "payout.approval_waiting",
            payout.circle_id,
            gettext(
                "Payout %(id)d for “%(title)s” awaits your approval.",
                id=payout.id,
                title=titles.get(payout.proposal_id, ""),
            ),
            _path("payouts.view", payout_id=payout.id),
        )
        for payout in payouts
        if approval_refusal(user, payout) is None
    ]


def _payouts_needing_treasurer(treasurer_of: list[int]) -> list[TurnItem]:
    if not treasurer_of:
        return []
    payouts = list(
        db.session.scalars(
            select(Payout)
            .where(Payout.circle_id.in_(treasurer_of), Payout.status.in_(NEEDS_TREASURER))
            .order_by(Payout.id)
        )
    )
    titles = _payout_titles(payouts)
    return [
        TurnItem(
            "payout.needs_treasurer",
            payout.circle_id,
            gettext(NEEDS_TREASURER_WORDS[payout.status], id=payout.id, title=titles.get(payout.proposal_id, "")),
            _path("payouts.view", payout_id=payout.id),
        )
        for payout in payouts
    ]


def _my_payouts(user: User, circles: list[int], now: datetime) -> list[TurnItem]:
    rows = db.session.execute(
        select(Payout, ProposalVersion.title)
        .join(Proposal, Proposal.id == Payout.proposal_id)
        .join(ProposalVersion, _current_version_join())
        .where(
            Payout.circle_id.in_(circles),
            or_(authored_by(user.id), func.lower(Payout.payee_email) == normalise_email(user.email)),
            or_(
                Payout.status == "invited",
                and_(Payout.status == "paid", Payout.status_changed_at > now - PAID_SHOWN_FOR),
            ),
        )
        .order_by(Payout.id)
    ).all()
    items = []
    for payout, title in rows:
        if payout.status == "invited":
            text = gettext(
                "Open Collective invited the payee of “%(title)s”: accept the invitation there to be paid.", title=title
            )
            kind = "payout.yours_invited"
        else:
            text = gettext("The payout for “%(title)s” was paid.", title=title)
            kind = "payout.yours_paid"
        items.append(TurnItem(kind, payout.circle_id, text, _path("payouts.view", payout_id=payout.id)))
    return items


# --- reminders ----------------------------------------------------------------------------------------------------


def people_with_something_to_do(round_: Round, phase: str) -> Select[Any]:
    """The user ids of those who still have something to do in the round's `phase`: in proposals, its community
    and circle members without a submitted proposal; in deliberation, the authors with a question on their
    proposal unanswered; in deciding, the circle members who have not cast a ballot
    (quadratic) or not answered every open consent round (consent)."""
    if phase == "proposals":
        return (
            select(Membership.user_id)
            .join(MembershipRole, MembershipRole.membership_id == Membership.id)
            .where(Membership.circle_id == round_.circle_id, MembershipRole.role.in_(("member", "circle")))
            .where(
                ~exists().where(
                    Proposal.round_id == round_.id,
                    authored_by(Membership.user_id),
                    Proposal.status == "submitted",
                )
            )
            .distinct()
        )
    if phase == "deliberation":
        authors = proposal_authors()
        return (
            select(authors.c.user_id)
            .join(Proposal, Proposal.id == authors.c.proposal_id)
            .join(Comment, Comment.proposal_id == Proposal.id)
            .where(
                Proposal.round_id == round_.id,
                Proposal.status == "submitted",
                Comment.is_question.is_(True),
                Comment.answered_at.is_(None),
                Comment.deleted_at.is_(None),
                Comment.hidden_at.is_(None),
            )
            .distinct()
        )
    members = circle_members(round_.circle_id)
    if round_.method == "quadratic":
        return members.where(~exists().where(Ballot.round_id == round_.id, Ballot.user_id == Membership.user_id))
    unanswered = (
        select(ConsentRound.id)
        .where(ConsentRound.round_id == round_.id, ConsentRound.closed_at.is_(None))
        .where(
            ~exists().where(
                ConsentAnswer.consent_round_id == ConsentRound.id, ConsentAnswer.user_id == Membership.user_id
            )
        )
    )
    return members.where(unanswered.exists())


WHAT_TO_DO = {
    "proposals": lazy_gettext("write a proposal"),
    "deliberation": lazy_gettext("answer the questions on your proposal"),
    "deciding": lazy_gettext("cast your ballot"),
}


def _what_to_do(round_: Round, phase: str) -> str:
    if phase == "deciding" and round_.method == "consent":
        return gettext("answer the consent rounds")
    return str(WHAT_TO_DO[phase])


def _send_reminders(round_: Round, phase: str, recipients: list[User], *, kind: str, closes: datetime | None) -> None:
    """Remind `recipients`, each in their language (the notices write the words once per language and zone)."""
    link = external_url("rounds.view", round_id=round_.id)
    circle = round_.circle

    def subject() -> str:
        if closes is None:
            return gettext("Reminder: %(title)s: %(todo)s", title=round_.title, todo=_what_to_do(round_, phase))
        return gettext(
            "Reminder: %(title)s: %(todo)s before %(deadline)s",
            title=round_.title,
            todo=_what_to_do(round_, phase),
            deadline=moment_text(closes, circle.time_zone),
        )

    def body() -> str:
        values = {
            "title": round_.title,
            "circle": circle.name,
            "phase": phase_word(phase),
            "todo": _what_to_do(round_, phase),
        }
        if closes is None:
            said = gettext(
                "The round “%(title)s” of %(circle)s is %(phase)s, and you still have something to do: %(todo)s.",
                **values,
            )
        else:
            said = gettext(
                "The round “%(title)s” of %(circle)s is %(phase)s, and you still have something to do: %(todo)s "
                "before %(deadline)s.",
                deadline=moment_text(closes, circle.time_zone),
                **values,
            )
        return f"{said}\n\n{link}\n"

    queue_notices(recipients, subject, body, kind=kind, circle_id=round_.circle_id, url=link)


def send_deadline_reminders(now: datetime) -> int:
    """For each round whose current phase ends within its `remind_before_hours`, remind once the people who still
    have something to do in it (people_with_something_to_do). Each deadline is reminded of once: a row per round,
    phase and deadline, whose UNIQUE constraint refuses a second run (or one at the same moment); moving the
    deadline makes a new one. Each round's reminder is committed on its own, with its ledger entry. Returns the
    number of reminders sent."""
    candidates = db.session.scalars(
        select(Round).where(Round.phase.in_(ACTIVE_PHASES), Round.remind_before_hours > 0).order_by(Round.id)
    ).all()
    due: list[tuple[int, str, datetime]] = []
    for round_ in candidates:
        phase = round_.phase_at(now)
        deadline = round_.deadline_of(phase) if phase in ACTIVE_PHASES else None
        if deadline is not None and deadline - timedelta(hours=round_.remind_before_hours) <= now < deadline:
            due.append((round_.id, phase, deadline))
    db.session.rollback()
    sent = 0
    for round_id, phase, deadline in due:
        round_ = lock(db.session.get_one(Round, round_id))
        if round_.phase_at(now) != phase or round_.deadline_of(phase) != deadline:
            db.session.rollback()  # moved meanwhile: the next run sees it as it is
            continue
        reminder = RoundReminder(round_id=round_.id, kind="deadline", phase=phase, deadline_at=deadline, sent_at=now)
        try:
            with db.session.begin_nested():
                db.session.add(reminder)
        except IntegrityError:
            db.session.rollback()  # reminded already
            continue
        recipients = list(
            db.session.scalars(
                select(User).where(User.id.in_(people_with_something_to_do(round_, phase))).order_by(User.id)
            )
        )
        reminder.recipients = len(recipients)
        _send_reminders(round_, phase, recipients, kind="round.deadline_reminder", closes=deadline)
        record(
            "round.deadline_reminder_sent",
            actor=None,
            circle_id=round_.circle_id,
            subject=round_,
            data={"phase": phase, "deadline": deadline.isoformat(), "recipients": len(recipients)},
            at=now,
        )
        unit_of_work.commit()  # and then the notices
        sent += 1
    return sent


def last_manual_reminder(round_: Round) -> RoundReminder | None:
    return db.session.scalars(
        select(RoundReminder)
        .where(RoundReminder.round_id == round_.id, RoundReminder.kind == "manual")
        .order_by(RoundReminder.sent_at.desc(), RoundReminder.id.desc())
        .limit(1)
    ).first()


def next_manual_reminder_at(round_: Round) -> datetime | None:
    """When a facilitator may next remind the undecided (None: now)."""
    last = last_manual_reminder(round_)
    return last.sent_at + MANUAL_REMINDER_INTERVAL if last is not None else None


def remind_undecided(actor: User, round_: Round, now: datetime) -> int:
    """The facilitator (an admin of the circle) reminds the circle members who have not voted, or not answered
    every open consent round, while the round is deciding; at most once an hour per round. Returns how many were
    reminded.

    :raises PermissionDenied: unless the actor is the circle's admin.
    :raises Conflict: unless the round is deciding, or when everybody has voted or answered.
    :raises RateLimited: within an hour of the round's last such reminder.
    """
    # The round's row serialises two facilitators clicking at once: the second sees the first's reminder.
    circle = lock(db.session.get_one(Circle, round_.circle_id))
    require_role(actor, circle, "admin")
    round_ = lock(round_)
    phase = round_.phase_at(now)
    if phase != "deciding":
        raise Conflict(
            gettext(
                "Reminders to decide go out while the round is deciding; it is %(phase)s.",
                phase=phase_word(phase),
            )
        )
    following = next_manual_reminder_at(round_)
    if following is not None and following > now:
        raise RateLimited(
            gettext(
                "A reminder went out at %(sent)s; the next one can be sent from %(next)s.",
                sent=moment_text(following - MANUAL_REMINDER_INTERVAL, circle.time_zone),
                next=moment_text(following, circle.time_zone),
            ),
            retry_after_seconds=max(1, int((following - now).total_seconds())),
        )
    recipients = list(
        db.session.scalars(
            select(User).where(User.id.in_(people_with_something_to_do(round_, phase))).order_by(User.id)
        )
    )
    if not recipients:
        raise Conflict(gettext("Every circle member has decided: there is nobody to remind."))
    db.session.add(
        RoundReminder(
            round_id=round_.id, kind="manual", phase=phase, sent_at=now, sent_by_id=actor.id, recipients=len(recipients)
        )
    )
    _send_reminders(round_, phase, recipients, kind="round.facilitator_reminder", closes=round_.deciding_close_at)
    record(
        "round.reminder_sent",
        actor=actor,
        circle_id=round_.circle_id,
        subject=round_,
        data={"phase": phase, "recipients": len(recipients)},
        at=now,
    )
    db.session.flush()
    return len(recipients)
