"""Copernica's timestamps: ``YYYY-MM-DD hh:mm:ss`` on Amsterdam's wall clock, no zone given.

Copernica writes ``created``, ``modified`` and ``removed`` (and compares ``modified>=``
filters) in Europe/Amsterdam local time, daylight saving included. :func:`parse_timestamp`
reads such a string as an aware UTC datetime; :func:`format_timestamp` writes a moment back
as the string Copernica would show; :func:`format_since` writes the bound of a "changed
since" filter. Copernica writes an unset date as ``0000-00-00 00:00:00``.

Daylight saving makes the wall clock skip and repeat an hour:

- On the last Sunday of October the hour from 02:00 to 03:00 happens twice, so a string in
  it names two instants an hour apart. :func:`parse_timestamp` reads it as the *earlier*
  one (``fold=0``). Reading a change as older than it was errs toward fetching it again: an
  incremental sync asks for ``modified>=`` the newest timestamp it holds, and an instant
  read too early can only widen that window, never skip a change.
- On the last Sunday of March the hour from 02:00 to 03:00 does not exist; Copernica never
  writes it. A string in it reads with the offset before the change (``02:30`` is 01:30
  UTC), as :mod:`zoneinfo` does with ``fold=0``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

#: The zone of Copernica's clock.
COPERNICA_ZONE = ZoneInfo("Europe/Amsterdam")

_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


def parse_timestamp(value: object) -> datetime | None:
    """A Copernica ``YYYY-MM-DD hh:mm:ss`` (Amsterdam wall clock) as an aware UTC datetime.

    A wall-clock time that occurs twice (the repeated autumn hour) reads as the earlier
    instant. ``None`` for anything else: a value that is not a string, not 19 characters
    long, unset (starting with ``0000``) or not a valid date and time.
    """
    if not isinstance(value, str) or len(value) != 19 or value.startswith("0000"):
        return None
    try:
        wall = datetime.strptime(value, _TIME_FORMAT)
    except ValueError:
        return None
    return wall.replace(tzinfo=COPERNICA_ZONE, fold=0).astimezone(UTC)


def format_timestamp(moment: datetime) -> str:
    """``moment`` as Copernica writes it: Amsterdam wall-clock time, seconds truncated.

    A naive ``moment`` is taken as local time, as :meth:`datetime.astimezone` does.
    """
    return moment.astimezone(COPERNICA_ZONE).strftime(_TIME_FORMAT)


def format_since(moment: datetime) -> str:
    """The bound for a ``modified>=`` filter that matches every change at or after
    ``moment``.

    That is :func:`format_timestamp` of ``moment``, except in the first pass of the repeated
    autumn hour: a change made later, in the second pass, gets an earlier wall-clock string
    (02:10 the second time is after 02:50 the first time), so the bound is then the start of
    the repeated hour (``YYYY-MM-DD 02:00:00``). A naive ``moment`` is taken as local time.
    """
    local = moment.astimezone(COPERNICA_ZONE)
    if local.fold == 1 or local.replace(fold=1).utcoffset() == local.utcoffset():
        return local.strftime(_TIME_FORMAT)
    return _repeat_start(local).strftime(_TIME_FORMAT)


def _repeat_start(local: datetime) -> datetime:
    """The wall-clock start of the repeated span that ``local`` (in its first pass) is in:
    the wall time, after the change, of the instant the clock was set back."""
    before, after = local.utcoffset(), local.replace(fold=1).utcoffset()
    assert before is not None
    assert after is not None
    # The clock goes back within (before - after) of any instant of the first pass.
    low = int(local.timestamp())
    high = low + int((before - after).total_seconds())
    while high - low > 1:
        middle = (low + high) // 2
        if datetime.fromtimestamp(middle, COPERNICA_ZONE).utcoffset() == before:
            low = middle
        else:
            high = middle
    changed = datetime.fromtimestamp(high, UTC)
    return (changed + after).replace(tzinfo=None)


__all__ = ["COPERNICA_ZONE", "format_since", "format_timestamp", "parse_timestamp"]
