"""Writing pages of profiles and subprofiles into the mirror.

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
from datetime import datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from django.db import connection, transaction
from django.db.models import Model

from api_client import parse_timestamp
from linker.models import RemoteProfile, RemoteSubprofile

_DUMPS = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
# The one form Copernica writes; anything else (``0000-00-00 00:00:00``, garbage) is NULL.
_TIMESTAMP = re.compile(
    r"[0-9]{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01]) "
    r"(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]"
)
# Copernica's wall clock (see api_client.timestamps).
_COPERNICA_ZONE = ZoneInfo("Europe/Amsterdam")
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
)
MIRRORS = {"profiles": PROFILES, "subprofiles": SUBPROFILES}

# Taking the rows out of the staging table with DELETE ... RETURNING leaves it empty for the
# next page, should the caller's transaction write another one.
_UPSERT_STAGED = """
WITH staged AS (
    DELETE FROM {staging} RETURNING {columns}
), written AS (
    INSERT INTO {table} AS p ({columns}, removed_at)
    SELECT {columns}, NULL FROM staged
    ON CONFLICT ({parent}, copernica_id) DO UPDATE SET
        {assignments},
        removed_at = NULL,
        last_run_id = EXCLUDED.last_run_id
    WHERE ({old}, p.removed_at) IS DISTINCT FROM ({new}, NULL)
    RETURNING (xmax = 0) AS inserted
)
SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM written
"""


def _names(columns: str) -> list[str]:
    return [name.strip() for name in columns.split(",")]


def _upsert_sql(mirror: Mirror) -> str:
    compared = _names(mirror.compared)
    return _UPSERT_STAGED.format(
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
    ``items`` is kept only for the portable path (no COPY there).
    """

    mirror: Mirror
    parent_id: int
    rows: bytes
    count: int
    last_id: int
    items: list[dict[str, Any]] | None = None


@lru_cache(maxsize=4096)
def _utc_offset(hour: str) -> str:
    """The UTC offset of Copernica's wall clock in ``YYYY-MM-DD hh`` as COPY text (``+02``).

    In the autumn's repeated hour the earlier reading (summer time) is taken, as
    ``api_client.parse_timestamp`` does: it errs toward fetching a change again.
    """
    moment = datetime(int(hour[:4]), int(hour[5:7]), int(hour[8:10]), int(hour[11:13]))
    offset = moment.replace(tzinfo=_COPERNICA_ZONE).utcoffset()
    assert offset is not None
    hours = int(offset.total_seconds()) // 3600
    return f"{hours:+03d}"


def _copy_timestamp(value: object) -> str:
    """A valid Copernica timestamp as COPY text with its UTC offset; ``""`` (NULL) otherwise."""
    if (
        type(value) is str
        and _TIMESTAMP.fullmatch(value)
        and value[:4] != "0000"
        # Days 29-31 exist only in some months: let the calendar decide those.
        and (value[8:10] <= "28" or parse_timestamp(value) is not None)
    ):
        return value + _utc_offset(value[:13])
    return ""


def page_prepare(
    *,
    mirror: Mirror = PROFILES,
    items: list[dict[str, Any]],
    last_id: int,
    link_id: int,
    parent_id: int,
    run_id: int | None,
    keep_items: bool = False,
) -> PreparedPage:
    """Turn a page of Copernica (sub)profiles into COPY text (no database access: thread-safe)."""
    prefix = f"{link_id}\t{parent_id}\t{'' if run_id is None else run_id}\t"
    dumps = _DUMPS
    if mirror is PROFILES:
        text = "".join(
            [
                f"{prefix}{int(item['ID'])}\t{dumps(item.get('fields') or {})}\t"
                f"{dumps(item.get('interests') or [])}\t{_copy_timestamp(item.get('created'))}\t"
                f"{_copy_timestamp(item.get('modified'))}\n"
                for item in items
            ]
        )
    else:
        text = "".join(
            [
                f"{prefix}{int(item['ID'])}\t{int(item.get('profile') or 0)}\t"
                f"{dumps(item.get('fields') or {})}\t{_copy_timestamp(item.get('created'))}\t"
                f"{_copy_timestamp(item.get('modified'))}\n"
                for item in items
            ]
        )
    # JSON escapes every control character, so backslashes are all COPY text needs escaped
    # (the other columns are digits and timestamps).
    rows = text.replace("\\", "\\\\").encode()
    return PreparedPage(mirror, parent_id, rows, len(items), last_id, items if keep_items else None)


def copy_straight_in_allowed(*, mirror: Mirror = PROFILES, parent_id: int, after_id: int) -> bool:
    """Whether the mirror holds no row of ``parent_id`` after ``after_id`` yet.

    Then the pages of a keyset walk from ``after_id`` can be COPYed into the mirror as they
    are. A row that appears meanwhile (one created through the write-back) only costs that
    page the staged path: see :func:`page_write`.
    """
    rows = mirror.model._default_manager.filter(
        **{mirror.parent: parent_id, "copernica_id__gt": after_id}
    )
    return not rows.exists()


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
                _copy(page.rows, page.mirror.table, page.mirror.columns)
            return page.count, 0, True
        except psycopg.errors.UniqueViolation:
            pass
    created, updated = _write_staged(page.mirror, page.rows)
    return created, updated, False


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


def _write_staged(mirror: Mirror, rows: bytes) -> tuple[int, int]:
    with _raw_cursor() as cursor:
        cursor.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {mirror.staging} ({mirror.column_types}) "
            "ON COMMIT DELETE ROWS"
        )
        _copy(rows, mirror.staging, mirror.columns)
        cursor.execute(_upsert_sql(mirror))
        created, updated = cursor.fetchone()
    return int(created), int(updated)


def upsert_profiles_postgres(
    *, link_id: int, database_id: int, run_id: int | None, items: list[dict[str, Any]]
) -> tuple[int, int]:
    """Upsert one page through the staging table; unchanged rows are not touched.

    → (created, updated). Runs in the caller's transaction.
    """
    page = page_prepare(
        items=items, last_id=0, link_id=link_id, parent_id=database_id, run_id=run_id
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


def upsert_subprofiles_portable(
    *, link_id: int, collection_id: int, run_id: int | None, items: list[dict[str, Any]]
) -> tuple[int, int]:
    """The subprofile upsert for databases without ``ON CONFLICT ... WHERE`` (the SQLite demo)."""
    by_id = {int(item["ID"]): item for item in items}
    existing = {
        row.copernica_id: row
        for row in RemoteSubprofile.objects.filter(
            collection_id=collection_id, copernica_id__in=by_id
        )
    }
    new: list[RemoteSubprofile] = []
    changed: list[RemoteSubprofile] = []
    for subprofile_id, item in by_id.items():
        profile_id = int(item.get("profile") or 0)
        fields = item.get("fields") or {}
        created = parse_timestamp(item.get("created"))
        modified = parse_timestamp(item.get("modified"))
        row = existing.get(subprofile_id)
        if row is None:
            new.append(
                RemoteSubprofile(
                    link_id=link_id,
                    collection_id=collection_id,
                    copernica_id=subprofile_id,
                    profile_copernica_id=profile_id,
                    fields=fields,
                    created=created,
                    modified=modified,
                    last_run_id=run_id,
                )
            )
        elif (row.profile_copernica_id, row.fields, row.modified, row.removed_at) != (
            profile_id,
            fields,
            modified,
            None,
        ):
            row.profile_copernica_id, row.fields = profile_id, fields
            row.created, row.modified, row.removed_at = created, modified, None
            row.last_run_id = run_id
            changed.append(row)
    RemoteSubprofile.objects.bulk_create(new)
    RemoteSubprofile.objects.bulk_update(
        changed,
        ["profile_copernica_id", "fields", "created", "modified", "removed_at", "last_run"],
    )
    return len(new), len(changed)
