"""Quadratic voting rules: PRODUCT.md's worked example, every refusal, and properties over random rounds."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fundcircle.voting.quadratic import BallotError, Candidate, ballot_cost, check_ballot, quorum_met, tally

A, B, C, D = 1, 2, 3, 4
CANDIDATES = [Candidate(A, 40_000, 1), Candidate(B, 35_000, 2), Candidate(C, 30_000, 3), Candidate(D, 20_000, 4)]
BALLOTS = [
    {A: 7, B: 5, C: 4},  # m1: 49 + 25 + 16 = 90
    {A: 5, C: 6, D: 6},  # m2: 97
    {B: 8, D: 6},  # m3: 100
    {A: 3, B: 3, C: 3, D: 3},  # m4: 36
]


def test_the_worked_example_of_the_product_funds_b_d_and_a_and_skips_c() -> None:
    assert [ballot_cost(b) for b in BALLOTS] == [90, 97, 100, 36]
    result = tally(BALLOTS, CANDIDATES, budget_minor=100_000, currency="EUR", eligible_voters=4, quorum_percent=50)
    assert result.quorum_met and result.ballots_cast == 4
    assert [(o.proposal_id, o.score, o.funded) for o in result.outcomes] == [
        (B, 16, True),
        (D, 15, True),
        (A, 15, True),
        (C, 13, False),
    ]
    assert result.outcomes[3].reason == "skipped: needs 300.00 EUR, 50.00 EUR left"
    assert result.funded_minor == 95_000 and result.left_minor == 5_000


def test_an_eighth_vote_is_refused_whole_saying_by_how_much() -> None:
    with pytest.raises(BallotError, match="costs 105 credits, 5 more than your 100"):
        check_ballot({A: 8, B: 5, C: 4}, credits=100, allow_negative=False, proposal_ids={A, B, C, D})


def test_the_nth_vote_costs_two_n_minus_one_more() -> None:
    assert [ballot_cost({A: n}) - ballot_cost({A: n - 1}) for n in range(1, 8)] == [1, 3, 5, 7, 9, 11, 13]


@pytest.mark.parametrize(
    ("votes", "message"),
    [
        ({99: 1}, "not open for votes"),
        ({A: -1}, "does not allow votes against"),
        ({A: 1.5}, "whole numbers"),
        ({A: True}, "whole numbers"),
    ],
)
def test_bad_ballots_are_refused_with_a_reason(votes: dict[int, object], message: str) -> None:
    with pytest.raises(BallotError, match=message):
        check_ballot(votes, credits=100, allow_negative=False, proposal_ids={A, B})  # type: ignore[arg-type]


def test_votes_against_cost_the_same_and_lower_the_score_where_allowed() -> None:
    assert check_ballot({A: -3, B: 4}, credits=25, allow_negative=True, proposal_ids={A, B}) == 25
    result = tally(
        [{A: -3, B: 4}], CANDIDATES[:2], budget_minor=100_000, currency="EUR", eligible_voters=1, quorum_percent=50
    )
    outcome = {o.proposal_id: o for o in result.outcomes}
    assert outcome[A].score == -3 and outcome[A].reason == "score not above 0" and outcome[B].funded


def test_without_quorum_nothing_is_funded_and_the_result_says_so() -> None:
    result = tally(BALLOTS[:1], CANDIDATES, budget_minor=100_000, currency="EUR", eligible_voters=4, quorum_percent=50)
    assert not result.quorum_met and result.funded_minor == 0
    assert all(o.reason == "no quorum: 1 of 4 circle members voted, 50% needed" for o in result.outcomes)


def test_quorum_is_exact_integer_arithmetic() -> None:
    assert quorum_met(2, 4, 50) and not quorum_met(1, 3, 34) and quorum_met(2, 3, 66) and not quorum_met(2, 3, 67)
    assert not quorum_met(0, 0, 50) and quorum_met(0, 0, 0)


def test_ties_go_to_the_smaller_amount_then_the_earlier_submission() -> None:
    candidates = [Candidate(1, 500, 2), Candidate(2, 500, 1), Candidate(3, 400, 3)]
    result = tally(
        [{1: 2, 2: 2, 3: 2}], candidates, budget_minor=10_000, currency="EUR", eligible_voters=1, quorum_percent=0
    )
    assert [o.proposal_id for o in result.outcomes] == [3, 2, 1]


def test_votes_for_proposals_no_longer_in_the_round_are_ignored() -> None:
    result = tally(
        [{A: 5, 99: 9}], CANDIDATES[:1], budget_minor=100_000, currency="EUR", eligible_voters=1, quorum_percent=0
    )
    assert [(o.proposal_id, o.score) for o in result.outcomes] == [(A, 5)]


# --- properties ----------------------------------------------------------------------------------------------

ids = st.integers(min_value=1, max_value=12)
candidates_strategy = st.lists(
    st.builds(Candidate, id=ids, amount_minor=st.integers(1, 50_000), submitted_order=st.integers(0, 1000)),
    min_size=1,
    max_size=12,
    unique_by=lambda c: c.id,
)


@st.composite
def rounds(draw: st.DrawFn) -> tuple[list[Candidate], list[dict[int, int]], int]:
    candidates = draw(candidates_strategy)
    candidate_ids = [c.id for c in candidates]
    ballots = draw(
        st.lists(st.dictionaries(st.sampled_from(candidate_ids), st.integers(-6, 6), max_size=6), max_size=10)
    )
    budget = draw(st.integers(1, 200_000))
    return candidates, ballots, budget


@given(st.dictionaries(ids, st.integers(-20, 20), max_size=8), st.integers(0, 500), st.booleans())
def test_an_accepted_ballot_never_costs_more_than_the_credits(
    votes: dict[int, int], credits: int, negative: bool
) -> None:
    try:
        cost = check_ballot(votes, credits=credits, allow_negative=negative, proposal_ids=set(range(1, 13)))
    except BallotError:
        return
    assert cost <= credits and cost == sum(v * v for v in votes.values())


@given(rounds())
def test_funded_amounts_never_exceed_the_budget(round_: tuple[list[Candidate], list[dict[int, int]], int]) -> None:
    candidates, ballots, budget = round_
    result = tally(
        ballots, candidates, budget_minor=budget, currency="EUR", eligible_voters=len(ballots), quorum_percent=0
    )
    funded = sum(o.amount_minor for o in result.outcomes if o.funded)
    assert funded == result.funded_minor <= budget
    assert all(o.score > 0 for o in result.outcomes if o.funded)


@given(rounds(), st.randoms())
def test_the_result_does_not_depend_on_the_order_of_ballots_or_proposals(
    round_: tuple[list[Candidate], list[dict[int, int]], int], rng: random.Random
) -> None:
    candidates, ballots, budget = round_
    kwargs = {"budget_minor": budget, "currency": "EUR", "eligible_voters": len(ballots), "quorum_percent": 0}
    shuffled_ballots, shuffled_candidates = ballots[:], candidates[:]
    rng.shuffle(shuffled_ballots)
    rng.shuffle(shuffled_candidates)
    assert tally(ballots, candidates, **kwargs) == tally(shuffled_ballots, shuffled_candidates, **kwargs)  # type: ignore[arg-type]


@given(rounds(), st.data())
def test_raising_a_funded_proposals_score_never_unfunds_it(
    round_: tuple[list[Candidate], list[dict[int, int]], int], data: st.DataObject
) -> None:
    candidates, ballots, budget = round_
    kwargs = {"budget_minor": budget, "currency": "EUR", "eligible_voters": len(ballots) + 1, "quorum_percent": 0}
    before = tally(ballots, candidates, **kwargs)  # type: ignore[arg-type]
    funded = [o.proposal_id for o in before.outcomes if o.funded]
    if not funded:
        return
    chosen = data.draw(st.sampled_from(funded))
    extra = data.draw(st.integers(1, 5))
    after = tally([*ballots, {chosen: extra}], candidates, **kwargs)  # type: ignore[arg-type]
    assert next(o for o in after.outcomes if o.proposal_id == chosen).funded
