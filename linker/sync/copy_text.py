"""A page of (sub)profiles as COPY text, built on the prefetcher's thread (no database access
here, so thread-safe): the writer of :mod:`linker.sync.upserts` only streams the bytes.

Each row is the item's ids, its ``fields`` (and a profile's ``interests``) as compact JSON, and
its timestamps with the UTC offset of Copernica's wall clock appended, for PostgreSQL to
convert. A page the client decoded for copying (:mod:`api_client.listed`) keeps Copernica's
JSON text as it came; a page of dictionaries is encoded again (:func:`page_prepare`).
"""

from __future__ import annotations

import json
import json.encoder
import re
from collections.abc import Callable
from datetime import datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
import orjson

from api_client.listed import ListedPage, raw_text
from linker.sync.upserts import PROFILES, Mirror, PreparedPage


def _not_json(value: object) -> object:
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


# The standard library's encoder, for a page orjson refuses (see page_prepare): one reusable C
# encoder, since json.dumps (or JSONEncoder.encode) builds a new one on every call. No
# circular-reference check (``None`` markers): what is encoded here was decoded from JSON.
_C_MAKE_ENCODER = getattr(json.encoder, "c_make_encoder", None)  # not in the type stubs
_ENCODER = (
    _C_MAKE_ENCODER(
        None, _not_json, json.encoder.encode_basestring, None, ":", ",", False, False, True
    )
    if _C_MAKE_ENCODER is not None
    else None
)
_SLOW_DUMPS = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def _dumps(value: object) -> str:
    """Compact JSON, non-ASCII kept (as ``json.dumps(ensure_ascii=False, separators=...)``)."""
    if _ENCODER is None:  # pragma: no cover - CPython always has the C accelerator
        return _SLOW_DUMPS(value)
    return "".join(_ENCODER(value, 0))


def _orjson_dumps(value: object) -> str:
    """The same compact JSON by orjson, five times faster (floats may be written in another
    but equal form, ``1e16`` for ``1e+16``: jsonb stores the number, not its text)."""
    return orjson.dumps(value).decode()


# The one form Copernica writes; anything else (``0000-00-00 00:00:00``, garbage) is NULL.
# Checked in three parts: the date (a few thousand distinct values in a database's history,
# cached with their UTC offset), `` hh`` (one of 24 strings) and ``:mm:ss`` (one of 3,600).
_DATE = re.compile(r"[0-9]{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])")
_HOUR = frozenset(f" {h:02d}" for h in range(24))
_MINUTE_SECOND = frozenset(f":{m:02d}:{s:02d}" for m in range(60) for s in range(60))
# Copernica's wall clock (see api_client.timestamps).
_COPERNICA_ZONE = ZoneInfo("Europe/Amsterdam")


def _offset_text(moment: datetime) -> str:
    offset = moment.replace(tzinfo=_COPERNICA_ZONE).utcoffset()
    assert offset is not None
    return f"{int(offset.total_seconds()) // 3600:+03d}"


@lru_cache(maxsize=65536)
def _day_offset(day: str) -> str | None:
    """The UTC offset of Copernica's wall clock all through ``YYYY-MM-DD`` as COPY text
    (``+02``); ``None`` on a day the clocks change; ``""`` if that is no day of the calendar
    (``0000-00-00``, 30 February, garbage).

    Cached per day, not per hour: a database's timestamps spread over years have tens of
    thousands of distinct hours, and a miss (a time-zone lookup) cost more than the rest of a
    page's preparation.
    """
    if not _DATE.fullmatch(day):
        return ""
    try:
        midnight = datetime(int(day[:4]), int(day[5:7]), int(day[8:10]))
    except ValueError:  # year 0, or a day the month does not have
        return ""
    # Amsterdam's clocks change at most once a day, so one offset at both ends is the day's.
    offset = _offset_text(midnight)
    return offset if _offset_text(midnight.replace(hour=23)) == offset else None


@lru_cache(maxsize=1024)
def _utc_offset(hour: str) -> str:
    """The UTC offset of Copernica's wall clock in the hour ``YYYY-MM-DD hh`` of a day the
    clocks change, as COPY text.

    In the autumn's repeated hour the earlier reading (summer time) is taken, as
    ``api_client.parse_timestamp`` does: it errs toward fetching a change again.
    """
    return _offset_text(datetime(int(hour[:4]), int(hour[5:7]), int(hour[8:10]), int(hour[11:13])))


#: The COPY text offset of each day ``YYYY-MM-DD`` met on which the clocks do not change
#: (``""``: no day of the calendar), looked up in place, without a call: a timestamp costs a
#: dictionary lookup and two set lookups. Keyed by day, not by hour: a database's history of
#: nine years has 3,300 days but 79,000 hours, and a fresh worker filled a table of hours
#: through the slow path for most of its first run (0.4 against 0.2 s for 240,000
#: timestamps). Bounded (an entry is ~130 bytes): beyond, days go by ``_day_offset``'s cache.
_DAY_OFFSETS: dict[str, str] = {}
_DAY_OFFSETS_MOST = 100_000


def _copy_timestamp(value: object) -> str:
    """A valid Copernica timestamp as COPY text with its UTC offset; ``""`` (NULL) otherwise."""
    if (
        type(value) is str
        and len(value) == 19
        and value[13:] in _MINUTE_SECOND
        and value[10:13] in _HOUR
    ):
        offset = _DAY_OFFSETS.get(value[:10])
        if offset is None:
            offset = _offset_slowly(value)
        if offset:
            return value + offset
    return ""


def _offset_slowly(value: str) -> str:
    """The COPY text offset of a timestamp whose day is not in ``_DAY_OFFSETS``: remembered
    there while there is room, unless the clocks change that day (then it goes by the hour)."""
    day = _day_offset(value[:10])
    if day is None:
        return _utc_offset(value[:13])
    if len(_DAY_OFFSETS) < _DAY_OFFSETS_MOST:
        _DAY_OFFSETS[value[:10]] = day
    return day


# A page's timestamps joined by line feeds, each in Copernica's one form (see _copy_timestamps).
_STAMP = r"[0-9]{4}-[0-9]{2}-[0-9]{2} (?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]"
_STAMPS_JOINED = re.compile(rf"(?:{_STAMP}\n)*{_STAMP}")


def _copy_timestamps(values: list[Any]) -> list[str]:
    """:func:`_copy_timestamp` of each of ``values`` (a page's), in one pass where it can.

    A call per timestamp was half of a page's preparation. Here the page's timestamps are
    checked at once, joined by line feeds and matched as 20-character units (each timestamp
    19 characters and no line feed in any of them, or the units do not line up), then each
    day's offset is looked up in place. A day not in ``_DAY_OFFSETS`` (new, a day the clocks
    change, no day of the calendar) and a page that is not all well-formed strings take the
    call per timestamp; the result is the same either way.
    """
    try:
        joined = "\n".join(values)
    except TypeError:  # something other than a string (null)
        return [_copy_timestamp(value) for value in values]
    if len(joined) != 20 * len(values) - 1 or not _STAMPS_JOINED.fullmatch(joined):
        return [_copy_timestamp(value) for value in values]
    days = _DAY_OFFSETS
    return [
        value + offset if (offset := days.get(value[:10])) else _copy_timestamp(value)
        for value in values
    ]


def page_prepare(
    *,
    mirror: Mirror = PROFILES,
    items: list[dict[str, Any]] | ListedPage,
    last_id: int,
    link_id: int,
    parent_id: int,
    run_id: int | None,
) -> PreparedPage:
    """A page of Copernica (sub)profiles as COPY text: a page decoded for copying with the
    JSON of its ``fields`` and ``interests`` as Copernica sent it, a page of dictionaries
    with that JSON encoded again. Either way a falsy value (such as PHP's ``[]`` for an
    empty map) is written as ``{}`` (fields) and ``[]`` (interests)."""
    if isinstance(items, ListedPage):
        ids = items.ids
        text = _listed_text(mirror, items, link_id, parent_id, run_id)
    else:
        ids = [int(item["ID"]) for item in items]
        try:
            text = _page_text(mirror, items, ids, link_id, parent_id, run_id, _orjson_dumps)
        except orjson.JSONEncodeError:
            # What orjson will not write (an integer beyond 64 bits, a lone surrogate that the
            # standard library's decoder let through) takes the standard library's way.
            text = _page_text(mirror, items, ids, link_id, parent_id, run_id, _dumps)
    return PreparedPage(mirror, parent_id, _escaped(text), len(ids), last_id, None, ids)


def _listed_text(
    mirror: Mirror, listed: ListedPage, link_id: int, parent_id: int, run_id: int | None
) -> str:
    prefix = f"{link_id}\t{parent_id}\t{'' if run_id is None else run_id}\t"
    items, ids = listed.items, listed.ids
    stamps = _copy_timestamps([item.created for item in items] + [item.modified for item in items])
    created, modified = stamps[: len(items)], stamps[len(items) :]
    rows = zip(ids, items, created, modified, strict=True)
    if mirror is PROFILES:
        return "".join(
            [
                f"{prefix}{copernica_id}\t{_raw_or(item.fields, '{}')}\t"
                f"{_raw_or(item.interests, '[]')}\t{created_at}\t{modified_at}\n"
                for copernica_id, item, created_at, modified_at in rows
            ]
        )
    return "".join(
        [
            f"{prefix}{copernica_id}\t{int(item.profile or 0)}\t"
            f"{_raw_or(item.fields, '{}')}\t{created_at}\t{modified_at}\n"
            for copernica_id, item, created_at, modified_at in rows
        ]
    )


def _raw_or(raw: msgspec.Raw, empty: str) -> str:
    """The JSON text of ``raw``, or ``empty`` if the key is missing or its value is falsy.

    Only a short text can be falsy (``null``, ``false``, ``0``, ``0.0``, ``""``, ``[]``,
    ``{}``): those are decoded to tell, the rest go as they are."""
    text = raw_text(raw)
    if len(text) <= 8 and not orjson.loads(text or "null"):
        return empty
    return text


def _escaped(text: str) -> bytes:
    """Rows as COPY text: JSON escapes every control character, so backslashes are all it
    needs escaped (the other columns are digits and timestamps); the listed way checked
    that its JSON holds no raw whitespace but spaces."""
    return text.replace("\\", "\\\\").encode()


def _page_text(
    mirror: Mirror,
    items: list[dict[str, Any]],
    ids: list[int],
    link_id: int,
    parent_id: int,
    run_id: int | None,
    dumps: Callable[[object], str],
) -> str:
    prefix = f"{link_id}\t{parent_id}\t{'' if run_id is None else run_id}\t"
    stamps = _copy_timestamps(
        [item.get("created") for item in items] + [item.get("modified") for item in items]
    )
    rows = zip(ids, items, stamps[: len(items)], stamps[len(items) :], strict=True)
    if mirror is PROFILES:
        return "".join(
            [
                f"{prefix}{copernica_id}\t{dumps(item.get('fields') or {})}\t"
                f"{dumps(item.get('interests') or [])}\t{created_at}\t{modified_at}\n"
                for copernica_id, item, created_at, modified_at in rows
            ]
        )
    return "".join(
        [
            f"{prefix}{copernica_id}\t{int(item.get('profile') or 0)}\t"
            f"{dumps(item.get('fields') or {})}\t{created_at}\t{modified_at}\n"
            for copernica_id, item, created_at, modified_at in rows
        ]
    )
