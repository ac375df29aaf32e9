"""Query-string and form parameters, parsed one way for every view (reliability.md case 42).

Views never read ``request.GET`` or ``request.POST`` by key themselves: they pass the
``QueryDict`` to one of these parsers, or to a Django form (whose fields validate and show their
own errors). ``tests/web/test_params.py`` keeps it so.

What counts as bad, and what happens then:

- **Ids** (``ids``, ``run``, ``db``, ticked tenants) are ASCII digits only (``'²'.isdigit()`` is
  true and ``int('²')`` raises), from 1 to :data:`ID_MAX` (PostgreSQL's ``bigint``). Anything
  else is refused with :class:`~django.core.exceptions.BadRequest`, which Django answers with a
  plain 400 page (``templates/400.html``): a malformed id never comes from our own pages, so
  guessing what was meant would hide a broken link or a probe. A well-formed id that names
  nothing of the user's is the view's business (404, or the default), as before.
- **Page numbers** are forgiving: anything but ASCII digits means page 1 and a number beyond the
  last page shows the last page (Django's ``Paginator.get_page``), because people edit them by
  hand and nothing is at stake.
- **Choices** (sort keys, filter chips, a button's ``mode``) outside the known set fall back to
  the default, for the same reason; the selectors check their own keys again.
- **Text** (a search, a sort key naming a field, a field name) loses its control characters
  (NUL, which PostgreSQL refuses in text, and the other C0/C1 codes; a tab or line break becomes
  a space) and is cut to a length the page can use. Cutting, not refusing: a search box pasted
  into with a long text should still search.
- **Lists** (``?ids=1&ids=2`` or ``?ids=1,2``) take at most :data:`LIST_MAX` items; more is a 400.

Invalid UTF-8 never reaches here: Django decodes the query string and form bodies with
replacement characters, so it is text like any other.
"""

from __future__ import annotations

import re
from collections.abc import Collection

from django.core.exceptions import BadRequest
from django.http import QueryDict

#: The largest id any of our tables or Copernica's can hold (PostgreSQL ``bigint``).
ID_MAX = 2**63 - 1
#: The largest page number we pass on; the paginator shows its last page for anything beyond.
PAGE_MAX = 1_000_000
#: Most ids one request may name (the pages poll at most 100 changes, bulk-select 50 tenants).
LIST_MAX = 500
#: A search longer than this is cut (the selectors search for at most 200 characters).
SEARCH_MAX = 200
#: Other free text (sort keys naming a field, Copernica field names) is cut here.
TEXT_MAX = 300

_DIGITS = re.compile(r"[0-9]{1,19}")
# C0 and C1 control characters and DEL; NUL among them is what PostgreSQL refuses outright.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]+")


def _last(params: QueryDict, key: str) -> str:
    # ``QueryDict.get`` answers the last value of a repeated key; an array for a scalar
    # parameter is read as its last item, as Django's own forms do.
    value = params.get(key, "")
    return value if isinstance(value, str) else ""


def clean_text(value: str, *, max_length: int = TEXT_MAX) -> str:
    """``value`` without control characters (runs of them become one space), trimmed and cut
    to ``max_length`` characters."""
    # Cut before cleaning too, so a 100 KB value costs no more than a short one.
    return _CONTROL.sub(" ", value[: max_length * 4]).strip()[:max_length].strip()


def text_param(params: QueryDict, key: str, *, max_length: int = TEXT_MAX) -> str:
    """Free text: see :func:`clean_text`; ``""`` when absent."""
    return clean_text(_last(params, key), max_length=max_length)


def search_param(params: QueryDict, key: str = "q") -> str:
    """What the user typed into a search box, safe to hand to an ``icontains`` lookup."""
    return text_param(params, key, max_length=SEARCH_MAX)


def choice_param(params: QueryDict, key: str, *, choices: Collection[str], default: str) -> str:
    """One of ``choices``, or ``default`` when absent or unknown."""
    value = _last(params, key)
    return value if value in choices else default


def page_param(params: QueryDict, key: str = "page") -> int:
    """A page number: 1 unless the parameter is a positive number in ASCII digits."""
    value = _last(params, key).strip()
    if not _DIGITS.fullmatch(value):
        return 1
    return min(max(int(value), 1), PAGE_MAX)


def query_dict(**values: object) -> QueryDict:
    """A query string of parsed values, for the links a page builds (``None`` and ``""`` are
    left out), so that no link repeats what the request carried beyond what the view read."""
    query = QueryDict(mutable=True)
    for key, value in values.items():
        if value is not None and value != "":
            query[key] = str(value)
    return query


def parse_id(value: str, *, key: str) -> int:
    """One id in ASCII digits, 1 to :data:`ID_MAX`; otherwise a 400 naming ``key`` (never the
    value, which may be anything, in the log)."""
    value = value.strip()
    if _DIGITS.fullmatch(value):
        number = int(value)
        if 1 <= number <= ID_MAX:
            return number
    raise BadRequest(f"The parameter {key!r} is not a valid id.")


def optional_id_param(params: QueryDict, key: str) -> int | None:
    """An id, or ``None`` when the parameter is absent or empty; malformed is a 400."""
    value = _last(params, key)
    return parse_id(value, key=key) if value.strip() else None


def id_list_param(params: QueryDict, key: str) -> list[int]:
    """Ids given as ``key=1&key=2``, ``key=1,2`` or both, in order without repeats; empty items
    are skipped, malformed ones and more than :data:`LIST_MAX` are a 400."""
    items = [item for value in params.getlist(key) for item in str(value).split(",")]
    items = [item for item in items if item.strip()]
    if len(items) > LIST_MAX:
        raise BadRequest(f"The parameter {key!r} names more than {LIST_MAX} ids.")
    return list(dict.fromkeys(parse_id(item, key=key) for item in items))
