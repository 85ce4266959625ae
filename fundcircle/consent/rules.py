"""Consent decisions as rules. Pure: no Flask, no database, no clock.

Two rule sets:
- sociocratic: consent, concern (recorded, does not block) or objection (needs an argument). Consented when every
  member who answered consents or has a concern, at least the quorum answered, and no objection is open. An
  objection is resolved only by its objector withdrawing it, or by an amended version in a new consent round.
- consensus: agree, stand aside (does not block) or block (needs a reason). One block stops the proposal in that
  version.
In both, the pot never over-commits: a version is consented only if its amount fits in what the proposals already
consented leave.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from fundcircle.money import format_minor

POSITIONS: dict[str, tuple[str, ...]] = {
    "sociocratic": ("consent", "concern", "objection"),
    "consensus": ("agree", "stand_aside", "block"),
}
#: The position that stops consent, and whether it needs a written argument.
STOPPING = {"sociocratic": "objection", "consensus": "block"}
POSITION_LABELS = {
    "consent": "Consent",
    "concern": "Concern",
    "objection": "Objection",
    "agree": "Agree",
    "stand_aside": "Stand aside",
    "block": "Block",
}

State = Literal["consented", "open", "stopped", "no_budget"]


class ConsentError(ValueError):
    """An answer that the rules refuse; the message says why."""


@dataclass(frozen=True)
class Answer:
    member_id: int
    position: str
    #: An objection its objector withdrew no longer stops anything.
    withdrawn: bool = False


@dataclass(frozen=True)
class ConsentOutcome:
    state: State
    reason: str

    @property
    def consented(self) -> bool:
        return self.state == "consented"


def check_answer(rules: str, position: str, argument: str) -> None:
    """:raises ConsentError: for a position the rule set does not have, or an objection or block without reason."""
    if rules not in POSITIONS:
        raise ConsentError(f"unknown rule set {rules!r}")
    if position not in POSITIONS[rules]:
        allowed = ", ".join(POSITION_LABELS[p].lower() for p in POSITIONS[rules])
        raise ConsentError(f"Answer with one of: {allowed}.")
    if position == STOPPING[rules] and not argument.strip():
        what = "an objection" if rules == "sociocratic" else "a block"
        raise ConsentError(f"Say why: {what} needs a written argument the circle can work with.")


def quorum_count(circle_size: int, quorum_percent: int) -> int:
    """How many answers the quorum needs: the percentage of the circle, rounded up (at least 1 in a circle)."""
    needed = -(-circle_size * quorum_percent // 100)
    return max(needed, 1 if circle_size > 0 else 0)


def consent_outcome(
    answers: Sequence[Answer],
    *,
    rules: str,
    circle_size: int,
    quorum_percent: int,
    amount_minor: int,
    left_minor: int,
    currency: str,
) -> ConsentOutcome:
    """Whether a proposal version is consented, still open, or stopped, and why, in words."""
    stopping = STOPPING[rules]
    open_stops = sum(1 for answer in answers if answer.position == stopping and not answer.withdrawn)
    if open_stops:
        if rules == "consensus":
            return ConsentOutcome("stopped", f"blocked by {open_stops}")
        noun = "objection" if open_stops == 1 else "objections"
        return ConsentOutcome("open", f"{open_stops} {noun} open")
    needed = quorum_count(circle_size, quorum_percent)
    answered = len({answer.member_id for answer in answers})
    if answered < needed:
        if answered == 0:
            # "waiting for 2 of 3" read as if two had answered: with nobody in yet, say so plainly.
            return ConsentOutcome("open", f"nobody has answered yet, 0 of {circle_size}")
        return ConsentOutcome("open", f"waiting for {needed - answered} of {circle_size} members")
    if amount_minor > left_minor:
        return ConsentOutcome(
            "no_budget",
            f"needs {format_minor(amount_minor, currency)}, {format_minor(left_minor, currency)} left",
        )
    return ConsentOutcome("consented", "consented")
