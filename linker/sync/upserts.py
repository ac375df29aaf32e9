"""Writing pages of profiles and subprofiles into the mirror.

On PostgreSQL a page travels as COPY text, built ahead on a thread (:mod:`linker.sync.copy_text`)
so the writer only streams bytes: straight into the mirror when no row of the page can exist
yet (the first full sync of a database, see :func:`copy_straight_in_allowed`), otherwise into a
per-transaction staging table and from there with one ``INSERT ... ON CONFLICT DO UPDATE ...
WHERE ... IS DISTINCT FROM`` that leaves unchanged rows untouched (a re-sync without changes
rewrites no row). Either way the caller's transaction also holds the run's checkpoint.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, NamedTuple

import psycopg
from django.db import connection, transaction
from django.db.models import Model

from linker.models import RemoteProfile, RemoteSubprofile

# COPY text with NULL as the empty string: no column of ours is ever legitimately empty.
_COPY_OPTIONS = "(FORMAT text, NULL '')"


@dataclass(frozen=True)
class Mirror:
    """What a page is written into: the profiles of a database, or the subprofiles of a
    collection. The SQL below is built from these constants only, never from data."""

    model: type[Model]
    parent: str  # the column of the database or collection
    columns: str
    column_types: str
    compared: str  # what "changed" means: these columns, plus removed_at
    updates: str
    analyzed: str  # the columns the sync's own queries filter on (see mirrors_analyze)

    @property
    def table(self) -> str:
        return str(self.model._meta.db_table)

    @property
    def staging(self) -> str:
        return f"sync_page_{self.table}"


PROFILES = Mirror(
    model=RemoteProfile,
    parent="database_id",
    columns="link_id, database_id, last_run_id, copernica_id, fields, interests, created, modified",
    column_types=(
        "link_id bigint, database_id bigint, last_run_id bigint, copernica_id bigint, "
        "fields jsonb, interests jsonb, created timestamptz, modified timestamptz"
    ),
    compared="fields, interests, modified",
    updates="fields, interests, created, modified",
    analyzed="link_id, database_id, copernica_id, removed_at, modified",
)
SUBPROFILES = Mirror(
    model=RemoteSubprofile,
    parent="collection_id",
    columns=(
        "link_id, collection_id, last_run_id, copernica_id, profile_copernica_id, fields, "
        "created, modified"
    ),
    column_types=(
        "link_id bigint, collection_id bigint, last_run_id bigint, copernica_id bigint, "
        "profile_copernica_id bigint, fields jsonb, created timestamptz, modified timestamptz"
    ),
    compared="profile_copernica_id, fields, modified",
    updates="profile_copernica_id, fields, created, modified",
    analyzed="link_id, collection_id, copernica_id, removed_at, modified",
)
MIRRORS = {"profiles": PROFILES, "subprofiles": SUBPROFILES}

# Taking the rows out of the staging table with DELETE ... RETURNING leaves it empty for the
# next page, should the caller's transaction write another one. ``{revived}``: the rows of the
# page that were marked removed before this statement (every part of one statement reads the
# same snapshot, so this sees them as they were), or 0 when the caller does not ask.
_UPSERT_STAGED = """
WITH staged AS (
    DELETE FROM {staging} RETURNING {columns}
), revived AS ({revived}), written AS (
    INSERT INTO {table} AS p ({columns}, removed_at)
    SELECT {columns}, NULL FROM staged
    ON CONFLICT ({parent}, copernica_id) DO UPDATE SET
        {assignments},
        removed_at = NULL,
        last_run_id = EXCLUDED.last_run_id
    WHERE ({old}, p.removed_at) IS DISTINCT FROM ({new}, NULL)
    RETURNING (xmax = 0) AS inserted
)
SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted),
    (SELECT n FROM revived)
FROM written
"""
_REVIVED = """SELECT count(*) AS n FROM {table} p JOIN staged s
    ON p.{parent} = s.{parent} AND p.copernica_id = s.copernica_id
    WHERE p.removed_at IS NOT NULL"""


def _names(columns: str) -> list[str]:
    return [name.strip() for name in columns.split(",")]


@lru_cache(maxsize=8)
def _upsert_sql(mirror: Mirror, revived: bool) -> str:
    compared = _names(mirror.compared)
    counted = _REVIVED.format(table=mirror.table, parent=mirror.parent)
    return _UPSERT_STAGED.format(
        revived=counted if revived else "SELECT 0 AS n",
        staging=mirror.staging,
        table=mirror.table,
        columns=mirror.columns,
        parent=mirror.parent,
        assignments=", ".join(f"{name} = EXCLUDED.{name}" for name in _names(mirror.updates)),
        old=", ".join(f"p.{name}" for name in compared),
        new=", ".join(f"EXCLUDED.{name}" for name in compared),
    )


@dataclass(frozen=True)
class PreparedPage:
    """A page ready to write: its rows as COPY text, and where the walk stands after it.

    ``parent_id`` is the database's (profiles) or the collection's (subprofiles) mirror pk;
    ``ids`` the Copernica ids on the page, in its order; ``items`` is kept only for the
    portable path (no COPY there). ``pages``: how many of Copernica's pages it holds (see
    :func:`pages_merge`).
    """

    mirror: Mirror
    parent_id: int
    rows: bytes
    count: int
    last_id: int
    items: list[dict[str, Any]] | None = None
    ids: list[int] = field(default_factory=list)
    pages: int = 1


def pages_mergeable(first: PreparedPage, then: PreparedPage) -> bool:
    """Whether ``then`` may be written together with ``first`` as one page: the same list,
    COPY text only, and every id of ``then`` above every id of ``first`` (as a keyset walk
    has them), so the merged rows never hold an id twice (the upsert refuses a row it would
    touch twice in one statement)."""
    return (
        then.mirror is first.mirror
        and then.parent_id == first.parent_id
        and first.items is None
        and then.items is None
        and bool(first.ids)
        and bool(then.ids)
        and min(then.ids) > max(first.ids)
    )


def pages_merge(pages: list[PreparedPage]) -> PreparedPage:
    """Consecutive pages of one keyset walk (see :func:`pages_mergeable`) as one page: their
    rows in one COPY, and the walk's place after the last of them."""
    if len(pages) == 1:
        return pages[0]
    first, last = pages[0], pages[-1]
    return PreparedPage(
        first.mirror,
        first.parent_id,
        b"".join([page.rows for page in pages]),
        sum(page.count for page in pages),
        last.last_id,
        None,
        [copernica_id for page in pages for copernica_id in page.ids],
        sum(page.pages for page in pages),
    )


def copy_straight_in_allowed(*, mirror: Mirror = PROFILES, parent_id: int, after_id: int) -> bool:
    """Whether the mirror holds no row of ``parent_id`` after ``after_id`` yet.

    Then the pages of a keyset walk from ``after_id`` can be COPYed into the mirror as they
    are. A row that appears meanwhile (one created through the write-back) only costs that
    page the staged path: see :func:`page_write`.

    Asked for the first such id in key order, so that the plan is a look into the key's index
    whatever the statistics: a first sync asks at each step's start, before anything analyzed
    the rows it COPYed, and an ``EXISTS`` planned on a table taken for empty walked the e-mail
    index through every row of the database so far (7 s of a 1,000,000-profile first sync).
    """
    rows = mirror.model._default_manager.filter(
        **{mirror.parent: parent_id, "copernica_id__gt": after_id}
    )
    return rows.order_by("copernica_id").values_list("copernica_id", flat=True).first() is None


class Written(NamedTuple):
    """What writing a page did: rows ``created``, rows ``updated``, and of the updated ones
    those ``revived`` (marked removed before; counted only when asked)."""

    created: int
    updated: int
    revived: int = 0


def page_write(
    *, page: PreparedPage, straight_in: bool, first: str = "", revived: bool = False
) -> Written:
    """Write a prepared page in the caller's transaction → what it wrote (:class:`Written`).

    ``straight_in`` COPYs the rows into the mirror as they are, for a walk the mirror holds
    no row of yet (:func:`copy_straight_in_allowed`). Should a row exist all the same (one
    the write-back created meanwhile), the COPY raises ``psycopg.errors.UniqueViolation``
    and the caller's transaction is lost: the caller writes the page again, in a new
    transaction and not straight in. (A savepoint would recover in place, at the price of two
    more round trips on every page for a case that hardly ever happens.) Otherwise the page
    goes through the staging table and the upsert.

    ``first``: statements without parameters that belong in the transaction, sent in the
    same round trip as the staging table's. ``revived``: also count the rows that come back
    from removed (an incremental run keeps the mirror's count by what it added; a join of
    the page against the mirror that a full run, which counts exactly, does not pay).
    """
    if not page.count:
        return Written(0, 0)
    if straight_in:
        if first:
            with _raw_cursor() as cursor:
                cursor.execute(first.encode())
        _copy(page.rows, page.mirror.table, page.mirror.columns)
        return Written(page.count, 0)
    return _write_staged(page.mirror, page.rows, first, revived=revived)


@contextmanager
def commits_unflushed() -> Iterator[None]:
    """Until the block ends, this connection's commits do not wait for their WAL to reach the
    disk (``synchronous_commit`` off for the session, a round trip less on every page than
    ``SET LOCAL`` in each transaction).

    Only a crash of PostgreSQL itself can lose such a commit, and then a page together with
    the checkpoint in the same transaction: the run resumes a page or two earlier and writes
    them again. A crashed worker loses nothing. (~6 ms a page when each commit waited.)
    """
    with _raw_cursor() as cursor:
        cursor.execute("SET synchronous_commit TO off")
    try:
        yield
    finally:
        try:
            with _raw_cursor() as cursor:
                cursor.execute("RESET synchronous_commit")
        except psycopg.Error:
            # The connection broke (or is mid-transaction after an error): drop it rather
            # than hand the setting to whatever uses the connection next.
            connection.close()


# What autovacuum waits for before it analyzes a table (its default threshold and scale), and
# whether the caller's own writes (``written`` rows) are a tenth of the table or more.
_STALE_STATISTICS = """
SELECT c.relname FROM pg_class c JOIN pg_stat_user_tables s ON s.relid = c.oid
WHERE c.relname = ANY(%(tables)s)
  AND (c.reltuples < 0 OR s.n_mod_since_analyze > 50 + 0.1 * c.reltuples)
  AND (c.reltuples < 0 OR %(written)s::bigint IS NULL OR %(written)s >= 0.1 * c.reltuples)
"""


#: The statistics target of :func:`mirrors_analyze`'s ``quick`` sample (PostgreSQL's default is
#: 100): 3,000 rows instead of 30,000.
QUICK_STATISTICS_TARGET = 10


def mirrors_analyze(*, written: int | None = None, quick: bool = False) -> list[str]:
    """ANALYZE the mirror tables whose statistics a bulk load left behind (PostgreSQL only).

    A first sync COPYs a table full before autovacuum looks at it, and the planner would take
    it for empty. Only tables changed beyond autovacuum's own threshold are analyzed (the
    tables are every tenant's: a small run must not pay for sampling them), and only in the
    columns the sync's queries filter on: a sample of the narrow columns costs a fraction of
    one that detoasts every ``fields`` value. Such an ANALYZE does not reset the table's count
    of changes, so autovacuum still analyzes it whole soon after. → the tables analyzed.

    ``written``: the rows the caller's run wrote. Then a table is analyzed only if they are a
    tenth of it or more: the changes of many small runs add up past the threshold too, and
    the run that happens to cross it would pay a sample of the whole table (~0.2 s, most of a
    500-profile run) for statistics its own rows hardly moved; autovacuum takes those.

    ``quick``: a tenth of the usual sample (``QUICK_STATISTICS_TARGET``), for a run that waits
    for it. Its counts need the table's size and which links fill it, not fine histograms,
    and autovacuum's whole ANALYZE follows anyway (0.07 -> 0.02 s after a first sync of
    120,000 rows here).
    """
    by_table = {mirror.table: mirror for mirror in MIRRORS.values()}
    with transaction.atomic(), _raw_cursor() as cursor:
        cursor.execute(_STALE_STATISTICS, {"tables": list(by_table), "written": written})
        stale = sorted(row[0] for row in cursor.fetchall())
        if stale and quick:
            cursor.execute(f"SET LOCAL default_statistics_target = {QUICK_STATISTICS_TARGET}")
        for table in stale:
            cursor.execute(f"ANALYZE {table} ({by_table[table].analyzed})")
    return stale


def _raw_cursor() -> Any:
    # psycopg's own cursor: server-side parameters and COPY, and no copy of a 300 kB page in
    # Django's debug query log.
    connection.ensure_connection()
    assert connection.connection is not None
    return connection.connection.cursor()


def _copy(rows: bytes, table: str, columns: str) -> None:
    with (
        _raw_cursor() as cursor,
        cursor.copy(f"COPY {table} ({columns}) FROM STDIN {_COPY_OPTIONS}") as copy,
    ):
        copy.write(rows)


def _write_staged(mirror: Mirror, rows: bytes, first: str = "", *, revived: bool) -> Written:
    with _raw_cursor() as cursor:
        cursor.execute(
            f"{first}{';' if first else ''}"
            f"CREATE TEMP TABLE IF NOT EXISTS {mirror.staging} ({mirror.column_types}) "
            "ON COMMIT DELETE ROWS".encode()
        )
        _copy(rows, mirror.staging, mirror.columns)
        cursor.execute(_upsert_sql(mirror, revived))
        created, updated, back = cursor.fetchone()
    return Written(int(created), int(updated), int(back))
