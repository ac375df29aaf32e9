"""What the tenant page shows about a link's work: sync runs, live progress, the request ledger
and the mirror's coverage (the charts are :mod:`linker.sync.charts`). Selectors only; the caller
reached the link through ``tenant_get``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from django.db.models import Count, QuerySet
from django.utils import timezone

from linker.models import (
    ACTIVE_SYNC_STATES,
    Link,
    RemoteCollection,
    RemoteDatabase,
    RemoteProfile,
    RemoteSubprofile,
    RequestLedger,
    SyncMode,
    SyncRun,
    SyncState,
)

LEDGER_DAYS = 14


def sync_run_list(*, link: Link, limit: int = 15) -> QuerySet[SyncRun]:
    return SyncRun.objects.filter(link=link).order_by("-queued_at", "-id")[:limit]


def sync_run_active(*, link: Link) -> SyncRun | None:
    return SyncRun.objects.filter(link=link, state__in=ACTIVE_SYNC_STATES).first()


def _expected_total(run: SyncRun) -> int | None:
    """How many profiles and subprofiles a full run will fetch: Copernica's counts of every
    database and collection at the last full run, else what the mirror held before this run.
    Incremental runs fetch an unknown share, and a first run has nothing to go by: no
    estimate."""
    if run.mode != SyncMode.FULL:
        return None
    counts = [
        *RemoteDatabase.objects.filter(link_id=run.link_id, removed_at=None).values_list(
            "remote_count", flat=True
        ),
        *RemoteCollection.objects.filter(link_id=run.link_id, removed_at=None).values_list(
            "remote_count", flat=True
        ),
    ]
    if counts and None not in counts:
        return sum(count for count in counts if count is not None) or None
    previous = (  # a run from before drift counts were kept: its profile count
        SyncRun.objects.filter(
            link_id=run.link_id, state=SyncState.SUCCEEDED, remote_count__isnull=False
        )
        .exclude(pk=run.pk)
        .order_by("-finished_at")
        .values_list("remote_count", flat=True)
        .first()
    )
    if previous:
        return int(previous)
    held = (
        RemoteProfile.objects.filter(link_id=run.link_id, removed_at=None).count()
        + RemoteSubprofile.objects.filter(link_id=run.link_id, removed_at=None).count()
    )
    before = held - run.created_count
    return before if before > 0 else None


def sync_progress(*, link: Link, run_id: int | None = None) -> dict[str, Any]:
    """The running (or the given) run of ``link`` as the progress bar shows it."""
    runs = SyncRun.objects.filter(link=link)
    run = (
        runs.filter(pk=run_id).first()
        if run_id is not None
        else runs.filter(state__in=ACTIVE_SYNC_STATES).first()
    )
    if run is None:
        return {"active": False}
    now = timezone.now()
    elapsed = ((run.finished_at or now) - run.started_at).total_seconds() if run.started_at else 0.0
    rate = run.fetched / elapsed if elapsed > 0 else 0.0
    expected = _expected_total(run)
    percent: float | None = None
    eta: float | None = None
    if run.state == SyncState.SUCCEEDED:
        percent = 100.0
    elif expected:
        percent = min(99.0, 100.0 * run.fetched / expected)
        if rate > 0:
            eta = max(0.0, (expected - run.fetched) / rate)
    return {
        "active": run.is_active,
        "id": run.pk,
        "state": run.state,
        "state_label": run.get_state_display(),
        "mode": run.get_mode_display(),
        "phase": str((run.checkpoint or {}).get("phase", "")),
        "pages": run.pages,
        "fetched": run.fetched,
        "created": run.created_count,
        "updated": run.updated_count,
        "removed": run.removed_count,
        "expected": expected,
        "percent": round(percent, 1) if percent is not None else None,
        "rate": round(rate, 1),
        "eta_seconds": round(eta) if eta is not None else None,
        "elapsed_seconds": round(elapsed),
        "error": run.error_message if run.state == SyncState.FAILED else "",
    }


@dataclass
class LedgerDay:
    day: date
    requests: int
    errors: int
    rate_limited: int
    percent: float


def request_ledger_days(*, link: Link, days: int = LEDGER_DAYS) -> list[LedgerDay]:
    """Requests per day for the last ``days`` days (days without requests show as 0)."""
    today = timezone.localdate()
    first = today - timedelta(days=days - 1)
    rows = {
        row.day: row
        for row in RequestLedger.objects.filter(link=link, day__gte=first, day__lte=today)
    }
    top = max((row.requests for row in rows.values()), default=0) or 1
    result = []
    for offset in range(days):
        day = today - timedelta(days=offset)
        row = rows.get(day)
        requests = row.requests if row else 0
        result.append(
            LedgerDay(
                day=day,
                requests=requests,
                errors=row.errors if row else 0,
                rate_limited=row.rate_limited if row else 0,
                percent=round(100.0 * requests / top, 1),
            )
        )
    return result


@dataclass
class Coverage:
    """One database's profiles or one collection's subprofiles, as the mirror holds them."""

    database: str
    collection: str  # "" for the database's profiles
    held: int
    remote: int | None  # what Copernica listed at the last full run
    local: int | None  # what the mirror held after it

    @property
    def in_sync(self) -> bool | None:
        if self.remote is None or self.local is None:
            return None
        return self.remote == self.local


def mirror_coverage(*, link: Link) -> list[Coverage]:
    """Every mirrored database and collection with its counts ("in sync n / n"), in 4 queries."""
    databases = list(RemoteDatabase.objects.filter(link=link, removed_at=None).order_by("name"))
    collections = list(RemoteCollection.objects.filter(link=link, removed_at=None).order_by("name"))
    profiles = dict(
        RemoteProfile.objects.filter(link=link, removed_at=None)
        .values("database_id")
        .annotate(n=Count("pk"))
        .values_list("database_id", "n")
    )
    subprofiles = dict(
        RemoteSubprofile.objects.filter(link=link, removed_at=None)
        .values("collection_id")
        .annotate(n=Count("pk"))
        .values_list("collection_id", "n")
    )
    rows: list[Coverage] = []
    for database in databases:
        rows.append(
            Coverage(
                database.name,
                "",
                profiles.get(database.pk, 0),
                database.remote_count,
                database.local_count,
            )
        )
        for collection in collections:
            if collection.database_id == database.pk:
                rows.append(
                    Coverage(
                        database.name,
                        collection.name,
                        subprofiles.get(collection.pk, 0),
                        collection.remote_count,
                        collection.local_count,
                    )
                )
    return rows
