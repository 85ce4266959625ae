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
from fundcircle.phrases import N_, PhrasedError

POSITIONS: dict[str, tuple[str, ...]] = {
    "sociocratic": ("consent", "concern", "objection"),
    "consensus": ("agree", "stand_aside", "block"),
}
#: The position that stops consent, and whether it needs a written argument.
STOPPING = {"sociocratic": "objection", "consensus": "block"}
#: Each position's name, in English: translated where it is shown (fundcircle/consent/views.py).
POSITION_LABELS = {
    "consent": N_("Consent"),
    "concern": N_("Concern"),
    "objection": N_("Objection"),
    "agree": N_("Agree"),
    "stand_aside": N_("Stand aside"),
    "block": N_("Block"),
}
#: Each position as it reads after a count ("2 consent, 1 concern"): lower case in English.
POSITION_WORDS = {
    "consent": N_("consent"),
    "concern": N_("concern"),
    "objection": N_("objection"),
    "agree": N_("agree"),
    "stand_aside": N_("stand aside"),
    "block": N_("block"),
}
#: What an answer that is not a position of the rule set is told, by rule set (whole sentences, to translate).
_ANSWER_WITH = {
    "sociocratic": N_("Answer with one of: consent, concern, objection."),
    "consensus": N_("Answer with one of: agree, stand aside, block."),
}
_SAY_WHY = {
    "sociocratic": N_("Say why: an objection needs a written argument the circle can work with."),
    "consensus": N_("Say why: a block needs a written argument the circle can work with."),
}

State = Literal["consented", "open", "stopped", "no_budget"]


class ConsentError(PhrasedError):
    """An answer that the rules refuse; the message says why."""


@dataclass(frozen=True)
class Answer:
    member_id: int
    position: str
    #: An objection its objector withdrew no longer stops anything.
    withdrawn: bool = False


@dataclass(frozen=True)
class ConsentOutcome:
    """Where a version stands, and why: `reason` in English words (as the consent round and the ledger store it),
    and the same reason as a code with its numbers (`why`, `numbers`), for a page to say in the reader's language."""

    state: State
    reason: str
    #: "blocked", "objections_open", "nobody_answered", "waiting", "no_budget" or "consented" (empty: see reason).
    why: str = ""
    #: The reason's numbers: (blocks), (objections), (circle size), (missing, circle size) or (amount, left) in
    #: minor units.
    numbers: tuple[int, ...] = ()
    currency: str = ""

    @property
    def consented(self) -> bool:
        return self.state == "consented"


def check_answer(rules: str, position: str, argument: str) -> None:
    """:raises ConsentError: for a position the rule set does not have, or an objection or block without reason."""
    if rules not in POSITIONS:
        raise ConsentError(N_("unknown rule set %(rules)r"), rules=rules)
    if position not in POSITIONS[rules]:
        raise ConsentError(_ANSWER_WITH[rules])
    if position == STOPPING[rules] and not argument.strip():
        raise ConsentError(_SAY_WHY[rules])


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
            return ConsentOutcome("stopped", f"blocked by {open_stops}", "blocked", (open_stops,))
        noun = "objection" if open_stops == 1 else "objections"
        return ConsentOutcome("open", f"{open_stops} {noun} open", "objections_open", (open_stops,))
    needed = quorum_count(circle_size, quorum_percent)
    answered = len({answer.member_id for answer in answers})
    if answered < needed:
        if answered == 0:
            # "waiting for 2 of 3" read as if two had answered: with nobody in yet, say so plainly.
            return ConsentOutcome(
                "open", f"nobody has answered yet, 0 of {circle_size}", "nobody_answered", (circle_size,)
            )
        return ConsentOutcome(
            "open",
            f"waiting for {needed - answered} of {circle_size} members",
            "waiting",
            (needed - answered, circle_size),
        )
    if amount_minor > left_minor:
        return ConsentOutcome(
            "no_budget",
            f"needs {format_minor(amount_minor, currency)}, {format_minor(left_minor, currency)} left",
            "no_budget",
            (amount_minor, left_minor),
            currency,
        )
    return ConsentOutcome("consented", "consented", "consented")
