"""The same rounds run through pabutools, the reference implementation, for the comparison tests.

Projects are named so that pabutools' lexicographic tie-breaking (by name) is ours: smaller amount, then earlier
submission, then smaller id. Only proposals with support go into the pabutools instance: our rules fund nothing
without support (greedy-threshold 0), while pabutools' greedy would add an unsupported proposal if it fit.
"""

from __future__ import annotations

import random
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from pabutools.election import (  # type: ignore[import-untyped]
    Additive_Cardinal_Sat,
    AdditiveSatisfaction,
    ApprovalBallot,
    ApprovalProfile,
    CardinalBallot,
    CardinalProfile,
    Cost_Sat,
    Instance,
    Project,
)
from pabutools.rules import (  # type: ignore[import-untyped]
    completion_by_rule_combination,
    greedy_utilitarian_welfare,
    method_of_equal_shares,
)
from pabutools.tiebreaking import lexico_tie_breaking  # type: ignore[import-untyped]

from fundcircle.voting.quadratic import Candidate


def _name(candidate: Candidate) -> str:
    return f"{candidate.amount_minor:012d}-{candidate.submitted_order:09d}-{candidate.id:09d}"


def _points_times_cost(instance: Any, profile: Any, ballot: Any, project: Any, precomputed_values: Any) -> Any:
    # Greedy by density (support / cost) with this satisfaction is greedy by total points, our order.
    return ballot.get(project, 0) * project.cost


class PointsTimesCost(AdditiveSatisfaction):  # type: ignore[misc]
    def __init__(self, instance: Any, profile: Any, ballot: Any) -> None:
        AdditiveSatisfaction.__init__(self, instance, profile, ballot, _points_times_cost)


def _instance(candidates: Sequence[Candidate], supported: Collection[int], budget: int) -> tuple[Any, dict[int, Any]]:
    projects = {c.id: Project(_name(c), c.amount_minor) for c in candidates if c.id in supported}
    return Instance(projects.values(), budget_limit=budget), projects


def _ids(allocation: Any, projects: Mapping[int, Any]) -> set[int]:
    by_name = {p.name: pid for pid, p in projects.items()}
    return {by_name[p.name] for p in allocation}


def approval(
    ballots: Sequence[Collection[int]], candidates: Sequence[Candidate], budget: int, rule: str, increment: int | None
) -> set[int]:
    known = {c.id for c in candidates}
    supported = {pid for ballot in ballots for pid in ballot if pid in known}
    instance, projects = _instance(candidates, supported, budget)
    profile = ApprovalProfile([ApprovalBallot({projects[p] for p in b if p in projects}) for b in ballots])
    greedy = {"sat_class": Cost_Sat, "tie_breaking": lexico_tie_breaking}
    if rule == "greedy":
        return _ids(greedy_utilitarian_welfare(instance, profile, **greedy), projects)
    mes = {"sat_class": Cost_Sat, "tie_breaking": lexico_tie_breaking, "voter_budget_increment": increment}
    outcome = completion_by_rule_combination(
        instance, profile, [method_of_equal_shares, greedy_utilitarian_welfare], [mes, greedy]
    )
    return _ids(outcome, projects)


def cardinal(
    ballots: Sequence[Mapping[int, int]], candidates: Sequence[Candidate], budget: int, rule: str, increment: int | None
) -> set[int]:
    """Cumulative or quadratic ballots; votes against are left out, as our equal shares counts them as no support."""
    known = {c.id for c in candidates}
    supported = {pid for ballot in ballots for pid, v in ballot.items() if v > 0 and pid in known}
    instance, projects = _instance(candidates, supported, budget)
    profile = CardinalProfile(
        [CardinalBallot({projects[p]: v for p, v in b.items() if v > 0 and p in projects}) for b in ballots]
    )
    greedy = {"sat_class": PointsTimesCost, "tie_breaking": lexico_tie_breaking}
    if rule == "greedy":
        return _ids(greedy_utilitarian_welfare(instance, profile, **greedy), projects)
    mes = {"sat_class": Additive_Cardinal_Sat, "tie_breaking": lexico_tie_breaking, "voter_budget_increment": increment}
    outcome = completion_by_rule_combination(
        instance, profile, [method_of_equal_shares, greedy_utilitarian_welfare], [mes, greedy]
    )
    return _ids(outcome, projects)


def net_scores(ballots: Sequence[Mapping[int, int]], candidates: Sequence[Candidate], budget: int) -> set[int]:
    """pabutools' greedy by the sum of the votes, against included, over the given candidates only."""
    instance, projects = _instance(candidates, {c.id for c in candidates}, budget)
    profile = CardinalProfile(
        [CardinalBallot({projects[p]: v for p, v in b.items() if p in projects}) for b in ballots]
    )
    outcome = greedy_utilitarian_welfare(instance, profile, sat_class=PointsTimesCost, tie_breaking=lexico_tie_breaking)
    return _ids(outcome, projects)


def random_candidates(rng: random.Random) -> list[Candidate]:
    """3 to 12 proposals; amounts from a few values so that ties on amount happen, as do ties on support."""
    count = rng.randint(3, 12)
    ids = rng.sample(range(1, 100), count)
    amounts = [rng.choice([500, 1_000, 1_500, 2_000, 5_000]) if rng.random() < 0.5 else rng.randint(1, 8_000)]
    amounts += [rng.choice([500, 1_000, 1_500, 2_000, 5_000, rng.randint(1, 8_000)]) for _ in range(count - 1)]
    orders = [rng.randint(0, 3) for _ in range(count)]
    return [Candidate(pid, amount, order) for pid, amount, order in zip(ids, amounts, orders, strict=True)]
