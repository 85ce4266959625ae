"""Consent rules: PRODUCT.md's worked example, both rule sets, the budget rule, and properties."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fundcircle.consent.rules import Answer, ConsentError, check_answer, consent_outcome, quorum_count

EUR = {"currency": "EUR"}


def outcome(
    answers: list[Answer], *, rules: str = "sociocratic", size: int = 5, amount: int = 60_000, left: int = 100_000
):
    return consent_outcome(
        answers, rules=rules, circle_size=size, quorum_percent=50, amount_minor=amount, left_minor=left, **EUR
    )


def test_the_worked_example_community_fridge() -> None:
    round_1 = [
        Answer(1, "consent"),
        Answer(2, "consent"),
        Answer(3, "consent"),
        Answer(4, "concern"),
        Answer(5, "objection"),
    ]
    first = outcome(round_1)
    assert (first.state, first.reason) == ("open", "1 objection open")
    round_2 = [Answer(member, "consent") for member in range(1, 6)]
    second = outcome(round_2, amount=55_000)
    assert second.consented
    # 550.00 committed: 450.00 left, and a proposal asking 500.00 cannot be consented
    third = outcome(round_2, amount=50_000, left=45_000)
    assert (third.state, third.reason) == ("no_budget", "needs 500.00 EUR, 450.00 EUR left")
    assert outcome(round_2, amount=45_000, left=45_000).consented


def test_a_withdrawn_objection_no_longer_stops_consent() -> None:
    answers = [Answer(1, "consent"), Answer(2, "consent"), Answer(3, "objection", withdrawn=True)]
    assert outcome(answers).consented


def test_a_concern_is_recorded_and_does_not_block() -> None:
    assert outcome([Answer(1, "concern"), Answer(2, "concern"), Answer(3, "concern")]).consented


def test_consent_waits_for_the_quorum() -> None:
    result = outcome([Answer(1, "consent"), Answer(2, "consent")], size=7)
    assert (result.state, result.reason) == ("open", "waiting for 2 of 7 members")
    assert (
        quorum_count(7, 50) == 4 and quorum_count(4, 50) == 2 and quorum_count(3, 0) == 1 and quorum_count(0, 50) == 0
    )


def test_with_nobody_answered_it_says_so_instead_of_waiting_for_a_share() -> None:
    result = outcome([], size=3)
    assert (result.state, result.reason) == ("open", "nobody has answered yet, 0 of 3")


def test_in_consensus_one_block_stops_the_version_and_standing_aside_does_not() -> None:
    blocked = outcome([Answer(1, "agree"), Answer(2, "agree"), Answer(3, "block")], rules="consensus")
    assert (blocked.state, blocked.reason) == ("stopped", "blocked by 1")
    assert outcome([Answer(1, "agree"), Answer(2, "stand_aside"), Answer(3, "agree")], rules="consensus").consented


@pytest.mark.parametrize(
    ("rules", "position", "argument", "message"),
    [
        ("sociocratic", "objection", "  ", "an objection needs a written argument"),
        ("consensus", "block", "", "a block needs a written argument"),
        ("sociocratic", "block", "why", "Answer with one of: consent, concern, objection"),
        ("consensus", "consent", "", "Answer with one of: agree, stand aside, block"),
    ],
)
def test_answers_the_rules_refuse(rules: str, position: str, argument: str, message: str) -> None:
    with pytest.raises(ConsentError, match=message):
        check_answer(rules, position, argument)


def test_a_concern_may_have_an_argument_or_none() -> None:
    check_answer("sociocratic", "concern", "")
    check_answer("sociocratic", "concern", "The timeline is tight.")


answers_strategy = st.lists(
    st.builds(Answer, member_id=st.integers(1, 9), position=st.sampled_from(["consent", "concern", "objection"]),
              withdrawn=st.booleans()),
    max_size=9,
    unique_by=lambda a: a.member_id,
)  # fmt: skip


@given(answers_strategy, st.integers(1, 9), st.integers(0, 100))
def test_adding_a_consent_never_turns_consented_into_not_consented(
    answers: list[Answer], size: int, quorum: int
) -> None:
    kwargs = {
        "rules": "sociocratic",
        "circle_size": size,
        "quorum_percent": quorum,
        "amount_minor": 1,
        "left_minor": 1,
        **EUR,
    }
    before = consent_outcome(answers, **kwargs)
    newcomer = max([a.member_id for a in answers], default=0) + 1
    after = consent_outcome([*answers, Answer(newcomer, "consent")], **kwargs)
    if before.consented:
        assert after.consented


@given(answers_strategy, st.integers(1, 9), st.integers(0, 100))
def test_one_open_objection_always_stops_consent(answers: list[Answer], size: int, quorum: int) -> None:
    kwargs = {
        "rules": "sociocratic",
        "circle_size": size,
        "quorum_percent": quorum,
        "amount_minor": 1,
        "left_minor": 1,
        **EUR,
    }
    newcomer = max([a.member_id for a in answers], default=0) + 1
    assert not consent_outcome([*answers, Answer(newcomer, "objection")], **kwargs).consented


@given(st.lists(st.sampled_from(["agree", "stand_aside", "block"]), max_size=9), st.integers(0, 100))
def test_one_block_always_stops_a_consensus(positions: list[str], quorum: int) -> None:
    answers = [Answer(i, p) for i, p in enumerate(positions, start=1)] + [Answer(100, "block")]
    result = consent_outcome(
        answers, rules="consensus", circle_size=len(answers), quorum_percent=quorum, amount_minor=1, left_minor=1, **EUR
    )
    assert result.state == "stopped"
