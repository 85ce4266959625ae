"""A circle's time zone: deadlines between the wall time people type and read and the UTC instant stored, across
daylight-saving changes, with the skipped spring hour refused and the repeated autumn hour read the same way always."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fundcircle.timezones import TimeZoneError, check_time_zone, format_in_zone, to_local, to_utc

# In 2027 Europe/Berlin leaves summer time on Sunday 31 October and starts it on Sunday 28 March; America/New_York
# leaves it on Sunday 7 November and starts it on Sunday 14 March.


def test_a_berlin_deadline_after_the_october_change_is_on_winter_time():
    assert to_utc(datetime(2027, 11, 2, 18, 0), "Europe/Berlin") == datetime(2027, 11, 2, 17, 0, tzinfo=UTC)


def test_a_berlin_deadline_before_the_october_change_is_on_summer_time():
    assert to_utc(datetime(2027, 10, 26, 18, 0), "Europe/Berlin") == datetime(2027, 10, 26, 16, 0, tzinfo=UTC)


def test_a_stored_deadline_reads_back_at_the_wall_time_it_was_typed_on_either_side_of_the_change():
    for typed in (datetime(2027, 10, 26, 18, 0), datetime(2027, 11, 2, 18, 0)):
        assert to_local(to_utc(typed, "Europe/Berlin"), "Europe/Berlin") == typed


def test_new_york_deadlines_follow_its_own_change_a_week_after_europes():
    assert to_utc(datetime(2027, 11, 2, 18, 0), "America/New_York") == datetime(2027, 11, 2, 22, 0, tzinfo=UTC)
    assert to_utc(datetime(2027, 11, 9, 18, 0), "America/New_York") == datetime(2027, 11, 9, 23, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("typed", "zone"),
    [(datetime(2027, 3, 28, 2, 30), "Europe/Berlin"), (datetime(2027, 3, 14, 2, 0), "America/New_York")],
)
def test_a_wall_time_skipped_in_spring_is_refused_with_the_reason(typed, zone):
    with pytest.raises(TimeZoneError) as caught:
        to_utc(typed, zone)

    assert str(caught.value) == (
        f"{typed:%-d %b %Y, %H:%M} does not exist in {zone}: the clocks skip that hour when summer time begins. "
        "Choose a time outside it."
    )


def test_the_hour_around_the_gap_is_accepted():
    assert to_utc(datetime(2027, 3, 28, 1, 59), "Europe/Berlin") == datetime(2027, 3, 28, 0, 59, tzinfo=UTC)
    assert to_utc(datetime(2027, 3, 28, 3, 0), "Europe/Berlin") == datetime(2027, 3, 28, 1, 0, tzinfo=UTC)


def test_a_wall_time_repeated_in_autumn_is_always_its_first_occurrence_on_summer_time():
    assert to_utc(datetime(2027, 10, 31, 2, 30), "Europe/Berlin") == datetime(2027, 10, 31, 0, 30, tzinfo=UTC)
    # Both instants of the repeated hour read as 02:30; the later is not what a typed 02:30 means.
    assert to_local(datetime(2027, 10, 31, 1, 30, tzinfo=UTC), "Europe/Berlin") == datetime(2027, 10, 31, 2, 30)


def test_utc_is_a_zone_like_any_other_and_changes_nothing():
    assert to_utc(datetime(2027, 7, 1, 18, 0), "UTC") == datetime(2027, 7, 1, 18, 0, tzinfo=UTC)


@given(
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31)),
    st.sampled_from(["Europe/Berlin", "America/New_York", "Australia/Sydney", "Asia/Kolkata", "UTC"]),
)
def test_every_wall_time_either_round_trips_or_is_refused_as_skipped(local, zone):
    local = local.replace(second=0, microsecond=0)
    try:
        stored = to_utc(local, zone)
    except TimeZoneError as error:
        assert "does not exist" in str(error)
        # Refused only inside a gap: an hour on either side exists.
        assert to_utc(local - timedelta(hours=1), zone) < to_utc(local + timedelta(hours=1), zone)
        return
    assert stored.tzinfo is UTC
    assert to_local(stored, zone) == local


@pytest.mark.parametrize("name", ["Europe/Berlin", "America/New_York", "UTC", " Asia/Tokyo "])
def test_iana_names_are_accepted(name):
    assert check_time_zone(name) == name.strip()


@pytest.mark.parametrize("name", ["Europe/Berln", "europe/berlin", "CEST", "", "../etc/passwd", "Mars/Olympus"])
def test_other_names_are_refused_with_examples(name):
    with pytest.raises(TimeZoneError) as caught:
        check_time_zone(name)

    assert str(caught.value) == (
        f"{name!r} is not a time zone: use an IANA name like Europe/Berlin, America/New_York or UTC."
    )


def test_a_deadline_shows_with_its_zone_named_and_a_utc_one_as_before():
    moment = datetime(2027, 11, 2, 17, 0, tzinfo=UTC)

    assert format_in_zone(moment, "Europe/Berlin") == "2 Nov 2027, 18:00 (Europe/Berlin)"
    assert format_in_zone(moment, "America/New_York") == "2 Nov 2027, 13:00 (America/New_York)"
    assert format_in_zone(moment, "UTC") == "2 Nov 2027, 17:00 UTC"


def test_a_time_without_its_zone_is_never_taken_for_utc():
    with pytest.raises(ValueError, match="must carry its time zone"):
        to_local(datetime(2027, 11, 2, 17, 0), "Europe/Berlin")
