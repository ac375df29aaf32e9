"""Keyset pages of the agency dashboard: *next* and *previous* continue from the sort key, name
and id of the row a page ends (or starts) at, so a page deep in 10,000 tenants sorts and reads
only its own rows; an offset makes the database sort and skip every row before it.

A cursor carries the sort it belongs to, the row's sort columns and the page's position (how
many rows precede it, for "rows 4,951 to 5,000 of 10,000"). It is opaque to the user and read
forgivingly: anything malformed, or made for another sort, is the first page, as a bad page
number is. A forged one can only start a page elsewhere among the user's own tenants.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Q

from linker.health.rows import TenantShown

#: How a column's value is carried in a cursor.
INT, TEXT, TIME = "int", "text", "time"


@dataclass(frozen=True)
class Column:
    """One column of a keyset order: an annotation (or field) of the queryset."""

    name: str
    kind: str
    descending: bool = False


@dataclass(frozen=True)
class Cursor:
    values: tuple[Any, ...]
    #: How many rows come before the page this cursor leads to (forwards) or from (backwards).
    position: int


@dataclass
class DashboardPage:
    """One page of tenants, as the template shows it."""

    object_list: list[TenantShown]
    #: How many tenants the search and filter match (all pages).
    count: int
    size: int
    #: How many of them come before this page.
    start: int = 0
    after: str = ""  # the cursor of the next page ("" when there is none)
    before: str = ""  # the cursor of the previous page ("" when there is none)

    def __iter__(self) -> Iterator[TenantShown]:
        return iter(self.object_list)

    def __len__(self) -> int:
        return len(self.object_list)

    def __getitem__(self, index: int) -> TenantShown:
        return self.object_list[index]

    @property
    def has_next(self) -> bool:
        return bool(self.after)

    @property
    def has_previous(self) -> bool:
        return bool(self.before)

    @property
    def has_other_pages(self) -> bool:
        return self.has_next or self.has_previous

    @property
    def number(self) -> int:
        return self.start // self.size + 1

    @property
    def num_pages(self) -> int:
        return max(1, -(-self.count // self.size))

    @property
    def start_index(self) -> int:
        return self.start + 1 if self.object_list else 0

    @property
    def end_index(self) -> int:
        return self.start + len(self.object_list)


def cursor_encode(sort: str, values: Sequence[Any], position: int) -> str:
    carried = [value.isoformat() if isinstance(value, datetime) else value for value in values]
    raw = json.dumps([sort, carried, position], separators=(",", ":"), ensure_ascii=False).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def cursor_decode(text: str, *, sort: str, columns: Sequence[Column]) -> Cursor | None:
    """The cursor ``text`` stands for, or ``None`` when it is not one of this sort's."""
    if not text:
        return None
    try:
        name, carried, position = json.loads(
            base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        )
    except (ValueError, TypeError, binascii.Error):
        return None
    if name != sort or type(position) is not int or position < 0:
        return None
    if not isinstance(carried, list) or len(carried) != len(columns):
        return None
    values: list[Any] = []
    for column, value in zip(columns, carried, strict=True):
        if (column.kind == INT and type(value) is int) or (
            column.kind == TEXT and isinstance(value, str)
        ):
            values.append(value)
        elif column.kind == TIME and isinstance(value, str):
            try:
                moment = datetime.fromisoformat(value)
            except ValueError:
                return None
            # A naive time would be compared with aware ones: not a cursor of ours.
            if moment.tzinfo is None:
                return None
            values.append(moment)
        else:
            return None
    return Cursor(values=tuple(values), position=position)


def order_by(columns: Sequence[Column], *, backwards: bool) -> list[str]:
    return [
        f"-{column.name}" if column.descending != backwards else column.name for column in columns
    ]


def beyond(columns: Sequence[Column], values: Sequence[Any], *, backwards: bool) -> Q:
    """The rows that come after ``values`` in the order of ``columns`` (``backwards``: before).

    ``a > x OR (a = x AND (b > y OR (b = y AND id > z)))``, each column in its own direction,
    led by the bare ``a >= x`` that an index on the first column can start its scan at."""
    pairs = list(zip(columns, values, strict=True))

    def later(column: Column) -> str:
        return "lt" if column.descending != backwards else "gt"

    last, value = pairs[-1]
    condition = Q(**{f"{last.name}__{later(last)}": value})
    for column, value in reversed(pairs[:-1]):
        condition = Q(**{f"{column.name}__{later(column)}": value}) | (
            Q(**{column.name: value}) & condition
        )
    first = columns[0]
    start = "lte" if first.descending != backwards else "gte"
    return Q(**{f"{first.name}__{start}": values[0]}) & condition
