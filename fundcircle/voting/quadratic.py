"""Quadratic voting as rules. Pure: no Flask, no database, no clock.

A ballot gives each proposal an integer number of votes v and costs the sum of v squared, which must not exceed the
member's credits. A proposal's score is the sum of its votes. With quorum, proposals scoring above 0 are funded in
order (highest score, then smaller amount, then earlier submission), each in full if it fits in what is left of the
budget, otherwise skipped; all or nothing. tests/rules/test_quadratic.py works the example through.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass

from fundcircle.money import format_minor
from fundcircle.phrases import N_, PhrasedError


class BallotError(PhrasedError):
    """A ballot that cannot be accepted, refused whole; the message says why in words (in the reader's language
    through fundcircle.i18n.translated)."""


def ballot_cost(votes: Mapping[int, int]) -> int:
    """The credits a ballot costs: the sum of the squares of its votes (7 votes cost 49)."""
    return sum(count * count for count in votes.values())


def check_ballot(votes: Mapping[int, int], *, credits: int, allow_negative: bool, proposal_ids: Collection[int]) -> int:
    """Check a whole ballot and return its cost.

    :raises BallotError: for a proposal not in the round, a vote that is not a whole number, a vote against where
        the round allows none, or a cost above the credits (saying by how much).
    """
    for proposal_id, count in votes.items():
        if proposal_id not in proposal_ids:
            raise BallotError(N_("Proposal %(proposal)s is not open for votes in this round."), proposal=proposal_id)
        if isinstance(count, bool) or not isinstance(count, int):
            raise BallotError(
                N_("Votes are whole numbers; %(count)s for proposal %(proposal)s is not."),
                count=repr(count),
                proposal=proposal_id,
            )
        if count < 0 and not allow_negative:
            raise BallotError(N_("This round does not allow votes against a proposal."))
    cost = ballot_cost(votes)
    if cost > credits:
        raise BallotError(
            N_("This ballot costs %(cost)s credits, %(over)s more than your %(credits)s."),
            cost=cost,
            over=cost - credits,
            credits=credits,
        )
    return cost


@dataclass(frozen=True)
class Candidate:
    """A proposal in the tally: its id, the amount it asks, and when it was submitted (smaller is earlier)."""

    id: int
    amount_minor: int
    submitted_order: int


@dataclass(frozen=True)
class Outcome:
    proposal_id: int
    score: int
    amount_minor: int
    funded: bool
    reason: str
    #: 1 for the first in the funding order.
    rank: int


@dataclass(frozen=True)
class Tally:
    ballots_cast: int
    eligible_voters: int
    quorum_percent: int
    quorum_met: bool
    budget_minor: int
    funded_minor: int
    outcomes: tuple[Outcome, ...]

    @property
    def left_minor(self) -> int:
        return self.budget_minor - self.funded_minor


def quorum_met(ballots_cast: int, eligible_voters: int, quorum_percent: int) -> bool:
    """At least `quorum_percent` percent of the eligible voters cast a ballot (integer arithmetic, no rounding)."""
    if eligible_voters <= 0:
        return quorum_percent == 0
    return ballots_cast * 100 >= quorum_percent * eligible_voters


#: Only proposals scoring above this are funded, by every greedy rule here: Pabulib's `greedy-threshold` rule with
#: this threshold.
GREEDY_THRESHOLD = 0


def sum_scores(ballots: Iterable[Mapping[int, int]], candidates: Sequence[Candidate]) -> tuple[dict[int, int], int]:
    """Each candidate's score (the sum of what the ballots give it) and the number of ballots. What ballots give
    proposals that are not candidates (withdrawn since) is ignored."""
    scores = {candidate.id: 0 for candidate in candidates}
    cast = 0
    for ballot in ballots:
        cast += 1
        for proposal_id, count in ballot.items():
            if proposal_id in scores:
                scores[proposal_id] += count
    return scores, cast


def greedy_by_score(
    scores: Mapping[int, int],
    candidates: Sequence[Candidate],
    *,
    cast: int,
    budget_minor: int,
    currency: str,
    eligible_voters: int,
    quorum_percent: int,
    nothing_reason: str = "score not above 0",
) -> Tally:
    """With quorum, fund the candidates scoring above GREEDY_THRESHOLD in order (highest score, then smaller amount,
    then earlier submission, then smaller id), each in full if it fits in what is left, otherwise skipped. Shared by
    quadratic, cumulative and approval voting; `nothing_reason` is what a proposal at or below the threshold is told.
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
    ballots: Iterable[Mapping[int, int]],
    candidates: Sequence[Candidate],
    *,
    budget_minor: int,
    currency: str,
    eligible_voters: int,
    quorum_percent: int,
) -> Tally:
    """Score every candidate, check the quorum, and allocate the budget.

    The result does not depend on the order of the ballots or of the candidates. Votes for proposals that are not
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
    )
