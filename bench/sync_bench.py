"""Sync and write-back benchmarks (issue 6), each figure next to its baseline from the same run.

    uv run python bench/sync_bench.py [--big 1000000]
        [--parts full,incremental,memory,links,changes]
    (DATABASE_URL and REDIS_URL from scripts/services.sh; the database is replaced by
    ``linker_syncbench``, created and migrated if missing)

Against a sandbox subprocess and PostgreSQL. Every sync measurement runs in a fresh child
process (its own peak RSS) that drives the run with ``sync_run_foreground``, the loop a worker
runs one step per task; the mirror table is emptied (TRUNCATE) before each full run.

1. Full sync of 50,000 profiles: the engine against the obvious first version (offset paging
   at ``limit=100``, ``update_or_create`` per row, measured on its first 10,000 rows) and
   against two floors: (a) fetching the same pages and discarding them, (b) COPY of the same
   rows into the emptied mirror table with all its indexes (engine and (b) alternate three
   times; medians compared), and (b) against (c), COPY into a table with the keys only. The
   engine's child first does what a worker's process did before its first step (imports of
   the HTTP client and Celery's messaging, its broker connection), outside the timing.
2. Peak RSS of a process syncing ``--big`` profiles against one syncing 100,000.
3. Incremental run after 1% of 100,000 profiles changed at Copernica, against the full run
   (goal: at most 5% of its time), both in one process that ran an incremental run before (a
   worker's process is warm).
4. and 5. (``links``, ``changes``): 200 links x 500 profiles, and 1,000 queued profile updates,
   on a real Celery worker: ``bench/worker_bench.py``, run from here (one table for all five).

What the sync benches share (the database, the sandbox, :class:`Bench`): ``bench/sync_harness.py``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.report import bench_table_print, goal_verdict  # noqa: E402 - after the path set-up above
from bench.sync_harness import (  # noqa: E402
    BENCH_MAIL,
    FULL_ROUNDS,
    Bench,
    CpuMeter,
    cpu_text,
    median_run,
    peak_mb,
    setup_django,
    start_sandbox,
    truncate_mirror,
    warm_up,
)
from bench.worker_bench import changes, many_links  # noqa: E402

BASELINE_ROWS = 10_000


# ------------------------------------------------------------------------- child processes


def child_engine(link_id: int, mode: str, *, warm: bool = False) -> dict[str, Any]:
    """A run of the sync engine, driven to its end as a worker would (one step after another).

    ``warm``: first what a worker's process did once before its first step (see
    :func:`bench.sync_harness.warm_up`), outside the timing."""
    from linker.models import Link
    from linker.sync.runs import sync_run_foreground, sync_run_request

    link = Link.objects.get(pk=link_id)
    if warm:
        warm_up(link)
    run, _ = sync_run_request(link=link, mode=mode, trigger="bench", enqueue=False)
    meter = CpuMeter()
    meter.start()
    started = time.perf_counter()
    run = sync_run_foreground(run=run)
    seconds = time.perf_counter() - started
    return {
        "state": run.state,
        "rows": run.fetched,
        "created": run.created_count,
        "updated": run.updated_count,
        "run_requests": run.requests,
        "seconds": seconds,
        "peak_mb": peak_mb(),
        "cpu": meter.stop(),
    }


def child_incremental(link_id: int, changes: int) -> dict[str, Any]:
    """An incremental run after ``changes`` profiles changed at Copernica, in a warm process.

    A worker's process has run tasks before (Celery keeps its processes): the first run of a
    fresh one also pays for its first connections, JWT and queries. So this process first runs
    an incremental run with nothing changed (its time is ``idle_seconds``), then changes the
    profiles at the sandbox, then runs the incremental run that is measured. Its baseline, a
    full run, is measured in the same warm process.
    """
    from linker.celery import heap_freeze
    from linker.linking.client import client_for
    from linker.models import Link

    link = Link.objects.get(pk=link_id)
    heap_freeze()  # as a worker's process did when it started (linker/celery.py)
    idle = child_engine(link_id, "incremental")
    assert idle["state"] == "succeeded", idle
    # The baseline is warm too: a full run in this same process, after the idle run (a fresh
    # process's full run would carry the one-off cost the warm-up took off the incremental run).
    truncate_mirror()
    full = child_engine(link_id, "full")
    assert full["state"] == "succeeded", full
    database = _database(link_id)
    with client_for(link) as client:
        ids = sorted(int(value) for value in client.profile_ids(database.copernica_id))
        for number, profile_id in enumerate(ids[:: len(ids) // changes][:changes]):
            client.update_profile(profile_id, {"city": f"Moved {number}"})
    figures = child_engine(link_id, "incremental")
    figures["idle_seconds"] = idle["seconds"]
    figures["full_seconds"] = full["seconds"]
    return figures


def _database(link_id: int) -> Any:
    from linker.models import RemoteDatabase

    return RemoteDatabase.objects.filter(link_id=link_id).order_by("copernica_id").first()


def child_fetch(link_id: int) -> dict[str, Any]:
    """Floor (a): the engine's pages (keyset, same page size), fetched and discarded, in a
    process warmed up as the engine's is."""
    from django.conf import settings

    from linker.linking.client import client_for
    from linker.models import Link

    link = Link.objects.get(pk=link_id)
    database = _database(link_id)
    warm_up(link)
    rows = 0
    started = time.perf_counter()
    with client_for(link) as client:
        for page in client.paginate_keyset(
            database.copernica_id, page_size=settings.LINKER_SYNC_PAGE_SIZE
        ):
            rows += page.count
    seconds = time.perf_counter() - started
    return {"rows": rows, "seconds": seconds, "peak_mb": peak_mb()}


#: Floor (c)'s table: the mirror's columns with only its keys (the primary key and the unique
#: Copernica id per database), no secondary index and no foreign key.
KEY_ONLY_TABLE = "bench_key_only_profile"


def child_copy(link_id: int, *, key_only: bool = False) -> dict[str, Any]:
    """Floor (b): COPY of the same rows into the emptied mirror table, indexes and all; with
    ``key_only``, floor (c): into a table of the mirror's columns with its keys only.

    The rows are fetched and turned into COPY text first, outside the timing: this is the cost
    of the database write alone.
    """
    from django.conf import settings
    from django.db import connection, transaction

    from linker.linking.client import client_for
    from linker.models import Link, RemoteProfile

    link = Link.objects.get(pk=link_id)
    database = _database(link_id)
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    rows: list[tuple[object, ...]] = []
    with client_for(link) as client:
        for page in client.paginate_keyset(
            database.copernica_id, page_size=settings.LINKER_SYNC_PAGE_SIZE
        ):
            for item in page.items:
                rows.append(
                    (
                        link.pk,
                        database.pk,
                        int(item["ID"]),
                        dumps(item.get("fields") or {}),
                        dumps(item.get("interests") or []),
                        f"{item['created']}+00",
                        f"{item['modified']}+00",
                    )
                )
    columns = "link_id, database_id, copernica_id, fields, interests, created, modified"
    table = RemoteProfile._meta.db_table
    if key_only:
        with connection.cursor() as cursor:
            cursor.execute(
                f"CREATE TABLE IF NOT EXISTS {KEY_ONLY_TABLE} (LIKE {table} INCLUDING DEFAULTS "
                "INCLUDING IDENTITY, PRIMARY KEY (id), UNIQUE (database_id, copernica_id))"
            )
            cursor.execute(f"TRUNCATE {KEY_ONLY_TABLE}")
        table = KEY_ONLY_TABLE
    else:
        truncate_mirror()
    meter = CpuMeter()
    meter.start()
    started = time.perf_counter()
    with transaction.atomic():
        connection.ensure_connection()
        raw = connection.connection
        assert raw is not None
        with raw.cursor() as cursor, cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
    seconds = time.perf_counter() - started
    if key_only:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE {KEY_ONLY_TABLE}")
    return {"rows": len(rows), "seconds": seconds, "peak_mb": peak_mb(), "cpu": meter.stop()}


def child_baseline(link_id: int, rows: int) -> dict[str, Any]:
    """The obvious first version: offset pages of 100, ``update_or_create`` per row."""
    from api_client import parse_timestamp
    from linker.linking.client import client_for
    from linker.models import Link, RemoteProfile

    link = Link.objects.get(pk=link_id)
    database = _database(link_id)
    done = 0
    started = time.perf_counter()
    with client_for(link) as client:
        path = f"database/{database.copernica_id}/profiles"
        for item in client.paginate(path, page_size=100):
            RemoteProfile.objects.update_or_create(
                database=database,
                copernica_id=int(item["ID"]),
                defaults={
                    "link": link,
                    "fields": item.get("fields") or {},
                    "interests": item.get("interests") or [],
                    "created": parse_timestamp(item.get("created")),
                    "modified": parse_timestamp(item.get("modified")),
                    "removed_at": None,
                },
            )
            done += 1
            if done >= rows:
                break
    seconds = time.perf_counter() - started
    return {"rows": done, "seconds": seconds, "peak_mb": peak_mb()}


CHILDREN: dict[str, Callable[[argparse.Namespace], dict[str, Any]]] = {
    "full": lambda o: child_engine(o.link, "full", warm=True),
    "incremental": lambda o: child_incremental(o.link, o.rows),
    "fetch": lambda o: child_fetch(o.link),
    "copy": lambda o: child_copy(o.link),
    "copy_key_only": lambda o: child_copy(o.link, key_only=True),
    "baseline": lambda o: child_baseline(o.link, o.rows),
}


def full_sync(bench: Bench) -> None:
    print("\n1. Full sync of 50,000 profiles", flush=True)
    link = bench.link("Fifty", 50_000)
    engines: list[dict[str, Any]] = []
    copies: list[dict[str, Any]] = []
    for _ in range(FULL_ROUNDS):
        truncate_mirror()
        engine = bench.child("full", link.pk)
        assert engine["state"] == "succeeded", engine
        assert engine["rows"] >= 50_000, engine
        engines.append(engine)
        copies.append(bench.child("copy", link.pk))
    engine, copy = median_run(engines), median_run(copies)
    fetch = bench.child("fetch", link.pk)
    key_only = bench.child("copy_key_only", link.pk)
    truncate_mirror()
    base = bench.child("baseline", link.pk, rows=BASELINE_ROWS)
    print(f"   engine {engine}\n   fetch {fetch}\n   copy {copy}\n   key-only {key_only}")
    print(f"   baseline {base}")
    print(f"   engine runs {[round(run['seconds'], 2) for run in engines]}, "
          f"COPY floor runs {[round(run['seconds'], 2) for run in copies]}")  # fmt: skip

    speedup = engine["per_second"] / base["per_second"]
    slower_floor = max(fetch["seconds"], copy["seconds"])
    floor_name = "(a) fetch" if fetch["seconds"] >= copy["seconds"] else "(b) COPY"
    to_floor = engine["seconds"] / slower_floor
    bench.add(
        "full sync 50k: engine",
        f"{engine['per_second']:,.0f} profiles/s, {engine['seconds']:.2f} s, "
        f"{engine['requests']} requests, peak {engine['peak_mb']:.0f} MB",
        f"baseline (first {base['rows']:,} rows): {base['per_second']:,.0f} profiles/s, "
        f"{base['requests']} requests, peak {base['peak_mb']:.0f} MB",
        f"{speedup:,.0f}x (goal >= 100x): {goal_verdict(speedup >= 100)}",
    )
    bench.add(
        "floor (a) fetch + discard",
        f"{fetch['per_second']:,.0f} profiles/s, {fetch['seconds']:.2f} s, "
        f"{fetch['requests']} requests, peak {fetch['peak_mb']:.0f} MB",
        f"engine / floor: {engine['seconds'] / fetch['seconds']:.2f}x",
        f"floor / baseline: {fetch['per_second'] / base['per_second']:,.0f}x",
    )
    bench.add(
        "floor (b) COPY into emptied table",
        f"{copy['per_second']:,.0f} profiles/s, {copy['seconds']:.2f} s",
        f"engine / floor: {engine['seconds'] / copy['seconds']:.2f}x",
        f"floor / baseline: {copy['per_second'] / base['per_second']:,.0f}x",
    )
    indexed_share = key_only["seconds"] / copy["seconds"]
    bench.add(
        "floor (b) against floor (c) COPY into a key-only table",
        f"{indexed_share:.2f}x the key-only speed",
        f"floor (c): {key_only['per_second']:,.0f} profiles/s, {key_only['seconds']:.2f} s "
        f"(postgres {key_only['cpu']['postgres'] or 0:.1f} s CPU)",
        f"goal >= 0.5x: {goal_verdict(indexed_share >= 0.5)}",
    )
    bench.add(
        "engine against the slower floor",
        f"{to_floor:.2f}x of {floor_name} (medians of {FULL_ROUNDS} alternated runs)",
        "goal <= 1.3x",
        goal_verdict(to_floor <= 1.3),
    )
    bench.add(
        "where the time goes (CPU seconds)",
        f"engine: {cpu_text(engine['cpu'])}",
        f"floor (b): {cpu_text({'postgres': copy['cpu']['postgres']})}",
    )


def incremental(bench: Bench) -> dict[str, Any]:
    print("\n3. Incremental run after 1% of 100,000 changed, against the full run", flush=True)
    hundred = bench.link("Hundred", 100_000)
    truncate_mirror()
    small = bench.child("full", hundred.pk)
    assert small["state"] == "succeeded", small

    changed = 1000
    incremental = bench.child("incremental", hundred.pk, rows=changed)
    assert incremental["state"] == "succeeded", incremental
    assert incremental["updated"] >= changed, incremental
    share = 100 * incremental["seconds"] / incremental["full_seconds"]
    bench.add(
        "incremental, 1% of 100k changed",
        f"{share:.1f}% of the full run's time: {incremental['seconds']:.2f} s, "
        f"{incremental['run_requests']} requests, {incremental['updated']} rows updated "
        f"(warm process; before it, nothing changed: {incremental['idle_seconds']:.2f} s)",
        f"full run of 100k in the same warm process: {incremental['full_seconds']:.2f} s "
        f"(in a fresh one: {small['seconds']:.2f} s, {small['requests']} requests)",
        f"goal <= 5%: {goal_verdict(share <= 5)}",
    )
    return small


def memory(bench: Bench, big: int, small: dict[str, Any]) -> None:
    print(f"\n2. Peak RSS at 100,000 and {big:,}", flush=True)
    large_link = bench.link("Large", big)
    truncate_mirror()
    large = bench.child("full", large_link.pk)
    assert large["state"] == "succeeded", large
    ratio = large["peak_mb"] / small["peak_mb"]
    bench.add(
        f"peak RSS syncing {big:,}",
        f"{large['peak_mb']:.0f} MB ({large['per_second']:,.0f} profiles/s, "
        f"{large['seconds']:.0f} s)",
        f"at 100,000: {small['peak_mb']:.0f} MB ({small['per_second']:,.0f} profiles/s)",
        f"{ratio:.2f}x (goal <= 1.2x): {goal_verdict(ratio <= 1.2)}",
    )
    truncate_mirror()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--big", type=int, default=1_000_000)
    parser.add_argument(
        "--parts",
        default="full,incremental,memory,links,changes",
        help="which measurements to run, comma-separated: full (1), memory (2), incremental "
        "(3), links (4), changes (5); memory and links run incremental's full run too",
    )
    parser.add_argument("--child", choices=sorted(CHILDREN))
    parser.add_argument("--link", type=int)
    parser.add_argument("--rows", type=int, default=0)
    options = parser.parse_args()
    # The bench's own process migrates; its children only use the database.
    setup_django(migrate=not options.child)
    if options.child:
        print(json.dumps(CHILDREN[options.child](options)))
        return

    from accounts.models import Tenant, User
    from linker.models import Link

    truncate_mirror()
    Link.objects.all().delete()
    Tenant.objects.filter(name__in=["Fifty", "Hundred", "Large", "One", "Writes"]).delete()
    Tenant.objects.filter(name__startswith="Small ").delete()
    User.objects.filter(email__endswith=f"@{BENCH_MAIL}").delete()
    proc, url = start_sandbox()
    started = time.perf_counter()
    try:
        bench = Bench(url, proc.pid)
        parts = set(options.parts.split(","))
        if "full" in parts:
            full_sync(bench)
        if parts & {"incremental", "memory", "links"}:
            hundred = incremental(bench)
            if "memory" in parts:
                memory(bench, options.big, hundred)
            if "links" in parts:
                many_links(bench, hundred)
        if "changes" in parts:
            changes(bench)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    bench_table_print("sync_bench", bench.rows, time.perf_counter() - started)


if __name__ == "__main__":
    main()
