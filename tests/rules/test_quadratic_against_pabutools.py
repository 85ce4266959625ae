"""The existing quadratic greedy funds what pabutools' greedy funds, votes against included, on 600 random rounds."""

from __future__ import annotations

import random

from fundcircle.voting.quadratic import Candidate, tally
from tests.rules import pabutools_reference


def _net_greedy_reference(ballots: list[dict[int, int]], candidates: list[Candidate], budget: int) -> set[int]:
    """pabutools' greedy over the proposals scoring above 0 (greedy-threshold 0), by net votes (against subtract)."""
    scores = {c.id: sum(b.get(c.id, 0) for b in ballots) for c in candidates}
    kept = [c for c in candidates if scores[c.id] > 0]
    return pabutools_reference.net_scores(ballots, kept, budget)


def test_quadratic_greedy_funds_what_pabutools_funds_on_600_random_rounds() -> None:
    rng = random.Random(20_2006)
    for _ in range(600):
        candidates = pabutools_reference.random_candidates(rng)
        ballots = []
        for _voter in range(rng.randint(3, 30)):
            credits, ballot = 100, {}
            for candidate in rng.sample(candidates, rng.randint(0, len(candidates))):
                most = int(credits**0.5)
                votes = rng.randint(0, most)
                if votes and rng.random() < 0.2:
                    votes = -votes
                ballot[candidate.id], credits = votes, credits - votes * votes
            ballots.append(ballot)
        budget = rng.randint(1, sum(c.amount_minor for c in candidates))
        result = tally(
            ballots, candidates, budget_minor=budget, currency="EUR", eligible_voters=len(ballots), quorum_percent=0
        )
        ours = {o.proposal_id for o in result.outcomes if o.funded}
        assert ours == _net_greedy_reference(ballots, candidates, budget), (candidates, ballots, budget)
