"""Approval voting as rules. Pure: no Flask, no database, no clock.

A ballot is the set of proposals a member approves, at most `max_approvals` of them when the round sets a maximum.
A proposal's score is its number of approvals. With quorum, allocation is greedy with a threshold (Pabulib's
`greedy-threshold`, threshold 0): only proposals with more than 0 approvals are funded, in order of most approvals,
then smaller amount, then earlier submission (then smaller id, so the order is total), each in full if it fits in
what is left of the budget, otherwise skipped and the next one is tried. These are the tie-breaks of
fundcircle.voting.quadratic, so a circle that switches ballot type keeps the same idea of "who goes first".
tests/rules/test_approval.py works examples through and compares the funded set with pabutools.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence

from fundcircle.money import format_minor
from fundcircle.voting.quadratic import BallotError, Candidate, Outcome, Tally, quorum_met

__all__ = [
    "GREEDY_THRESHOLD",
    "BallotError",
    "Candidate",
    "Outcome",
    "Tally",
    "check_ballot",
    "greedy_by_score",
    "tally",
]

#: Only proposals scoring above this are funded: Pabulib's `greedy-threshold` rule with this threshold.
GREEDY_THRESHOLD = 0


def check_ballot(approved: Iterable[int], *, proposal_ids: Collection[int], max_approvals: int | None) -> int:
    """Check a whole approval ballot and return how many proposals it approves.

    :raises BallotError: for something that is not a proposal id, a proposal not in the round, a proposal approved
        twice, or more approvals than the round allows (saying by how many).
    """
    seen: set[int] = set()
    for proposal_id in approved:
        if isinstance(proposal_id, bool) or not isinstance(proposal_id, int):
            raise BallotError(f"{proposal_id!r} is not a proposal of this round.")
        if proposal_id not in proposal_ids:
            raise BallotError(f"Proposal {proposal_id} is not open for votes in this round.")
        if proposal_id in seen:
            raise BallotError(f"Proposal {proposal_id} is approved twice; approve each proposal once.")
        seen.add(proposal_id)
    if max_approvals is not None and len(seen) > max_approvals:
        raise BallotError(
            f"This ballot approves {len(seen)} proposals, {len(seen) - max_approvals} more than the "
            f"{max_approvals} this round allows."
        )
    return len(seen)


def greedy_by_score(
    scores: Mapping[int, int],
    candidates: Sequence[Candidate],
    *,
    cast: int,
    budget_minor: int,
    currency: str,
    eligible_voters: int,
    quorum_percent: int,
    nothing_reason: str,
) -> Tally:
    """Greedy allocation with threshold 0 over given scores; shared by approval and cumulative voting.

    `nothing_reason` is what a proposal scoring GREEDY_THRESHOLD or less is told ("no approvals", "no points").
    """
    met = quorum_met(cast, eligible_voters, quorum_percent)
    ordered = sorted(candidates, key=lambda c: (-scores[c.id], c.amount_minor, c.submitted_order, c.id))
    left = budget_minor
    outcomes = []
    for rank, candidate in enumerate(ordered, start=1):
        score = scores[candidate.id]
        funded = False
        if not met:
            reason = f"no quorum: {cast} of {eligible_voters} circle members voted, {quorum_percent}% needed"
        elif score <= GREEDY_THRESHOLD:
            reason = nothing_reason
        elif candidate.amount_minor <= left:
            funded, left = True, left - candidate.amount_minor
            reason = "funded"
        else:
            reason = (
                f"skipped: needs {format_minor(candidate.amount_minor, currency)}, {format_minor(left, currency)} left"
            )
        outcomes.append(Outcome(candidate.id, score, candidate.amount_minor, funded, reason, rank))
    return Tally(cast, eligible_voters, quorum_percent, met, budget_minor, budget_minor - left, tuple(outcomes))


def tally(
    ballots: Iterable[Collection[int]],
    candidates: Sequence[Candidate],
    *,
    budget_minor: int,
    currency: str,
    eligible_voters: int,
    quorum_percent: int,
) -> Tally:
    """Count approvals, check the quorum, and allocate the budget greedily (threshold: more than 0 approvals).

    The result does not depend on the order of the ballots or of the candidates. Approvals of proposals that are
    not candidates (withdrawn since) are ignored; a proposal approved twice on one ballot counts once.
    """
    scores = {candidate.id: 0 for candidate in candidates}
    cast = 0
    for ballot in ballots:
        cast += 1
        for proposal_id in set(ballot):
            if proposal_id in scores:
                scores[proposal_id] += 1
    return greedy_by_score(
        scores,
        candidates,
        cast=cast,
        budget_minor=budget_minor,
        currency=currency,
        eligible_voters=eligible_voters,
        quorum_percent=quorum_percent,
        nothing_reason="no approvals",
    )
