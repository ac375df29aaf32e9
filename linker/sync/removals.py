"""Deletion reconciliation: at the end of a full run, mark what Copernica no longer lists.

The engine calls :func:`removals_reconcile` with what it needs (client, run, databases) inside
its transaction and writes the returned :class:`RemovalOutcome` into the run.

Copernica's profile id list (a bare JSON array, a million entries on a big database) is read
as it arrives and loaded in blocks into a temporary table; the profiles it misses are found
with an anti-join in SQL. The worker holds neither the list nor the missing set, so its memory
does not grow with the account.

Guards (reliability.md 30-32): an empty list removes nothing; a removal of more than
``MASS_REMOVAL_SHARE`` of the mirror waits for a second full run whose missing set has the same
fingerprint; a small removal is confirmed profile by profile with Copernica first.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from django.db import connection
from django.db.models import BooleanField, QuerySet
from django.db.models.expressions import RawSQL
from django.utils import timezone

from api_client import CopernicaClient, NotFoundError
from linker.models import RemoteDatabase, RemoteProfile, SyncRun, SyncSchedule

#: A removal of more than this share of the mirror waits for a second full run that agrees.
MASS_REMOVAL_SHARE = 0.10
#: Up to this many missing profiles are each confirmed with Copernica before removal.
CONFIRM_REMOVALS_UP_TO = 200


@dataclass(frozen=True)
class RemovalOutcome:
    """What reconciliation found and did, for the run's counters and note."""

    removed: int
    pending: int
    remote_total: int
    local_total: int
    note: str


def removals_reconcile(
    *, client: CopernicaClient, run: SyncRun, databases: list[RemoteDatabase], postgres: bool
) -> RemovalOutcome:
    """Mark the live profiles Copernica no longer lists as removed, within the guards.

    Runs inside the caller's transaction (the temporary table of ids lives as long as it).
    """
    _remote_ids_table_create()
    missing: dict[int, int] = {}
    remote_total = 0
    local_total = 0
    blocked = ""
    for database in databases:
        remote_count = _remote_ids_load(client, database, postgres=postgres)
        local_count = _live(database.pk).count()
        local_total += local_count
        remote_total += remote_count
        if not remote_count and local_count:
            blocked = "Copernica listed no profiles at all; nothing was removed."
            continue
        count = _missing(database.pk).count()
        if count:
            missing[database.pk] = count
    to_remove = sum(missing.values())
    pending = 0
    fingerprint = ""
    removed = 0
    now = timezone.now()
    schedule, _ = SyncSchedule.objects.get_or_create(link_id=run.link_id)
    if to_remove and to_remove > MASS_REMOVAL_SHARE * max(local_total, 1):
        fingerprint = _fingerprint(sorted(missing))
        if schedule.pending_removal_fingerprint != fingerprint:
            pending = to_remove
            blocked = (
                f"{to_remove} of {local_total} profiles are missing at Copernica; more than "
                f"{MASS_REMOVAL_SHARE:.0%} waits for a second full run that agrees."
            )
        else:
            removed = _remove_missing(missing, run, now)
    elif 0 < to_remove <= CONFIRM_REMOVALS_UP_TO:
        for database_pk in missing:
            ids = list(
                _missing(database_pk)
                .order_by("copernica_id")
                .values_list("copernica_id", flat=True)
            )
            gone = _confirmed_gone(client, ids)
            removed += RemoteProfile.objects.filter(
                database_id=database_pk, copernica_id__in=gone, removed_at=None
            ).update(removed_at=now, last_run_id=run.pk)
    else:
        removed = _remove_missing(missing, run, now)
    schedule.pending_removal_fingerprint = fingerprint if pending else ""
    schedule.pending_removal_count = pending
    schedule.pending_removal_run_id = run.pk if pending else None
    schedule.save(
        update_fields=[
            "pending_removal_fingerprint",
            "pending_removal_count",
            "pending_removal_run",
        ]
    )
    return RemovalOutcome(
        removed=removed,
        pending=pending,
        remote_total=remote_total,
        local_total=local_total,
        note=blocked,
    )


def _remote_ids_table_create() -> None:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # ON COMMIT DROP clears it after the run's transaction; an enclosing transaction
            # (two runs inside one, as in a test) would still hold the previous one.
            cursor.execute("DROP TABLE IF EXISTS sync_remote_ids")
            cursor.execute(
                "CREATE TEMP TABLE sync_remote_ids (database_id bigint, copernica_id bigint) "
                "ON COMMIT DROP"
            )
        else:
            cursor.execute(
                "CREATE TEMP TABLE IF NOT EXISTS sync_remote_ids "
                "(database_id bigint, copernica_id bigint)"
            )
            cursor.execute("DELETE FROM sync_remote_ids")


def _remote_ids_load(client: CopernicaClient, database: RemoteDatabase, *, postgres: bool) -> int:
    """Stream the database's id list from Copernica into the temporary table; → its length."""
    loaded = 0
    prefix = f"{database.pk}\t"
    with connection.cursor() as cursor:
        for block in client.iter_profile_ids(database.copernica_id):
            if not block:
                continue
            loaded += len(block)
            if postgres:
                rows = prefix + f"\n{prefix}".join(block) + "\n"
                with cursor.cursor.copy("COPY sync_remote_ids FROM STDIN") as copy:
                    copy.write(rows)
            else:
                cursor.executemany(
                    "INSERT INTO sync_remote_ids VALUES (%s, %s)",
                    [(database.pk, int(value)) for value in block],
                )
        if postgres:
            # Without statistics the planner takes the fresh table for tiny and nests loops
            # over it in the anti-join: minutes instead of a hash join's fraction of a second.
            cursor.execute("ANALYZE sync_remote_ids")
    return loaded


def _live(database_pk: int) -> QuerySet[RemoteProfile]:
    return RemoteProfile.objects.filter(database_id=database_pk, removed_at=None)


def _missing(database_pk: int) -> QuerySet[RemoteProfile]:
    """Live mirror rows of the database that Copernica's id list does not hold."""
    # Constant SQL with a bound parameter; the ORM has no anti-join against a temporary table.
    absent = RawSQL(
        "NOT EXISTS (SELECT 1 FROM sync_remote_ids r WHERE r.database_id = %s "
        "AND r.copernica_id = linker_remoteprofile.copernica_id)",
        (database_pk,),
        output_field=BooleanField(),
    )
    return _live(database_pk).filter(absent)


def _remove_missing(missing: dict[int, int], run: SyncRun, now: datetime) -> int:
    removed = 0
    for database_pk in missing:
        removed += _missing(database_pk).update(removed_at=now, last_run_id=run.pk)
    return removed


def _fingerprint(database_pks: list[int]) -> str:
    """sha256 over ``pk:id,id,...;`` per database, streamed from the database in id order."""
    digest = hashlib.sha256()
    for database_pk in database_pks:
        digest.update(f"{database_pk}:".encode())
        ids = (
            _missing(database_pk)
            .order_by("copernica_id")
            .values_list("copernica_id", flat=True)
            .iterator(chunk_size=20_000)
        )
        separator = b""
        for profile_id in ids:
            digest.update(separator + str(profile_id).encode())
            separator = b","
        digest.update(b";")
    return digest.hexdigest()


def _confirmed_gone(client: CopernicaClient, ids: list[int]) -> list[int]:
    """Of ``ids``, those Copernica confirms removed (0 false removals for small sets)."""
    gone: list[int] = []
    for profile_id in ids:
        try:
            profile = client.get_profile(profile_id)
        except NotFoundError:
            gone.append(profile_id)
            continue
        if profile.get("removed"):
            gone.append(profile_id)
    return gone
