"""Which pure rule decides a voting round: its ballot type (quadratic, approval, cumulative) with its allocation
rule (greedy by score, or the method of equal shares). Pure: no Flask, no database, no clock.

Every combination gives the same plain outcome, so that storing, publishing and showing a result does not depend
on the rule; each proposal keeps the rule's own explanation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from fundcircle.voting import approval, cumulative, equal_shares, quadratic
from fundcircle.voting.quadratic import Candidate

BALLOT_TYPES = ("quadratic", "approval", "cumulative")
ALLOCATION_RULES = ("greedy", "equal_shares")
#: What one unit of a ballot is called in the explanations of equal shares.
UNITS = {"quadratic": "vote", "approval": "approval", "cumulative": "point"}


@dataclass(frozen=True)
class RuleOutcome:
    proposal_id: int
    #: Votes for (quadratic, net of votes against under greedy), approvals or points.
    score: int
    funded: bool
    reason: str
    rank: int


@dataclass(frozen=True)
class RuleResult:
    ballots_cast: int
    quorum_met: bool
    funded_minor: int
    outcomes: tuple[RuleOutcome, ...]


def decide(
    ballot_type: str,
    allocation_rule: str,
    ballots: Sequence[Mapping[int, int]],
    candidates: Sequence[Candidate],
    *,
    budget_minor: int,
    currency: str,
    eligible_voters: int,
    quorum_percent: int,
) -> RuleResult:
    """Count `ballots` (proposal id to votes, points, or 1 for an approval) by the ballot type and allocate the
    budget by the rule. An approval ballot approves the proposals it gives anything above 0.

    :raises ValueError: for a ballot type or allocation rule that does not exist.
    """
    if ballot_type not in BALLOT_TYPES:
        raise ValueError(f"There is no ballot type {ballot_type!r}; choose one of {', '.join(BALLOT_TYPES)}.")
    if allocation_rule not in ALLOCATION_RULES:
        raise ValueError(f"There is no allocation rule {allocation_rule!r}; choose {' or '.join(ALLOCATION_RULES)}.")
    common = {
        "budget_minor": budget_minor,
        "currency": currency,
        "eligible_voters": eligible_voters,
        "quorum_percent": quorum_percent,
    }
    approvals = [[pid for pid, value in ballot.items() if value > 0] for ballot in ballots]
    if allocation_rule == "equal_shares":
        shares = (
            equal_shares.approval_tally(approvals, candidates, **common)
            if ballot_type == "approval"
            else equal_shares.cardinal_tally(ballots, candidates, unit=UNITS[ballot_type], **common)
        )
        return RuleResult(
            shares.ballots_cast,
            shares.quorum_met,
            shares.funded_minor,
            tuple(RuleOutcome(o.proposal_id, o.support, o.funded, o.reason, o.rank) for o in shares.outcomes),
        )
    if ballot_type == "approval":
        greedy = approval.tally(approvals, candidates, **common)
    elif ballot_type == "cumulative":
        greedy = cumulative.tally(ballots, candidates, **common)
    else:
        greedy = quadratic.tally(ballots, candidates, **common)
    return RuleResult(
        greedy.ballots_cast,
        greedy.quorum_met,
        greedy.funded_minor,
        tuple(RuleOutcome(o.proposal_id, o.score, o.funded, o.reason, o.rank) for o in greedy.outcomes),
    )
