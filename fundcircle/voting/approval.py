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

from collections.abc import Collection, Iterable, Sequence

from fundcircle.phrases import N_
from fundcircle.voting.quadratic import GREEDY_THRESHOLD, BallotError, Candidate, Outcome, Tally, greedy_by_score

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


def check_ballot(approved: Iterable[int], *, proposal_ids: Collection[int], max_approvals: int | None) -> int:
    """Check a whole approval ballot and return how many proposals it approves.

    :raises BallotError: for something that is not a proposal id, a proposal not in the round, a proposal approved
        twice, or more approvals than the round allows (saying by how many).
    """
    seen: set[int] = set()
    for proposal_id in approved:
        if isinstance(proposal_id, bool) or not isinstance(proposal_id, int):
            raise BallotError(N_("%(proposal)s is not a proposal of this round."), proposal=repr(proposal_id))
        if proposal_id not in proposal_ids:
            raise BallotError(N_("Proposal %(proposal)s is not open for votes in this round."), proposal=proposal_id)
        if proposal_id in seen:
            raise BallotError(
                N_("Proposal %(proposal)s is approved twice; approve each proposal once."), proposal=proposal_id
            )
        seen.add(proposal_id)
    if max_approvals is not None and len(seen) > max_approvals:
        raise BallotError(
            N_("This ballot approves %(count)s proposals, %(over)s more than the %(most)s this round allows."),
            count=len(seen),
            over=len(seen) - max_approvals,
            most=max_approvals,
        )
    return len(seen)


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
