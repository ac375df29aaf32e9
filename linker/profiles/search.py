"""The profile browser's search conditions, shaped so PostgreSQL can answer them from indexes.

- **An e-mail address** (``name@host.tld``, searched in any field or in ``email``) is first
  looked up exactly, case-insensitively, by the ``(database_id, lower(fields->>'email'))``
  btree; only when no profile has that address does the substring search below run.
- **Three characters or more** (at least one run of three letters or digits, which is what
  pg_trgm makes trigrams of): the trigram GIN index over the profiles' ``search_text`` picks
  the candidates among the filled rows, the index ``(link_id, search_text IS NULL, id)`` adds
  the unfilled ones (written
  since the last fill, see :mod:`linker.profiles.search_fill`), and the exact condition (the
  field, or any of the database's fields, containing the text, case-insensitively) is checked
  on those rows only. So a search is complete whatever the fill has reached, and fast once the
  fill has caught up.
- **Shorter** (``"ab"``, ``"7"``): no trigram to look up, and a substring of two characters
  cannot be served by any btree, so the search reads at most the first
  :data:`SHORT_SCAN_ROWS` profiles (by id) and says so on the page.

On SQLite (the demo) only the exact conditions are used: no trigram index there, and a demo's
mirror is small.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.db import connection, transaction
from django.db.models import (
    Expression,
    ExpressionWrapper,
    F,
    Lookup,
    Q,
    QuerySet,
    TextField,
    Value,
)
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Lower

from linker.models import RemoteProfile

#: A short search reads at most this many profiles (the first by id).
SHORT_SCAN_ROWS = 20_000

#: The searchable text of a profile: its values as a JSON array (``["a@b.nl", "Anna", ...]``),
#: what the fill writes into ``search_text``, which the trigram index of migration 0018 is
#: built on; keys are left out, so a search for ``city`` does not match every profile. The
#: quotes and commas between values cannot make a false match final: every candidate is
#: checked field by field.
SEARCH_TEXT_SQL = "(jsonb_path_query_array({column}, '$.*')::text)"

_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
# pg_trgm makes trigrams of runs of letters and digits only; a query without such a run of
# three would make the GIN index read every entry.
_TRIGRAM_RUN = re.compile(r"[^\W_]{3}")


class SearchTextField(TextField):
    """The type of ``search_text`` in a search: a text with the one lookup the trigram index
    serves."""


def _search_text() -> ExpressionWrapper:
    """The ``search_text`` column, typed for :class:`TrigramContains`."""
    return ExpressionWrapper(F("search_text"), output_field=SearchTextField())


@SearchTextField.register_lookup
class TrigramContains(Lookup):
    """``expression ILIKE '%value%'`` with ``value`` already escaped for LIKE: the form the
    pg_trgm GIN index serves (``icontains`` compiles to ``UPPER(...) LIKE``, which it does not).
    PostgreSQL only."""

    lookup_name = "trigram_contains"

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, tuple[Any, ...]]:
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        return f"{lhs} ILIKE {rhs}", (*lhs_params, *rhs_params)


def looks_like_email(query: str) -> bool:
    return bool(_EMAIL.fullmatch(query))


def is_short(query: str) -> bool:
    """True when the trigram index cannot serve ``query`` (see the module docstring)."""
    return not _TRIGRAM_RUN.search(query)


def _like_pattern(query: str) -> str:
    # The values sit in the search text JSON-escaped (``"`` as ``\"``, ``\`` as ``\\``), so the
    # query is escaped the same way (per character, so a value containing the query still
    # contains the escaped query), then for LIKE.
    escaped = json.dumps(query, ensure_ascii=False)[1:-1]
    escaped = escaped.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def email_key() -> Expression:
    """``lower(fields->>'email')``: the expression of the e-mail btree index (migration 0002)."""
    return Lower(KeyTextTransform("email", "fields"))


def email_exact(profiles: QuerySet[RemoteProfile], query: str) -> QuerySet[RemoteProfile]:
    """The profiles whose ``email`` is ``query``, ignoring case."""
    return profiles.alias(search_email=email_key()).filter(search_email=Lower(Value(query)))


def search_filter(
    profiles: QuerySet[RemoteProfile],
    *,
    query: str,
    searched: list[str],
    id_of: int | None,
    database_id: int,
) -> QuerySet[RemoteProfile]:
    """``profiles`` whose ``searched`` fields contain ``query`` (any of them), or whose
    Copernica id is ``id_of``."""
    # Expressions, not ``fields__<name>`` lookups: Copernica field names may hold "__".
    aliases = {f"f{i}": KeyTextTransform(name, "fields") for i, name in enumerate(searched)}
    profiles = profiles.alias(**aliases)
    exact = Q()
    for alias in aliases:
        exact |= Q(**{f"{alias}__icontains": query})
    if connection.vendor == "postgresql" and not is_short(query):
        # The filled rows the trigram index finds, and the link's unfilled rows (migration
        # 0018's (link_id, search_text IS NULL, id)): PostgreSQL ORs the two indexes' bitmaps.
        profiles = profiles.alias(search_indexed=_search_text())
        exact &= Q(search_indexed__trigram_contains=_like_pattern(query)) | Q(
            search_text__isnull=True
        )
    if id_of is not None:
        # The database repeated inside the branch lets PostgreSQL answer it from the
        # (database, copernica_id) key and OR it with the trigram index's bitmap.
        exact |= Q(database_id=database_id, copernica_id=id_of)
    return profiles.filter(exact)


def short_scan_bound(profiles: QuerySet[RemoteProfile]) -> tuple[int | None, int]:
    """The Copernica id of the :data:`SHORT_SCAN_ROWS`-th profile, the last a short search
    reads (``None`` when there are no more profiles than that), and that number of rows."""
    rows = SHORT_SCAN_ROWS
    bound = (
        profiles.order_by("copernica_id")
        .values_list("copernica_id", flat=True)[rows - 1 : rows]
        .first()
    )
    return bound, rows


@contextmanager
def planner_settings(**settings: str) -> Iterator[None]:
    """A transaction in which PostgreSQL plans with ``settings`` (``SET LOCAL``; nothing on
    SQLite).

    The browser uses it where the planner cannot know better: its estimate of a search's
    exact check (an OR of ``LIKE '%...%'`` per field) is far too low, so for a common term it
    sorts every candidate the trigram index found instead of walking the sort's index until a
    page is full; and a JIT compilation costs more than any query of an interactive page.
    """
    if connection.vendor != "postgresql" or not settings:
        yield
        return
    nested = connection.in_atomic_block
    names = list(settings)
    with transaction.atomic(), connection.cursor() as cursor:
        # One round trip; names and values are our own literals, never input.
        cursor.execute(
            "SELECT " + ", ".join("current_setting(%s), set_config(%s, %s, true)" for _ in names),
            [item for name in names for item in (name, name, settings[name])],
        )
        row = cursor.fetchone()
        previous = row[0::2] if row else ()
        yield
        if nested and not connection.needs_rollback:
            # Inside a caller's transaction SET LOCAL would outlive this block: put them back.
            cursor.execute(
                "SELECT " + ", ".join("set_config(%s, %s, true)" for _ in names),
                [
                    item
                    for name, value in zip(names, previous, strict=True)
                    for item in (name, value)
                ],
            )
