"""Use cases for consent decisions: the facilitator opens a consent round on a proposal's current version, circle
members answer (and may change their answer), objectors may withdraw, the facilitator closes it, and a consented
version reserves its amount from the budget at once. Services flush and never commit."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from flask_babel import gettext, ngettext
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from fundcircle.auth.models import User
from fundcircle.circles.models import Circle
from fundcircle.circles.services import circle_role_lost, membership_of, people_holding, require_role
from fundcircle.consent.models import ConsentAnswer, ConsentReaction, ConsentRound
from fundcircle.consent.rules import (
    POSITIONS,
    STOPPING,
    Answer,
    ConsentError,
    ConsentOutcome,
    check_answer,
    consent_outcome,
)
from fundcircle.db import compare_and_set, lock
from fundcircle.deliberation.services import discussion_while_deciding
from fundcircle.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from fundcircle.extensions import db
from fundcircle.i18n import moment_text, money_text, translated
from fundcircle.ledger.record import record
from fundcircle.mail import external_url
from fundcircle.money import format_minor
from fundcircle.proposals.authorship import is_author, proposal_authors
from fundcircle.proposals.models import Proposal, ProposalVersion
from fundcircle.proposals.services import amending_while_deciding, proposal_withdrawn
from fundcircle.rounds.models import Round
from fundcircle.rounds.phases import COUNTING
from fundcircle.rounds.services import deciders, queue_notices_in_their_language
from fundcircle.rounds.words import phase_word
from fundcircle.voting.models import RoundTally
from fundcircle.voting.services import (
    NOT_A_MEMBER,
    CandidateVersion,
    StoredOutcome,
    candidates_of,
    circle_members,
    store_result,
)

MAX_ARGUMENT = 5_000
MAX_ARGUMENT_TEXT = f"{MAX_ARGUMENT:,}"
MAX_REACTION = 500


def _require_consent_deciding(round_: Round, now: datetime) -> None:
    """Consent rounds open, take answers and close while the round really is deciding: once the deciding deadline
    has passed nothing more is decided, though `rounds tick` has not stored the result yet (it closes what is open).
    """
    if round_.method != "consent":
        raise Conflict(gettext("This round decides by quadratic voting, not by consent."))
    phase = round_.phase_at(now)
    if phase == COUNTING and (closed := round_.passed_deadline("deciding", now)) is not None:
        raise Conflict(
            gettext(
                "Deciding closed at %(time)s; nothing was saved. The result will be published when it is counted.",
                time=moment_text(closed, round_.circle.time_zone),
            )
        )
    if phase != "deciding":
        raise Conflict(
            gettext("Consent rounds happen while the round is deciding; it is %(phase)s.", phase=phase_word(phase))
        )


def get_consent_round(consent_round_id: int) -> ConsentRound:
    consent_round = db.session.get(ConsentRound, consent_round_id)
    if consent_round is None:
        raise NotFound(gettext("There is no such consent round."))
    return consent_round


def consent_rounds_of(proposal: Proposal) -> list[ConsentRound]:
    return list(
        db.session.scalars(
            select(ConsentRound).where(ConsentRound.proposal_id == proposal.id).order_by(ConsentRound.id)
        )
    )


@amending_while_deciding.provide("consent")
def check_consent_amendment(proposal: Proposal) -> None:
    """Between consent rounds a proposal may be amended (to integrate an objection), until it is consented.

    :raises Conflict: while a consent round on it is open, or once it is consented.
    """
    history = consent_rounds_of(proposal)
    if any(cr.closed_at is None for cr in history):
        raise Conflict(gettext("A consent round on this version is open: amend once it is closed."))
    if any(cr.outcome == "consented" for cr in history):
        raise Conflict(gettext("This proposal is consented; it cannot change any more."))


def open_consent_round(actor: User, proposal: Proposal, now: datetime) -> ConsentRound:
    """The facilitator (an admin) opens a consent round on the proposal's current version.

    :raises PermissionDenied: unless the actor is an admin of the circle.
    :raises Conflict: outside a deciding consent round (after its deadline too), for a proposal not submitted,
        already consented, or with a consent round still open.
    """
    # The round first, then the proposal (the order every writer takes them in): the phase, the proposal's status
    # and its consent rounds are read as they are now, and cannot change until this transaction ends.
    round_ = lock(proposal.round)
    lock(proposal)
    require_role(actor, round_.circle, "admin")
    _require_consent_deciding(round_, now)
    if proposal.status != "submitted":
        raise Conflict(
            gettext("Only a submitted proposal can be decided; this one is %(status)s.", status=_status(proposal))
        )
    rounds = consent_rounds_of(proposal)
    if any(cr.outcome == "consented" for cr in rounds):
        raise Conflict(gettext("This proposal is consented already."))
    if any(cr.closed_at is None for cr in rounds):
        raise Conflict(gettext("A consent round on this proposal is open already."))
    if any(cr.version == proposal.current_version for cr in rounds):
        raise Conflict(
            gettext(
                "Version %(version)s had its consent round; the author amends the proposal first.",
                version=proposal.current_version,
            )
        )
    version = db.session.scalar(
        select(ProposalVersion).where(
            ProposalVersion.proposal_id == proposal.id, ProposalVersion.number == proposal.current_version
        )
    )
    assert version is not None  # nosec B101  # type narrowing: the current version always exists
    consent_round = ConsentRound(
        round_id=round_.id,
        proposal_id=proposal.id,
        version=proposal.current_version,
        amount_minor=version.amount_minor,
        opened_by_id=actor.id,
        opened_at=now,
    )
    try:
        with db.session.begin_nested():
            db.session.add(consent_round)
    except IntegrityError:
        raise Conflict(gettext("A consent round on this proposal was opened a moment ago.")) from None
    record(
        "consent_round.opened",
        actor=actor,
        circle_id=round_.circle_id,
        subject=consent_round,
        data={"proposal": proposal.id, "version": consent_round.version, "amount_minor": version.amount_minor},
        at=now,
    )
    _tell_deciders_of_consent_round(round_, proposal, version.title)
    return consent_round


def _tell_deciders_of_consent_round(round_: Round, proposal: Proposal, title: str) -> None:
    """The circle's deciders hear that a consent round opened: each is asked to consent or object."""
    link = external_url("proposals.view", proposal_id=proposal.id)

    def opened() -> tuple[str, str]:
        body = gettext(
            "A consent round opened on “%(title)s” in “%(round)s”: consent, or object with a reason.",
            title=title,
            round=round_.title,
        )
        return gettext("Consent round open: “%(title)s”", title=title), f"{body}\n\n{link}\n"

    queue_notices_in_their_language(
        people_holding(round_.circle_id, "circle"),
        round_.circle,
        opened,
        kind="consent.opened",
        circle_id=round_.circle_id,
        url=link,
        round_id=round_.id,
    )


def _lock_rounds(consent_round: ConsentRound) -> Round:
    """Lock the round and then the consent round (the order every writer takes them in: the move to decided holds
    the round while it closes what is open) and read both again; returns the round.

    Every answer, withdrawal and reaction takes these locks before it checks that the consent round is open, and the
    close takes them before it reads the answers, so an objection sent as the facilitator closes is either stored
    before the close (and stops consent) or refused after it."""
    round_ = db.session.get(Round, consent_round.round_id)
    assert round_ is not None  # nosec B101  # type narrowing: a consent round's round is a foreign key
    lock(round_)
    lock(consent_round)
    return round_


def _require_open(consent_round: ConsentRound, now: datetime) -> Round:
    round_ = _lock_rounds(consent_round)
    if consent_round.closed_at is not None:
        raise Conflict(gettext("This consent round is closed."))
    _require_consent_deciding(round_, now)
    return round_


def answer_consent(
    actor: User, consent_round: ConsentRound, position: str, argument: str, now: datetime
) -> ConsentAnswer:
    """A circle member answers, or changes their answer, while the consent round is open. An objection (or block)
    needs a written argument; a concern may have one.

    :raises PermissionDenied: unless the actor is a circle member (role "circle").
    :raises Conflict: if the consent round is closed, or the round's deciding deadline has passed.
    :raises ValidationFailed: for a position the rule set does not have, or a missing argument.
    """
    round_ = db.session.get(Round, consent_round.round_id)
    assert round_ is not None  # nosec B101  # type narrowing: a consent round's round is a foreign key
    require_role(actor, round_.circle, "circle")
    round_ = _require_open(consent_round, now)  # locked and read again
    text = argument.strip()
    if len(text) > MAX_ARGUMENT:
        raise ValidationFailed(
            gettext("Keep the argument to %(most)s characters.", most=MAX_ARGUMENT_TEXT), field="argument"
        )
    try:
        check_answer(round_.consent_rules, position, text)
    except ConsentError as error:
        field = "argument" if "argument" in str(error) else "position"
        raise ValidationFailed(translated(error), field=field) from None
    answer, previous = _answer_row(consent_round, actor, position, text, now)
    record(
        "consent.answered" if previous is None else "consent.answer_changed",
        actor=actor,
        circle_id=round_.circle_id,
        subject=consent_round,
        data={"proposal": consent_round.proposal_id, "version": consent_round.version, "position": position,
              "argument": text, "previous": previous},
        at=now,
    )  # fmt: skip
    return answer


def _answer_row(
    consent_round: ConsentRound, actor: User, position: str, text: str, now: datetime
) -> tuple[ConsentAnswer, str | None]:
    """The member's answer row, set to this answer, and the position it had before (None for a first answer).

    The consent round's lock already makes one member's answers sent at once take turns; the insert of a first
    answer is also in a savepoint, so that if one ever got in first anyway (a second key, a future caller without the
    lock) the answer replaces it instead of failing with a unique violation."""
    for _ in range(2):
        answer = db.session.get(ConsentAnswer, (consent_round.id, actor.id), populate_existing=True)
        if answer is not None:
            previous = answer.position
            answer.position, answer.argument, answer.answered_at, answer.withdrawn_at = position, text, now, None
            answer.lapsed_at = None  # someone who came back to the circle answers afresh
            return answer, previous
        answer = ConsentAnswer(
            consent_round_id=consent_round.id, user_id=actor.id, position=position, argument=text, answered_at=now
        )
        try:
            with db.session.begin_nested():
                db.session.add(answer)
        except IntegrityError:
            continue  # the same member's other answer was stored a moment ago: change that one
        return answer, None
    raise Conflict(gettext("Your answer is being saved from elsewhere at this moment; try again."))


def withdraw_objection(actor: User, consent_round: ConsentRound, now: datetime) -> ConsentAnswer:
    """The objector withdraws their own objection (or block); nobody else can.

    :raises Conflict: if the consent round is closed (or the deciding deadline passed), or the actor has no
        objection open in it.
    """
    round_ = _require_open(consent_round, now)
    answer = db.session.get(ConsentAnswer, (consent_round.id, actor.id))
    if (
        answer is None
        or answer.position != STOPPING[round_.consent_rules]
        or answer.withdrawn_at is not None
        or answer.lapsed_at is not None
    ):
        raise Conflict(gettext("You have no open objection in this consent round."))
    answer.withdrawn_at = now
    record(
        "consent.objection_withdrawn",
        actor=actor,
        circle_id=round_.circle_id,
        subject=consent_round,
        data={"proposal": consent_round.proposal_id, "version": consent_round.version},
        at=now,
    )
    return answer


def add_reaction(actor: User, consent_round: ConsentRound, body: str, now: datetime) -> ConsentReaction:
    """Anyone in the circle shares a short reaction; it decides nothing.

    :raises PermissionDenied: unless the actor is a member of the circle.
    :raises Conflict: if the consent round is closed (or the deciding deadline passed).
    :raises ValidationFailed: for an empty or over-long reaction.
    """
    round_ = _require_open(consent_round, now)
    if membership_of(actor, round_.circle) is None:
        raise PermissionDenied(gettext("Only members of the circle can react."))
    text = body.strip()
    if not text:
        raise ValidationFailed(gettext("Write something first."), field="body")
    if len(text) > MAX_REACTION:
        raise ValidationFailed(
            gettext("Reactions are short: at most %(most)s characters.", most=MAX_REACTION), field="body"
        )
    reaction = ConsentReaction(consent_round_id=consent_round.id, author_id=actor.id, body=text, created_at=now)
    db.session.add(reaction)
    record(
        "consent.reaction_added",
        actor=actor,
        circle_id=round_.circle_id,
        subject=consent_round,
        data={"proposal": consent_round.proposal_id, "body": text},
        at=now,
    )
    return reaction


@dataclass(frozen=True)
class AnswerRow:
    name: str
    user_id: int
    position: str
    argument: str
    answered_at: datetime
    withdrawn_at: datetime | None
    #: The person left the circle while the consent round was open: the answer counts for nothing.
    lapsed_at: datetime | None = None


def answers_of(consent_round: ConsentRound) -> list[AnswerRow]:
    rows = db.session.execute(
        select(ConsentAnswer, User.name)
        .join(User, User.id == ConsentAnswer.user_id)
        .where(ConsentAnswer.consent_round_id == consent_round.id)
        .order_by(ConsentAnswer.answered_at, User.id)
    ).all()
    return [
        AnswerRow(
            name,
            answer.user_id,
            answer.position,
            answer.argument,
            answer.answered_at,
            answer.withdrawn_at,
            answer.lapsed_at,
        )
        for answer, name in rows
    ]


def reactions_of(consent_round: ConsentRound) -> list[tuple[ConsentReaction, str]]:
    rows = db.session.execute(
        select(ConsentReaction, User.name)
        .join(User, User.id == ConsentReaction.author_id)
        .where(ConsentReaction.consent_round_id == consent_round.id)
        .order_by(ConsentReaction.id)
    ).all()
    return [(reaction, name) for reaction, name in rows]


def current_outcome(consent_round: ConsentRound) -> ConsentOutcome:
    """What the answers say now (for an open round), against what the budget has left now. Only the answers of
    the circle's current members count, and the quorum is a share of those same members: an answer of someone who
    left counts for neither, and their objection stops nothing."""
    round_ = db.session.get(Round, consent_round.round_id)
    assert round_ is not None  # nosec B101  # type narrowing: a consent round's round is a foreign key
    members = set(db.session.scalars(circle_members(round_.circle_id)))
    circle_size = len(members)
    answers = [
        Answer(row.user_id, row.position, withdrawn=row.withdrawn_at is not None or row.lapsed_at is not None)
        for row in answers_of(consent_round)
        if row.user_id in members
    ]
    return consent_outcome(
        answers,
        rules=round_.consent_rules,
        circle_size=circle_size,
        quorum_percent=round_.quorum_percent,
        amount_minor=consent_round.amount_minor,
        left_minor=round_.budget_minor - round_.committed_minor,
        currency=round_.currency,
    )


def close_consent_round(
    actor: User | None, consent_round: ConsentRound, now: datetime, *, by: str | None = None
) -> ConsentRound:
    """The facilitator closes a consent round (or the round's deadline does, with `actor` None). A consented version
    reserves its amount in the same transaction, by a conditional update that can never take the committed money
    past the budget, so two proposals consented at the same moment cannot together over-commit the pot.

    :raises PermissionDenied: unless the actor is an admin of the circle.
    :raises Conflict: if it is closed already, or (for the facilitator) the deciding deadline has passed: then the
        deadline closes it, when the round is counted.
    """
    round_ = _lock_rounds(consent_round)
    if actor is not None:
        require_role(actor, round_.circle, "admin")
    if consent_round.closed_at is not None:
        raise Conflict(gettext("This consent round is closed already."))
    if actor is not None and by is None and round_.phase_at(now) == COUNTING:
        _require_consent_deciding(round_, now)  # the deadline closes it, and says so, when the round is counted
    outcome = current_outcome(consent_round)
    consented, reason = outcome.consented, outcome.reason
    proposal = db.session.get(Proposal, consent_round.proposal_id)
    if proposal is None or proposal.status != "submitted":
        consented, reason = False, "the proposal was withdrawn"
    if consented:
        reserved = db.session.execute(
            update(Round)
            .where(Round.id == round_.id, Round.committed_minor + consent_round.amount_minor <= Round.budget_minor)
            .values(committed_minor=Round.committed_minor + consent_round.amount_minor)
            .returning(Round.committed_minor),
            execution_options={"synchronize_session": False},
        ).one_or_none()
        if reserved is None:
            db.session.refresh(round_)
            consented = False
            left = round_.budget_minor - round_.committed_minor
            reason = (
                f"needs {format_minor(consent_round.amount_minor, round_.currency)}, "
                f"{format_minor(left, round_.currency)} left"
            )
        else:
            db.session.refresh(round_)
    compare_and_set(
        consent_round,
        expected=ConsentRound.closed_at.is_(None),
        values={"closed_at": now, "outcome": "consented" if consented else "not_consented", "reason": reason},
        conflict=Conflict(gettext("This consent round was closed a moment ago.")),
    )
    data = {
        "proposal": consent_round.proposal_id,
        "version": consent_round.version,
        "outcome": consent_round.outcome,
        "reason": reason,
        "amount_minor": consent_round.amount_minor,
        "committed_minor": round_.committed_minor,
        "by": by or ("facilitator" if actor is not None else "deadline"),
    }
    members = set(db.session.scalars(circle_members(round_.circle_id)))
    if left := sorted({row.user_id for row in answers_of(consent_round)} - members):
        # The outcome left these answers out (see current_outcome): the entry says so, so that it adds up.
        data["not_counted"] = [{"user": user_id, "reason": NOT_A_MEMBER} for user_id in left]
    record("consent_round.closed", actor=actor, circle_id=round_.circle_id, subject=consent_round, data=data, at=now)
    return consent_round


@deciders.provide("consent")
def decide_consent(actor: User | None, round_: Round, now: datetime) -> None:
    """Close what is still open (the deadline ends it), then store the result: consented proposals are funded for
    the version consented; every other proposal is not, with the reason its last consent round gave.

    :raises Conflict: if the round has a result already.
    """
    if db.session.get(RoundTally, round_.id) is not None:
        raise Conflict(gettext("This round has its result already; a result never changes."))
    for consent_round in db.session.scalars(
        select(ConsentRound).where(ConsentRound.round_id == round_.id, ConsentRound.closed_at.is_(None))
    ).all():
        close_consent_round(actor, consent_round, now, by="decision" if actor is not None else "deadline")
    db.session.refresh(round_)
    all_rounds = db.session.scalars(
        select(ConsentRound).where(ConsentRound.round_id == round_.id).order_by(ConsentRound.id)
    ).all()
    by_proposal: dict[int, list[ConsentRound]] = {}
    for consent_round in all_rounds:
        by_proposal.setdefault(consent_round.proposal_id, []).append(consent_round)
    answer_rows = db.session.execute(
        select(ConsentAnswer.consent_round_id, ConsentAnswer.user_id, ConsentAnswer.position)
        .join(ConsentRound, ConsentRound.id == ConsentAnswer.consent_round_id)
        .where(ConsentRound.round_id == round_.id)
    ).all()
    # Belt and braces with the lapse on leaving: whoever is not a circle member now is not counted at all.
    members = set(db.session.scalars(circle_members(round_.circle_id)))
    not_counted = sorted({user_id for _, user_id, _ in answer_rows if user_id not in members})
    answer_rows = [row for row in answer_rows if row[1] in members]
    consents: dict[int, int] = {}
    for consent_round_id, _, position in answer_rows:
        if position in ("consent", "agree"):
            consents[consent_round_id] = consents.get(consent_round_id, 0) + 1
    funded_rows, other_rows = [], []
    for proposal, current in candidates_of(round_):
        history = by_proposal.get(proposal.id, [])
        consented = next((cr for cr in history if cr.outcome == "consented"), None)
        if consented is not None:
            version = db.session.scalar(
                select(ProposalVersion).where(
                    ProposalVersion.proposal_id == proposal.id, ProposalVersion.number == consented.version
                )
            )
            assert version is not None  # nosec B101  # type narrowing: a consented version exists
            funded_rows.append((consented.closed_at, version, consents.get(consented.id, 0), True, "consented"))
        elif history and history[-1].version != current.number:
            reason = f"not consented: version {current.number} was never put to consent"
            other_rows.append((None, current, 0, False, reason))
        elif history:
            last = history[-1]
            other_rows.append((None, current, consents.get(last.id, 0), False, f"not consented: {last.reason}"))
        else:
            other_rows.append((None, current, 0, False, "not consented: no consent round was held"))
    funded_rows.sort(key=lambda row: (row[0], row[1].proposal_id))
    outcomes = [
        StoredOutcome(CandidateVersion.of(version), score, funded, reason, rank)
        for rank, (_, version, score, funded, reason) in enumerate([*funded_rows, *other_rows], start=1)
    ]
    store_result(
        actor,
        round_,
        now,
        ballots_cast=len({user_id for _, user_id, _ in answer_rows}),
        eligible_voters=len(members),
        quorum_met=True,
        funded_minor=sum(version.amount_minor for _, version, _, _, _ in funded_rows),
        outcomes=outcomes,
        not_counted=[{"user": user_id, "reason": NOT_A_MEMBER} for user_id in not_counted],
    )


@circle_role_lost.connect
def lapse_objections(actor: User | None, circle: Circle, user_id: int, now: datetime) -> None:
    """Someone who stops being a circle member no longer decides: their open objections (or blocks) in the
    circle's open consent rounds lapse, each with its ledger entry, in the transaction that changed their roles."""
    rows = db.session.execute(
        select(ConsentAnswer, ConsentRound, Round.consent_rules)
        .join(ConsentRound, ConsentRound.id == ConsentAnswer.consent_round_id)
        .join(Round, Round.id == ConsentRound.round_id)
        .where(
            Round.circle_id == circle.id,
            ConsentRound.closed_at.is_(None),
            ConsentAnswer.user_id == user_id,
            ConsentAnswer.withdrawn_at.is_(None),
            ConsentAnswer.lapsed_at.is_(None),
        )
        .order_by(ConsentRound.id)
    ).all()
    for answer, consent_round, rules in rows:
        if answer.position != STOPPING[rules]:
            continue
        answer.lapsed_at = now
        record(
            "consent.objection_lapsed",
            actor=actor,
            circle_id=circle.id,
            subject=consent_round,
            data={"proposal": consent_round.proposal_id, "version": consent_round.version, "user": user_id,
                  "position": answer.position, "reason": "no longer a circle member"},
            at=now,
        )  # fmt: skip
    db.session.flush()


@proposal_withdrawn.connect
def release_withdrawn(actor: User, proposal: Proposal, now: datetime) -> None:
    """A proposal withdrawn while deciding: its open consent round closes as not consented, and money a consent
    reserved for it goes back to the pot (in the withdrawal's transaction)."""
    if proposal.round.method != "consent":
        return
    for consent_round in consent_rounds_of(proposal):
        if consent_round.closed_at is None:
            close_consent_round(None, consent_round, now, by="withdrawal")
        elif consent_round.outcome == "consented":
            db.session.execute(
                update(Round)
                .where(Round.id == consent_round.round_id)
                .values(committed_minor=Round.committed_minor - consent_round.amount_minor),
                execution_options={"synchronize_session": False},
            )
            record(
                "consent.reservation_released",
                actor=actor,
                circle_id=proposal.round.circle_id,
                subject=consent_round,
                data={
                    "proposal": proposal.id,
                    "version": consent_round.version,
                    "amount_minor": consent_round.amount_minor,
                },
                at=now,
            )


# --- following the consent phase from the round page -------------------------------------------------------------

#: Where a proposal stands in the consent phase, as the round page shows it.
ProposalConsentState = Literal["not_opened", "open", "consented", "objection", "not_consented", "amended"]


@dataclass(frozen=True)
class ProposalConsentStatus:
    """One proposal of a deciding consent round: where it stands and what is awaited, for the round page."""

    proposal_id: int
    title: str
    author_id: int
    author_name: str
    #: Everyone who authors it (co-authors too): each of them may amend it.
    author_ids: frozenset[int]
    current_version: int
    state: ProposalConsentState
    #: The consent round open now, or the last one held; None before the first.
    consent_round_id: int | None
    #: Circle members (now) who answered that consent round, and how many circle members there are.
    answered: int
    circle_size: int
    #: Whether the person looking has answered the open consent round (False when none is open).
    answered_by_me: bool
    #: The last consent round's reason in words ("1 objection open"), empty before the first.
    reason: str

    @property
    def awaits_amendment(self) -> bool:
        """A closed consent round did not consent this version: only a new version can go to consent again."""
        return self.state in ("objection", "not_consented")


def consent_statuses(round_: Round, viewer: User) -> list[ProposalConsentStatus]:
    """Every submitted proposal of a consent round, in submission order, with its consent state (a constant number
    of queries: the proposals, their consent rounds, the answers of the circle's members)."""
    candidates = candidates_of(round_)
    if not candidates:
        return []
    members = set(db.session.scalars(circle_members(round_.circle_id)))
    history: dict[int, list[ConsentRound]] = {}
    for consent_round in db.session.scalars(
        select(ConsentRound).where(ConsentRound.round_id == round_.id).order_by(ConsentRound.id)
    ):
        history.setdefault(consent_round.proposal_id, []).append(consent_round)
    answered: dict[int, set[int]] = {}
    open_stops: dict[int, int] = {}
    stopping = STOPPING[round_.consent_rules]
    for consent_round_id, user_id, position, withdrawn_at, lapsed_at in db.session.execute(
        select(
            ConsentAnswer.consent_round_id,
            ConsentAnswer.user_id,
            ConsentAnswer.position,
            ConsentAnswer.withdrawn_at,
            ConsentAnswer.lapsed_at,
        )
        .join(ConsentRound, ConsentRound.id == ConsentAnswer.consent_round_id)
        .where(ConsentRound.round_id == round_.id)
    ):
        if user_id in members:
            answered.setdefault(consent_round_id, set()).add(user_id)
            if position == stopping and withdrawn_at is None and lapsed_at is None:
                open_stops[consent_round_id] = open_stops.get(consent_round_id, 0) + 1
    authors = dict(
        db.session.execute(select(User.id, User.name).where(User.id.in_({p.author_id for p, _ in candidates}))).all()
    )
    pairs = proposal_authors()
    authoring: dict[int, set[int]] = {}
    for proposal_id, user_id in db.session.execute(
        select(pairs.c.proposal_id, pairs.c.user_id).where(pairs.c.proposal_id.in_([p.id for p, _ in candidates]))
    ):
        authoring.setdefault(proposal_id, set()).add(user_id)
    statuses = []
    for proposal, version in candidates:
        rounds = history.get(proposal.id, [])
        last = rounds[-1] if rounds else None
        state: ProposalConsentState
        if last is None:
            state = "not_opened"
        elif any(cr.outcome == "consented" for cr in rounds):
            state = "consented"
            last = next(cr for cr in rounds if cr.outcome == "consented")
        elif last.closed_at is None:
            state = "open"
        elif proposal.current_version > last.version:
            state = "amended"
        elif open_stops.get(last.id):
            state = "objection"
        else:
            state = "not_consented"
        who = answered.get(last.id, set()) if last is not None else set()
        statuses.append(
            ProposalConsentStatus(
                proposal_id=proposal.id,
                title=version.title,
                author_id=proposal.author_id,
                author_name=authors.get(proposal.author_id, ""),
                author_ids=frozenset(authoring.get(proposal.id, {proposal.author_id})),
                current_version=proposal.current_version,
                state=state,
                consent_round_id=last.id if last is not None else None,
                answered=len(who),
                circle_size=len(members),
                answered_by_me=state == "open" and viewer.id in who,
                reason=reason_words(last.reason or "") if last is not None else "",
            )
        )
    return statuses


@dataclass(frozen=True)
class PositionCount:
    """How many counted answers took one position, for the positions chart."""

    position: str
    count: int


def position_counts(round_: Round, answers: list[AnswerRow]) -> list[PositionCount]:
    """The counted answers by position, in the rule set's order (every position, zero included): a withdrawn
    objection and the answer of someone no longer in the circle count for nothing, as in the outcome."""
    members = set(db.session.scalars(circle_members(round_.circle_id)))
    counted = [row for row in answers if row.user_id in members and row.withdrawn_at is None and row.lapsed_at is None]
    return [
        PositionCount(position, sum(1 for row in counted if row.position == position))
        for position in POSITIONS[round_.consent_rules]
    ]


def objectors_of(proposal: Proposal) -> set[int]:
    """Who raised an objection (or block) on any version of the proposal and still is in the circle's answers
    (not lapsed): the people who talk it through with the author while it is in consent."""
    rules = proposal.round.consent_rules
    return set(
        db.session.scalars(
            select(ConsentAnswer.user_id)
            .join(ConsentRound, ConsentRound.id == ConsentAnswer.consent_round_id)
            .where(
                ConsentRound.proposal_id == proposal.id,
                ConsentAnswer.position == STOPPING.get(rules, "objection"),
                ConsentAnswer.lapsed_at.is_(None),
            )
        )
    )


@discussion_while_deciding.provide("consent")
def author_and_objectors_discuss(proposal: Proposal, actor: User) -> bool:
    """While a proposal is in consent (a consent round was opened and none consented it), its authors and whoever
    objected go on discussing it in full comments: an objection is worked out in words, then integrated in an
    amendment. Everybody else shares short reactions in the consent round."""
    user_id = getattr(actor, "id", None)  # a visitor of a public circle has none
    if user_id is None:
        return False
    history = consent_rounds_of(proposal)
    if not history or any(cr.outcome == "consented" for cr in history):
        return False
    return is_author(proposal, actor) or user_id in objectors_of(proposal)


# --- the reasons in the reader's language ------------------------------------------------------------------------


def _status(proposal: Proposal) -> str:
    return {"draft": gettext("a draft"), "withdrawn": gettext("withdrawn")}.get(proposal.status, proposal.status)


def outcome_words(outcome: ConsentOutcome) -> str:
    """Why a version stands where it does (`ConsentOutcome.reason`), in the reader's language."""
    numbers = outcome.numbers
    if outcome.why == "blocked":
        return gettext("blocked by %(count)s", count=numbers[0])
    if outcome.why == "objections_open":
        return ngettext("%(num)d objection open", "%(num)d objections open", numbers[0])
    if outcome.why == "nobody_answered":
        return gettext("nobody has answered yet, 0 of %(size)s", size=numbers[0])
    if outcome.why == "waiting":
        return gettext("waiting for %(missing)s of %(size)s members", missing=numbers[0], size=numbers[1])
    if outcome.why == "no_budget":
        return gettext(
            "needs %(amount)s, %(left)s left",
            amount=money_text(numbers[0], outcome.currency),
            left=money_text(numbers[1], outcome.currency),
        )
    if outcome.why == "consented":
        return gettext("consented")
    return reason_words(outcome.reason)


#: The reasons a closed consent round (or a consent result) stores, in English: each read back to say it again in
#: the reader's language. A reason of another shape is shown as stored.
_STORED_REASONS: tuple[tuple[re.Pattern[str], Callable[[re.Match[str]], str]], ...] = (
    (re.compile(r"blocked by (\d+)"), lambda m: gettext("blocked by %(count)s", count=m[1])),
    (
        re.compile(r"(\d+) objections? open"),
        lambda m: ngettext("%(num)d objection open", "%(num)d objections open", int(m[1])),
    ),
    (
        re.compile(r"nobody has answered yet, 0 of (\d+)"),
        lambda m: gettext("nobody has answered yet, 0 of %(size)s", size=m[1]),
    ),
    (
        re.compile(r"waiting for (\d+) of (\d+) members"),
        lambda m: gettext("waiting for %(missing)s of %(size)s members", missing=m[1], size=m[2]),
    ),
    (
        re.compile(r"needs (.+), (.+) left"),
        lambda m: gettext("needs %(amount)s, %(left)s left", amount=m[1], left=m[2]),
    ),
    (re.compile(r"consented"), lambda m: gettext("consented")),
    (re.compile(r"the proposal was withdrawn"), lambda m: gettext("the proposal was withdrawn")),
    (
        re.compile(r"not consented: version (\d+) was never put to consent"),
        lambda m: gettext("not consented: version %(version)s was never put to consent", version=m[1]),
    ),
    (
        re.compile(r"not consented: no consent round was held"),
        lambda m: gettext("not consented: no consent round was held"),
    ),
    (re.compile(r"not consented: (.+)"), lambda m: gettext("not consented: %(reason)s", reason=reason_words(m[1]))),
)


def reason_words(reason: str) -> str:
    """A stored reason (English, as the ledger keeps it) in the reader's language."""
    for pattern, say in _STORED_REASONS:
        if (found := pattern.fullmatch(reason)) is not None:
            return say(found)
    return reason


def reason_of(thing: ConsentOutcome | ConsentRound) -> str:
    """The reason of a live outcome or of a closed consent round, for a page (in the reader's language)."""
    if isinstance(thing, ConsentOutcome):
        return outcome_words(thing)
    return reason_words(thing.reason or "")
