"""A full run's copy of Copernica's id lists, and the mirror rows they lack, in SQL.

Each source's list is appended in blocks to ``SyncRemoteId`` (COPY on PostgreSQL) as it
arrives, so the worker never holds a list. The rows a list lacks are found with one anti-join
and stored next to it (``missing``): the removal rules decide on that stored set and apply
exactly it, whatever the mirror gains in between (a profile created through the editor is
not in the list, and must not be taken for a removal).

The anti-join is a hash join whatever the statistics say: with nested loops off, its cost is
linear in the source's size even on a mirror that a first sync has just filled and no ANALYZE
has seen (the plan that once took 17-33 s for 20,000 profiles, issue 11).
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from django.db import connection, transaction

from linker.models import ACTIVE_SYNC_STATES, SyncRemoteId, SyncRun
from linker.sync.sources import Source

_TABLE = SyncRemoteId._meta.db_table
_COLUMNS = "run_id, source, missing, ordinal, copernica_id"

# Built from the mirror's constants (table, parent column), never from data. ``{walked}`` is
# empty for a list read from Copernica, and for the ids a run's walks saw leaves out the rows
# the run itself wrote (see :func:`walked_size`).
_COLLECT_MISSING = """
INSERT INTO {ids} ({columns})
SELECT %s, %s, %s, row_number() OVER (ORDER BY m.copernica_id) - 1, m.copernica_id
FROM {table} m
WHERE m.{parent} = %s AND m.removed_at IS NULL {walked} AND NOT EXISTS (
    SELECT 1 FROM {ids} r
    WHERE r.run_id = %s AND r.source = %s AND r.missing = %s
      AND r.copernica_id = m.copernica_id
)
"""
_WALKED = "AND (m.last_run_id IS NULL OR m.last_run_id <> %s)"

# The runs the table holds ids of, one index probe each (``MIN`` over the primary key, which
# starts with ``run_id``: a skip scan that both PostgreSQL and SQLite run on the index), less
# those still active.
_STALE_RUNS = """
WITH RECURSIVE held (run_id) AS (
    SELECT min(run_id) FROM {ids}
    UNION ALL
    SELECT (SELECT min(r.run_id) FROM {ids} r WHERE r.run_id > held.run_id)
    FROM held WHERE held.run_id IS NOT NULL
)
SELECT held.run_id FROM held
WHERE held.run_id IS NOT NULL AND NOT EXISTS (
    SELECT 1 FROM {runs} s WHERE s.id = held.run_id AND s.state IN ({states})
)
"""

# The walked list's size: the rows the run wrote, and the recorded ids that are not among them.
_WALKED_SIZE = """
SELECT (SELECT count(*) FROM {table} m WHERE m.{parent} = %(parent)s AND m.last_run_id = %(run)s)
     + (SELECT count(DISTINCT r.copernica_id) FROM {ids} r
        WHERE r.run_id = %(run)s AND r.source = %(position)s AND NOT r.missing
          AND NOT EXISTS (
            SELECT 1 FROM {table} m
            WHERE m.{parent} = %(parent)s AND m.copernica_id = r.copernica_id
              AND m.last_run_id = %(run)s
          ))
"""


def remote_ids_discard_stale() -> int:
    """Delete the lists of runs that are no longer active (stopped before their end).

    Every full run calls this, and the table may hold millions of ids of the runs going on:
    the runs it holds are found by a skip scan of its primary key (one probe per run), and
    only the stale runs' rows are read, by the same key. Most calls find none and end there.
    """
    states = list(ACTIVE_SYNC_STATES)
    sql = _STALE_RUNS.format(
        ids=_TABLE, runs=SyncRun._meta.db_table, states=", ".join(["%s"] * len(states))
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, states)
        stale = [int(run_id) for (run_id,) in cursor.fetchall()]
        if not stale:
            return 0
        # The ids as literals: the planner sizes each run from the statistics (a run of a
        # few rows beside one of millions is an index scan; a join or an array parameter
        # of unknown runs would be planned for the average run, and read the whole table).
        listed = ", ".join(str(run_id) for run_id in stale)
        cursor.execute(f"DELETE FROM {_TABLE} WHERE run_id IN ({listed})")  # noqa: S608
        return max(cursor.rowcount, 0)


def remote_ids_clear(
    *, run_id: int, position: int | None = None, missing: bool | None = None
) -> None:
    """Delete a run's rows: all of them, or those of one source (and one part of it)."""
    rows = SyncRemoteId.objects.filter(run_id=run_id)
    if position is not None:
        rows = rows.filter(source=position)
    if missing is not None:
        rows = rows.filter(missing=missing)
    rows.delete()


def remote_ids_append(
    *, run_id: int, position: int, first_ordinal: int, ids: list[str], postgres: bool
) -> None:
    """Append a block of a source's list (ids as Copernica sent them: digits) at its offset."""
    if not ids:
        return
    with connection.cursor() as cursor:
        if postgres:
            prefix = f"{run_id}\t{position}\tf\t"
            rows = "".join(f"{prefix}{first_ordinal + n}\t{value}\n" for n, value in enumerate(ids))
            with cursor.cursor.copy(f"COPY {_TABLE} ({_COLUMNS}) FROM STDIN") as copy:
                copy.write(rows)
        else:
            cursor.executemany(
                f"INSERT INTO {_TABLE} ({_COLUMNS}) VALUES (%s, %s, %s, %s, %s)",  # noqa: S608
                [
                    (run_id, position, False, first_ordinal + n, int(value))
                    for n, value in enumerate(ids)
                ],
            )


def remote_ids_append_sql(*, run_id: int, position: int, first_ordinal: int, ids: list[int]) -> str:
    """The INSERT of a block of a source's list at its offset, as one statement without
    parameters (built from integers only), so it can travel with others in one round trip."""
    array = ",".join([str(int(value)) for value in ids])
    return (
        f"INSERT INTO {_TABLE} ({_COLUMNS}) "  # noqa: S608 - integers only
        f"SELECT {int(run_id)}, {int(position)}, false, {int(first_ordinal)} + n - 1, id "
        f"FROM unnest('{{{array}}}'::bigint[]) WITH ORDINALITY AS listed (id, n)"
    )


def remote_ids_analyze(*, postgres: bool) -> None:
    """Fresh statistics for the id table (a bounded sample: the same cost at any size)."""
    if postgres:
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {_TABLE}")


def remote_ids_loaded(*, run_id: int, position: int) -> int:
    """How many entries of a source's list the table holds (a crash empties UNLOGGED)."""
    return SyncRemoteId.objects.filter(run_id=run_id, source=position, missing=False).count()


def remote_ids_distinct(*, run_id: int, position: int) -> int:
    """How many different ids a source's loaded list holds."""
    rows = SyncRemoteId.objects.filter(run_id=run_id, source=position, missing=False)
    return rows.values("copernica_id").distinct().count()


def walked_size(*, source: Source, run_id: int, position: int, postgres: bool) -> int:
    """How many different (sub)profiles of ``source`` the walks of run ``run_id`` saw.

    A page the walk COPYed straight into the mirror is not recorded here: its rows are the
    mirror rows this run wrote (``last_run_id``; only a run's walks write it on live rows).
    A page written through the upsert leaves unchanged rows untouched, so its ids are
    recorded (``remote_ids_append_sql``), as are the catch-up walk's, some of them twice.
    """
    mirror = source.mirror
    sql = _WALKED_SIZE.format(ids=_TABLE, table=mirror.table, parent=mirror.parent)
    with transaction.atomic():
        hash_joins_only(postgres=postgres)
        with connection.cursor() as cursor:
            cursor.execute(sql, {"parent": source.pk, "run": run_id, "position": position})
            (size,) = cursor.fetchone()
    return int(size)


def hash_joins_only(*, postgres: bool) -> None:
    """Within the caller's transaction: no nested-loop joins (see the module docstring)."""
    if postgres:
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_nestloop = off")


def missing_collect_sql(source: Source, *, walked: bool = False) -> str:
    """The INSERT of :func:`missing_collect`; parameters: run, position, ``True``, the
    source's pk, (the run, if ``walked``), run, position, ``False``."""
    mirror = source.mirror
    return _COLLECT_MISSING.format(
        ids=_TABLE,
        columns=_COLUMNS,
        table=mirror.table,
        parent=mirror.parent,
        walked=_WALKED if walked else "",
    )


def missing_collect(
    *, source: Source, run_id: int, position: int, postgres: bool, walked: bool = False
) -> int:
    """Store the live rows of ``source`` that its loaded list lacks, in a transaction of its
    own; → how many (see :func:`missing_collect_counted`)."""
    with transaction.atomic():
        _, missing = missing_collect_counted(
            source=source, run_id=run_id, position=position, postgres=postgres, walked=walked
        )
    return missing


def missing_collect_counted(
    *, source: Source, run_id: int, position: int, postgres: bool, walked: bool = False
) -> tuple[int, int]:
    """Store the live rows of ``source`` that its loaded list lacks, in the caller's
    transaction; → (live rows of the source, missing rows stored).

    ``walked``: the list is what the run's walks saw (:func:`walked_size`), so the rows the
    run wrote belong to it besides the recorded ids. On PostgreSQL one round trip: the planner
    setting, the set a failed attempt left, the new set and the count (integers only).
    """
    sql = missing_collect_sql(source, walked=walked)
    params: list[int | bool] = [run_id, position, True, source.pk]
    params += [run_id] if walked else []
    params += [run_id, position, False]
    if not postgres:
        remote_ids_clear(run_id=run_id, position=position, missing=True)
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            missing = max(cursor.rowcount, 0)
        return source.live().count(), missing
    literals = tuple(
        ("true" if value else "false") if isinstance(value, bool) else str(int(value))
        for value in params
    )
    mirror = source.mirror
    # Table names and integers only.
    statements = (
        "SET LOCAL enable_nestloop = off;"  # noqa: S608
        f"DELETE FROM {_TABLE} WHERE run_id = {int(run_id)} AND source = {int(position)} "
        "AND missing;"
        f"WITH stored AS ({sql % literals} RETURNING 1) "
        "SELECT (SELECT count(*) FROM stored) AS missing, "
        f"(SELECT count(*) FROM {mirror.table} WHERE {mirror.parent} = {int(source.pk)} "
        "AND removed_at IS NULL) AS live;"
        # The rest of the caller's transaction plans as usual.
        "SET LOCAL enable_nestloop = on"
    )
    with connection.cursor() as cursor:
        cursor.execute(statements)  # no parameters: the statements go as one
        raw = cursor.cursor
        while raw.description is None or raw.description[0].name != "missing":
            if not raw.nextset():
                raise RuntimeError("The missing set's count did not come back")
        row = raw.fetchone()
    assert row is not None
    missing, local = row
    return int(local), int(missing)


@dataclass
class MissingScan:
    """One pass over a source's stored missing set, in id order: its size, fingerprint, the
    first ``keep`` ids (all of them when the set is that small) and a random sample."""

    count: int = 0
    fingerprint: str = ""
    first: list[int] = field(default_factory=list)
    sample: list[int] = field(default_factory=list)


def missing_scan(
    *, source: Source, run_id: int, position: int, keep: int, sample_size: int, rng: random.Random
) -> MissingScan:
    """Stream the stored missing set once; the worker holds at most ``keep + sample_size`` ids.

    The fingerprint is sha256 over ``key:id,id,...;`` in id order; the sample is drawn by
    reservoir sampling, so it is uniform over the whole set and the same for the same ``rng``.
    """
    ids: Iterable[int] = (
        SyncRemoteId.objects.filter(run_id=run_id, source=position, missing=True)
        .order_by("ordinal")
        .values_list("copernica_id", flat=True)
        .iterator(chunk_size=20_000)
    )
    scan = MissingScan()
    digest = hashlib.sha256(f"{source.key}:".encode())
    separator = b""
    for copernica_id in ids:
        digest.update(separator + str(copernica_id).encode())
        separator = b","
        if len(scan.first) < keep:
            scan.first.append(copernica_id)
        if scan.count < sample_size:
            scan.sample.append(copernica_id)
        else:
            slot = rng.randrange(scan.count + 1)
            if slot < sample_size:
                scan.sample[slot] = copernica_id
        scan.count += 1
    digest.update(b";")
    scan.fingerprint = digest.hexdigest() if scan.count else ""
    return scan


def missing_apply(
    *, source: Source, run_id: int, position: int, now: datetime, postgres: bool
) -> int:
    """Mark the stored missing set of ``source`` removed (in the caller's transaction)."""
    hash_joins_only(postgres=postgres)
    stored = SyncRemoteId.objects.filter(run_id=run_id, source=position, missing=True)
    return (
        source.live()
        .filter(copernica_id__in=stored.values("copernica_id"))
        .update(removed_at=now, last_run_id=run_id)
    )
