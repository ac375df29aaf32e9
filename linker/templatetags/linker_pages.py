"""Small template helpers of the pages: query strings for sort and page links, durations."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django import template
from django.http import QueryDict

from linker.health.selectors import status_label as _status_label

register = template.Library()


@register.simple_tag
def query_string(params: QueryDict, **changes: Any) -> str:
    """The current query string with ``changes`` applied (``None`` removes a key)."""
    query = params.copy()
    for key, value in changes.items():
        if value is None or value == "":
            query.pop(key, None)
        else:
            query[key] = str(value)
    encoded = query.urlencode()
    return f"?{encoded}" if encoded else "?"


@register.simple_tag
def sort_link(params: QueryDict, key: str, default: str = "") -> str:
    """A column header's link: sort by ``key``, or by ``-key`` when already sorted by it."""
    current = params.get("sort", default)
    target = f"-{key}" if current == key else key
    return query_string(params, sort=target, page=None)


@register.simple_tag
def sort_state(params: QueryDict, key: str, default: str = "") -> str:
    """``aria-sort`` for a column header."""
    current = params.get("sort", default)
    if current == key:
        return "ascending"
    if current == f"-{key}":
        return "descending"
    return "none"


@register.filter
def status_label(status: str) -> str:
    return _status_label(status)


@register.filter
def seconds(value: float | int | None) -> str:
    """``75`` → ``1 min 15 s``."""
    if value is None:
        return "—"
    total = round(float(value))
    if total < 60:
        return f"{total} s"
    minutes, secs = divmod(total, 60)
    if minutes < 60:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


@register.simple_tag
def duration(start: datetime | None, end: datetime | None) -> str:
    if start is None or end is None:
        return "—"
    return seconds((end - start).total_seconds())
