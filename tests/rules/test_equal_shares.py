"""The method of equal shares: worked examples computed by hand, properties, and pabutools' funded sets."""

from __future__ import annotations

import random
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fundcircle.voting.equal_shares import SharesTally, approval_tally, cardinal_tally
from fundcircle.voting.quadratic import Candidate
from tests.rules import pabutools_reference

A, B, C = 1, 2, 3


def _reasons(result: SharesTally) -> list[tuple[int, bool, str]]:
    return [(o.proposal_id, o.funded, o.reason) for o in result.outcomes]


def test_approval_supporters_share_a_proposal_equally_and_the_rest_is_told_what_was_missing() -> None:
    # 4 members, 400.00 EUR: a share of 100.00 each. A (300.00) by m1-m3 costs them 100.00 each, 1/3 of its amount
    # per supporter, less than C (100.00) by m1 and m4 at 50.00 each, 1/2 of it. B (200.00) has only m4.
    candidates = [Candidate(A, 30_000, 1), Candidate(B, 20_000, 2), Candidate(C, 10_000, 3)]
    ballots = [{A, C}, {A}, {A}, {B, C}]
    result = approval_tally(
        ballots, candidates, budget_minor=40_000, currency="EUR", eligible_voters=4, quorum_percent=50
    )
    assert result.share_minor == 10_000 and result.funded_minor == 40_000
    assert _reasons(result) == [
        (A, True, "funded: 3 supporters each paid 100.00 EUR"),
        (C, True, "funded: 2 supporters; 1 paid all they had left, the others 100.00 EUR each"),
        (
            B,
            False,
            "not funded: its supporters had 0.00 EUR left of the 200.00 EUR it needs, "
            "and the 0.00 EUR of the budget still unspent could not pay for it",
        ),
    ]
    assert result.left_by_ballot == tuple(map(Fraction, (0, 0, 0, 0)))


def test_add1_grows_the_shares_until_the_next_proposal_would_not_fit() -> None:
    # 12 members, 1,200.00 EUR: 100.00 each. P (300.00) by all: 25.00 each. R (800.00) by m1-m8, who have 75.00
    # each left: 600.00 is not enough. Add1 grows the shares by 1.00 EUR until, at 125.00, m1-m8 have 100.00 each
    # left and R is paid; then 100.00 EUR is left, and Q (1,000.00) by m9-m11 fits neither MES nor the budget.
    P, Q, R = 1, 2, 3
    candidates = [Candidate(P, 30_000, 1), Candidate(Q, 100_000, 2), Candidate(R, 80_000, 3)]
    ballots = [{P, R}] * 8 + [{P, Q}] * 3 + [{P}]
    result = approval_tally(
        ballots, candidates, budget_minor=120_000, currency="EUR", eligible_voters=12, quorum_percent=0
    )
    assert result.share_minor == 12_500 and result.funded_minor == 110_000
    assert _reasons(result) == [
        (P, True, "funded: 12 supporters each paid 25.00 EUR"),
        (R, True, "funded: 8 supporters each paid 100.00 EUR"),
        (
            Q,
            False,
            "not funded: its supporters had 300.00 EUR left of the 1,000.00 EUR it needs, "
            "and the 100.00 EUR of the budget still unspent could not pay for it",
        ),
    ]
    once = approval_tally(
        ballots,
        candidates,
        budget_minor=120_000,
        currency="EUR",
        eligible_voters=12,
        quorum_percent=0,
        increment_minor=None,
    )
    # Without Add1 the greedy completion takes R (the most support that fits the 900.00 EUR left).
    assert [o.funded_by for o in once.outcomes] == ["equal shares", "completion", ""]
    assert once.outcomes[1].reason == (
        "funded in the completion: its supporters had 600.00 EUR left of the 800.00 EUR it needs; going by most "
        "support, the completion paid it from the 900.00 EUR of the budget still unspent"
    )


def test_cumulative_supporters_pay_per_point_and_one_who_runs_out_pays_all_they_have() -> None:
    # 2 members, 100.00 EUR: 50.00 each. m1 gives A 3 points and B 1; m2 gives A 1. B (10.00) costs m1 10.00 per
    # point; A (80.00) would cost 20.00 a point, 60.00 for m1 who has 50.00, so 30.00 a point: B goes first. Then m1
    # has 40.00: A costs m1 all 40.00 and m2 40.00 for its 1 point.
    candidates = [Candidate(A, 8_000, 1), Candidate(B, 1_000, 2)]
    result = cardinal_tally(
        [{A: 3, B: 1}, {A: 1}],
        candidates,
        budget_minor=10_000,
        currency="EUR",
        eligible_voters=2,
        quorum_percent=0,
        unit="point",
        increment_minor=None,
    )
    assert _reasons(result) == [
        (B, True, "funded: 1 supporter paid 10.00 EUR"),
        (
            A,
            True,
            "funded: 2 supporters paid 40.00 EUR for each point they gave; 1 of them paid less: all they had left",
        ),
    ]
    assert result.left_by_ballot == (Fraction(0), Fraction(1_000)) and result.funded_minor == 9_000


def test_quadratic_votes_against_are_no_support_and_an_unsupported_proposal_says_so() -> None:
    candidates = [Candidate(A, 3_000, 1), Candidate(B, 1_000, 2)]
    result = cardinal_tally(
        [{A: 2, B: -3}, {A: 1, B: -1}, {}],
        candidates,
        budget_minor=9_000,
        currency="EUR",
        eligible_voters=3,
        quorum_percent=0,
        unit="vote",
        increment_minor=None,
    )
    # 30.00 EUR each; A (30.00) costs 10.00 per vote: 20.00 and 10.00. The empty ballot still holds a share.
    assert _reasons(result) == [
        (A, True, "funded: 2 supporters paid 10.00 EUR for each vote they gave"),
        (B, False, "not funded: nobody supported it"),
    ]
    assert [o.support for o in result.outcomes] == [3, 0]
    assert result.left_by_ballot == tuple(map(Fraction, (1_000, 2_000, 3_000)))


def test_an_inexact_share_is_said_to_be_about_and_the_money_stays_exact() -> None:
    result = approval_tally(
        [{A}, {A}, {A}],
        [Candidate(A, 1_000, 1)],
        budget_minor=1_000,
        currency="EUR",
        eligible_voters=3,
        quorum_percent=0,
    )
    assert result.outcomes[0].reason == "funded: 3 supporters each paid about 3.33 EUR"
    assert result.outcomes[0].paid_minor == 1_000 and result.share_minor == Fraction(1_000, 3)


@pytest.mark.parametrize("step", [0, -100, True])
def test_an_add1_step_that_is_not_a_positive_amount_is_refused_in_words(step: int) -> None:
    with pytest.raises(ValueError, match="Add1 step is a positive whole number of minor units"):
        approval_tally(
            [{A}],
            [Candidate(A, 1_000, 1)],
            budget_minor=5_000,
            currency="EUR",
            eligible_voters=1,
            quorum_percent=0,
            increment_minor=step,
        )


def test_the_default_add1_step_is_one_major_unit_of_the_currency() -> None:
    # 2 members, 10 JPY: 5 each; A (6) by m1 needs one more yen on each share, one Add1 step in yen. In euros the
    # step is 1.00 EUR, not 1 cent: from 5.00 EUR, A (5.50) is paid at a share of 6.00 EUR.
    kwargs = {"budget_minor": 10, "eligible_voters": 2, "quorum_percent": 0}
    yen = approval_tally([{A}, set()], [Candidate(A, 6, 1)], currency="JPY", **kwargs)
    assert yen.share_minor == 6 and yen.outcomes[0].funded_by == "equal shares"
    euro = approval_tally([{A}, set()], [Candidate(A, 550, 1)], currency="EUR", **{**kwargs, "budget_minor": 1_000})
    assert euro.share_minor == 600 and euro.outcomes[0].reason == "funded: 1 supporter paid 5.50 EUR"


def test_what_supporters_had_is_rounded_down_so_it_never_reads_as_enough() -> None:
    # 3 members, 20.00 EUR: 6.666... each. A (6.67) by m1 alone: m1 has 6.66 and two thirds of a cent, not 6.67.
    result = approval_tally(
        [{A}, set(), set()],
        [Candidate(A, 667, 1)],
        budget_minor=2_000,
        currency="EUR",
        eligible_voters=3,
        quorum_percent=0,
        increment_minor=None,
    )
    assert result.outcomes[0].funded_by == "completion"
    assert result.outcomes[0].reason.startswith(
        "funded in the completion: its supporters had about 6.66 EUR left of the 6.67 EUR it needs"
    )


def test_without_quorum_nothing_is_funded_and_the_result_says_so() -> None:
    result = approval_tally(
        [{A}], [Candidate(A, 1_000, 1)], budget_minor=5_000, currency="EUR", eligible_voters=4, quorum_percent=50
    )
    assert not result.quorum_met and result.funded_minor == 0
    assert _reasons(result) == [(A, False, "no quorum: 1 of 4 circle members voted, 50% needed")]


def test_the_worked_examples_fund_what_pabutools_funds() -> None:
    candidates = [Candidate(A, 30_000, 1), Candidate(B, 20_000, 2), Candidate(C, 10_000, 3)]
    ballots: list[set[int]] = [{A, C}, {A}, {A}, {B, C}]
    assert pabutools_reference.approval(ballots, candidates, 40_000, "mes", 100) == {A, C}
    p_q_r = [Candidate(1, 30_000, 1), Candidate(2, 100_000, 2), Candidate(3, 80_000, 3)]
    twelve = [{1, 3}] * 8 + [{1, 2}] * 3 + [{1}]
    assert pabutools_reference.approval(twelve, p_q_r, 120_000, "mes", 100) == {1, 3}
    assert pabutools_reference.approval(twelve, p_q_r, 120_000, "mes", None) == {1, 3}
    votes = [{A: 2, B: -3}, {A: 1, B: -1}, {}]
    assert pabutools_reference.cardinal(
        votes, [Candidate(A, 3_000, 1), Candidate(B, 1_000, 2)], 9_000, "mes", None
    ) == {A}
    points = [{A: 3, B: 1}, {A: 1}]
    assert pabutools_reference.cardinal(
        points, [Candidate(A, 8_000, 1), Candidate(B, 1_000, 2)], 10_000, "mes", None
    ) == {
        A,
        B,
    }


# --- properties ----------------------------------------------------------------------------------------------

candidates_strategy = st.lists(
    st.builds(
        Candidate, id=st.integers(1, 10), amount_minor=st.integers(1, 20_000), submitted_order=st.integers(0, 100)
    ),
    min_size=1,
    max_size=8,
    unique_by=lambda c: c.id,
)


@st.composite
def rounds(draw: st.DrawFn) -> tuple[list[Candidate], list[dict[int, int]], int, int | None, bool]:
    candidates = draw(candidates_strategy)
    approval = draw(st.booleans())
    values = st.just(1) if approval else st.integers(-3, 6)
    ballots = draw(
        st.lists(st.dictionaries(st.sampled_from([c.id for c in candidates]), values, max_size=5), max_size=8)
    )
    budget = draw(st.integers(1, 60_000))
    increment = draw(st.one_of(st.none(), st.integers(500, 5_000)))
    return candidates, ballots, budget, increment, approval


def _run(round_: tuple[list[Candidate], list[dict[int, int]], int, int | None, bool]) -> SharesTally:
    candidates, ballots, budget, increment, approval = round_
    kwargs = {"budget_minor": budget, "currency": "EUR", "eligible_voters": len(ballots), "quorum_percent": 0}
    if approval:
        return approval_tally([set(b) for b in ballots], candidates, increment_minor=increment, **kwargs)  # type: ignore[arg-type]
    return cardinal_tally(ballots, candidates, unit="vote", increment_minor=increment, **kwargs)  # type: ignore[arg-type]


@given(rounds())
def test_never_over_budget_and_only_supported_proposals_are_funded(
    round_: tuple[list[Candidate], list[dict[int, int]], int, int | None, bool],
) -> None:
    result = _run(round_)
    assert sum(o.amount_minor for o in result.outcomes if o.funded) == result.funded_minor <= round_[2]
    assert all(o.support > 0 for o in result.outcomes if o.funded)


@given(rounds())
def test_each_proposal_funded_by_equal_shares_is_paid_exactly_by_its_supporters_out_of_their_shares(
    round_: tuple[list[Candidate], list[dict[int, int]], int, int | None, bool],
) -> None:
    result = _run(round_)
    paid = Fraction(0)
    for outcome in result.outcomes:
        if outcome.funded_by == "equal shares":
            assert outcome.paid_minor == outcome.amount_minor
        else:
            assert outcome.paid_minor == 0
        paid += outcome.paid_minor
    assert all(left >= 0 for left in result.left_by_ballot)
    assert paid + sum(result.left_by_ballot) == result.share_minor * result.ballots_cast
    # Nobody pays for what they did not support: a ballot supporting nothing funded by equal shares keeps its share.
    by_equal_shares = {o.proposal_id for o in result.outcomes if o.funded_by == "equal shares"}
    for ballot, left in zip(round_[1], result.left_by_ballot, strict=True):
        if not any(value > 0 and pid in by_equal_shares for pid, value in ballot.items()):
            assert left == result.share_minor


@given(rounds())
def test_every_proposal_is_told_why_in_words(
    round_: tuple[list[Candidate], list[dict[int, int]], int, int | None, bool],
) -> None:
    for outcome in _run(round_).outcomes:
        expected = ("funded: ", "funded in the completion: ") if outcome.funded else ("not funded: ",)
        assert outcome.reason.startswith(expected)
        assert " EUR" in outcome.reason or outcome.reason == "not funded: nobody supported it"


@given(rounds(), st.randoms())
def test_the_funded_set_does_not_depend_on_who_is_voter_one(
    round_: tuple[list[Candidate], list[dict[int, int]], int, int | None, bool], rng: random.Random
) -> None:
    candidates, ballots, budget, increment, approval = round_
    shuffled_ballots, shuffled_candidates = ballots[:], candidates[:]
    rng.shuffle(shuffled_ballots)
    rng.shuffle(shuffled_candidates)
    before = _run(round_)
    after = _run((shuffled_candidates, shuffled_ballots, budget, increment, approval))
    assert [(o.proposal_id, o.funded, o.reason) for o in before.outcomes] == [
        (o.proposal_id, o.funded, o.reason) for o in after.outcomes
    ]


# --- against pabutools ---------------------------------------------------------------------------------------


def _increment(rng: random.Random, budget: int, voters: int) -> int | None:
    """Half the rounds run MES once; the others Add1 with a step of a tenth to a half of a share, or 1.00 EUR."""
    choice = rng.random()
    if choice < 0.5:
        return None
    if choice < 0.6:
        return 100
    return max(1, budget // (voters * rng.randint(2, 10)))


def _cardinal_ballots(rng: random.Random, candidates: list[Candidate], against: bool) -> list[dict[int, int]]:
    ballots = []
    for _voter in range(rng.randint(3, 30)):
        points, ballot = 10, {}
        for candidate in rng.sample(candidates, rng.randint(0, len(candidates))):
            given_points = rng.randint(-3 if against else 0, points)
            ballot[candidate.id], points = given_points, points - max(given_points, 0)
        ballots.append(ballot)
    return ballots


def test_approval_equal_shares_funds_what_pabutools_funds_on_600_random_rounds() -> None:
    rng = random.Random(20_2003)
    for _ in range(600):
        candidates = pabutools_reference.random_candidates(rng)
        ids = [c.id for c in candidates]
        ballots = [set(rng.sample(ids, rng.randint(0, len(ids)))) for _ in range(rng.randint(3, 30))]
        budget = rng.randint(1, sum(c.amount_minor for c in candidates))
        increment = _increment(rng, budget, len(ballots))
        result = approval_tally(
            ballots,
            candidates,
            budget_minor=budget,
            currency="EUR",
            eligible_voters=len(ballots),
            quorum_percent=0,
            increment_minor=increment,
        )
        ours = {o.proposal_id for o in result.outcomes if o.funded}
        theirs = pabutools_reference.approval(ballots, candidates, budget, "mes", increment)
        assert ours == theirs, (candidates, ballots, budget, increment)


def test_cumulative_equal_shares_funds_what_pabutools_funds_on_600_random_rounds() -> None:
    rng = random.Random(20_2004)
    for _ in range(600):
        candidates = pabutools_reference.random_candidates(rng)
        ballots = _cardinal_ballots(rng, candidates, against=False)
        budget = rng.randint(1, sum(c.amount_minor for c in candidates))
        increment = _increment(rng, budget, len(ballots))
        result = cardinal_tally(
            ballots,
            candidates,
            budget_minor=budget,
            currency="EUR",
            eligible_voters=len(ballots),
            quorum_percent=0,
            unit="point",
            increment_minor=increment,
        )
        ours = {o.proposal_id for o in result.outcomes if o.funded}
        theirs = pabutools_reference.cardinal(ballots, candidates, budget, "mes", increment)
        assert ours == theirs, (candidates, ballots, budget, increment)


def test_quadratic_equal_shares_funds_what_pabutools_funds_on_600_random_rounds() -> None:
    rng = random.Random(20_2005)
    for _ in range(600):
        candidates = pabutools_reference.random_candidates(rng)
        ballots = _cardinal_ballots(rng, candidates, against=True)
        budget = rng.randint(1, sum(c.amount_minor for c in candidates))
        increment = _increment(rng, budget, len(ballots))
        result = cardinal_tally(
            ballots,
            candidates,
            budget_minor=budget,
            currency="EUR",
            eligible_voters=len(ballots),
            quorum_percent=0,
            unit="vote",
            increment_minor=increment,
        )
        ours = {o.proposal_id for o in result.outcomes if o.funded}
        theirs = pabutools_reference.cardinal(ballots, candidates, budget, "mes", increment)
        assert ours == theirs, (candidates, ballots, budget, increment)
