"""Keyset pages of the profile browser: *next* and *previous* by the sort key and the id, so a
page deep in a million profiles reads only its own rows (an offset reads every row before it).

An order is one or two *segments*: the rows whose sort key is set, by (key, id), then, for a
key that may be missing (``modified`` of a profile made here, a profile without ``email``),
the rows without it, by id. Missing keys come last in both directions. A cursor names the
segment, the key and the id of the row a page starts after (or ends before); it is opaque to
the user and read forgivingly: anything malformed is the first page, as a bad page number is.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Expression, F, Q, QuerySet

from linker.models import RemoteProfile


@dataclass(frozen=True)
class KeysetOrder:
    """The order of a keyset sort: ``key`` is ``None`` for the id alone."""

    key: Expression | F | None
    descending: bool
    #: How the key is carried in a cursor: "" (no key), "datetime" or "text".
    kind: str = ""

    @property
    def segments(self) -> int:
        return 1 if self.key is None else 2


@dataclass(frozen=True)
class Cursor:
    segment: int
    id: int
    key: Any = None


@dataclass
class KeysetPage:
    rows: list[RemoteProfile]
    after: str  # the cursor of the next page ("" when there is none)
    before: str  # the cursor of the previous page ("" when there is none)


def cursor_encode(cursor: Cursor) -> str:
    key = cursor.key.isoformat() if isinstance(cursor.key, datetime) else cursor.key
    raw = json.dumps([cursor.segment, cursor.id, key], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def cursor_decode(text: str, order: KeysetOrder) -> Cursor | None:
    """The cursor ``text`` stands for, or ``None`` when it is not one of ``order``'s."""
    if not text:
        return None
    try:
        segment, id_, key = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except (ValueError, TypeError, binascii.Error):
        return None
    if type(segment) is not int or not 0 <= segment < order.segments or type(id_) is not int:
        return None
    if segment == 1 or order.key is None:
        return Cursor(segment, id_)
    if order.kind == "datetime":
        try:
            key = datetime.fromisoformat(key) if isinstance(key, str) else None
        except ValueError:
            return None
        # A naive time would be compared with aware ones: not a cursor of ours.
        if key is None or key.tzinfo is None:
            return None
    elif not isinstance(key, str):
        return None
    return Cursor(segment, id_, key)


def _segment(
    profiles: QuerySet[RemoteProfile], order: KeysetOrder, segment: int, *, backwards: bool
) -> QuerySet[RemoteProfile]:
    descending = order.descending != backwards
    by_id = F("copernica_id").desc() if descending else F("copernica_id").asc()
    if order.key is None:
        return profiles.order_by(by_id)
    if segment == 1:
        return profiles.filter(Q(sort_key__isnull=True)).order_by(by_id)
    by_key = F("sort_key").desc() if descending else F("sort_key").asc()
    return profiles.filter(Q(sort_key__isnull=False)).order_by(by_key, by_id)


def _beyond(order: KeysetOrder, cursor: Cursor, *, backwards: bool) -> Q:
    """The rows of the cursor's segment that come after it (``backwards``: before it)."""
    later = "lt" if order.descending != backwards else "gt"
    if order.key is None or cursor.segment == 1:
        return Q(**{f"copernica_id__{later}": cursor.id})
    # The bare ``key >= k`` (``<=``) is what an index on the key can start its scan at; the
    # OR alone would be checked on every row from the first.
    return Q(**{f"sort_key__{later}e": cursor.key}) & (
        Q(**{f"sort_key__{later}": cursor.key})
        | Q(sort_key=cursor.key, **{f"copernica_id__{later}": cursor.id})
    )


def _cursor_of(row: RemoteProfile, order: KeysetOrder) -> Cursor:
    if order.key is None:
        return Cursor(0, row.copernica_id)
    key = getattr(row, "sort_key", None)
    return Cursor(1, row.copernica_id) if key is None else Cursor(0, row.copernica_id, key)


def keyset_page(
    profiles: QuerySet[RemoteProfile],
    order: KeysetOrder,
    *,
    size: int,
    after: str = "",
    before: str = "",
) -> KeysetPage:
    """The page of ``size`` rows after the cursor ``after``, or before ``before``, or the first.

    One query per segment the page touches (one, or two at the seam of a nullable key)."""
    if order.key is not None:
        profiles = profiles.annotate(sort_key=order.key)
    start = cursor_decode(before, order) if before else cursor_decode(after, order)
    backwards = bool(before) and start is not None
    segments = range(order.segments)
    if start is not None:
        segments = range(start.segment, -1, -1) if backwards else segments[start.segment :]
    rows: list[RemoteProfile] = []
    for segment in segments:
        query = _segment(profiles, order, segment, backwards=backwards)
        if start is not None and segment == start.segment:
            query = query.filter(_beyond(order, start, backwards=backwards))
        rows.extend(query[: size + 1 - len(rows)])
        if len(rows) > size:
            break
    more = len(rows) > size
    rows = rows[:size]
    if backwards:
        rows.reverse()
        has_previous, has_next = more, True
    else:
        has_previous, has_next = start is not None, more
    return KeysetPage(
        rows=rows,
        after=cursor_encode(_cursor_of(rows[-1], order)) if rows and has_next else "",
        before=cursor_encode(_cursor_of(rows[0], order)) if rows and has_previous else "",
    )
