"""Copernica's clock: ``YYYY-MM-DD hh:mm:ss`` as Europe/Amsterdam wall-clock time.

Copernica writes ``created``, ``modified`` and ``removed`` in Dutch local time, daylight
saving included, with no zone in the string. The sandbox does the same everywhere it makes a
timestamp. :func:`timestamp` is called for every generated profile, so the UTC offset comes
from a table of the zone's transitions (built once from ``zoneinfo``) and the date from a
per-day cache, not from a ``datetime`` per call.
"""

from __future__ import annotations

import time
from bisect import bisect_right
from datetime import UTC, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

AMSTERDAM = ZoneInfo("Europe/Amsterdam")

# The table covers these years; other instants ask zoneinfo directly.
_FIRST_YEAR = 2000
_LAST_YEAR = 2060

_DAYS: dict[int, str] = {}
#: ``" hh:mm:"`` for each minute of a day, and ``"ss"`` for each second of a minute.
MINUTES = tuple(f" {minute // 60:02d}:{minute % 60:02d}:" for minute in range(1440))
SECONDS = tuple(f"{second:02d}" for second in range(60))


def _offset_of(seconds: int) -> int:
    moment = datetime.fromtimestamp(seconds, UTC).astimezone(AMSTERDAM)
    offset = moment.utcoffset()
    assert offset is not None
    return int(offset.total_seconds())


@lru_cache(maxsize=1)
def _transitions() -> tuple[list[int], list[int]]:
    """The UTC instants at which Amsterdam's offset changes, and the offset after each.

    ``offsets[i]`` holds from ``instants[i - 1]`` (inclusive) to ``instants[i]``; found by
    bisecting each half year in which the offset at its ends differs (the EU changes twice a
    year at most).
    """
    instants: list[int] = []
    start = int(datetime(_FIRST_YEAR, 1, 1, tzinfo=UTC).timestamp())
    offsets = [_offset_of(start)]
    for year in range(_FIRST_YEAR, _LAST_YEAR + 1):
        for low_month, high in ((1, (year, 7, 1)), (7, (year + 1, 1, 1))):
            low = int(datetime(year, low_month, 1, tzinfo=UTC).timestamp())
            top = int(datetime(*high, tzinfo=UTC).timestamp())
            low_offset, top_offset = _offset_of(low), _offset_of(top)
            while low_offset != top_offset:
                # The first instant in (low, top] whose offset differs from low's.
                before, after = low, top
                while after - before > 1:
                    middle = (before + after) // 2
                    if _offset_of(middle) == low_offset:
                        before = middle
                    else:
                        after = middle
                low, low_offset = after, _offset_of(after)
                instants.append(low)
                offsets.append(low_offset)
    return instants, offsets


_TABLE_START = int(datetime(_FIRST_YEAR, 1, 1, tzinfo=UTC).timestamp())
_TABLE_END = int(datetime(_LAST_YEAR + 1, 1, 1, tzinfo=UTC).timestamp())


def offset_table() -> tuple[list[int], list[int]]:
    """``(instants, offsets)``: the offset at a Unix time ``t`` between 2000 and 2060 is
    ``offsets[bisect_right(instants, t)]`` (for loops that inline :func:`utc_offset`)."""
    return _transitions()


def utc_offset(seconds: int) -> int:
    """Amsterdam's UTC offset in seconds at the Unix time ``seconds``."""
    if not _TABLE_START <= seconds < _TABLE_END:
        return _offset_of(seconds)
    instants, offsets = _transitions()
    return offsets[bisect_right(instants, seconds)]


def wall_seconds(seconds: float) -> int:
    """The Unix time ``seconds`` as Amsterdam wall-clock seconds (seconds since 1970-01-01
    00:00 on Amsterdam's clock)."""
    whole = int(seconds)
    return whole + utc_offset(whole)


def _day(day: int) -> str:
    date = _DAYS[day] = time.strftime("%Y-%m-%d", time.gmtime(day * 86_400))
    return date


def wall_text(wall: int) -> str:
    """Wall-clock seconds (from :func:`wall_seconds`) as ``YYYY-MM-DD hh:mm:ss``."""
    day, rest = divmod(wall, 86_400)
    return (_DAYS.get(day) or _day(day)) + MINUTES[rest // 60] + SECONDS[rest % 60]


def timestamp(seconds: float) -> str:
    """The Unix time ``seconds`` as Copernica writes it: Amsterdam wall-clock time."""
    return wall_text(wall_seconds(seconds))


def now_timestamp() -> str:
    """The current time as a Copernica timestamp, second resolution."""
    return timestamp(time.time())
