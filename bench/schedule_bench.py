"""The beat tick (``sync_schedule_due``) at 100 and 10,000 linked tenants (issue 16).

    uv run python bench/schedule_bench.py [--sizes 100,10000] [--repeat 5]
    (DATABASE_URL and REDIS_URL from scripts/services.sh; the database is replaced by
    ``linker_schedulebench``, or ``SCHEDULE_BENCH_DB``, created and migrated if missing)

For each size the tenants, links, schedules and two finished runs per link are bulk-created,
then the tick runs against three states of the schedules, each timed (median of ``--repeat``)
with its queries counted:

1. nothing due (every schedule's next run minutes ahead): the cost of every idle minute;
2. 1 in 15 due (each schedule once every 15 minutes): runs created and published, messages
   counted on the broker and purged after each tick;
3. 1 in 15 due while their earlier runs are still going: nothing to start, the due times move on;
4. nothing due, at the hourly tick that looks at every link for a missing schedule (no goal).

Goals: the tick at 10,000 at most 2x the tick at 100 with the same query count (nothing due);
with 1 in 15 due the work grows with the due links, so the goal is the time per due link, again
with the same query count. The metrics endpoint's scrape (``linker.health.metrics``) is timed at
both sizes too (ten days of request ledger per link), without a goal.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.database import bench_django_setup, queries_counted  # noqa: E402 - after the path set-up
from bench.report import Figure, bench_table_print, figure  # noqa: E402

BENCH_DB = os.environ.get("SCHEDULE_BENCH_DB", "linker_schedulebench")
FULL_SCAN = "nothing due, at the hourly full scan"
SCENARIOS = ("nothing due", "1/15 due", "1/15 due, still running", FULL_SCAN)
SCRAPE = "metrics scrape"
DUE_EVERY = 15
LEDGER_DAYS = 10
BATCH = 2_000


def _setup_django() -> None:
    bench_django_setup(BENCH_DB)


# ---------------------------------------------------------------------------------- fixture


def populate(size: int) -> list[int]:
    """``size`` linked tenants with schedules, none due; returns the ids of every 15th link's
    schedule (the ones the due scenarios make due)."""
    from django.db import connection
    from django.utils import timezone

    from accounts.models import Tenant
    from linker.models import (
        Link,
        LinkState,
        RequestLedger,
        SyncMode,
        SyncRun,
        SyncSchedule,
        SyncState,
    )
    from linker.platform import vault
    from linker.platform.keys import token_context
    from linker.sync.schedule import next_full_at

    with connection.cursor() as cursor:
        cursor.execute(
            f"TRUNCATE {Tenant._meta.db_table}, {Link._meta.db_table}, "
            f"{SyncRun._meta.db_table}, {SyncSchedule._meta.db_table} RESTART IDENTITY CASCADE"
        )
    now = timezone.now()
    tenants = Tenant.objects.bulk_create(
        [Tenant(name=f"Bench tenant {n:05}") for n in range(size)], batch_size=BATCH
    )
    links = []
    for tenant in tenants:
        link = Link(
            tenant=tenant,
            uid=uuid.uuid4(),
            state=LinkState.ACTIVE,
            state_changed_at=now - timedelta(days=30),
            linked_at=now - timedelta(days=30),
            copernica_account_id=f"bench-{tenant.pk}",
            copernica_account_name=tenant.name,
        )
        link.access_token_encrypted = vault.encrypt("bench-token", context=token_context(link))
        links.append(link)
    Link.objects.bulk_create(links, batch_size=BATCH)
    runs = []
    for link in links:
        for mode, ago in ((SyncMode.FULL, timedelta(hours=20)), (SyncMode.INCREMENTAL, 5)):
            finished = now - (ago if isinstance(ago, timedelta) else timedelta(minutes=ago))
            runs.append(
                SyncRun(
                    link=link,
                    mode=mode,
                    state=SyncState.SUCCEEDED,
                    trigger="schedule",
                    started_at=finished - timedelta(seconds=30),
                    finished_at=finished,
                    checkpoint={"phase": "done"},
                )
            )
    SyncRun.objects.bulk_create(runs, batch_size=BATCH)
    full_at = next_full_at(full_hour=2, now=now)
    schedules = [
        SyncSchedule(
            link=link,
            next_incremental_at=now + timedelta(seconds=random.uniform(120, 14 * 60)),
            next_full_at=full_at,
            last_full_at=now - timedelta(hours=20),
            last_success_at=now - timedelta(minutes=5),
        )
        for link in links
    ]
    SyncSchedule.objects.bulk_create(schedules, batch_size=BATCH)
    today = timezone.localdate()
    RequestLedger.objects.bulk_create(
        [
            RequestLedger(
                link=link, account_key=f"bench-{link.pk}", day=today - timedelta(days=n), requests=n
            )
            for link in links
            for n in range(LEDGER_DAYS)
        ],
        batch_size=BATCH,
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return [s.pk for n, s in enumerate(schedules) if n % DUE_EVERY == 0]


def _make_due(schedule_ids: list[int], *, busy: bool) -> None:
    """The chosen schedules due now; ``busy``: each with a queued run of its link."""
    from django.utils import timezone

    from linker.models import SyncMode, SyncRun, SyncSchedule, SyncState

    SyncRun.objects.filter(trigger__in=["schedule-due", "bench-busy"]).delete()
    SyncRun.objects.filter(state__in=[SyncState.QUEUED, SyncState.RUNNING]).delete()
    due = SyncSchedule.objects.filter(pk__in=schedule_ids)
    due.update(next_incremental_at=timezone.now() - timedelta(seconds=30))
    if busy:
        SyncRun.objects.bulk_create(
            [
                SyncRun(link_id=link_id, mode=SyncMode.INCREMENTAL, trigger="bench-busy")
                for link_id in due.values_list("link_id", flat=True)
            ],
            batch_size=BATCH,
        )


def _full_scan_set(*, done: bool) -> None:
    """Tick between two hourly full scans for a missing schedule (``done``), or at one."""
    from django.core.cache import cache

    from linker.sync import schedule

    if done:
        cache.set(schedule._FULL_SCAN_KEY, "1", timeout=schedule.FULL_SCAN_EVERY)
    else:
        cache.delete(schedule._FULL_SCAN_KEY)


def _purge() -> int:
    """Empty the broker's queues of what the tick published; how many messages that was."""
    from celery import current_app
    from django.conf import settings

    queues = {settings.CELERY_TASK_DEFAULT_QUEUE}
    queues |= {route["queue"] for route in settings.CELERY_TASK_ROUTES.values()}
    purged = 0
    with current_app.connection_for_write() as conn:
        channel = conn.default_channel
        for queue in sorted(queues):
            purged += channel.queue_purge(queue) or 0
    return purged


def _tick() -> tuple[float, int, list[int]]:
    from django.utils import timezone

    from linker.sync.schedule import sync_schedule_due

    return queries_counted(lambda: sync_schedule_due(now=timezone.now()))


def _scrape(repeat: int) -> dict[str, Any]:
    """The metrics endpoint's work (every family rendered) at this size."""
    from linker.health.metrics import metrics_render

    samples = [queries_counted(metrics_render) for _ in range(repeat)]
    return {
        "seconds": statistics.median(seconds for seconds, _, _ in samples),
        "queries": max(queries for _, queries, _ in samples),
        "bytes": len(samples[0][2]),
    }


def measure(size: int, repeat: int) -> dict[str, dict[str, Any]]:
    print(f"\n{size:,} linked tenants", flush=True)
    started = time.perf_counter()
    due_ids = populate(size)
    print(f"  fixture in {time.perf_counter() - started:.1f} s", flush=True)
    _purge()
    results: dict[str, dict[str, Any]] = {}
    for scenario in SCENARIOS:
        samples, query_counts, started_runs, published = [], set(), set(), set()
        for _ in range(repeat):
            _full_scan_set(done=scenario != FULL_SCAN)
            if scenario.startswith("1/15"):
                _make_due(due_ids, busy=scenario.endswith("running"))
            seconds, queries, created = _tick()
            samples.append(seconds)
            query_counts.add(queries)
            started_runs.add(len(created))
            published.add(_purge())
        result = {
            "seconds": statistics.median(samples),
            "queries": max(query_counts),
            "query_counts": sorted(query_counts),
            "runs": max(started_runs),
            "published": max(published),
            "due": len(due_ids) if scenario.startswith("1/15") else 0,
        }
        results[scenario] = result
        print(
            f"  {scenario}: {result['seconds'] * 1000:.1f} ms (median of {repeat}), "
            f"{result['query_counts']} queries, {result['runs']} runs started, "
            f"{result['published']} messages published",
            flush=True,
        )
    from linker.models import SyncRun

    SyncRun.objects.filter(state__in=["queued", "running"]).delete()
    results[SCRAPE] = _scrape(repeat)
    print(
        f"  {SCRAPE}: {results[SCRAPE]['seconds'] * 1000:.1f} ms (median of {repeat}), "
        f"{results[SCRAPE]['queries']} queries, {results[SCRAPE]['bytes']:,} bytes",
        flush=True,
    )
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="100,10000")
    parser.add_argument("--repeat", type=int, default=5)
    options = parser.parse_args()
    sizes = [int(size) for size in options.sizes.split(",")]
    _setup_django()
    started = time.perf_counter()
    by_size = {size: measure(size, options.repeat) for size in sizes}
    small, big = sizes[0], sizes[-1]

    rows: list[tuple[str, str, str, str]] = []
    figures: list[Figure] = []
    for scenario in SCENARIOS:
        a, b = by_size[small][scenario], by_size[big][scenario]
        same_queries = a["queries"] == b["queries"]
        if not b["due"]:
            value, base, unit, what = b["seconds"] * 1000, a["seconds"] * 1000, "ms", "tick"
        else:
            value = b["seconds"] * 1000 / max(b["due"], 1)
            base = a["seconds"] * 1000 / max(a["due"], 1)
            unit, what = "ms per due link", "tick per due link"
        # Once an hour the tick reads every link: shown, with no goal of its own.
        goal = scenario != FULL_SCAN
        item = figure(
            f"beat tick, {scenario}: {what} at {big:,} tenants",
            value,
            unit,
            baseline=base,
            goal=f"<= 2x at {small:,}, same query count" if goal else "",
            met=value <= 2 * base and same_queries if goal else None,
        )
        figures.append(item)
        figures.append(
            figure(
                f"beat tick, {scenario}: queries at {big:,} tenants",
                b["queries"],
                "queries",
                baseline=a["queries"],
            )
        )
        rows.append(
            (
                f"beat tick, {scenario}, {big:,} tenants",
                f"{b['seconds'] * 1000:.1f} ms, {b['queries']} queries, "
                f"{b['runs']} runs, {b['published']} published",
                f"at {small:,}: {a['seconds'] * 1000:.1f} ms, {a['queries']} queries, "
                f"{a['runs']} runs",
                f"{item.ratio:.2f}x{' per due link' if b['due'] else ''}; "
                f"{'same' if same_queries else 'NOT the same'} query count"
                + (f": {'goal met' if item.met else 'goal NOT met'}" if goal else ""),
            )
        )
    a, b = by_size[small][SCRAPE], by_size[big][SCRAPE]
    figures.append(
        figure(
            f"metrics scrape at {big:,} tenants",
            b["seconds"] * 1000,
            "ms",
            baseline=a["seconds"] * 1000,
        )
    )
    rows.append(
        (
            f"metrics scrape, {big:,} tenants",
            f"{b['seconds'] * 1000:.1f} ms, {b['queries']} queries, {b['bytes']:,} bytes",
            f"at {small:,}: {a['seconds'] * 1000:.1f} ms, {a['queries']} queries",
            f"{b['seconds'] / a['seconds']:.2f}x (no goal)",
        )
    )
    bench_table_print("schedule_bench", rows, time.perf_counter() - started, figures=figures)


if __name__ == "__main__":
    main()
