"""Full sync of a real account's shape (issue 10): 20,000 profiles with 100,000 subprofiles in
two collections, against the same floors as profiles, in one run.

    uv run python bench/subprofile_bench.py [--profiles 20000] [--subprofiles 50000]

Against a sandbox subprocess and PostgreSQL (the database of ``bench/sync_bench.py``). Each
measurement runs in a fresh child process: (1) the engine's full run (profiles, then each
collection's subprofiles, then the reconcile phase), (a) the same pages fetched and discarded,
(b) COPY of the same rows into the emptied mirror tables, indexes and all. The three alternate
``--repeat`` times (``ROUNDS``) and their medians are compared, as in ``bench/sync_bench.py``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.report import bench_table_print, goal_verdict  # noqa: E402 - after the path set-up above
from bench.sync_harness import (  # noqa: E402 - after the path set-up above
    Bench,
    CpuMeter,
    cpu_text,
    median_run,
    peak_mb,
    setup_django,
    start_sandbox,
    warm_up,
)

NAME = "Shape"
#: Rounds of the three. On the shared two-core machine one round's engine time moved between
#: 1.0 and 2.1 s for the same code (its Python CPU with it, 0.5 to 1.0 s: the machine, not
#: the run), and medians of three moved by +-0.15 in the ratio from one whole run to the next.
ROUNDS = 5


def _truncate() -> None:
    from django.db import connection

    from linker.models import RemoteProfile, RemoteSubprofile

    with connection.cursor() as cursor:
        cursor.execute(
            f"TRUNCATE {RemoteProfile._meta.db_table}, {RemoteSubprofile._meta.db_table}"
        )


def _sources(link_id: int) -> list[Any]:
    from linker.models import RemoteCollection, RemoteDatabase
    from linker.sync.sources import sources_of

    return sources_of(
        list(RemoteDatabase.objects.filter(link_id=link_id).order_by("pk")),
        list(RemoteCollection.objects.filter(link_id=link_id).order_by("pk")),
    )


def child_engine(link_id: int) -> dict[str, Any]:
    from linker.models import Link, RemoteSubprofile
    from linker.sync.runs import sync_run_foreground, sync_run_request

    link = Link.objects.get(pk=link_id)
    warm_up(link)
    run, _ = sync_run_request(link=link, mode="full", trigger="bench", enqueue=False)
    meter = CpuMeter()
    meter.start()
    started = time.perf_counter()
    run = sync_run_foreground(run=run)
    seconds = time.perf_counter() - started
    cpu = meter.stop()
    subprofiles = RemoteSubprofile.objects.filter(link_id=link_id, removed_at=None).count()
    return {
        "state": run.state,
        "rows": run.fetched,
        "subprofiles": subprofiles,
        "seconds": seconds,
        "peak_mb": peak_mb(),
        "cpu": cpu,
    }


def child_fetch(link_id: int) -> dict[str, Any]:
    """Floor (a): every page of every source (keyset, same page size), fetched and discarded."""
    from django.conf import settings

    from linker.linking.client import client_for
    from linker.models import Link

    link = Link.objects.get(pk=link_id)
    warm_up(link)
    rows = 0
    started = time.perf_counter()
    with client_for(link) as client:
        for source in _sources(link_id):
            for page in source.pages(
                client, {}, page_size=settings.LINKER_SYNC_PAGE_SIZE, copying=True
            ):
                rows += page.count
    return {"rows": rows, "seconds": time.perf_counter() - started, "peak_mb": peak_mb()}


def child_copy(link_id: int) -> dict[str, Any]:
    """Floor (b): COPY of the same rows (already as COPY text) into the emptied tables."""
    from django.conf import settings
    from django.db import transaction

    from linker.linking.client import client_for
    from linker.models import Link
    from linker.sync import copy_text, upserts

    link = Link.objects.get(pk=link_id)
    pages: list[upserts.PreparedPage] = []
    with client_for(link) as client:
        for source in _sources(link_id):
            for page in source.pages(
                client, {}, page_size=settings.LINKER_SYNC_PAGE_SIZE, copying=True
            ):
                assert page.listed is not None  # the sandbox writes compact JSON
                pages.append(
                    copy_text.page_prepare(
                        mirror=source.mirror,
                        items=page.listed,
                        last_id=page.last_id,
                        link_id=link_id,
                        parent_id=source.pk,
                        run_id=None,
                    )
                )
    _truncate()
    meter = CpuMeter()
    meter.start()
    started = time.perf_counter()
    with transaction.atomic():
        for page in pages:
            upserts._copy(page.rows, page.mirror.table, page.mirror.columns)
    seconds = time.perf_counter() - started
    rows = sum(p.count for p in pages)
    return {"rows": rows, "seconds": seconds, "peak_mb": peak_mb(), "cpu": meter.stop()}


CHILDREN = {"full": child_engine, "fetch": child_fetch, "copy": child_copy}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--profiles", type=int, default=20_000)
    parser.add_argument("--subprofiles", type=int, default=50_000, help="per collection (2)")
    parser.add_argument(
        "--repeat", type=int, default=ROUNDS, help="rounds of the three, medians compared"
    )
    parser.add_argument("--child", choices=sorted(CHILDREN))
    parser.add_argument("--link", type=int)
    options = parser.parse_args()
    setup_django(migrate=not options.child)  # its own database, created and migrated once
    if options.child:
        print(json.dumps(CHILDREN[options.child](options.link)))
        return

    from accounts.models import Tenant
    from linker.models import Link

    Link.objects.filter(tenant__name=NAME).delete()
    Tenant.objects.filter(name=NAME).delete()
    proc, url = start_sandbox()
    started = time.perf_counter()
    try:
        bench = Bench(url, proc.pid)
        total = options.profiles + 2 * options.subprofiles
        print(
            f"\nFull sync of {options.profiles:,} profiles with {2 * options.subprofiles:,} "
            "subprofiles in two collections",
            flush=True,
        )
        account = bench.sandbox.create_account(
            NAME, options.profiles, databases=1, collections=2, subprofiles=options.subprofiles
        )
        from tests.factories import make_link, make_tenant

        tenant = make_tenant(name=NAME)
        link = make_link(
            tenant=tenant,
            api_token=account.api_token,
            sandbox_url=url,
            account_id=account.account_id,
            account_name=NAME,
        )
        runs: dict[str, list[dict[str, Any]]] = {"full": [], "fetch": [], "copy": []}
        for _ in range(options.repeat):
            _truncate()
            for mode, figures in runs.items():
                figures.append(bench.child(mode, link.pk, script=Path(__file__).resolve()))
                print(f"   {mode} {figures[-1]}", flush=True)
        for figures in runs["full"]:
            assert figures["state"] == "succeeded", figures
            assert figures["subprofiles"] == 2 * options.subprofiles, figures
        engine, fetch, copy = (median_run(runs[mode]) for mode in runs)
        slower = max(fetch["seconds"], copy["seconds"])
        floor_name = "(a) fetch" if fetch["seconds"] >= copy["seconds"] else "(b) COPY"
        ratio = engine["seconds"] / slower
        bench.add(
            "full sync, profiles + subprofiles: engine",
            f"{total / engine['seconds']:,.0f} rows/s, {engine['seconds']:.2f} s, "
            f"{engine['requests']} requests, peak {engine['peak_mb']:.0f} MB",
            f"fetched {engine['rows']:,} rows (incl. the reconcile walk); "
            f"medians of {options.repeat} alternated runs",
        )
        bench.add(
            "floor (a) fetch + discard",
            f"{fetch['per_second']:,.0f} rows/s, {fetch['seconds']:.2f} s, "
            f"{fetch['requests']} requests",
            f"engine / floor: {engine['seconds'] / fetch['seconds']:.2f}x",
        )
        bench.add(
            "floor (b) COPY into emptied tables",
            f"{copy['per_second']:,.0f} rows/s, {copy['seconds']:.2f} s",
            f"engine / floor: {engine['seconds'] / copy['seconds']:.2f}x",
        )
        bench.add(
            "engine against the slower floor",
            f"{ratio:.2f}x of {floor_name}",
            "goal <= 1.3x",
            goal_verdict(ratio <= 1.3),
        )
        bench.add(
            "where the time goes (CPU seconds)",
            f"engine: {cpu_text(engine['cpu'])}",
            f"floor (b): {cpu_text({'postgres': copy['cpu']['postgres']})}",
        )
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    bench_table_print("subprofile_bench", bench.rows, time.perf_counter() - started)


if __name__ == "__main__":
    main()
