"""The round lifecycle: one phase at a time, cancel only before decided, deadlines in order, the phase a round is
really in once deadlines pass, time left in words."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fundcircle.rounds.phases import (
    ALL_PHASES,
    CANCELLED,
    COUNTING,
    EFFECTIVE_PHASES,
    PHASE_LABELS,
    PHASES,
    PhaseError,
    check_deadlines,
    check_transition,
    effective_phase,
    format_time,
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
    # every phase a page can show has a label: the stored ones, and COUNTING, which is never stored
    assert COUNTING not in ALL_PHASES
    assert set(PHASE_LABELS) == {*ALL_PHASES, COUNTING}


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
        ("deciding", COUNTING, True),
        (COUNTING, "decided", True),
        (COUNTING, "deciding", False),
        (COUNTING, "cancelled", False),
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


# --- the phase a round is really in -------------------------------------------------------------------------------
#
# The worked example: proposals close on 11 May, deliberation on 18 May, deciding on 25 May (NOW is 4 May, 12:00).

MAY = deadlines(days(7), days(14), days(21))


@pytest.mark.parametrize(
    ("stored", "at", "really"),
    [
        # nobody ran `rounds tick`: the stored phase is still proposals, whatever the date
        ("proposals", days(0), "proposals"),
        ("proposals", days(7) - timedelta(seconds=1), "proposals"),
        ("proposals", days(7), "deliberation"),  # a deadline passes at its very moment
        ("proposals", days(10), "deliberation"),
        ("proposals", days(14), "deciding"),  # two deadlines passed: past both
        ("proposals", days(21), COUNTING),  # all three: deciding closed, the result not stored yet
        ("proposals", days(400), COUNTING),
        # the tick (or an admin) moved it: the same answers from there
        ("deliberation", days(10), "deliberation"),
        ("deliberation", days(15), "deciding"),
        ("deciding", days(20), "deciding"),
        ("deciding", days(21), COUNTING),
        # an admin moved it on early: the later deadlines still hold, the earlier ones no longer matter
        ("deciding", days(1), "deciding"),
        # phases without a deadline of their own stay as they are
        ("draft", days(400), "draft"),
        ("decided", days(400), "decided"),
        ("closed", days(400), "closed"),
        (CANCELLED, days(400), CANCELLED),
    ],
)
def test_a_round_is_in_the_phase_its_passed_deadlines_put_it_in(stored, at, really):
    assert effective_phase(stored, MAY, at) == really


def test_a_phase_without_a_deadline_lasts_until_someone_moves_the_round_on():
    no_deliberation_deadline = deadlines(days(7), None, days(21))

    assert effective_phase("proposals", no_deliberation_deadline, days(30)) == "deliberation"
    assert effective_phase("deliberation", no_deliberation_deadline, days(30)) == "deliberation"
    assert effective_phase("proposals", deadlines(), days(30)) == "proposals"
    assert effective_phase("deciding", {}, days(30)) == "deciding"


def test_a_counting_round_says_so_in_words():
    assert PHASE_LABELS[COUNTING] == "Deciding closed, awaiting the count"
    assert format_time(days(21)) == "25 May 2026, 12:00 UTC"


@pytest.mark.parametrize("phase", [COUNTING, "voting", ""])
def test_only_a_stored_phase_has_an_effective_phase(phase):
    with pytest.raises(PhaseError, match="unknown phase"):
        effective_phase(phase, MAY, NOW)


#: Deadlines in order (as `check_deadlines` keeps them), each one possibly missing, within a year of NOW.
ordered_deadlines = (
    st.lists(st.integers(0, 365 * 24 * 60), min_size=3, max_size=3, unique=True)
    .flatmap(
        lambda minutes: st.tuples(*(st.one_of(st.none(), st.just(NOW + timedelta(minutes=m))) for m in sorted(minutes)))
    )
    .map(lambda three: deadlines(*three))
)
moments = st.integers(-24 * 60, 400 * 24 * 60).map(lambda minutes: NOW + timedelta(minutes=minutes))


@given(st.sampled_from(ALL_PHASES), ordered_deadlines, moments, moments)
def test_time_only_moves_a_round_forward(stored, deadlines_, earlier, later):
    earlier, later = min(earlier, later), max(earlier, later)
    then, afterwards = effective_phase(stored, deadlines_, earlier), effective_phase(stored, deadlines_, later)

    assert afterwards == then or is_before(then, afterwards)


@given(st.sampled_from(ALL_PHASES), ordered_deadlines, moments)
def test_a_round_is_never_behind_its_stored_phase_nor_past_counting(stored, deadlines_, now):
    really = effective_phase(stored, deadlines_, now)

    assert really in (*EFFECTIVE_PHASES, CANCELLED)
    assert really == stored or (is_before(stored, really) and not is_before(COUNTING, really))


@given(st.sampled_from(ALL_PHASES), ordered_deadlines, moments)
def test_the_effective_phase_is_where_rounds_tick_would_move_the_round(stored, deadlines_, now):
    """The same walk as the tick's, one due move at a time; where the tick would decide the round, COUNTING."""
    phase = stored
    while phase in ("proposals", "deliberation", "deciding"):
        deadline = deadlines_[f"{phase}_close_at"]
        if deadline is None or deadline > now:
            break
        phase = next_phases(phase)[0]

    expected = COUNTING if phase == "decided" and stored != "decided" else phase
    assert effective_phase(stored, deadlines_, now) == expected


@given(st.sampled_from(ALL_PHASES), ordered_deadlines, moments)
def test_once_the_stored_phase_catches_up_the_effective_phase_stays(stored, deadlines_, now):
    """Storing what the deadlines say (as the tick does) changes nothing that a page shows."""
    really = effective_phase(stored, deadlines_, now)
    if really != COUNTING:
        assert effective_phase(really, deadlines_, now) == really


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
