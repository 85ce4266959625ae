"""Approval voting rules: a worked example, every refusal, properties, and the same funded sets as pabutools."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fundcircle.voting.approval import BallotError, Candidate, check_ballot, tally
from tests.rules import pabutools_reference

A, B, C, D = 1, 2, 3, 4
CANDIDATES = [Candidate(A, 40_000, 1), Candidate(B, 35_000, 2), Candidate(C, 30_000, 3), Candidate(D, 20_000, 4)]
BALLOTS = [{A, B}, {A, C}, {B, C, D}, {A, D}, {C}]


def test_the_most_approved_go_first_and_what_does_not_fit_is_skipped() -> None:
    # A, C: 3 approvals each (C is cheaper, so first); B, D: 2 each (D is cheaper).
    result = tally(BALLOTS, CANDIDATES, budget_minor=100_000, currency="EUR", eligible_voters=5, quorum_percent=50)
    assert [(o.proposal_id, o.score, o.funded, o.rank) for o in result.outcomes] == [
        (C, 3, True, 1),
        (A, 3, True, 2),
        (D, 2, True, 3),
        (B, 2, False, 4),
    ]
    assert result.outcomes[3].reason == "skipped: needs 350.00 EUR, 100.00 EUR left"
    assert result.funded_minor == 90_000 and result.left_minor == 10_000


def test_a_proposal_nobody_approves_is_not_funded_even_when_it_fits() -> None:
    result = tally([{A}], CANDIDATES[:2], budget_minor=100_000, currency="EUR", eligible_voters=1, quorum_percent=0)
    outcome = {o.proposal_id: o for o in result.outcomes}
    assert outcome[A].funded and not outcome[B].funded and outcome[B].reason == "no approvals"


def test_without_quorum_nothing_is_funded_and_the_result_says_so() -> None:
    result = tally(BALLOTS[:1], CANDIDATES, budget_minor=100_000, currency="EUR", eligible_voters=4, quorum_percent=50)
    assert not result.quorum_met and result.funded_minor == 0
    assert all(o.reason == "no quorum: 1 of 4 circle members voted, 50% needed" for o in result.outcomes)


def test_an_approval_counts_once_and_withdrawn_proposals_are_ignored() -> None:
    result = tally(
        [[A, A, 99]], CANDIDATES[:1], budget_minor=100_000, currency="EUR", eligible_voters=1, quorum_percent=0
    )
    assert [(o.proposal_id, o.score) for o in result.outcomes] == [(A, 1)]


def test_a_ballot_within_the_maximum_is_accepted() -> None:
    assert check_ballot({A, B}, proposal_ids={A, B, C}, max_approvals=2) == 2
    assert check_ballot(set(), proposal_ids={A, B, C}, max_approvals=2) == 0
    assert check_ballot({A, B, C}, proposal_ids={A, B, C}, max_approvals=None) == 3


@pytest.mark.parametrize(
    ("approved", "maximum", "message"),
    [
        ([A, B, C], 2, "approves 3 proposals, 1 more than the 2 this round allows"),
        ([99], None, "Proposal 99 is not open for votes"),
        ([A, A], None, "approved twice"),
        (["A"], None, "is not a proposal of this round"),
        ([True], None, "is not a proposal of this round"),
    ],
)
def test_bad_ballots_are_refused_with_a_reason(approved: list[object], maximum: int | None, message: str) -> None:
    with pytest.raises(BallotError, match=message):
        check_ballot(approved, proposal_ids={A, B, C}, max_approvals=maximum)  # type: ignore[arg-type]


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
def rounds(draw: st.DrawFn) -> tuple[list[Candidate], list[set[int]], int]:
    candidates = draw(candidates_strategy)
    ballots = draw(st.lists(st.sets(st.sampled_from([c.id for c in candidates]), max_size=6), max_size=10))
    return candidates, ballots, draw(st.integers(1, 200_000))


def _kwargs(budget: int, ballots: list[set[int]]) -> dict[str, object]:
    return {"budget_minor": budget, "currency": "EUR", "eligible_voters": len(ballots), "quorum_percent": 0}


@given(rounds())
def test_funded_amounts_never_exceed_the_budget_and_only_approved_are_funded(
    round_: tuple[list[Candidate], list[set[int]], int],
) -> None:
    candidates, ballots, budget = round_
    result = tally(ballots, candidates, **_kwargs(budget, ballots))  # type: ignore[arg-type]
    assert sum(o.amount_minor for o in result.outcomes if o.funded) == result.funded_minor <= budget
    assert all(o.score > 0 for o in result.outcomes if o.funded)


@given(rounds(), st.randoms())
def test_the_funded_set_is_the_same_whoever_is_voter_one(
    round_: tuple[list[Candidate], list[set[int]], int], rng: random.Random
) -> None:
    candidates, ballots, budget = round_
    shuffled_ballots, shuffled_candidates = ballots[:], candidates[:]
    rng.shuffle(shuffled_ballots)
    rng.shuffle(shuffled_candidates)
    kwargs = _kwargs(budget, ballots)
    assert tally(ballots, candidates, **kwargs) == tally(shuffled_ballots, shuffled_candidates, **kwargs)  # type: ignore[arg-type]


@given(rounds())
def test_the_result_is_the_prefix_greedy_of_the_sorted_order(
    round_: tuple[list[Candidate], list[set[int]], int],
) -> None:
    candidates, ballots, budget = round_
    result = tally(ballots, candidates, **_kwargs(budget, ballots))  # type: ignore[arg-type]
    approvals = {c.id: sum(c.id in b for b in ballots) for c in candidates}
    order = sorted(candidates, key=lambda c: (-approvals[c.id], c.amount_minor, c.submitted_order, c.id))
    assert [o.proposal_id for o in result.outcomes] == [c.id for c in order]
    # Walking the order: a proposal is funded exactly when it is approved and fits in what the earlier ones left.
    left = budget
    for candidate in order:
        expected = approvals[candidate.id] > 0 and candidate.amount_minor <= left
        left -= candidate.amount_minor if expected else 0
        assert next(o for o in result.outcomes if o.proposal_id == candidate.id).funded is expected


# --- against pabutools ---------------------------------------------------------------------------------------


def test_the_funded_set_is_the_one_pabutools_greedy_finds_on_600_random_rounds() -> None:
    rng = random.Random(20_2001)
    for _ in range(600):
        candidates = pabutools_reference.random_candidates(rng)
        ids = [c.id for c in candidates]
        ballots = [set(rng.sample(ids, rng.randint(0, len(ids)))) for _ in range(rng.randint(3, 30))]
        budget = rng.randint(1, sum(c.amount_minor for c in candidates))
        result = tally(ballots, candidates, **_kwargs(budget, ballots))  # type: ignore[arg-type]
        ours = {o.proposal_id for o in result.outcomes if o.funded}
        assert ours == pabutools_reference.approval(ballots, candidates, budget, "greedy", None), (candidates, ballots)


def test_the_worked_example_funds_what_pabutools_greedy_funds() -> None:
    result = tally(BALLOTS, CANDIDATES, budget_minor=100_000, currency="EUR", eligible_voters=5, quorum_percent=0)
    ours = {o.proposal_id for o in result.outcomes if o.funded}
    assert ours == pabutools_reference.approval(BALLOTS, CANDIDATES, 100_000, "greedy", None) == {A, C, D}
