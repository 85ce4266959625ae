"""Every reason the allocation rules write is a sentence fundcircle.voting.reasons can say again in the reader's
language: read back and said in English, it is the stored sentence word for word."""

from __future__ import annotations

import random

import pytest

from fundcircle.voting import rules
from fundcircle.voting.quadratic import Candidate
from fundcircle.voting.reasons import reason_saying, reason_text


def _reasons(seed: int) -> list[str]:
    rng = random.Random(seed)
    candidates = [Candidate(n, rng.choice((1_000, 3_333, 25_000, 40_000, 99_999)), n) for n in range(1, 7)]
    said = []
    for ballot_type in rules.BALLOT_TYPES:
        for allocation_rule in rules.ALLOCATION_RULES:
            ballots = [
                {c.id: rng.choice((0, 0, 1, 2, 3, -1 if ballot_type == "quadratic" else 0)) for c in candidates}
                for _ in range(rng.randint(0, 7))
            ]
            if ballot_type == "approval":
                ballots = [{pid: 1 for pid, value in ballot.items() if value > 0} for ballot in ballots]
            result = rules.decide(
                ballot_type,
                allocation_rule,
                ballots,
                candidates,
                budget_minor=rng.choice((50_000, 100_001, 120_000)),
                currency=rng.choice(("EUR", "JPY", "EUR")),
                eligible_voters=8,
                quorum_percent=rng.choice((0, 0, 50)),
            )
            said.extend(outcome.reason for outcome in result.outcomes)
    return said


@pytest.mark.parametrize("seed", range(40))
def test_every_reason_the_rules_write_is_read_back_and_said_again_the_same_in_english(seed: int) -> None:
    for reason in _reasons(seed):
        saying = reason_saying(reason)
        assert saying is not None, reason
        assert saying({}) == reason
        assert reason_text(reason) == reason


def test_the_sentences_of_every_kind_are_known() -> None:
    seen = {reason.split(":")[0] for seed in range(40) for reason in _reasons(seed)}
    assert {"funded", "no quorum", "skipped", "not funded", "funded in the completion"} <= seen
    assert {"score not above 0", "no approvals", "no points"} & seen
