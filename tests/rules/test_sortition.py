"""The sortition rule (fundcircle/circles/sortition.py): worked examples, properties over many inputs, fairness over
many seeds, and the command that re-runs a draw from its ledger entry alone."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fundcircle.circles.sortition import (
    ALGORITHM,
    VERSION,
    Volunteer,
    check_entry,
    draw,
    entry_data,
    newcomers_needed,
    pick_index,
)

SEED = "0" * 64
REPO = Path(__file__).resolve().parents[2]


def people(*ids: int, served: tuple[int, ...] = ()) -> list[Volunteer]:
    return [Volunteer(user_id, user_id in served) for user_id in ids]


def test_a_worked_example_follows_the_documented_steps_by_hand() -> None:
    # Pick 0 from [3, 5, 9]: SHA-256("<seed>|0|0") as a number, below 3 * floor(2**256 / 3), modulo 3.
    value = int.from_bytes(hashlib.sha256(f"{SEED}|0|0".encode()).digest(), "big")
    assert value < 3 * (2**256 // 3)
    first = [3, 5, 9][value % 3]
    rest = [user for user in (3, 5, 9) if user != first]
    value = int.from_bytes(hashlib.sha256(f"{SEED}|1|0".encode()).digest(), "big")
    second = rest[value % 2]
    assert draw(SEED, people(9, 3, 5), 2) == [first, second]


def test_the_recorded_example_stays_the_same_forever() -> None:
    # A change of the algorithm must change its version: old draws in ledgers are checked with this one.
    assert draw(SEED, people(1, 2, 3, 4, 5, 6), 3) == draw(SEED, people(6, 5, 4, 3, 2, 1), 3)
    assert draw("abc", people(1, 2, 3, 4, 5, 6), 3) == [2, 5, 4]


def test_fewer_volunteers_than_seats_are_all_chosen() -> None:
    assert sorted(draw(SEED, people(4, 2), 5)) == [2, 4]
    assert draw(SEED, [], 3) == []


def test_the_newcomers_share_is_rounded_up() -> None:
    assert newcomers_needed(3, 50) == 2
    assert newcomers_needed(4, 50) == 2
    assert newcomers_needed(5, 0) == 0
    assert newcomers_needed(1, 34) == 1


def test_half_newcomers_when_there_are_enough() -> None:
    volunteers = people(1, 2, 3, 4, 5, 6, served=(1, 2, 3, 4))
    for seed in ("a", "b", "c", "d", "e"):
        chosen = draw(seed, volunteers, 4, 50)
        assert len({5, 6} & set(chosen)) == 2, seed


def test_all_newcomers_when_fewer_than_the_share() -> None:
    chosen = draw(SEED, people(1, 2, 3, 4, 5, served=(1, 2, 3, 4)), 4, 100)
    assert 5 in chosen and len(chosen) == 4


def test_rejection_sampling_tries_again_above_the_limit() -> None:
    # With a pool of 2**255 + 1 nearly half the values are above the limit; the index is still in range.
    big = 2**255 + 1
    for pick in range(20):
        assert 0 <= pick_index(SEED, pick, big) < big


def test_an_empty_pool_or_a_bad_share_is_refused() -> None:
    with pytest.raises(ValueError):
        pick_index(SEED, 0, 0)
    with pytest.raises(ValueError):
        draw(SEED, people(1), 1, 101)


volunteer_lists = st.lists(st.builds(Volunteer, st.integers(min_value=1, max_value=10_000), st.booleans()), max_size=30)
seeds = st.text(min_size=1, max_size=64)


@settings(max_examples=200, deadline=None)
@given(seed=seeds, volunteers=volunteer_lists, seats=st.integers(min_value=0, max_value=40))
def test_the_same_inputs_give_the_same_draw_of_the_right_size_from_the_volunteers(
    seed: str, volunteers: list[Volunteer], seats: int
) -> None:
    chosen = draw(seed, volunteers, seats)
    assert chosen == draw(seed, list(reversed(volunteers)), seats)
    ids = {v.user_id for v in volunteers}
    assert set(chosen) <= ids
    assert len(set(chosen)) == len(chosen) == min(seats, len(ids))


@settings(max_examples=200, deadline=None)
@given(
    seed=seeds,
    volunteers=volunteer_lists,
    seats=st.integers(min_value=1, max_value=20),
    share=st.sampled_from([0, 34, 50, 100]),
)
def test_the_newcomers_share_holds_whenever_there_are_enough_newcomers(
    seed: str, volunteers: list[Volunteer], seats: int, share: int
) -> None:
    unique = {v.user_id: v for v in volunteers}
    newcomers = {user for user, v in unique.items() if not v.served_before}
    chosen = draw(seed, volunteers, seats, share)
    needed = newcomers_needed(min(seats, len(unique)), share)
    assert len(newcomers & set(chosen)) >= min(needed, len(newcomers))


@settings(max_examples=100, deadline=None)
@given(seed=seeds, volunteers=volunteer_lists, seats=st.integers(min_value=0, max_value=10))
def test_the_entry_holds_every_input_and_re_runs_to_its_result(
    seed: str, volunteers: list[Volunteer], seats: int
) -> None:
    data = entry_data(seed, volunteers, seats, 50)
    assert data["algorithm"] == ALGORITHM and data["version"] == VERSION
    assert [v["user"] for v in data["volunteers"]] == sorted({v.user_id for v in volunteers})
    assert check_entry(json.loads(json.dumps(data))).matches


def test_changing_the_seed_changes_the_draw() -> None:
    volunteers = people(*range(1, 21))
    draws = {tuple(draw(f"seed {n}", volunteers, 5)) for n in range(50)}
    assert len(draws) >= 45  # 15504 possible sets in pick order; 50 seeds almost never repeat one


def test_each_volunteer_is_chosen_a_fair_share_over_many_seeds() -> None:
    # 10 volunteers, 3 seats, 3000 seeds: each is expected 900 times; a biased rule (e.g. the low ids favoured by a
    # modulo) would leave some far off. The bounds are about 6 standard deviations wide, so a fair rule passes.
    counts: Counter[int] = Counter()
    volunteers = people(*range(1, 11))
    for n in range(3000):
        counts.update(draw(f"{n:064x}", volunteers, 3))
    assert set(counts) == set(range(1, 11))
    assert all(750 <= counts[user] <= 1050 for user in counts), counts
    first_picks = Counter(draw(f"first {n}", volunteers, 1)[0] for n in range(3000))
    assert all(200 <= first_picks[user] <= 400 for user in range(1, 11)), first_picks


def test_a_tampered_result_does_not_match() -> None:
    data = entry_data(SEED, people(1, 2, 3, 4), 2, 0)
    other = next(user for user in (1, 2, 3, 4) if user not in data["chosen"])
    data["chosen"] = [data["chosen"][0], other]
    result = check_entry({"seq": 7, "data": data})
    assert not result.matches and result.recorded != result.expected


def test_an_entry_of_another_kind_is_refused() -> None:
    with pytest.raises(ValueError):
        check_entry({"data": {"algorithm": "coin"}})
    with pytest.raises(ValueError):
        check_entry({"data": {"algorithm": ALGORITHM, "version": VERSION, "seed": "x"}})


def _run(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fundcircle.circles.sortition", str(path)],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
    )


def test_the_command_says_whether_an_entry_matches(tmp_path: Path) -> None:
    data = entry_data(SEED, people(1, 2, 3, 4, 5, served=(1,)), 3, 50)
    good = tmp_path / "entry.json"
    good.write_text(json.dumps({"seq": 12, "action": "rotation.drawn", "data": data}))
    result = _run(good)
    assert result.returncode == 0 and "matches" in result.stdout, result
    data["seed"] = "another seed"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"data": data}))
    result = _run(bad)
    assert result.returncode == 1 and "NOT match" in result.stdout, result
