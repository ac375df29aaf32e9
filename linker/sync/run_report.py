"""One sync run as its page shows it: what it did, how long it waited and took, the requests it
made (from the request log), its errors and the drift its reconcile found.

The run row holds the counts, the timings of the run as a whole, the error and the checkpoint
(whose ``reconcile.outcomes`` are the drift per source). It holds no time per phase; the
request log does, in effect: the endpoints the run called, each with its first and last
request, show when the schema, the pages and the id lists were read. Requests older than the
log's 14 days are gone; the run's own request count stays.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import Max
from django.utils import timezone

from linker.linking.request_log import KEEP, request_log_between
from linker.models import (
    Link,
    RemoteCollection,
    RemoteDatabase,
    RequestLogEntry,
    SyncRun,
    SyncState,
)

#: The run's failed and retried requests listed one by one, at most.
PROBLEM_LIMIT = 50
#: Request log entries read for one run's page, at most (a full run of a million profiles
#: makes a few thousand requests).
ENTRY_LIMIT = 50_000
_ID_SEGMENT = re.compile(r"/\d+(?=/|$)")
_PHASES = {
    "schema": "Reading databases and collections",
    "profiles": "Copying profiles and subprofiles",
    "reconcile": "Checking for removed profiles",
    "done": "Done",
}


@dataclass
class Endpoint:
    """The requests to one endpoint (ids in the path folded into ``{id}``)."""

    method: str
    path: str
    requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    failed: int = 0
    milliseconds: int = 0
    first: datetime | None = None
    last: datetime | None = None


@dataclass
class SourceDrift:
    """What the reconcile found for one database's profiles or one collection's subprofiles."""

    name: str
    remote: int  # on Copernica's list
    local: int  # live in the mirror afterwards
    removed: int
    pending: int  # removals waiting for a second full run to agree
    note: str

    @property
    def in_sync(self) -> bool:
        return self.remote == self.local


@dataclass
class RunReport:
    run: SyncRun
    phase: str
    phase_label: str
    waited: timedelta | None  # queued until started
    took: timedelta | None  # started until finished (or until now, while it runs)
    requests_logged: int
    retries: int
    rate_limited: int
    failed_requests: int
    endpoints: list[Endpoint] = field(default_factory=list)
    problems: list[RequestLogEntry] = field(default_factory=list)
    drift: list[SourceDrift] = field(default_factory=list)
    note: str = ""
    log_expired: bool = False  # the run is older than the request log keeps


def sync_run_get(*, link: Link, id: int) -> SyncRun | None:
    """Run ``id`` of ``link`` (reached through ``tenant_get``), or ``None``."""
    return SyncRun.objects.filter(link=link, pk=id).select_related("link").first()


def _source_names(link: Link) -> dict[str, str]:
    names: dict[str, str] = {}
    databases = dict(RemoteDatabase.objects.filter(link=link).values_list("pk", "name"))
    for pk, name in databases.items():
        names[f"profiles:{pk}"] = f"{name} (profiles)"
    for pk, name, database_id in RemoteCollection.objects.filter(link=link).values_list(
        "pk", "name", "database_id"
    ):
        names[f"subprofiles:{pk}"] = f"{databases.get(database_id, '?')}: {name} (subprofiles)"
    return names


def _drift(run: SyncRun) -> list[SourceDrift]:
    """The reconcile's outcome per source, as the checkpoint keeps it (absent before it ran)."""
    reconcile = (run.checkpoint or {}).get("reconcile")
    outcomes = reconcile.get("outcomes") if isinstance(reconcile, dict) else None
    if not isinstance(outcomes, dict) or not outcomes:
        return []
    names = _source_names(run.link)
    rows: list[SourceDrift] = []
    for key, value in outcomes.items():
        if not isinstance(value, dict):
            continue
        rows.append(
            SourceDrift(
                name=names.get(str(key), str(key)),
                remote=int(value.get("remote") or 0),
                local=int(value.get("local") or 0),
                removed=int(value.get("removed") or 0),
                pending=int(value.get("pending") or 0),
                note=str(value.get("note") or ""),
            )
        )
    return rows


def _endpoint_key(entry: RequestLogEntry) -> tuple[str, str]:
    return entry.method, _ID_SEGMENT.sub("/{id}", entry.path)


def sync_run_report(*, run: SyncRun) -> RunReport:
    """What the run page shows of ``run`` (got through :func:`sync_run_get`)."""
    now = timezone.now()
    phase = str((run.checkpoint or {}).get("phase", ""))
    report = RunReport(
        run=run,
        phase=phase,
        phase_label=_PHASES.get(phase, phase),
        waited=(run.started_at - run.queued_at) if run.started_at else None,
        took=((run.finished_at or now) - run.started_at) if run.started_at else None,
        requests_logged=0,
        retries=0,
        rate_limited=0,
        failed_requests=0,
        drift=_drift(run),
        note=str((run.checkpoint or {}).get("note") or ""),
        log_expired=bool(run.started_at and run.started_at < now - KEEP),
    )
    if run.started_at is None:
        return report
    endpoints: dict[tuple[str, str], Endpoint] = {}
    entries = request_log_between(link=run.link, start=run.started_at, end=run.finished_at)
    for entry in entries[:ENTRY_LIMIT].iterator(chunk_size=2000):
        key = _endpoint_key(entry)
        endpoint = endpoints.get(key)
        if endpoint is None:
            endpoint = endpoints[key] = Endpoint(method=key[0], path=key[1], first=entry.at)
        endpoint.requests += 1
        endpoint.milliseconds += entry.duration_ms
        endpoint.last = entry.at
        report.requests_logged += 1
        problem = False
        if entry.attempt > 1:
            endpoint.retries += 1
            report.retries += 1
            problem = True
        if entry.status == 429:
            endpoint.rate_limited += 1
            report.rate_limited += 1
        if entry.status is None or entry.status >= 400:
            endpoint.failed += 1
            report.failed_requests += 1
            problem = True
        if problem and len(report.problems) < PROBLEM_LIMIT:
            report.problems.append(entry)
    report.endpoints = sorted(endpoints.values(), key=lambda e: (e.first or now, e.path))
    return report


def sync_runs_last_failed(*, link_ids: list[int]) -> dict[int, int]:
    """The newest failed run of each link (for the notices' "see the run" links), one query."""
    if not link_ids:
        return {}
    rows = (
        SyncRun.objects.filter(link_id__in=link_ids, state=SyncState.FAILED)
        .order_by()
        .values("link_id")
        .annotate(newest=Max("id"))
        .values_list("link_id", "newest")
    )
    return {link_id: run_id for link_id, run_id in rows}
