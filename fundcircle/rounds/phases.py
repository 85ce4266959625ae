"""The round lifecycle as rules. Pure: no Flask, no database, no clock (pass `now` in).

    draft -> proposals -> deliberation -> deciding -> decided -> closed
    (or cancelled from any phase before decided)

A round moves one phase at a time, so that nobody skips the part of the process where the circle talks.

The stored phase moves only when `flask rounds tick` (or an admin) moves it, so between a deadline passing and the
next tick it is behind. Every read and every action therefore asks `effective_phase`, which walks past the deadlines
that have passed; a GET never has to move (and never moves) the round.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from fundcircle.phrases import N_, PhrasedError

PHASES: tuple[str, ...] = ("draft", "proposals", "deliberation", "deciding", "decided", "closed")
CANCELLED = "cancelled"
ALL_PHASES: tuple[str, ...] = (*PHASES, CANCELLED)
#: Never stored: the deciding deadline has passed and the result is not stored yet. The round takes no ballots,
#: consent answers or consent rounds any more, and its result is published when it is counted (the next
#: `rounds tick`, or an admin moving it to decided).
COUNTING = "counting"
#: Every phase `effective_phase` can give, in the lifecycle's order (cancelled aside, as in ALL_PHASES).
EFFECTIVE_PHASES: tuple[str, ...] = ("draft", "proposals", "deliberation", "deciding", COUNTING, "decided", "closed")

#: Each phase's name, in English: marked for translation here and translated where it is shown
#: (`fundcircle.rounds.words.phase_name`), since a pure module cannot know the reader's language.
PHASE_LABELS = {
    "draft": N_("Draft"),
    "proposals": N_("Open for proposals"),
    "deliberation": N_("Deliberation"),
    "deciding": N_("Deciding"),
    COUNTING: N_("Deciding closed, awaiting the count"),
    "decided": N_("Decided"),
    "closed": N_("Closed"),
    "cancelled": N_("Cancelled"),
}
#: Each phase as it reads inside a sentence ("the round is open for proposals"): PHASE_LABELS lower-cased in
#: English, but its own words in a language whose nouns keep their capital or that needs a preposition there.
PHASE_WORDS = {
    "draft": N_("draft"),
    "proposals": N_("open for proposals"),
    "deliberation": N_("deliberation"),
    "deciding": N_("deciding"),
    COUNTING: N_("deciding closed, awaiting the count"),
    "decided": N_("decided"),
    "closed": N_("closed"),
    "cancelled": N_("cancelled"),
}

#: The deadline field that ends each phase, where that phase has one.
PHASE_DEADLINES = {
    "proposals": "proposals_close_at",
    "deliberation": "deliberation_close_at",
    "deciding": "deciding_close_at",
}
#: Where a round is once the deadline of its phase has passed.
AFTER_DEADLINE = {"proposals": "deliberation", "deliberation": "deciding", "deciding": COUNTING}


class PhaseError(PhrasedError):
    """A transition the lifecycle does not allow; the message says which moves are possible."""


def next_phases(phase: str) -> tuple[str, ...]:
    """The phases a round in `phase` may move to."""
    if phase not in ALL_PHASES:
        raise PhaseError(N_("unknown phase %(phase)r"), phase=phase)
    if phase == CANCELLED or phase == PHASES[-1]:
        return ()
    index = PHASES.index(phase)
    following = PHASES[index + 1]
    return (following, CANCELLED) if index < PHASES.index("decided") else (following,)


def check_transition(current: str, target: str) -> None:
    """Allow `current` -> `target` only if the lifecycle does.

    :raises PhaseError: naming the moves that are possible from `current`.
    """
    if target not in ALL_PHASES:
        raise PhaseError(
            N_("%(target)r is not a phase; phases are %(phases)s."), target=target, phases=", ".join(ALL_PHASES)
        )
    allowed = next_phases(current)
    if target in allowed:
        return
    if not allowed:
        raise PhaseError(N_("The round is %(current)s and cannot move any more."), current=current)
    raise PhaseError(
        N_("A round in %(current)s can move to %(allowed)s, not to %(target)s."),
        current=current,
        allowed=" or ".join(allowed),
        target=target,
    )


def is_before(phase: str, other: str) -> bool:
    """Whether `phase` comes strictly before `other` in the lifecycle (cancelled comes before nothing; COUNTING
    comes after deciding and before decided)."""
    if phase == CANCELLED or other == CANCELLED:
        return False
    return EFFECTIVE_PHASES.index(phase) < EFFECTIVE_PHASES.index(other)


def effective_phase(phase: str, deadlines: Mapping[str, datetime | None], now: datetime) -> str:
    """The phase a round whose stored phase is `phase` is really in at `now`.

    Starting from the stored phase, each phase whose deadline has passed (a deadline equal to `now` has passed) is
    left for the next: proposals -> deliberation -> deciding -> COUNTING. The walk stops at the first phase with no
    deadline or one still to come, so it ends where `rounds tick` would move the round, except that a round past its
    deciding deadline is COUNTING until the tick stores its result. Draft, decided, closed and cancelled have no
    deadline and are returned as they are: deadlines count only while a round is open.

    `deadlines` is keyed by field, as `check_deadlines` takes it (`proposals_close_at`, ...); a missing key is no
    deadline. Times are compared as given: pass aware UTC datetimes for both.

    :raises PhaseError: if `phase` is not a phase a round can be stored in.
    """
    if phase not in ALL_PHASES:
        raise PhaseError(N_("unknown phase %(phase)r"), phase=phase)
    current = phase
    while current in AFTER_DEADLINE:
        deadline = deadlines.get(PHASE_DEADLINES[current])
        if deadline is None or deadline > now:
            break
        current = AFTER_DEADLINE[current]
    return current


def format_time(value: datetime) -> str:
    """A time as pages and messages show it ("4 May 2026, 12:00 UTC")."""
    return value.strftime("%-d %b %Y, %H:%M UTC")


#: What a deadline set before the one of the phase it follows is told, by that phase (whole sentences, to translate).
_MUST_FOLLOW = {
    "proposals": N_("Must be after the end of proposals."),
    "deliberation": N_("Must be after the end of deliberation."),
}


def check_deadlines(deadlines: dict[str, datetime | None]) -> dict[str, str]:
    """Deadlines that are set must follow the phases' order. Returns a message per field at fault (empty if fine):
    English message ids, which the caller translates (`gettext(message)`)."""
    errors: dict[str, str] = {}
    previous: tuple[str, datetime] | None = None
    for phase in ("proposals", "deliberation", "deciding"):
        field = PHASE_DEADLINES[phase]
        value = deadlines.get(field)
        if value is None:
            continue
        if previous is not None and value <= previous[1]:
            errors[field] = _MUST_FOLLOW[previous[0]]
        previous = (phase, value)
    return errors


def time_left(deadline: datetime | None, now: datetime) -> str | None:
    """Words for how long until `deadline` ("3 days", "5 hours", "12 minutes", "passed")."""
    if deadline is None:
        return None
    seconds = int((deadline - now).total_seconds())
    if seconds <= 0:
        return "passed"
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return "less than a minute"
