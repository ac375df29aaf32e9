"""Deletion reconciliation: at the end of a full run, mark what Copernica no longer lists.

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
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import connection, transaction
from django.db.models import BooleanField, QuerySet
from django.db.models.expressions import RawSQL
from django.utils import timezone

from api_client import NotFoundError
from linker.models import RemoteDatabase, RemoteProfile, SyncRun, SyncSchedule
from linker.sync.timestamps import INCREMENTAL_OVERLAP, format_timestamp

if TYPE_CHECKING:
    from linker.sync.engine import Engine

#: A removal of more than this share of the mirror waits for a second full run that agrees.
MASS_REMOVAL_SHARE = 0.10
#: Up to this many missing profiles are each confirmed with Copernica before removal.
CONFIRM_REMOVALS_UP_TO = 200


def removals_reconcile(*, engine: Engine) -> None:
    """The ``reconcile`` phase of a full run: catch up on changes, then mark removals."""
    databases = list(RemoteDatabase.objects.filter(pk__in=engine.cp["databases"]).order_by("pk"))
    # Profiles created or changed while we paged (behind the cursor, or new).
    started = engine.run.started_at or timezone.now()
    changed = {"fields[]": [f"modified>={format_timestamp(started - INCREMENTAL_OVERLAP)}"]}
    for database in databases:
        for page in engine.client.paginate_keyset(
            database.copernica_id, changed, page_size=settings.LINKER_SYNC_PAGE_SIZE
        ):
            prepared = engine.prepare(database.pk, page)
            with transaction.atomic():
                created, updated, _ = engine.write_page(prepared)
                engine.commit(
                    pages=1, fetched=page.count, created_count=created, updated_count=updated
                )
    # The id lists after the walks: a profile created in between is merely not counted yet,
    # while the other order could take it for a removal. One transaction from here on: the
    # temporary table lives as long as it, and the claim check comes last.
    with transaction.atomic():
        _remote_ids_table_create()
        missing: dict[int, int] = {}
        remote_total = 0
        local_total = 0
        blocked = ""
        for database in databases:
            remote_count = _remote_ids_load(engine, database)
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
        schedule, _ = SyncSchedule.objects.get_or_create(link=engine.run.link)
        if to_remove and to_remove > MASS_REMOVAL_SHARE * max(local_total, 1):
            fingerprint = _fingerprint(sorted(missing))
            if schedule.pending_removal_fingerprint != fingerprint:
                pending = to_remove
                blocked = (
                    f"{to_remove} of {local_total} profiles are missing at Copernica; more than "
                    f"{MASS_REMOVAL_SHARE:.0%} waits for a second full run that agrees."
                )
            else:
                removed = _remove_missing(missing, engine.run, now)
        elif 0 < to_remove <= CONFIRM_REMOVALS_UP_TO:
            for database_pk in missing:
                ids = list(
                    _missing(database_pk)
                    .order_by("copernica_id")
                    .values_list("copernica_id", flat=True)
                )
                gone = _confirmed_gone(engine, ids)
                removed += RemoteProfile.objects.filter(
                    database_id=database_pk, copernica_id__in=gone, removed_at=None
                ).update(removed_at=now, last_run_id=engine.run.pk)
        else:
            removed = _remove_missing(missing, engine.run, now)
        schedule.pending_removal_fingerprint = fingerprint if pending else ""
        schedule.pending_removal_count = pending
        schedule.pending_removal_run_id = engine.run.pk if pending else None
        schedule.save(
            update_fields=[
                "pending_removal_fingerprint",
                "pending_removal_count",
                "pending_removal_run",
            ]
        )
        engine.cp["phase"] = "done"
        engine.cp["note"] = blocked
        SyncRun.objects.filter(pk=engine.run.pk).update(
            remote_count=remote_total,
            local_count=local_total - removed,
            pending_removals=pending,
        )
        engine.commit(removed_count=removed)


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


def _remote_ids_load(engine: Engine, database: RemoteDatabase) -> int:
    """Stream the database's id list from Copernica into the temporary table; → its length."""
    loaded = 0
    prefix = f"{database.pk}\t"
    with connection.cursor() as cursor:
        for block in engine.client.iter_profile_ids(database.copernica_id):
            if not block:
                continue
            loaded += len(block)
            if engine.postgres:
                rows = prefix + f"\n{prefix}".join(block) + "\n"
                with cursor.cursor.copy("COPY sync_remote_ids FROM STDIN") as copy:
                    copy.write(rows)
            else:
                cursor.executemany(
                    "INSERT INTO sync_remote_ids VALUES (%s, %s)",
                    [(database.pk, int(value)) for value in block],
                )
        if engine.postgres:
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


def _remove_missing(missing: dict[int, int], run: SyncRun, now: object) -> int:
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


def _confirmed_gone(engine: Engine, ids: list[int]) -> list[int]:
    """Of ``ids``, those Copernica confirms removed (0 false removals for small sets)."""
    gone: list[int] = []
    for profile_id in ids:
        try:
            profile = engine.client.get_profile(profile_id)
        except NotFoundError:
            gone.append(profile_id)
            continue
        if profile.get("removed"):
            gone.append(profile_id)
    return gone
