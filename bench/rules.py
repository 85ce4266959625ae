"""Time each allocation rule, pure, for 300 voters x 500 proposals (issue 20 asks for these numbers).

Approval ballots approve 5 to 40 proposals; cumulative ballots spread 100 points over 3 to 15 proposals; quadratic
ballots spend up to 100 credits over 3 to 15 proposals, a tenth of the votes against. Amounts 100.00 to 5,000.00
EUR; the budget is a fifth of what all proposals ask. Equal shares runs with Add1 at its default step (1.00 EUR per
member) and once without Add1 (greedy completion only).

    .venv/bin/python bench/rules.py
"""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fundcircle.voting import approval, cumulative, equal_shares, quadratic  # noqa: E402
from fundcircle.voting.equal_shares import SharesTally  # noqa: E402
from fundcircle.voting.quadratic import Candidate, Tally  # noqa: E402

Result = Tally | SharesTally

VOTERS, PROPOSALS = 300, 500


def _spread(rng: random.Random, ids: list[int], total: int, square: bool) -> dict[int, int]:
    ballot: dict[int, int] = {}
    for pid in rng.sample(ids, rng.randint(3, 15)):
        spent = sum(v * v for v in ballot.values()) if square else sum(ballot.values())
        room = total - spent
        most = int(room**0.5) if square else room
        if most < 1:
            break
        votes = rng.randint(1, min(most, 10 if square else most))
        ballot[pid] = -votes if square and rng.random() < 0.1 else votes
    return ballot


def main() -> None:
    rng = random.Random(20)
    candidates = [Candidate(i, rng.randint(100, 5_000) * 100, i) for i in range(1, PROPOSALS + 1)]
    ids = [c.id for c in candidates]
    budget = sum(c.amount_minor for c in candidates) // 5
    approvals = [set(rng.sample(ids, rng.randint(5, 40))) for _ in range(VOTERS)]
    points = [_spread(rng, ids, 100, square=False) for _ in range(VOTERS)]
    votes = [_spread(rng, ids, 100, square=True) for _ in range(VOTERS)]
    common = {"budget_minor": budget, "currency": "EUR", "eligible_voters": VOTERS, "quorum_percent": 0}

    def shares(ballots: list[dict[int, int]], unit: str, step: int | None) -> Callable[[], Result]:
        return lambda: equal_shares.cardinal_tally(ballots, candidates, unit=unit, increment_minor=step, **common)  # type: ignore[arg-type]

    def approval_shares(step: int | None) -> Callable[[], Result]:
        return lambda: equal_shares.approval_tally(approvals, candidates, increment_minor=step, **common)  # type: ignore[arg-type]

    runs: list[tuple[str, Callable[[], Result]]] = [
        ("approval greedy", lambda: approval.tally(approvals, candidates, **common)),  # type: ignore[arg-type]
        ("cumulative greedy", lambda: cumulative.tally(points, candidates, **common)),  # type: ignore[arg-type]
        ("quadratic greedy", lambda: quadratic.tally(votes, candidates, **common)),  # type: ignore[arg-type]
        ("approval MES, no Add1", approval_shares(None)),
        ("cumulative MES, no Add1", shares(points, "point", None)),
        ("quadratic MES, no Add1", shares(votes, "vote", None)),
        ("approval MES, Add1 1.00 EUR", approval_shares(100)),
        ("cumulative MES, Add1 1.00 EUR", shares(points, "point", 100)),
        ("quadratic MES, Add1 1.00 EUR", shares(votes, "vote", 100)),
    ]
    print(f"{VOTERS} voters x {PROPOSALS} proposals, budget {budget // 100} EUR")
    for name, run in runs:
        start = time.perf_counter()
        result = run()
        elapsed = time.perf_counter() - start
        funded = sum(1 for o in result.outcomes if o.funded)
        extra = f", share {float(result.share_minor) / 100:.2f} EUR" if isinstance(result, SharesTally) else ""
        print(f"{name:32s} {elapsed:8.3f} s  {funded} funded{extra}", flush=True)


if __name__ == "__main__":
    main()
