"""The round lifecycle as rules. Pure: no Flask, no database, no clock (pass `now` in).

    draft -> proposals -> deliberation -> deciding -> decided -> closed
    (or cancelled from any phase before decided)

A round moves one phase at a time, so that nobody skips the part of the process where the circle talks.
"""

from __future__ import annotations

from datetime import datetime

PHASES: tuple[str, ...] = ("draft", "proposals", "deliberation", "deciding", "decided", "closed")
CANCELLED = "cancelled"
ALL_PHASES: tuple[str, ...] = (*PHASES, CANCELLED)

PHASE_LABELS = {
    "draft": "Draft",
    "proposals": "Open for proposals",
    "deliberation": "Deliberation",
    "deciding": "Deciding",
    "decided": "Decided",
    "closed": "Closed",
    "cancelled": "Cancelled",
}

#: The deadline field that ends each phase, where that phase has one.
PHASE_DEADLINES = {
    "proposals": "proposals_close_at",
    "deliberation": "deliberation_close_at",
    "deciding": "deciding_close_at",
}


class PhaseError(ValueError):
    """A transition the lifecycle does not allow; the message says which moves are possible."""


def next_phases(phase: str) -> tuple[str, ...]:
    """The phases a round in `phase` may move to."""
    if phase not in ALL_PHASES:
        raise PhaseError(f"unknown phase {phase!r}")
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
        raise PhaseError(f"{target!r} is not a phase; phases are {', '.join(ALL_PHASES)}.")
    allowed = next_phases(current)
    if target in allowed:
        return
    if not allowed:
        raise PhaseError(f"The round is {current} and cannot move any more.")
    raise PhaseError(f"A round in {current} can move to {' or '.join(allowed)}, not to {target}.")


def is_before(phase: str, other: str) -> bool:
    """Whether `phase` comes strictly before `other` in the lifecycle (cancelled comes before nothing)."""
    if phase == CANCELLED or other == CANCELLED:
        return False
    return PHASES.index(phase) < PHASES.index(other)


def check_deadlines(deadlines: dict[str, datetime | None]) -> dict[str, str]:
    """Deadlines that are set must follow the phases' order. Returns a message per field at fault (empty if fine)."""
    errors: dict[str, str] = {}
    previous: tuple[str, datetime] | None = None
    for phase in ("proposals", "deliberation", "deciding"):
        field = PHASE_DEADLINES[phase]
        value = deadlines.get(field)
        if value is None:
            continue
        if previous is not None and value <= previous[1]:
            errors[field] = f"Must be after the end of {previous[0]}."
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
