"""The agency dashboard at 100 and 10,000 tenants (issue 16).

    uv run python bench/dashboard_bench.py [--sizes 100,10000] [--repeat 10]
    (DATABASE_URL and REDIS_URL from scripts/services.sh; the database is replaced by
    ``linker_dashboardbench``, or ``DASHBOARD_BENCH_DB``, created and migrated if missing)

For each size an agency of that many tenants is bulk-created (side by side, as agencies share
the tables): most linked and active, some pending, needing a reconnect, disconnected, not
linked or archived; each link with a schedule, three runs (the latest in a mixed state:
succeeded, failed, running, queued, skipped, cancelled), a request ledger for today and
yesterday and a few mirrored profiles. Then, as each agency's staff member, each scenario is
timed (p95 of ``--repeat``; the sizes' samples taken in turn, so that a shared machine's load
that comes and goes slows both sizes alike) with its queries counted: ``dashboard_get`` with
every sort, the "needs me" filter, a search and page 100 (reached as the pager's "Next" link
does, by the cursor of page 99, taken untimed; at 100 tenants the last page), each page's rows
and count fetched as the template does, and the CSV export (the view, streamed to the end).

Goal: every scenario at 10,000 tenants at most 2x its time at 100, with the same query count;
the export, which writes 100 times the rows, is also shown per row (at most 2x per row). Every
query of a deep status-sorted page and of the export is EXPLAINed at 10,000 to show that no JIT
compilation is paid for.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.database import bench_django_setup, queries_counted  # noqa: E402 - after the path set-up
from bench.report import Figure, bench_table_print, figure  # noqa: E402

BENCH_DB = os.environ.get("DASHBOARD_BENCH_DB", "linker_dashboardbench")
BATCH = 2_000
PROFILES_PER_LINK = 3
EXPORT = "CSV export"
# (scenario, dashboard_get keyword arguments)
SCENARIOS: list[tuple[str, dict[str, Any]]] = [
    ("sort name", {"sort": "name"}),
    ("sort status", {"sort": "status"}),
    ("sort -status", {"sort": "-status"}),
    ("sort -profiles", {"sort": "-profiles"}),
    ("sort last_sync", {"sort": "last_sync"}),
    ("sort -requests", {"sort": "-requests"}),
    ("filter needs_me", {"filter": "needs_me"}),
    ("search", {"query": "tenant 0004"}),
    ("status sort, page 100", {"sort": "status", "page": 100}),
    ("name sort, page 100", {"sort": "name", "page": 100}),
]


def _setup_django() -> None:
    bench_django_setup(BENCH_DB)


# ---------------------------------------------------------------------------------- fixture


def populate(sizes: list[int]) -> dict[int, Any]:
    """One agency per size, of that many tenants in mixed states, side by side in the emptied
    tables; returns each size's staff member."""
    from django.db import connection

    _empty()
    users = {}
    for size in sizes:
        started = time.perf_counter()
        users[size] = _agency(size)
        print(f"  {size:,} tenants in {time.perf_counter() - started:.1f} s", flush=True)
    # As autovacuum leaves a live database: the fixture's trigger writes (each run rewrites its
    # link, each link its dashboard row) leave several dead versions of every row behind.
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    return users


def _empty() -> None:
    from django.db import connection

    from accounts.models import Agency, Tenant, User
    from linker.models import DashboardCount, Link, RemoteProfile, SyncRun

    with connection.cursor() as cursor:
        cursor.execute(
            f"TRUNCATE {Agency._meta.db_table}, {Tenant._meta.db_table}, "
            f"{Link._meta.db_table}, {SyncRun._meta.db_table}, {User._meta.db_table}, "
            # The kept counts: a TRUNCATE fires no row trigger to bring them down. The profile
            # mirror is named: its parents are checked by triggers, not foreign keys (0019), so
            # CASCADE does not reach it.
            f"{DashboardCount._meta.db_table}, {RemoteProfile._meta.db_table} "
            "RESTART IDENTITY CASCADE"
        )


def _agency(size: int) -> Any:
    """``size`` tenants of a new agency in mixed states; returns its staff member."""
    from django.db import connection
    from django.utils import timezone

    from accounts.models import Agency, Membership, Role, Tenant, User
    from linker.models import (
        Link,
        LinkState,
        RemoteDatabase,
        RemoteProfile,
        RequestLedger,
        SyncMode,
        SyncRun,
        SyncSchedule,
        SyncState,
    )
    from linker.platform import vault
    from linker.platform.keys import token_context

    now = timezone.now()
    agency = Agency.objects.create(name=f"Bench agency {size}", slug=f"bench-agency-{size}")
    user = User.objects.create_user(email=f"staff-{size}@bench.example", password="x")
    Membership.objects.create(user=user, role=Role.AGENCY_STAFF, agency=agency)
    tenants = Tenant.objects.bulk_create(
        [
            Tenant(
                name=f"Bench tenant {n:05}",
                agency=agency,
                archived_at=now if n % 50 == 7 else None,
            )
            for n in range(size)
        ],
        batch_size=BATCH,
    )
    link_states = [LinkState.ACTIVE] * 14 + [
        LinkState.PENDING,
        LinkState.NEEDS_RECONNECT,
        LinkState.DISCONNECTED,
    ]
    links = []
    for n, tenant in enumerate(tenants):
        if n % 10 == 0:
            continue  # every tenth tenant is not linked
        link = Link(
            tenant=tenant,
            uid=uuid.uuid4(),
            state=link_states[n % len(link_states)],
            linked_at=now - timedelta(days=30),
            copernica_account_id=f"bench-{tenant.pk}",
            copernica_account_name=f"Account {n:05}",
        )
        if n % 31 != 3:  # a few without a token
            link.access_token_encrypted = vault.encrypt("bench-token", context=token_context(link))
        links.append(link)
    Link.objects.bulk_create(links, batch_size=BATCH)
    latest_states = [SyncState.SUCCEEDED] * 5 + [
        SyncState.FAILED,
        SyncState.RUNNING,
        SyncState.QUEUED,
        SyncState.SKIPPED,
        SyncState.CANCELLED,
    ]
    runs = []
    for n, link in enumerate(links):
        for state, ago in (
            (SyncState.SUCCEEDED, timedelta(hours=20)),
            (SyncState.FAILED if n % 7 == 0 else SyncState.SUCCEEDED, timedelta(minutes=40)),
            (latest_states[n % len(latest_states)], timedelta(minutes=5)),
        ):
            finished = now - ago
            active = state in (SyncState.RUNNING, SyncState.QUEUED)
            done = state == SyncState.SUCCEEDED
            runs.append(
                SyncRun(
                    link=link,
                    mode=SyncMode.FULL if ago.total_seconds() > 3600 else SyncMode.INCREMENTAL,
                    state=state,
                    trigger="schedule",
                    started_at=finished - timedelta(seconds=30),
                    finished_at=None if active else finished,
                    remote_count=PROFILES_PER_LINK + n % 5 if done else None,
                    local_count=PROFILES_PER_LINK if done else None,
                    checkpoint={"phase": "done"},
                )
            )
    SyncRun.objects.bulk_create(runs, batch_size=BATCH)
    # queued_at is auto_now_add: spread it as the runs' own times so "latest" means something.
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {SyncRun._meta.db_table} "  # noqa: S608 - a table name, no input
            "SET queued_at = COALESCE(started_at, now()) - interval '1 second'"
        )
    SyncSchedule.objects.bulk_create(
        [
            SyncSchedule(
                link=link,
                last_success_at=None if n % 13 == 0 else now - timedelta(minutes=5 + n % 600),
                last_full_at=now - timedelta(hours=20),
            )
            for n, link in enumerate(links)
        ],
        batch_size=BATCH,
    )
    today = timezone.localdate()
    RequestLedger.objects.bulk_create(
        [
            RequestLedger(
                link=link, account_key=f"bench-{link.pk}", day=today - timedelta(days=d), requests=n
            )
            for n, link in enumerate(links)
            for d in range(2)
        ],
        batch_size=BATCH,
    )
    databases = RemoteDatabase.objects.bulk_create(
        [RemoteDatabase(link=link, copernica_id=1, name="Customers") for link in links],
        batch_size=BATCH,
    )
    RemoteProfile.objects.bulk_create(
        [
            RemoteProfile(link_id=db.link_id, database=db, copernica_id=p, fields={})
            for db in databases
            for p in range(PROFILES_PER_LINK)
        ],
        batch_size=BATCH,
    )
    return user


# ---------------------------------------------------------------------------------- measures


def _page(user: Any, params: dict[str, Any]) -> int:
    """One dashboard page as the view uses it: chips, the page's count, the rows."""
    from linker.health.selectors import dashboard_get

    dashboard = dashboard_get(user=user, **params)
    rows = list(dashboard.page.object_list)
    for tenant in rows:
        _shown = (tenant.status, tenant.profiles_mirrored, tenant.requests_today, tenant.agency)
    return len(rows) + dashboard.page.count + dashboard.total


def _by_cursor(user: Any, params: dict[str, Any]) -> dict[str, Any]:
    """``params`` with a page number replaced by the cursor the pager's "Next" link carries to
    that page (or to the last page, when there are fewer)."""
    from linker.health.selectors import dashboard_get

    if "page" not in params:
        return params
    params = dict(params)
    number = params.pop("page")
    pages = dashboard_get(user=user, **params).page.num_pages
    target = min(number, pages)
    if target > 1:
        params["after"] = dashboard_get(user=user, **params, page=target - 1).page.after
    return params


def _export(user: Any) -> bytes:
    from django.test import RequestFactory

    from linker.views.dashboard import dashboard_export_view

    request = RequestFactory().get("/export.csv", {"sort": "status"})
    request.user = user
    request.session = {}  # type: ignore[assignment]
    response = dashboard_export_view(request)
    return b"".join(response.streaming_content)


def _p95(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)]


def _explain(user: Any) -> list[str]:
    """Every query of a deep status-sorted page and of the export, EXPLAINed: whether
    PostgreSQL pays for JIT compilation, its cost estimate and its execution time."""
    from django.db import connection

    captured: list[tuple[str, str, Any]] = []

    def capture(label: str):  # type: ignore[no-untyped-def]
        def wrapper(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
            if sql.lstrip().upper().startswith("SELECT"):
                captured.append((label, sql, params))
            return execute(sql, params, many, context)

        return wrapper

    deep = _by_cursor(user, {"sort": "status", "page": 100})
    with connection.execute_wrapper(capture("status sort, page 100")):
        _page(user, deep)
    with connection.execute_wrapper(capture("export")):
        _export(user)
    lines = []
    for label, sql, params in captured:
        with connection.cursor() as cursor:
            cursor.execute(f"EXPLAIN (ANALYZE, FORMAT TEXT) {sql}", params)
            plan = [row[0] for row in cursor.fetchall()]
        jit = [line.strip() for line in plan if "Functions:" in line or "Timing:" in line]
        cost = plan[0].split("cost=")[1].split(" ")[0] if "cost=" in plan[0] else "?"
        timing = [line.strip() for line in plan if line.startswith("Execution Time")]
        subplans = sum("SubPlan" in line for line in plan)
        lines.append(
            f"{label}: {sql[:40]}... cost {cost}, {len(sql):,} chars, {subplans} subplans, "
            f"{'JIT: ' + '; '.join(jit) if jit else 'no JIT'}; {' '.join(timing)}"
        )
    with connection.cursor() as cursor:
        cursor.execute("SHOW jit_above_cost")
        lines.append(f"jit_above_cost = {cursor.fetchone()[0]}")
    return lines


def measure(sizes: list[int], repeat: int) -> dict[int, dict[str, dict[str, Any]]]:
    """Every scenario at every size, the sizes' samples taken in turn (a load that comes and
    goes on a shared machine slows them alike, rather than whichever size ran through it)."""
    print(f"\nAgencies of {', '.join(f'{size:,}' for size in sizes)} tenants", flush=True)
    users = populate(sizes)
    calls: dict[int, list[tuple[str, Callable[[], Any]]]] = {}
    for size, user in users.items():
        calls[size] = []
        for name, params in SCENARIOS:
            placed = _by_cursor(user, params)  # untimed: the cursor a "Next" link carries
            calls[size].append((name, lambda user=user, placed=placed: _page(user, placed)))
        calls[size].append((EXPORT, lambda user=user: _export(user)))
    results: dict[int, dict[str, dict[str, Any]]] = {size: {} for size in sizes}
    for index, (name, _call) in enumerate(calls[sizes[0]]):
        samples: dict[int, list[float]] = {size: [] for size in sizes}
        query_counts: dict[int, set[int]] = {size: set() for size in sizes}
        outputs: dict[int, Any] = {}
        for size in sizes:
            calls[size][index][1]()  # warm: the first call pays for connections and plans
        for _ in range(repeat):
            for size in sizes:
                seconds, queries, outputs[size] = queries_counted(calls[size][index][1])
                samples[size].append(seconds)
                query_counts[size].add(queries)
        for size in sizes:
            result = results[size][name] = {
                "seconds": _p95(samples[size]),
                "median": statistics.median(samples[size]),
                "queries": max(query_counts[size]),
            }
            if name == EXPORT:
                result["rows"] = outputs[size].count(b"\n") - 1  # less the header
            print(
                f"  {size:,} tenants, {name}: p95 {result['seconds'] * 1000:.1f} ms of {repeat} "
                f"(median {result['median'] * 1000:.1f} ms), "
                f"{sorted(query_counts[size])} queries",
                flush=True,
            )
    if sizes[-1] >= 1000:
        for line in _explain(users[sizes[-1]]):
            print(f"  EXPLAIN {line}", flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="100,10000")
    parser.add_argument("--repeat", type=int, default=10)
    options = parser.parse_args()
    sizes = [int(size) for size in options.sizes.split(",")]
    _setup_django()
    started = time.perf_counter()
    by_size = measure(sizes, options.repeat)
    small, big = sizes[0], sizes[-1]

    rows: list[tuple[str, str, str, str]] = []
    figures: list[Figure] = []
    for name in [*(name for name, _params in SCENARIOS), EXPORT]:
        a, b = by_size[small][name], by_size[big][name]
        same_queries = a["queries"] == b["queries"]
        value, base = b["seconds"] * 1000, a["seconds"] * 1000
        item = figure(
            f"dashboard, {name}: p95 at {big:,} tenants",
            value,
            "ms",
            baseline=base,
            goal=f"<= 2x at {small:,}, same query count",
            met=value <= 2 * base and same_queries,
        )
        figures.append(item)
        rows.append(
            (
                f"dashboard, {name}, {big:,} tenants",
                f"p95 {value:.1f} ms (median {b['median'] * 1000:.1f}), {b['queries']} queries",
                f"at {small:,}: {base:.1f} ms (median {a['median'] * 1000:.1f}), "
                f"{a['queries']} queries",
                f"{item.ratio:.2f}x; {'same' if same_queries else 'NOT the same'} query count: "
                f"{'goal met' if item.met else 'goal NOT met'}",
            )
        )
    # An export of 100 times the rows cannot take twice the time: it should cost the same per
    # row (the old export cost ~50x per row at 10,000, its plan paying for JIT).
    a, b = by_size[small][EXPORT], by_size[big][EXPORT]
    per_small, per_big = a["seconds"] * 1e6 / a["rows"], b["seconds"] * 1e6 / b["rows"]
    item = figure(
        f"dashboard, {EXPORT} per row at {big:,} tenants",
        per_big,
        "µs per row",
        baseline=per_small,
        at_most=2,
    )
    figures.append(item)
    rows.append(
        (
            f"dashboard, {EXPORT} per row, {big:,} tenants",
            f"{per_big:.1f} µs per row ({b['rows']:,} rows)",
            f"at {small:,}: {per_small:.1f} µs per row ({a['rows']:,} rows)",
            f"{item.ratio:.2f}x: {'goal met' if item.met else 'goal NOT met'}",
        )
    )
    bench_table_print("dashboard_bench", rows, time.perf_counter() - started, figures=figures)


if __name__ == "__main__":
    main()
