"""Deletion reconciliation: at the end of a full run, mark what Copernica no longer lists.

The engine calls :func:`removals_reconcile` with what it needs (client, run, sources: the
profiles of each database and the subprofiles of each collection) inside its transaction and
writes the returned :class:`RemovalOutcome` into the run.

Copernica's id lists (bare JSON arrays, paged until an empty page; a million entries on a
big database) are read as they arrive and loaded in blocks into a temporary table; the rows
they miss are found with an anti-join in SQL. The worker holds neither the list nor the
missing set, so its memory does not grow with the account.

Guards (reliability.md 30-32), for profiles and subprofiles alike: an empty list removes
nothing; a removal of more than ``MASS_REMOVAL_SHARE`` of the mirror's profiles (or of its
subprofiles) waits for a second full run whose missing set has the same fingerprint; a small
removal is confirmed one by one with Copernica first.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection
from django.db.models import BooleanField, QuerySet
from django.db.models.expressions import RawSQL
from django.utils import timezone

from api_client import CopernicaClient
from linker.models import SyncRun, SyncSchedule
from linker.sync.sources import PROFILE_SOURCE, SUBPROFILE_SOURCE, Source

#: A removal of more than this share of the mirror waits for a second full run that agrees.
MASS_REMOVAL_SHARE = 0.10
#: Up to this many missing profiles are each confirmed with Copernica before removal.
CONFIRM_REMOVALS_UP_TO = 200


@dataclass(frozen=True)
class RemovalOutcome:
    """What reconciliation found and did, for the run's counters and note (profiles only:
    the run's counts are profile counts; subprofile counts go on each collection)."""

    removed: int
    pending: int
    remote_total: int
    local_total: int
    note: str


def removals_reconcile(
    *, client: CopernicaClient, run: SyncRun, sources: list[Source], postgres: bool
) -> RemovalOutcome:
    """Mark the live rows Copernica no longer lists as removed, within the guards.

    Runs inside the caller's transaction (the temporary table of ids lives as long as it).
    """
    _remote_ids_table_create()
    missing: dict[Source, int] = {}
    remote: dict[str, int] = {}
    local: dict[str, int] = {}
    counts: dict[Source, tuple[int, int]] = {}
    blocked = ""
    for position, source in enumerate(sources):
        remote_count = _remote_ids_load(client, source, position, postgres=postgres)
        local_count = source.live().count()
        counts[source] = (remote_count, local_count)
        local[source.kind] = local.get(source.kind, 0) + local_count
        remote[source.kind] = remote.get(source.kind, 0) + remote_count
        if not remote_count and local_count:
            blocked = "Copernica listed no profiles at all; nothing was removed."
            continue
        count = _missing(source, position).count()
        if count:
            missing[source] = count
    now = timezone.now()
    schedule, _ = SyncSchedule.objects.get_or_create(link_id=run.link_id)
    mass = [
        kind
        for kind in local
        if sum(n for s, n in missing.items() if s.kind == kind)
        > MASS_REMOVAL_SHARE * max(local[kind], 1)
    ]
    pending = 0
    fingerprint = ""
    removed: dict[str, int] = {}
    positions = {source: position for position, source in enumerate(sources)}
    to_remove = sum(missing.values())
    if mass:
        fingerprint = _fingerprint([(s, positions[s]) for s in missing])
        if schedule.pending_removal_fingerprint != fingerprint:
            pending = to_remove
            kinds = " and ".join(mass)
            blocked = (
                f"{to_remove} rows are missing at Copernica, more than {MASS_REMOVAL_SHARE:.0%} "
                f"of the {kinds}; the removal waits for a second full run that agrees."
            )
        else:
            for source, _ in missing.items():
                removed[source.kind] = removed.get(source.kind, 0) + _remove_missing(
                    source, positions[source], run, now
                )
    elif 0 < to_remove <= CONFIRM_REMOVALS_UP_TO:
        for source in missing:
            ids = list(
                _missing(source, positions[source])
                .order_by("copernica_id")
                .values_list("copernica_id", flat=True)
            )
            gone = [i for i in ids if source.confirmed_gone(client, i)]
            removed[source.kind] = removed.get(source.kind, 0) + source.live().filter(
                copernica_id__in=gone
            ).update(removed_at=now, last_run_id=run.pk)
    else:
        for source in missing:
            removed[source.kind] = removed.get(source.kind, 0) + _remove_missing(
                source, positions[source], run, now
            )
    if not pending:
        for source, (remote_count, _) in counts.items():
            source.record_counts(remote=remote_count, local=source.live().count())
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
        removed=sum(removed.values()),
        pending=pending,
        remote_total=remote.get(PROFILE_SOURCE, 0),
        local_total=local.get(PROFILE_SOURCE, 0)
        + sum(n for kind, n in removed.items() if kind != PROFILE_SOURCE),
        note=blocked,
    )


def _remote_ids_table_create() -> None:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # ON COMMIT DROP clears it after the run's transaction; an enclosing transaction
            # (two runs inside one, as in a test) would still hold the previous one.
            cursor.execute("DROP TABLE IF EXISTS sync_remote_ids")
            cursor.execute(
                "CREATE TEMP TABLE sync_remote_ids (source integer, copernica_id bigint) "
                "ON COMMIT DROP"
            )
        else:
            cursor.execute("DROP TABLE IF EXISTS sync_remote_ids")
            cursor.execute(
                "CREATE TEMP TABLE sync_remote_ids (source integer, copernica_id bigint)"
            )


def _remote_ids_load(
    client: CopernicaClient, source: Source, position: int, *, postgres: bool
) -> int:
    """Stream the source's id list from Copernica into the temporary table; → its length."""
    loaded = 0
    prefix = f"{position}\t"
    with connection.cursor() as cursor:
        for block in source.ids(client):
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
                    [(position, int(value)) for value in block],
                )
        if postgres:
            # Without statistics the planner takes the fresh table for tiny and nests loops
            # over it in the anti-join: minutes instead of a hash join's fraction of a second.
            cursor.execute("ANALYZE sync_remote_ids")
    return loaded


_ABSENT = {
    PROFILE_SOURCE: (
        "NOT EXISTS (SELECT 1 FROM sync_remote_ids r WHERE r.source = %s "
        "AND r.copernica_id = linker_remoteprofile.copernica_id)"
    ),
    SUBPROFILE_SOURCE: (
        "NOT EXISTS (SELECT 1 FROM sync_remote_ids r WHERE r.source = %s "
        "AND r.copernica_id = linker_remotesubprofile.copernica_id)"
    ),
}


def _missing(source: Source, position: int) -> QuerySet[Any]:
    """Live mirror rows of the source that Copernica's id list does not hold."""
    # Constant SQL with a bound parameter; the ORM has no anti-join against a temporary table.
    sql = _ABSENT[source.kind]  # one of two constants above, never data
    absent = RawSQL(sql, (position,), output_field=BooleanField())  # noqa: S611
    return source.live().filter(absent)


def _remove_missing(source: Source, position: int, run: SyncRun, now: datetime) -> int:
    return _missing(source, position).update(removed_at=now, last_run_id=run.pk)


def _fingerprint(missing: list[tuple[Source, int]]) -> str:
    """sha256 over ``key:id,id,...;`` per source, streamed from the database in id order."""
    digest = hashlib.sha256()
    for source, position in sorted(missing, key=lambda item: item[0].key):
        digest.update(f"{source.key}:".encode())
        ids = (
            _missing(source, position)
            .order_by("copernica_id")
            .values_list("copernica_id", flat=True)
            .iterator(chunk_size=20_000)
        )
        separator = b""
        for copernica_id in ids:
            digest.update(separator + str(copernica_id).encode())
            separator = b","
        digest.update(b";")
    return digest.hexdigest()
