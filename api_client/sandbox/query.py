"""List parameters, ``fields[]`` filters and ordering of (sub)profile lists, as Copernica does.

The common cases (no filter but on ``id``, ordered by ``id``) are answered from ranks in the
database's live ID sequence, so a page costs O(page) at any offset. Anything else scans.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from ..filters import FieldFilter, parse_filter
from .generation import LATEST_GENERATED_MODIFIED
from .records import ProfileRecord, SubprofileRecord
from .store import Database
from .subprofiles import Collection

#: What a list is drawn from: a database's profiles or a collection's subprofiles.
Store = Database | Collection

_INTEGER = re.compile(r"^\s*([+-]?\d+)")
_NUMBER = re.compile(r"^\s*([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)")
_STRICT_INTEGER = re.compile(r"^\s*[+-]?\d+\s*$")
_FAST_OPERATORS = frozenset({"==", "<", ">", "<=", ">="})


def php_int(text: str | None, *, true_is_one: bool = False) -> int:
    """PHP's ``intval`` of a query value: leading digits, else 0 (``"true"`` → 1 if asked)."""
    if text is None:
        return 0
    if true_is_one and text.strip().lower() == "true":
        return 1
    match = _INTEGER.match(text)
    return int(match.group(1)) if match else 0


def php_number(text: str) -> float:
    match = _NUMBER.match(text)
    return float(match.group(1)) if match else 0.0


def truthy(text: str | None, *, default: bool) -> bool:
    """Copernica's truthiness: ``true``/``yes`` (any case) or a number with \\|n\\| >= 1."""
    if text is None:
        return default
    value = text.strip().lower()
    if value in ("true", "yes"):
        return True
    try:
        return abs(float(value)) >= 1
    except ValueError:
        return False


@lru_cache(maxsize=256)
def like_pattern(pattern: str) -> re.Pattern[str]:
    """A SQL LIKE pattern (``%`` and ``_`` wildcards) as a case-insensitive regex."""
    parts = []
    for char in pattern:
        if char == "%":
            parts.append(".*")
        elif char == "_":
            parts.append(".")
        else:
            parts.append(re.escape(char))
    return re.compile("".join(parts), re.IGNORECASE | re.DOTALL)


@dataclass(frozen=True)
class ListParams:
    """The parsed paging parameters of a list request."""

    start: int
    limit: int
    total: bool


def list_params(query: dict[str, str], *, max_limit: int | None) -> ListParams:
    """``start``, ``limit`` (default 100, capped at ``max_limit``) and ``total``."""
    start = php_int(query.get("start"))
    limit = php_int(query["limit"], true_is_one=True) if "limit" in query else 100
    if max_limit is not None and limit > max_limit:
        limit = max_limit
    return ListParams(start, limit, truthy(query.get("total"), default=True))


def page_bounds(params: ListParams, available: int) -> tuple[int, int]:
    """The ``(first, count)`` of a page; a negative ``start`` or ``limit`` gives no rows."""
    if params.start < 0 or params.limit < 0:
        return 0, 0
    return params.start, max(0, min(params.limit, available - params.start))


def usable_filters(database: Store, expressions: Sequence[str]) -> list[FieldFilter]:
    """The expressions Copernica would apply: parsable, on a real or special field."""
    usable = []
    for expression in expressions:
        parsed = parse_filter(expression)
        if parsed is None:
            continue
        name = parsed.field.lower()
        if database.field_named(name) is not None or name in ("id", "code", "modified"):
            usable.append(parsed)
    return usable


def filter_expressions_in(pairs: Sequence[tuple[str, str]]) -> list[str] | None:
    """The values of ``fields[]`` / ``fields[N]`` parameters; ``None`` if there are none."""
    found = [value for key, value in pairs if re.fullmatch(r"fields\[\d*\]", key)]
    return found if any(re.fullmatch(r"fields\[\d*\]", key) for key, _ in pairs) else None


def matches(
    database: Store,
    profile_id: int,
    record: ProfileRecord | SubprofileRecord,
    filters: list[FieldFilter],
) -> bool:
    """Whether a live (sub)profile passes every filter (they are ANDed)."""
    for item in filters:
        field = database.field_named(item.field)
        name = item.field.lower()
        if field is not None:
            value = record.fields.get(field.name, "")
            kind = "number" if field.type in ("integer", "float") else "text"
        elif name == "id":
            value, kind = str(profile_id), "number"
        elif name == "code":
            value, kind = record.secret, "text"
        else:
            value, kind = record.modified, "raw"
        if not _evaluate(item, value, kind):
            return False
    return True


def _evaluate(item: FieldFilter, value: str, kind: str) -> bool:
    operator = item.operator
    if operator in ("=~", "!~"):
        found = like_pattern(item.value).fullmatch(value) is not None
        return found if operator == "=~" else not found
    left: float | str
    right: float | str
    if kind == "number":
        left, right = php_number(value), php_number(item.value)
    elif kind == "text":
        left, right = value.casefold(), item.value.casefold()
    else:
        left, right = value, item.value
    if operator == "==":
        return left == right
    if operator in ("!=", "<>"):
        return left != right
    if operator == "<":
        return left < right  # type: ignore[operator]
    if operator == ">":
        return left > right  # type: ignore[operator]
    if operator == "<=":
        return left <= right  # type: ignore[operator]
    return left >= right  # type: ignore[operator]


class Selection:
    """The ordered result of a profile query; ``ids(a, b)`` reads positions a..b."""

    total: int
    by_id_ascending: bool

    def ids(self, start: int, stop: int) -> list[int]:
        raise NotImplementedError


class RankSelection(Selection):
    """Live IDs between two ranks, ascending or descending: no scan needed."""

    def __init__(self, database: Store, low: int, high: int, descending: bool) -> None:
        self.database = database
        self.low = low
        self.high = max(low, high)
        self.total = self.high - self.low
        self.descending = descending
        self.by_id_ascending = not descending

    def ids(self, start: int, stop: int) -> list[int]:
        stop = min(stop, self.total)
        if start >= stop:
            return []
        if not self.descending:
            return self.database.ids_between(self.low + start, self.low + stop)
        chunk = self.database.ids_between(self.high - stop, self.high - start)
        chunk.reverse()
        return chunk


class ListSelection(Selection):
    """An explicit ordered list of IDs, from a scan."""

    def __init__(self, ordered: list[int], by_id_ascending: bool) -> None:
        self.ordered = ordered
        self.total = len(ordered)
        self.by_id_ascending = by_id_ascending

    def ids(self, start: int, stop: int) -> list[int]:
        return self.ordered[max(start, 0) : stop]


def select(
    database: Store,
    filters: list[FieldFilter],
    orderby: str | None,
    descending: bool,
) -> Selection:
    """Select and order the live profiles of a database (or subprofiles of a collection)."""
    order_key = _order_key(database, orderby)
    if order_key == "id":
        bounds = _rank_bounds(database, filters)
        if bounds is not None:
            return RankSelection(database, bounds[0], bounds[1], descending)
    chosen: list[tuple[object, int]] = []
    for profile_id in _candidates(database, filters):
        record = database.record(profile_id)
        if record is None or (filters and not matches(database, profile_id, record, filters)):
            continue
        chosen.append((_sort_value(database, order_key, profile_id, record), profile_id))
    if order_key == "random":
        random.shuffle(chosen)
    else:
        chosen.sort(reverse=descending)
    return ListSelection(
        [profile_id for _, profile_id in chosen], order_key == "id" and not descending
    )


def _candidates(database: Store, filters: list[FieldFilter]) -> Iterable[int]:
    """The live ids a scan must look at.

    A "modified since" filter later than every generated timestamp can only match profiles
    that changed since they were generated, and those all live in the overlay: look at them
    alone instead of generating the whole account (a sync's changed-since query stays cheap).
    A database of profiles also finds the generated ones modified since an earlier time from
    an index (:meth:`~api_client.sandbox.store.Database.modified_candidates`).
    """
    if database.field_named("modified") is None:
        for item in filters:
            if item.field.lower() != "modified" or item.operator not in (">", ">=", "=="):
                continue
            if item.value > LATEST_GENERATED_MODIFIED:
                return sorted(
                    profile_id
                    for profile_id, record in database.overlay.items()
                    if not record.removed
                )
            indexed = getattr(database, "modified_candidates", None)
            found = indexed(item.value) if indexed is not None else None
            if found is not None:
                return found
    return database.all_live_ids()


def _order_key(database: Store, orderby: str | None) -> str:
    if not orderby:
        return "id"
    name = orderby.strip().lower()
    if name in ("id", "modified", "random"):
        return name
    field = database.field_named(name)
    return field.name if field is not None else "id"


def _sort_value(
    database: Store, key: str, profile_id: int, record: ProfileRecord | SubprofileRecord
) -> object:
    if key in ("id", "random"):
        return profile_id
    if key == "modified":
        return record.modified
    field = database.field_named(key)
    value = record.fields.get(key, "")
    if field is not None and field.type in ("integer", "float"):
        return php_number(value)
    return value.casefold()


def _rank_bounds(database: Store, filters: list[FieldFilter]) -> tuple[int, int] | None:
    """The rank range selected by filters on ``id`` only, or ``None`` if a scan is needed."""
    low, high = 0, database.live_count()
    for item in filters:
        if item.field.lower() != "id" or database.field_named("id") is not None:
            return None
        if item.operator not in _FAST_OPERATORS or not _STRICT_INTEGER.match(item.value):
            return None
        value = int(item.value)
        if item.operator == ">":
            low = max(low, database.rank(value + 1))
        elif item.operator == ">=":
            low = max(low, database.rank(value))
        elif item.operator == "<":
            high = min(high, database.rank(value))
        elif item.operator == "<=":
            high = min(high, database.rank(value + 1))
        else:
            low = max(low, database.rank(value))
            high = min(high, database.rank(value + 1))
    return low, high
