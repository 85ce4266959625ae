"""Use cases for rounds: create, change settings, move through phases. Services flush and never commit."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from flask_babel import gettext
from sqlalchemy import Select, select, union

from fundcircle.auth.models import User
from fundcircle.circles import rotation
from fundcircle.circles.models import Circle
from fundcircle.circles.services import holders_of, require_role
from fundcircle.db import compare_and_set, lock
from fundcircle.errors import Conflict, NotFound, ValidationFailed
from fundcircle.extensions import db
from fundcircle.hooks import Hook, Registry
from fundcircle.i18n import DEFAULT_LANGUAGE, in_language, moment_text, money_text, translated
from fundcircle.ledger.record import record
from fundcircle.mail import external_url
from fundcircle.notices import Recipient, queue_notices
from fundcircle.outbox import digest_headings
from fundcircle.rounds.models import (
    ALLOCATION_RULES,
    CONSENT_RULES,
    DEFAULT_REPORT_DUE_DAYS,
    DEFAULT_REPORT_QUESTIONS,
    METHODS,
    Round,
)
from fundcircle.rounds.phases import (
    CANCELLED,
    COUNTING,
    PHASE_DEADLINES,
    PhaseError,
    check_deadlines,
    check_transition,
    is_before,
    next_phases,
)
from fundcircle.rounds.words import phase_name, phase_word
from fundcircle.text import SINGLE_LINE_MESSAGE, is_single_line

#: The largest amount a round can hold, in minor units; keeps every sum far from any integer limit.
MAX_BUDGET_MINOR = 10**11
OPEN_PHASES = ("proposals", "deliberation", "deciding")


#: How a round is decided, by decision method: voting provides "quadratic", consent provides "consent". Called in
#: the transaction that moves the round to decided, with (actor, round, now).
deciders: Registry[Callable[[Any, Round, datetime], Any]] = Registry("the decision of a round")
#: Checks before a round closes (payouts: every payout settled); each raises ValidationFailed on `to` to refuse.
before_closing: Hook[Callable[[Round], None]] = Hook("checks before a round closes")
#: Who else hears of a round's phase changes besides its circle members (proposals: the authors): each returns a
#: select of user ids.
phase_change_audience: Hook[Callable[[Round], Select[Any]]] = Hook("people told of a round's phase changes")


@dataclass(frozen=True)
class RoundInput:
    """The settings of a round, as a form or the API gives them (money already in minor units)."""

    title: str
    budget_minor: int
    per_proposal_cap_minor: int
    method: str
    description: str = ""
    credits: int = 100
    allow_negative: bool = False
    quorum_percent: int = 50
    consent_rules: str = "sociocratic"
    allocation_rule: str = "greedy"
    max_approvals: int | None = None
    secret_ballot: bool = False
    categories: list[str] = field(default_factory=list)
    max_proposals_per_member: int = 3
    remind_before_hours: int = 24
    report_due_days: int = DEFAULT_REPORT_DUE_DAYS
    midway_update_days: int | None = None
    report_questions: list[str] = field(default_factory=lambda: list(DEFAULT_REPORT_QUESTIONS))
    proposals_close_at: datetime | None = None
    deliberation_close_at: datetime | None = None
    deciding_close_at: datetime | None = None


#: The longest a reminder may come before a deadline: two weeks.
MAX_REMIND_BEFORE_HOURS = 336

#: The longest a learning report may be due after its payout: two years.
MAX_REPORT_DUE_DAYS = 730
#: How many guiding questions a learning report may have, and how long each may be.
MAX_REPORT_QUESTIONS = 8
MAX_REPORT_QUESTION_LENGTH = 200
#: Settings of the learning reports, which concern what happens after the payout: they may change in any phase
#: before the round is cancelled (a report already written keeps the questions it answered).
REPORT_SETTINGS = ("report_due_days", "midway_update_days", "report_questions")

#: Settings that shape how money is asked for and decided: fixed once the round is open.
FIXED_AFTER_DRAFT = ("budget_minor", "per_proposal_cap_minor", "method", "max_proposals_per_member")
#: Settings of the decision itself: fixed once the round reaches deciding.
FIXED_FROM_DECIDING = (
    "credits",
    "allow_negative",
    "quorum_percent",
    "consent_rules",
    "allocation_rule",
    "max_approvals",
    "secret_ballot",
    "categories",
)


def _validate(data: RoundInput, currency: str) -> dict[str, Any]:
    """Check a round's settings together; return them cleaned.

    :raises ValidationFailed: with a message for every field at fault.
    """
    errors: dict[str, list[str]] = {}

    def fail(name: str, message: str) -> None:
        errors.setdefault(name, []).append(message)

    title = data.title.strip()
    if not title:
        fail("title", gettext("Enter a title."))
    elif len(title) > 120:
        fail("title", gettext("Use at most 120 characters."))
    elif not is_single_line(title):
        fail("title", gettext(SINGLE_LINE_MESSAGE))
    if len(data.description) > 10000:
        fail("description", gettext("Use at most 10,000 characters."))
    if not 0 < data.budget_minor <= MAX_BUDGET_MINOR:
        fail(
            "budget_minor",
            gettext("The budget must be above 0 and at most %(most)s.", most=money_text(MAX_BUDGET_MINOR, currency)),
        )
    if data.per_proposal_cap_minor <= 0:
        fail("per_proposal_cap_minor", gettext("The cap per proposal must be above 0."))
    elif data.per_proposal_cap_minor > data.budget_minor > 0:
        fail("per_proposal_cap_minor", gettext("The cap per proposal cannot be more than the budget."))
    if data.method not in METHODS:
        fail("method", gettext("Choose %(choices)s.", choices=" or ".join(METHODS)))
    if not 1 <= data.credits <= 10000:
        if data.method == "cumulative":
            fail("credits", gettext("Give each circle member between 1 and 10,000 points to spread."))
        else:
            fail("credits", gettext("Give each circle member between 1 and 10,000 voice credits."))
    if not 0 <= data.quorum_percent <= 100:
        fail("quorum_percent", gettext("The quorum is a percentage from 0 to 100."))
    if data.consent_rules not in CONSENT_RULES:
        fail("consent_rules", gettext("Choose %(choices)s.", choices=" or ".join(CONSENT_RULES)))
    if data.allocation_rule not in ALLOCATION_RULES:
        fail("allocation_rule", gettext("Choose %(choices)s.", choices=" or ".join(ALLOCATION_RULES)))
    max_approvals = data.max_approvals if data.method == "approval" else None
    if max_approvals is not None and not 1 <= max_approvals <= 1000:
        fail(
            "max_approvals",
            gettext("Allow between 1 and 1,000 approvals per ballot, or leave it empty for no limit."),
        )
    if not 1 <= data.max_proposals_per_member <= 100:
        fail("max_proposals_per_member", gettext("Allow between 1 and 100 proposals per member."))
    if not 0 <= data.remind_before_hours <= MAX_REMIND_BEFORE_HOURS:
        fail(
            "remind_before_hours",
            gettext("Remind between 0 (never) and %(most)s hours before a deadline.", most=MAX_REMIND_BEFORE_HOURS),
        )
    questions = [question.strip() for question in data.report_questions if question.strip()]
    for name, message in _report_problems(data.report_due_days, data.midway_update_days, questions):
        fail(name, message)
    categories = [category.strip() for category in data.categories if category.strip()]
    if len(categories) > 30:
        fail("categories", gettext("Use at most 30 categories."))
    if any(len(category) > 60 for category in categories):
        fail("categories", gettext("Keep each category to 60 characters."))
    if not all(is_single_line(category) for category in categories):
        fail("categories", gettext(SINGLE_LINE_MESSAGE))
    if len({category.lower() for category in categories}) != len(categories):
        fail("categories", gettext("Each category must appear once."))
    deadlines = {
        "proposals_close_at": data.proposals_close_at,
        "deliberation_close_at": data.deliberation_close_at,
        "deciding_close_at": data.deciding_close_at,
    }
    for name, message in check_deadlines(deadlines).items():
        fail(name, gettext(message))
    if errors:
        raise ValidationFailed(gettext("Some settings are not valid."), fields=errors)
    cleaned = asdict(data)
    # A setting of another method is not kept: the most approvals means nothing to a quadratic round.
    cleaned.update(
        title=title,
        description=data.description.strip(),
        categories=categories,
        report_questions=questions,
        max_approvals=max_approvals,
        allow_negative=data.allow_negative and data.method == "quadratic",
    )
    return cleaned


def _report_problems(due_days: int, midway_days: int | None, questions: list[str]) -> list[tuple[str, str]]:
    problems = []
    if not 0 <= due_days <= MAX_REPORT_DUE_DAYS:
        problems.append(
            (
                "report_due_days",
                gettext(
                    "Ask for the report between 0 (no reports) and %(most)s days after the payout.",
                    most=MAX_REPORT_DUE_DAYS,
                ),
            )
        )
    if midway_days is not None and not 0 < midway_days < max(due_days, 1):
        problems.append(
            (
                "midway_update_days",
                gettext(
                    "A mid-way update comes after the payout and before the report: between 1 day and the report's "
                    "days less one, or leave it empty."
                ),
            )
        )
    if midway_days is not None and due_days == 0:
        problems[-1:] = [
            ("midway_update_days", gettext("A round that asks for no report asks for no mid-way update either."))
        ]
    if not 1 <= len(questions) <= MAX_REPORT_QUESTIONS:
        problems.append(
            (
                "report_questions",
                gettext("Ask between 1 and %(most)s questions, one per line.", most=MAX_REPORT_QUESTIONS),
            )
        )
    if any(len(question) > MAX_REPORT_QUESTION_LENGTH for question in questions):
        problems.append(
            (
                "report_questions",
                gettext("Keep each question to %(most)s characters.", most=MAX_REPORT_QUESTION_LENGTH),
            )
        )
    if not all(is_single_line(question) for question in questions):
        problems.append(("report_questions", gettext(SINGLE_LINE_MESSAGE)))
    if len({question.lower() for question in questions}) != len(questions):
        problems.append(("report_questions", gettext("Each question must appear once.")))
    return problems


def problems_with(data: RoundInput, currency: str) -> dict[str, list[str]]:
    """Every message the service would give for these settings, by field (none: they hold together), so that a
    form can show them together with its own in one pass instead of after the next submit."""
    try:
        _validate(data, currency)
    except ValidationFailed as error:
        return {name: list(messages) for name, messages in error.fields.items()}
    return {}


def _ledger_settings(values: dict[str, Any]) -> dict[str, Any]:
    return {key: value.isoformat() if isinstance(value, datetime) else value for key, value in values.items()}


def create_round(actor: User, circle: Circle, data: RoundInput) -> Round:
    """An admin creates a round in `draft`, in the circle's currency.

    :raises PermissionDenied: unless the actor is the circle's admin.
    :raises ValidationFailed: for settings that do not hold together (each field named).
    """
    require_role(actor, circle, "admin")
    values = _validate(data, circle.currency)
    round_ = Round(circle_id=circle.id, currency=circle.currency, phase="draft", created_by_id=actor.id, **values)
    db.session.add(round_)
    db.session.flush()
    record(
        "round.created",
        actor=actor,
        circle_id=circle.id,
        subject=round_,
        data={"currency": circle.currency, **_ledger_settings(values)},
    )
    return round_


def update_round(actor: User, round_: Round, data: RoundInput, *, now: datetime) -> Round:
    """An admin changes a round's settings, as far as the phase it is really in at `now` allows: the budget, cap
    and method only in draft; the voting and consent settings until the round reaches deciding; nothing once
    deciding has closed. Once the round is open, a deadline that has passed cannot be removed or moved to a time
    still to come: that would reopen the phase it ended.

    :raises PermissionDenied: unless the actor is the circle's admin.
    :raises ValidationFailed: for invalid settings, or a change the phase no longer allows (field named).
    """
    # Which settings may change depends on the phase: hold the round (as the phase change does) and read it again.
    lock(round_)
    require_role(actor, round_.circle, "admin")
    values = _validate(data, round_.currency)
    changes = {
        name: {"from": getattr(round_, name), "to": value}
        for name, value in values.items()
        if getattr(round_, name) != value
    }
    phase = round_.phase_at(now)
    if not is_before(phase, COUNTING):
        # What the learning reports ask concerns the time after the payout: it may still change, unless cancelled.
        if changes and (phase == CANCELLED or not set(changes) <= set(REPORT_SETTINGS)):
            if phase == COUNTING and (closed := round_.passed_deadline("deciding", now)) is not None:
                raise ValidationFailed(
                    gettext(
                        "Deciding closed at %(time)s: the round's settings cannot change any more.",
                        time=moment_text(closed, round_.circle.time_zone),
                    )
                )
            raise ValidationFailed(
                gettext("The round is %(phase)s: its settings cannot change any more.", phase=phase_word(phase))
            )
        if not changes:
            return round_
        return _apply_changes(actor, round_, changes)
    locked: dict[str, list[str]] = {}
    if round_.phase != "draft":
        for name in PHASE_DEADLINES.values():
            passed, wanted = getattr(round_, name), values[name]
            if name in changes and passed is not None and passed <= now and (wanted is None or wanted > now):
                locked[name] = [
                    gettext(
                        "This deadline passed at %(time)s; moving it would reopen its phase.",
                        time=moment_text(passed, round_.circle.time_zone),
                    )
                ]
    if "secret_ballot" in changes and round_.secret_ballot and round_.phase != "draft":
        locked["secret_ballot"] = [gettext("A secret ballot stays secret: voters were promised it.")]
    for name in changes:
        if name in FIXED_AFTER_DRAFT and round_.phase != "draft":
            locked[name] = [gettext("This is fixed once the round is open for proposals.")]
        if name in FIXED_FROM_DECIDING and phase == "deciding":
            locked[name] = [gettext("This is fixed once the round is deciding.")]
    if locked:
        raise ValidationFailed(gettext("Some settings cannot change in this phase."), fields=locked)
    if not changes:
        return round_
    return _apply_changes(actor, round_, changes)


def _apply_changes(actor: User, round_: Round, changes: dict[str, dict[str, Any]]) -> Round:
    for name, change in changes.items():
        setattr(round_, name, change["to"])
    record(
        "round.settings_changed",
        actor=actor,
        circle_id=round_.circle_id,
        subject=round_,
        data={"changes": {name: _ledger_settings(change) for name, change in changes.items()}},
    )
    return round_


def advance_round(actor: User | None, round_: Round, to: str, now: datetime, *, cause: str | None = None) -> Round:
    """Move a round to its next phase (or cancel it before it is decided). `actor` None is the deadline clock.

    The ledger entry says who or what moved it: `by` is "admin" (the actor) or "deadline"; a caller that moves the
    round for another reason names it in `cause`, which the entry keeps and the ledger's words read
    (fundcircle/ledger/words.py `phase_change_words`). The payouts, which close and reopen a round without this
    function, write their own causes there too.

    Moves go from the stored phase, so an admin can move on a round whose deadline passed before `rounds tick` did
    (to decided, say, which counts it). Nothing moves a round back, and a round whose deciding deadline has passed
    cannot be cancelled: its result is the deadline's, and is published when it is counted.

    The round's row is locked first (`fundcircle.db.lock`) and its phase read again, as every write that depends on
    the phase locks it: a ballot, an answer or a proposal sent at the same moment is either stored before the move
    (and counted by the decision, which reads the ballots and answers after the lock) or refused after it. The change
    is also a compare-and-set on the phase, so of two admins clicking at once only one moves the round.

    :raises PermissionDenied: unless the actor is the circle's admin.
    :raises ValidationFailed: on `to` if the lifecycle does not allow the move, or for a cancellation once deciding
        has closed.
    :raises Conflict: if the round moved meanwhile.
    """
    lock(round_)
    if actor is not None:
        require_role(actor, round_.circle, "admin")
    current = round_.phase
    try:
        check_transition(current, to)
    except PhaseError as error:
        raise ValidationFailed(translated(error), field="to") from None
    if to == CANCELLED and round_.phase_at(now) == COUNTING and (closed := round_.passed_deadline("deciding", now)):
        raise ValidationFailed(
            gettext(
                "Deciding closed at %(time)s: the round can no longer be cancelled. Its result will be "
                "published when it is counted.",
                time=moment_text(closed, round_.circle.time_zone),
            ),
            field="to",
        )
    if to == "closed":
        for check in before_closing.receivers():
            check(round_)
    compare_and_set(
        round_,
        expected=Round.phase == current,
        values={"phase": to, "phase_changed_at": now},
        conflict=Conflict(gettext("The round moved to another phase meanwhile; reload to see where it is now.")),
    )
    record(
        "round.phase_changed",
        actor=actor,
        circle_id=round_.circle_id,
        subject=round_,
        data={
            "from": current,
            "to": to,
            "by": "admin" if actor is not None else "deadline",
            **({"cause": cause} if cause is not None else {}),
        },
        at=now,
    )
    if to == "decided":
        deciders[round_.method](actor, round_, now)
    if to == "closed":
        round_has_closed(actor, round_, now)
    _notify_phase_change(round_)
    return round_


def round_has_closed(actor: User | None, round_: Round, now: datetime) -> None:
    """What a round's close does beyond its phase, in the same transaction, whoever closes it (an admin here, the
    payouts settling in payouts/services.py): the circle's rotation terms counted in rounds count it."""
    rotation.count_closed_round(actor, round_.circle, round_.id, now)


def _notify_phase_change(round_: Round) -> None:
    """Tell the people taking part: the circle's deciders and everyone with a proposal in the round."""
    taking_part = union(
        holders_of(round_.circle_id, "circle"), *(people_of(round_) for people_of in phase_change_audience.receivers())
    )
    people = db.session.scalars(select(User).where(User.id.in_(taking_part)).order_by(User.id))
    link = external_url("rounds.view", round_id=round_.id)
    title, circle_name = round_.title, round_.circle.name

    def phase_changed() -> tuple[str, str]:
        subject = gettext("%(title)s: now %(phase)s", title=title, phase=phase_word(round_.phase))
        body = gettext(
            "The round “%(title)s” of %(circle)s is now: %(phase)s.",
            title=title,
            circle=circle_name,
            phase=phase_name(round_.phase),
        )
        return subject, f"{body}\n\n{link}\n"

    queue_notices_in_their_language(
        people,
        round_.circle,
        phase_changed,
        kind="round.phase_changed",
        circle_id=round_.circle_id,
        url=link,
        round_id=round_.id,
    )
    if round_.phase == "proposals":
        # Every member of the circle may propose: the community hears that the round is open for proposals.
        community = holders_of(round_.circle_id, "member")
        told = select(User).where(User.id.in_(community), User.id.not_in(taking_part)).order_by(User.id)

        def opened() -> tuple[str, str]:
            subject = gettext("%(title)s: open for proposals", title=title)
            body = gettext(
                "The round “%(title)s” of %(circle)s is open for proposals: propose what the fund should pay for.",
                title=title,
                circle=circle_name,
            )
            return subject, f"{body}\n\n{link}\n"

        queue_notices_in_their_language(
            db.session.scalars(told),
            round_.circle,
            opened,
            kind="round.opened_for_proposals",
            circle_id=round_.circle_id,
            url=link,
            round_id=round_.id,
        )


def queue_notices_in_their_language(
    people: Iterable[Recipient], circle: Circle, write: Callable[[], tuple[str, str]], **where: Any
) -> None:
    """`queue_notices` to `people` about `circle`, each in their own language (their choice, else the circle's):
    `write` gives the subject and body, and is called once per language, in it. `where` is queue_notices' rest."""
    by_language: dict[str, list[Recipient]] = {}
    for person in people:
        language = getattr(person, "language", None) or circle.language or DEFAULT_LANGUAGE
        by_language.setdefault(language, []).append(person)
    for language, group in by_language.items():
        with in_language(language):
            subject, body = write()
        queue_notices(group, subject, body, **where)


def due_transition(round_: Round, now: datetime) -> str | None:
    """The phase a round moves to by itself because its current phase's deadline has passed, if any.

    The end of deciding runs the decision (the tally, or closing what consent rounds are still open).
    """
    if round_.phase not in ("proposals", "deliberation", "deciding"):
        return None
    deadline = round_.deadline_of(round_.phase)
    if deadline is None or deadline > now:
        return None
    return next_phases(round_.phase)[0]


def catch_up(round_: Round, now: datetime) -> bool:
    """Move a round past every deadline that has passed (possibly more than one phase). Returns whether it moved.

    Only `rounds tick` (and later a background worker) calls this, never a request: what pages and actions see in
    between is `Round.phase_at`. Two ticks (or a tick and an admin) at once are safe: the compare-and-set in
    `advance_round` lets one through, and the other's Conflict only means the work is done.
    """
    moved = False
    while (target := due_transition(round_, now)) is not None:
        try:
            with db.session.begin_nested():
                advance_round(None, round_, target, now)
        except Conflict:
            db.session.refresh(round_)
            continue
        moved = True
    return moved


def advance_due_rounds(now: datetime) -> list[Round]:
    """Catch up every round whose deadline has passed (`flask rounds tick`).

    All of them are locked up front, in id order, before any is moved: moving one writes its circle's ledger, and a
    ballot in another round of that circle holds its round while it waits for the ledger, so locking the rounds one
    by one while moving them could deadlock with it. The rows are read again with the lock (a round moved meanwhile
    by an admin is caught up from where it is now, or left out).
    """
    candidates = db.session.scalars(
        select(Round)
        .where(
            ((Round.phase == "proposals") & (Round.proposals_close_at <= now))
            | ((Round.phase == "deliberation") & (Round.deliberation_close_at <= now))
            | ((Round.phase == "deciding") & (Round.deciding_close_at <= now))
        )
        .order_by(Round.id)
        .with_for_update(key_share=True)  # as fundcircle.db.lock does, and why
        .execution_options(populate_existing=True)
    ).all()
    return [round_ for round_ in candidates if catch_up(round_, now)]


def get_round(round_id: int) -> Round:
    round_ = db.session.get(Round, round_id)
    if round_ is None:
        raise NotFound(gettext("There is no such round."))
    return round_


def rounds_of_circle(circle: Circle, *, include_drafts: bool) -> list[Round]:
    query = select(Round).where(Round.circle_id == circle.id)
    if not include_drafts:
        query = query.where(Round.phase != "draft")
    return list(db.session.scalars(query.order_by(Round.created_at.desc(), Round.id.desc())))


def open_rounds_of(circle_ids: list[int], admin_circle_ids: set[int]) -> dict[int, list[Round]]:
    """The rounds under way in each circle (drafts only where the user is admin), for the home page."""
    if not circle_ids:
        return {}
    rows = db.session.scalars(
        select(Round)
        .where(Round.circle_id.in_(circle_ids), Round.phase.in_(("draft", *OPEN_PHASES, "decided")))
        .order_by(Round.created_at.desc())
    )
    result: dict[int, list[Round]] = {}
    for round_ in rows:
        if round_.phase == "draft" and round_.circle_id not in admin_circle_ids:
            continue
        result.setdefault(round_.circle_id, []).append(round_)
    return result


@digest_headings.provide("round")
def round_titles(round_ids: set[int]) -> dict[int, str]:
    """Rounds' titles by id, for the headings of a notice digest."""
    rows = db.session.execute(select(Round.id, Round.title).where(Round.id.in_(round_ids)))
    return {row_id: text for row_id, text in rows}
