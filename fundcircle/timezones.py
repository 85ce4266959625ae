"""A circle's time zone: IANA names (zoneinfo), and deadlines between the wall time people type and read and the UTC
instant that is stored. Pure: no Flask, no database, no clock.

Deadlines are stored as UTC instants worked out from the wall time *on the deadline's own date*, so a deadline
typed in summer for a date after the October change is 18:00 on the clocks of that day: daylight-saving changes
never move it by an hour.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo, available_timezones

from fundcircle.phrases import N_, PhrasedError

#: Circles made before time zones keep their deadlines in UTC.
DEFAULT_TIME_ZONE = "UTC"
#: The longest IANA name is 32 characters (America/Argentina/ComodRivadavia); the column leaves room.
MAX_TIME_ZONE_LENGTH = 64


class TimeZoneError(PhrasedError):
    """A time zone or a local time that cannot be used; the message says why in words (in the reader's language
    with `fundcircle.i18n.translated`; `str()` is English)."""


@lru_cache(maxsize=1)
def time_zone_names() -> frozenset[str]:
    """Every IANA name the system's time-zone database knows (read once: `available_timezones` walks the disk)."""
    return frozenset(available_timezones())


def check_time_zone(name: str) -> str:
    """Return the IANA name, stripped.

    :raises TimeZoneError: if zoneinfo does not know it (names are case-sensitive: "Europe/Berlin").
    """
    stripped = name.strip()
    if stripped not in time_zone_names():
        raise TimeZoneError(
            N_("%(name)s is not a time zone: use an IANA name like Europe/Berlin, America/New_York or UTC."),
            name=repr(name),
        )
    return stripped


def to_utc(local: datetime, zone: str) -> datetime:
    """The UTC instant of a wall time in `zone` (a naive datetime, as a form gives it), on that date's offset.

    Daylight-saving changes are handled deterministically:
    - a wall time that does not exist (the hour skipped in spring, 02:30 in Europe/Berlin on the last Sunday of
      March) is refused, never moved silently to another hour;
    - a wall time that happens twice (the hour repeated in autumn) is its first occurrence, still on summer time
      (`fold=0`), so an ambiguous deadline is the earlier of the two instants, never the later.

    :raises TimeZoneError: for a wall time that does not exist in the zone, or an unknown zone.
    """
    tz = ZoneInfo(check_time_zone(zone))
    first = local.replace(tzinfo=tz, fold=0)
    in_utc = first.astimezone(UTC)
    # A skipped wall time comes back as another one: 02:30 in the gap returns as 03:30 (or 01:30).
    if in_utc.astimezone(tz).replace(tzinfo=None) != local.replace(tzinfo=None):
        raise TimeZoneError(
            N_(
                "%(time)s does not exist in %(zone)s: the clocks skip that hour when summer time begins. "
                "Choose a time outside it."
            ),
            time=f"{local:%-d %b %Y, %H:%M}",
            zone=zone,
        )
    return in_utc


def to_local(moment: datetime, zone: str) -> datetime:
    """The wall time in `zone` of a stored (aware) instant, as a naive datetime for a form or a page.

    :raises TimeZoneError: for an unknown zone.
    :raises ValueError: for a naive `moment` (stored times are always aware).
    """
    if moment.tzinfo is None:
        raise ValueError("A stored time must carry its time zone (UTC).")
    return moment.astimezone(ZoneInfo(check_time_zone(zone))).replace(tzinfo=None)


def format_in_zone(moment: datetime, zone: str) -> str:
    """A stored instant as people in the circle read it, with the zone named: "2 Nov 2027, 18:00 (Europe/Berlin)".
    A UTC circle reads as before: "2 Nov 2027, 17:00 UTC".

    :raises TimeZoneError: for an unknown zone.
    """
    local = to_local(moment, zone)
    if zone == DEFAULT_TIME_ZONE:
        return local.strftime("%-d %b %Y, %H:%M UTC")
    return f"{local:%-d %b %Y, %H:%M} ({zone})"
