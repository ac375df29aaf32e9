"""Writing pages of profiles into the mirror.

On PostgreSQL a page travels as COPY text, built on the fetch thread (:func:`page_prepare`)
so the writer only streams bytes: straight into the mirror when no row of the page can exist
yet (the first full sync of a database, see :func:`copy_straight_in_allowed`), otherwise into a
per-transaction staging table and from there with one ``INSERT ... ON CONFLICT DO UPDATE ...
WHERE ... IS DISTINCT FROM`` that leaves unchanged rows untouched (a re-sync without changes
rewrites no row). Either way the caller's transaction also holds the run's checkpoint.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import psycopg
from django.db import connection, transaction

from api_client import parse_timestamp
from linker.models import RemoteProfile

_DUMPS = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
# The one form Copernica writes; anything else (``0000-00-00 00:00:00``, garbage) is NULL.
_TIMESTAMP = re.compile(
    r"[0-9]{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01]) "
    r"(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]"
)
_COLUMNS = "link_id, database_id, last_run_id, copernica_id, fields, interests, created, modified"
# COPY text with NULL as the empty string: no column of ours is ever legitimately empty.
_COPY_OPTIONS = "(FORMAT text, NULL '')"
_STAGING = "sync_page_rows"
_CREATE_STAGING = f"""
CREATE TEMP TABLE IF NOT EXISTS {_STAGING} (
    link_id bigint, database_id bigint, last_run_id bigint, copernica_id bigint,
    fields jsonb, interests jsonb, created timestamptz, modified timestamptz
) ON COMMIT DELETE ROWS
"""
# Taking the rows out of the staging table with DELETE ... RETURNING leaves it empty for the
# next page, should the caller's transaction write another one.
_UPSERT_STAGED = """
WITH staged AS (
    DELETE FROM {staging} RETURNING {columns}
), written AS (
    INSERT INTO {table} AS p ({columns}, removed_at)
    SELECT {columns}, NULL FROM staged
    ON CONFLICT (database_id, copernica_id) DO UPDATE SET
        fields = EXCLUDED.fields,
        interests = EXCLUDED.interests,
        created = EXCLUDED.created,
        modified = EXCLUDED.modified,
        removed_at = NULL,
        last_run_id = EXCLUDED.last_run_id
    WHERE (p.fields, p.interests, p.modified, p.removed_at)
          IS DISTINCT FROM (EXCLUDED.fields, EXCLUDED.interests, EXCLUDED.modified, NULL)
    RETURNING (xmax = 0) AS inserted
)
SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM written
"""


@dataclass(frozen=True)
class PreparedPage:
    """A page ready to write: its rows as COPY text, and where the walk stands after it.

    ``items`` is kept only for the portable path (no COPY there).
    """

    database_id: int
    rows: bytes
    count: int
    last_id: int
    items: list[dict[str, Any]] | None = None


def _copy_timestamp(value: object) -> str:
    """A valid Copernica timestamp as COPY text in UTC; ``""`` (NULL) for anything else."""
    if (
        type(value) is str
        and _TIMESTAMP.fullmatch(value)
        and value[:4] != "0000"
        # Days 29-31 exist only in some months: let the calendar decide those.
        and (value[8:10] <= "28" or parse_timestamp(value) is not None)
    ):
        return value + "+00"
    return ""


def page_prepare(
    *,
    items: list[dict[str, Any]],
    last_id: int,
    link_id: int,
    database_id: int,
    run_id: int | None,
    keep_items: bool = False,
) -> PreparedPage:
    """Turn a page of Copernica profiles into COPY text (no database access: thread-safe)."""
    prefix = f"{link_id}\t{database_id}\t{'' if run_id is None else run_id}\t"
    dumps = _DUMPS
    text = "".join(
        [
            f"{prefix}{int(item['ID'])}\t{dumps(item.get('fields') or {})}\t"
            f"{dumps(item.get('interests') or [])}\t{_copy_timestamp(item.get('created'))}\t"
            f"{_copy_timestamp(item.get('modified'))}\n"
            for item in items
        ]
    )
    # JSON escapes every control character, so backslashes are all COPY text needs escaped
    # (the other columns are digits and timestamps).
    rows = text.replace("\\", "\\\\").encode()
    return PreparedPage(database_id, rows, len(items), last_id, items if keep_items else None)


def copy_straight_in_allowed(*, database_id: int, after_id: int) -> bool:
    """Whether the mirror holds no profile of ``database_id`` after ``after_id`` yet.

    Then the pages of a keyset walk from ``after_id`` can be COPYed into the mirror as they
    are. A row that appears meanwhile (a profile created through the write-back) only costs
    that page the staged path: see :func:`page_write`.
    """
    return not RemoteProfile.objects.filter(
        database_id=database_id, copernica_id__gt=after_id
    ).exists()


def page_write(*, page: PreparedPage, straight_in: bool) -> tuple[int, int, bool]:
    """Write a prepared page in the caller's transaction → (created, updated, straight_in).

    The returned ``straight_in`` is ``False`` once a page met a row it did not expect; the
    rest of that walk then takes the staged path.
    """
    if not page.count:
        return 0, 0, straight_in
    with _raw_cursor() as cursor:
        # Don't wait for this transaction's WAL to reach the disk (~6 ms a page). Only a crash of
        # PostgreSQL itself can lose it, and then together with the checkpoint in the same
        # transaction: the run resumes a page or two earlier and writes them again. A crashed
        # worker loses nothing.
        cursor.execute("SET LOCAL synchronous_commit TO off")
    if straight_in:
        try:
            with transaction.atomic():  # a savepoint: a conflict undoes only this COPY
                _copy(page.rows, RemoteProfile._meta.db_table)
            return page.count, 0, True
        except psycopg.errors.UniqueViolation:
            pass
    created, updated = _write_staged(page.rows)
    return created, updated, False


def _raw_cursor() -> Any:
    # psycopg's own cursor: server-side parameters and COPY, and no copy of a 300 kB page in
    # Django's debug query log.
    connection.ensure_connection()
    assert connection.connection is not None
    return connection.connection.cursor()


def _copy(rows: bytes, table: str) -> None:
    with (
        _raw_cursor() as cursor,
        cursor.copy(f"COPY {table} ({_COLUMNS}) FROM STDIN {_COPY_OPTIONS}") as copy,
    ):
        copy.write(rows)


def _write_staged(rows: bytes) -> tuple[int, int]:
    with _raw_cursor() as cursor:
        cursor.execute(_CREATE_STAGING)
        with cursor.copy(f"COPY {_STAGING} ({_COLUMNS}) FROM STDIN {_COPY_OPTIONS}") as copy:
            copy.write(rows)
        cursor.execute(
            _UPSERT_STAGED.format(
                table=RemoteProfile._meta.db_table, columns=_COLUMNS, staging=_STAGING
            )
        )
        created, updated = cursor.fetchone()
    return int(created), int(updated)


def upsert_profiles_postgres(
    *, link_id: int, database_id: int, run_id: int | None, items: list[dict[str, Any]]
) -> tuple[int, int]:
    """Upsert one page through the staging table; unchanged rows are not touched.

    → (created, updated). Runs in the caller's transaction.
    """
    page = page_prepare(
        items=items, last_id=0, link_id=link_id, database_id=database_id, run_id=run_id
    )
    created, updated, _ = page_write(page=page, straight_in=False)
    return created, updated


def upsert_profiles_portable(
    *, link_id: int, database_id: int, run_id: int | None, items: list[dict[str, Any]]
) -> tuple[int, int]:
    """The same upsert for databases without ``ON CONFLICT ... WHERE`` (the SQLite demo)."""
    by_id = {int(item["ID"]): item for item in items}
    existing = {
        row.copernica_id: row
        for row in RemoteProfile.objects.filter(database_id=database_id, copernica_id__in=by_id)
    }
    new: list[RemoteProfile] = []
    changed: list[RemoteProfile] = []
    for profile_id, item in by_id.items():
        fields = item.get("fields") or {}
        interests = item.get("interests") or []
        created = parse_timestamp(item.get("created"))
        modified = parse_timestamp(item.get("modified"))
        row = existing.get(profile_id)
        if row is None:
            new.append(
                RemoteProfile(
                    link_id=link_id,
                    database_id=database_id,
                    copernica_id=profile_id,
                    fields=fields,
                    interests=interests,
                    created=created,
                    modified=modified,
                    last_run_id=run_id,
                )
            )
        elif (row.fields, row.interests, row.modified, row.removed_at) != (
            fields,
            interests,
            modified,
            None,
        ):
            row.fields, row.interests, row.created, row.modified = (
                fields,
                interests,
                created,
                modified,
            )
            row.removed_at = None
            row.last_run_id = run_id
            changed.append(row)
    RemoteProfile.objects.bulk_create(new)
    RemoteProfile.objects.bulk_update(
        changed, ["fields", "interests", "created", "modified", "removed_at", "last_run"]
    )
    return len(new), len(changed)
