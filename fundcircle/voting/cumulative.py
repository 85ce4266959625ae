"""Cumulative voting as rules. Pure: no Flask, no database, no clock.

Each member spreads up to `points` points over the proposals: whole numbers, none negative, the cost linear (three
points on one proposal cost three of the member's points, unlike quadratic voting where they cost nine). A
proposal's score is the sum of the points it got. With quorum, allocation is greedy with threshold 0 (Pabulib's
`greedy-threshold`): only proposals with more than 0 points are funded, in order of most points, then smaller
amount, then earlier submission (then smaller id), each in full if it fits in what is left, otherwise skipped.
tests/rules/test_cumulative.py works examples through and compares the funded set with pabutools.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence

from fundcircle.phrases import N_
from fundcircle.voting.quadratic import BallotError, Candidate, Outcome, Tally, greedy_by_score, sum_scores

__all__ = ["BallotError", "Candidate", "Outcome", "Tally", "ballot_cost", "check_ballot", "tally"]


def ballot_cost(points: Mapping[int, int]) -> int:
    """The points a ballot spends: their sum (linear, so 3 points on a proposal cost 3)."""
    return sum(points.values())


def check_ballot(points: Mapping[int, int], *, points_total: int, proposal_ids: Collection[int]) -> int:
    """Check a whole cumulative ballot and return the points it spends.

    :raises BallotError: for a proposal not in the round, points that are not a whole number, negative points, or
        more points than the member has (saying by how many).
    """
    for proposal_id, count in points.items():
        if proposal_id not in proposal_ids:
            raise BallotError(N_("Proposal %(proposal)s is not open for votes in this round."), proposal=proposal_id)
        if isinstance(count, bool) or not isinstance(count, int):
            raise BallotError(
                N_("Points are whole numbers; %(count)s for proposal %(proposal)s is not."),
                count=repr(count),
                proposal=proposal_id,
            )
        if count < 0:
            raise BallotError(
                N_("Points cannot be negative; %(count)s for proposal %(proposal)s is."),
                count=count,
                proposal=proposal_id,
            )
    spent = ballot_cost(points)
    if spent > points_total:
        raise BallotError(
            N_("This ballot spreads %(spent)s points, %(over)s more than your %(points)s."),
            spent=spent,
            over=spent - points_total,
            points=points_total,
        )
    return spent


def tally(
    ballots: Iterable[Mapping[int, int]],
    candidates: Sequence[Candidate],
    *,
    budget_minor: int,
    currency: str,
    eligible_voters: int,
    quorum_percent: int,
) -> Tally:
    """Sum the points, check the quorum, and allocate the budget greedily (threshold: more than 0 points).

    The result does not depend on the order of the ballots or of the candidates. Points for proposals that are not
    candidates (withdrawn since) are ignored.
    """
    scores, cast = sum_scores(ballots, candidates)
    return greedy_by_score(
        scores,
        candidates,
        cast=cast,
        budget_minor=budget_minor,
        currency=currency,
        eligible_voters=eligible_voters,
        quorum_percent=quorum_percent,
        nothing_reason="no points",
    )
