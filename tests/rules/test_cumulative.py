"""Cumulative voting rules: a worked example, every refusal, properties, and the same funded sets as pabutools."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fundcircle.voting.cumulative import BallotError, Candidate, ballot_cost, check_ballot, tally
from tests.rules import pabutools_reference

A, B, C, D = 1, 2, 3, 4
CANDIDATES = [Candidate(A, 40_000, 1), Candidate(B, 35_000, 2), Candidate(C, 30_000, 3), Candidate(D, 20_000, 4)]
BALLOTS = [
    {A: 7, B: 2, C: 1},  # m1: 10 points
    {A: 2, C: 4, D: 4},  # m2: 10
    {B: 6, D: 4},  # m3: 10
    {A: 1, B: 1, C: 1},  # m4: 3 of 10
]


def test_the_most_points_go_first_and_what_does_not_fit_is_skipped() -> None:
    assert [ballot_cost(b) for b in BALLOTS] == [10, 10, 10, 3]
    result = tally(BALLOTS, CANDIDATES, budget_minor=100_000, currency="EUR", eligible_voters=4, quorum_percent=50)
    assert [(o.proposal_id, o.score, o.funded) for o in result.outcomes] == [
        (A, 10, True),
        (B, 9, True),
        (D, 8, True),
        (C, 6, False),
    ]
    assert result.outcomes[3].reason == "skipped: needs 300.00 EUR, 50.00 EUR left"
    assert result.funded_minor == 95_000


def test_three_points_cost_three_not_nine() -> None:
    assert check_ballot({A: 3, B: 7}, points_total=10, proposal_ids={A, B}) == 10


def test_a_proposal_with_no_points_is_not_funded_even_when_it_fits() -> None:
    result = tally(
        [{A: 1, B: 0}], CANDIDATES[:2], budget_minor=100_000, currency="EUR", eligible_voters=1, quorum_percent=0
    )
    outcome = {o.proposal_id: o for o in result.outcomes}
    assert outcome[A].funded and not outcome[B].funded and outcome[B].reason == "no points"


def test_without_quorum_nothing_is_funded_and_the_result_says_so() -> None:
    result = tally(BALLOTS[:1], CANDIDATES, budget_minor=100_000, currency="EUR", eligible_voters=4, quorum_percent=50)
    assert not result.quorum_met and result.funded_minor == 0
    assert all(o.reason == "no quorum: 1 of 4 circle members voted, 50% needed" for o in result.outcomes)


@pytest.mark.parametrize(
    ("points", "message"),
    [
        ({A: 8, B: 5}, "spreads 13 points, 3 more than your 10"),
        ({99: 1}, "Proposal 99 is not open for votes"),
        ({A: -1}, "cannot be negative"),
        ({A: 1.5}, "whole numbers"),
        ({A: True}, "whole numbers"),
    ],
)
def test_bad_ballots_are_refused_with_a_reason(points: dict[int, object], message: str) -> None:
    with pytest.raises(BallotError, match=message):
        check_ballot(points, points_total=10, proposal_ids={A, B})  # type: ignore[arg-type]


# --- properties ----------------------------------------------------------------------------------------------

candidates_strategy = st.lists(
    st.builds(
        Candidate, id=st.integers(1, 12), amount_minor=st.integers(1, 50_000), submitted_order=st.integers(0, 1000)
    ),
    min_size=1,
    max_size=12,
    unique_by=lambda c: c.id,
)


@st.composite
def rounds(draw: st.DrawFn) -> tuple[list[Candidate], list[dict[int, int]], int]:
    candidates = draw(candidates_strategy)
    ballots = draw(
        st.lists(
            st.dictionaries(st.sampled_from([c.id for c in candidates]), st.integers(0, 10), max_size=6), max_size=10
        )
    )
    return candidates, ballots, draw(st.integers(1, 200_000))


def _kwargs(budget: int, ballots: list[dict[int, int]]) -> dict[str, object]:
    return {"budget_minor": budget, "currency": "EUR", "eligible_voters": len(ballots), "quorum_percent": 0}


@given(st.dictionaries(st.integers(1, 12), st.integers(-5, 20), max_size=8), st.integers(0, 60))
def test_an_accepted_ballot_never_spends_more_than_the_points(points: dict[int, int], total: int) -> None:
    try:
        spent = check_ballot(points, points_total=total, proposal_ids=set(range(1, 13)))
    except BallotError:
        return
    assert spent == sum(points.values()) <= total and all(v >= 0 for v in points.values())


@given(rounds())
def test_funded_amounts_never_exceed_the_budget(round_: tuple[list[Candidate], list[dict[int, int]], int]) -> None:
    candidates, ballots, budget = round_
    result = tally(ballots, candidates, **_kwargs(budget, ballots))  # type: ignore[arg-type]
    assert sum(o.amount_minor for o in result.outcomes if o.funded) == result.funded_minor <= budget
    assert all(o.score > 0 for o in result.outcomes if o.funded)


@given(rounds(), st.randoms())
def test_the_funded_set_is_the_same_whoever_is_voter_one(
    round_: tuple[list[Candidate], list[dict[int, int]], int], rng: random.Random
) -> None:
    candidates, ballots, budget = round_
    shuffled_ballots, shuffled_candidates = ballots[:], candidates[:]
    rng.shuffle(shuffled_ballots)
    rng.shuffle(shuffled_candidates)
    kwargs = _kwargs(budget, ballots)
    assert tally(ballots, candidates, **kwargs) == tally(shuffled_ballots, shuffled_candidates, **kwargs)  # type: ignore[arg-type]


@given(rounds())
def test_the_result_is_the_prefix_greedy_of_the_sorted_order(
    round_: tuple[list[Candidate], list[dict[int, int]], int],
) -> None:
    candidates, ballots, budget = round_
    result = tally(ballots, candidates, **_kwargs(budget, ballots))  # type: ignore[arg-type]
    points = {c.id: sum(b.get(c.id, 0) for b in ballots) for c in candidates}
    order = sorted(candidates, key=lambda c: (-points[c.id], c.amount_minor, c.submitted_order, c.id))
    assert [o.proposal_id for o in result.outcomes] == [c.id for c in order]
    left = budget
    for candidate in order:
        expected = points[candidate.id] > 0 and candidate.amount_minor <= left
        left -= candidate.amount_minor if expected else 0
        assert next(o for o in result.outcomes if o.proposal_id == candidate.id).funded is expected


# --- against pabutools ---------------------------------------------------------------------------------------


def test_the_funded_set_is_the_one_pabutools_greedy_finds_on_600_random_rounds() -> None:
    rng = random.Random(20_2002)
    for _ in range(600):
        candidates = pabutools_reference.random_candidates(rng)
        ballots = []
        for _voter in range(rng.randint(3, 30)):
            points = 10
            ballot: dict[int, int] = {}
            for candidate in rng.sample(candidates, rng.randint(0, len(candidates))):
                given_points = rng.randint(0, points)
                ballot[candidate.id], points = given_points, points - given_points
            ballots.append(ballot)
        budget = rng.randint(1, sum(c.amount_minor for c in candidates))
        result = tally(ballots, candidates, **_kwargs(budget, ballots))  # type: ignore[arg-type]
        ours = {o.proposal_id for o in result.outcomes if o.funded}
        assert ours == pabutools_reference.cardinal(ballots, candidates, budget, "greedy", None), (candidates, ballots)


def test_the_worked_example_funds_what_pabutools_greedy_funds() -> None:
    result = tally(BALLOTS, CANDIDATES, budget_minor=100_000, currency="EUR", eligible_voters=4, quorum_percent=0)
    ours = {o.proposal_id for o in result.outcomes if o.funded}
    assert ours == pabutools_reference.cardinal(BALLOTS, CANDIDATES, 100_000, "greedy", None) == {A, B, D}
