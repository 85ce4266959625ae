"""The round lifecycle: one phase at a time, cancel only before decided, deadlines in order, time left in words."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest

from fundcircle.rounds.phases import (
    ALL_PHASES,
    CANCELLED,
    PHASE_LABELS,
    PHASES,
    PhaseError,
    check_deadlines,
    check_transition,
    is_before,
    next_phases,
    time_left,
)

NOW = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)
LIFECYCLE = ["draft", "proposals", "deliberation", "deciding", "decided", "closed"]
BEFORE_DECIDED = ["draft", "proposals", "deliberation", "deciding"]

#: Every move the lifecycle allows, and nothing else.
ALLOWED = {
    ("draft", "proposals"),
    ("proposals", "deliberation"),
    ("deliberation", "deciding"),
    ("deciding", "decided"),
    ("decided", "closed"),
    *((phase, CANCELLED) for phase in BEFORE_DECIDED),
}


def test_the_phases_run_from_draft_to_closed_with_cancelled_aside():
    assert list(PHASES) == LIFECYCLE
    assert CANCELLED == "cancelled"
    assert list(ALL_PHASES) == [*LIFECYCLE, "cancelled"]
    assert set(PHASE_LABELS) == set(ALL_PHASES)


@pytest.mark.parametrize(("current", "following"), list(pairwise(LIFECYCLE)))
def test_a_round_moves_to_the_next_phase(current, following):
    check_transition(current, following)

    assert following in next_phases(current)


@pytest.mark.parametrize("current", BEFORE_DECIDED)
def test_a_round_can_be_cancelled_in_any_phase_before_decided(current):
    check_transition(current, CANCELLED)

    assert next_phases(current) == (LIFECYCLE[LIFECYCLE.index(current) + 1], CANCELLED)


@pytest.mark.parametrize("current", ["decided", "closed"])
def test_a_decided_or_closed_round_cannot_be_cancelled(current):
    with pytest.raises(PhaseError):
        check_transition(current, CANCELLED)


def test_a_decided_round_can_only_be_closed():
    assert next_phases("decided") == ("closed",)


@pytest.mark.parametrize("current", ["closed", "cancelled"])
def test_a_closed_or_cancelled_round_cannot_move_any_more(current):
    assert next_phases(current) == ()
    for target in ALL_PHASES:
        with pytest.raises(PhaseError, match=rf"^The round is {current} and cannot move any more\.$"):
            check_transition(current, target)


@pytest.mark.parametrize(
    ("current", "target"),
    [(current, target) for current in ALL_PHASES for target in ALL_PHASES if (current, target) not in ALLOWED],
)
def test_every_move_the_lifecycle_does_not_name_is_refused(current, target):
    with pytest.raises(PhaseError):
        check_transition(current, target)


@pytest.mark.parametrize(
    ("current", "target"),
    [("draft", "deliberation"), ("proposals", "deciding"), ("draft", "decided"), ("deciding", "closed")],
)
def test_a_round_cannot_skip_a_phase(current, target):
    with pytest.raises(PhaseError, match=rf"not to {target}\.$"):
        check_transition(current, target)


@pytest.mark.parametrize(
    ("current", "target"),
    [("proposals", "draft"), ("deciding", "deliberation"), ("decided", "deciding"), ("closed", "decided")],
)
def test_a_round_cannot_go_back(current, target):
    with pytest.raises(PhaseError):
        check_transition(current, target)


@pytest.mark.parametrize("current", LIFECYCLE)
def test_staying_in_the_same_phase_is_not_a_move(current):
    with pytest.raises(PhaseError):
        check_transition(current, current)


@pytest.mark.parametrize(
    ("current", "target", "message"),
    [
        ("draft", "deliberation", "A round in draft can move to proposals or cancelled, not to deliberation."),
        ("deliberation", "proposals", "A round in deliberation can move to deciding or cancelled, not to proposals."),
        ("deciding", "closed", "A round in deciding can move to decided or cancelled, not to closed."),
        ("decided", "cancelled", "A round in decided can move to closed, not to cancelled."),
    ],
)
def test_a_refused_move_names_the_moves_that_are_allowed(current, target, message):
    with pytest.raises(PhaseError) as caught:
        check_transition(current, target)

    assert str(caught.value) == message


def test_moving_to_something_that_is_not_a_phase_lists_the_phases():
    with pytest.raises(PhaseError) as caught:
        check_transition("draft", "voting")

    assert str(caught.value) == (
        "'voting' is not a phase; phases are draft, proposals, deliberation, deciding, decided, closed, cancelled."
    )


def test_a_round_in_an_unknown_phase_has_no_moves():
    with pytest.raises(PhaseError, match="unknown phase 'voting'"):
        next_phases("voting")
    with pytest.raises(PhaseError, match="unknown phase"):
        check_transition("voting", "proposals")


def test_following_the_lifecycle_from_draft_reaches_closed_in_five_moves():
    phase, moves = "draft", 0
    while next_phases(phase):
        phase = next_phases(phase)[0]
        moves += 1

    assert (phase, moves) == ("closed", 5)


@pytest.mark.parametrize(
    ("phase", "other", "before"),
    [
        ("draft", "proposals", True),
        ("draft", "closed", True),
        ("deciding", "decided", True),
        ("decided", "decided", False),
        ("closed", "draft", False),
        ("cancelled", "closed", False),
        ("draft", "cancelled", False),
    ],
)
def test_is_before_follows_the_lifecycle_and_puts_cancelled_before_nothing(phase, other, before):
    assert is_before(phase, other) is before


# --- deadlines ---------------------------------------------------------------------------------------------------


def deadlines(proposals=None, deliberation=None, deciding=None):
    return {
        "proposals_close_at": proposals,
        "deliberation_close_at": deliberation,
        "deciding_close_at": deciding,
    }


def days(n: float) -> datetime:
    return NOW + timedelta(days=n)


def test_deadlines_in_the_order_of_the_phases_are_fine():
    assert check_deadlines(deadlines(days(7), days(14), days(21))) == {}


def test_no_deadlines_at_all_are_fine():
    assert check_deadlines(deadlines()) == {}
    assert check_deadlines({}) == {}


def test_a_deliberation_deadline_before_the_proposals_deadline_is_refused():
    assert check_deadlines(deadlines(days(7), days(3), days(21))) == {
        "deliberation_close_at": "Must be after the end of proposals."
    }


def test_a_deadline_equal_to_the_one_before_is_refused():
    assert check_deadlines(deadlines(days(7), days(7), days(21))) == {
        "deliberation_close_at": "Must be after the end of proposals."
    }


def test_a_deciding_deadline_before_deliberation_ends_is_refused():
    assert check_deadlines(deadlines(days(7), days(14), days(10))) == {
        "deciding_close_at": "Must be after the end of deliberation."
    }


def test_a_missing_deadline_is_skipped_and_the_next_is_compared_with_the_one_before_it():
    assert check_deadlines(deadlines(days(7), None, days(14))) == {}
    assert check_deadlines(deadlines(days(7), None, days(5))) == {
        "deciding_close_at": "Must be after the end of proposals."
    }


def test_each_deadline_out_of_order_gets_its_own_message():
    errors = check_deadlines(deadlines(days(21), days(14), days(7)))

    assert errors == {
        "deliberation_close_at": "Must be after the end of proposals.",
        "deciding_close_at": "Must be after the end of deliberation.",
    }


# --- time left ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("left", "words"),
    [
        (timedelta(days=3), "3 days"),
        (timedelta(days=3, hours=23), "3 days"),
        (timedelta(days=1), "1 day"),
        (timedelta(hours=25), "1 day"),
        (timedelta(hours=23, minutes=59), "23 hours"),
        (timedelta(hours=5), "5 hours"),
        (timedelta(hours=1), "1 hour"),
        (timedelta(minutes=59, seconds=59), "59 minutes"),
        (timedelta(minutes=12), "12 minutes"),
        (timedelta(minutes=1), "1 minute"),
        (timedelta(seconds=59), "less than a minute"),
        (timedelta(seconds=1), "less than a minute"),
    ],
)
def test_time_left_says_how_long_in_the_largest_whole_unit(left, words):
    assert time_left(NOW + left, NOW) == words


@pytest.mark.parametrize("ago", [timedelta(0), timedelta(seconds=1), timedelta(days=400)])
def test_time_left_says_passed_once_the_deadline_is_reached(ago):
    assert time_left(NOW - ago, NOW) == "passed"


def test_time_left_is_none_without_a_deadline():
    assert time_left(None, NOW) is None
