"""The retrospective summary, on worked examples: counts, exact means, distributions, texts and names."""

from __future__ import annotations

from fractions import Fraction

import pytest

from fundcircle.rounds.retrospective_summary import Answer, summarise


def test_three_answers_give_their_means_distributions_and_texts_with_names_only_when_not_anonymous() -> None:
    summary = summarise(
        [
            Answer("the open questions", "longer deliberation", 4, 2, "Ana"),
            Answer("", "fewer forms", 5, 3, None),
            Answer("the budget talk", "  ", 2, 3, "Bo"),
        ]
    )
    assert summary.count == 3
    assert summary.fairness.mean == Fraction(11, 3)
    assert summary.fairness.mean_text == "3.7"
    assert summary.fairness.counts == {1: 0, 2: 1, 3: 0, 4: 1, 5: 1}
    assert summary.effort.mean == Fraction(8, 3)
    assert summary.effort.mean_text == "2.7"
    assert summary.effort.counts == {1: 0, 2: 1, 3: 2, 4: 0, 5: 0}
    assert [(p.text, p.name) for p in summary.worked] == [("the open questions", "Ana"), ("the budget talk", "Bo")]
    assert [(p.text, p.name) for p in summary.change] == [("longer deliberation", "Ana"), ("fewer forms", None)]


def test_a_mean_is_rounded_half_up_to_one_decimal() -> None:
    # (3 + 4 + 4 + 4) / 4 = 3.75 -> 3.8; (1 + 2) / 2 = 1.5 -> 1.5
    assert summarise([Answer("", "", r, 1, None) for r in (3, 4, 4, 4)]).fairness.mean_text == "3.8"
    assert summarise([Answer("", "", r, 1, None) for r in (1, 2)]).fairness.mean_text == "1.5"


def test_no_answers_give_no_mean_and_zero_counts() -> None:
    summary = summarise([])
    assert summary.count == 0
    assert summary.fairness.mean is None and summary.fairness.mean_text == "–"
    assert summary.effort.counts == {1: 0, 2: 0, 3: 0, 4: 0, 5: 0}
    assert summary.worked == () and summary.change == ()


def test_a_rating_outside_one_to_five_is_refused() -> None:
    with pytest.raises(ValueError, match="1 to 5"):
        summarise([Answer("", "", 6, 1, None)])
