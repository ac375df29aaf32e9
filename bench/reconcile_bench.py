"""The reconcile phase of a first full sync (issue 11): seconds, and its share of the page phase,
at 100,000 and 1,000,000 profiles (goal: at most 10% of the page phase, linear in the size).

    uv run python bench/reconcile_bench.py [--sizes 100000,1000000]

Against a sandbox subprocess and PostgreSQL (the database of ``bench/sync_bench.py``). Each size
runs in a fresh child process on an emptied mirror; the page phase ends with the last page the
engine reports, the reconcile phase is the rest of the run (the catch-up walk, Copernica's id
lists, the removal guards).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.report import bench_table_print, goal_verdict  # noqa: E402 - after the path set-up above
from bench.subprofile_bench import _truncate  # noqa: E402 - after the path set-up above
from bench.sync_harness import (  # noqa: E402 - after the path set-up above
    Bench,
    peak_mb,
    setup_django,
    start_sandbox,
    warm_up,
)


def child_phases(link_id: int) -> dict[str, Any]:
    """A full run driven step by step, with the moment of its last reported page, in a process
    warmed up as a worker's is (``sync_harness.warm_up``). Cold, the phase's first publish (the
    mirror's ANALYZE, a task of its own) imported Celery's messaging and connected to the
    broker: ~0.6 s of the 0.72 s the phase took at 100,000, paid once by a worker's process."""
    from linker.models import Link
    from linker.sync.runs import sync_run_foreground, sync_run_request

    link = Link.objects.get(pk=link_id)
    warm_up(link)
    run, _ = sync_run_request(link=link, mode="full", trigger="bench", enqueue=False)
    last_page = [0.0]

    def progress(_run: Any) -> None:
        last_page[0] = time.perf_counter()

    started = time.perf_counter()
    run = sync_run_foreground(run=run, progress=progress)
    ended = time.perf_counter()
    return {
        "state": run.state,
        "rows": run.fetched,
        "pages_seconds": last_page[0] - started,
        "reconcile_seconds": ended - last_page[0],
        "seconds": ended - started,
        "peak_mb": peak_mb(),
    }


def _child(link_id: int) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--child", "--link", str(link_id)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    if result.returncode:
        raise SystemExit(f"child failed:\n{result.stderr[-3000:]}")
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--child", action="store_true")
    parser.add_argument("--link", type=int)
    options = parser.parse_args()
    setup_django()
    if options.child:
        print(json.dumps(child_phases(options.link)))
        return

    from django.core.management import call_command

    from accounts.models import Tenant
    from linker.models import Link
    from tests.factories import make_link, make_tenant

    call_command("migrate", verbosity=0)
    sizes = [int(size) for size in options.sizes.split(",")]
    names = [f"Reconcile {size}" for size in sizes]
    Link.objects.filter(tenant__name__in=names).delete()
    Tenant.objects.filter(name__in=names).delete()
    proc, url = start_sandbox()
    started = time.perf_counter()
    try:
        bench = Bench(url)
        print("\nReconcile phase of a first full sync", flush=True)
        shares: list[float] = []
        per_row: list[float] = []
        for size, name in zip(sizes, names, strict=True):
            account = bench.sandbox.create_account(name, size)
            link = make_link(
                tenant=make_tenant(name=name),
                api_token=account.api_token,
                sandbox_url=url,
                account_id=account.account_id,
                account_name=name,
            )
            _truncate()
            figures = _child(link.pk)
            assert figures["state"] == "succeeded", figures
            share = figures["reconcile_seconds"] / figures["pages_seconds"]
            shares.append(share)
            per_row.append(figures["reconcile_seconds"] / size)
            bench.add(
                f"reconcile of a first sync, {size:,} profiles",
                f"{figures['reconcile_seconds']:.2f} s "
                f"(page phase {figures['pages_seconds']:.2f} s, peak {figures['peak_mb']:.0f} MB)",
                f"{share:.1%} of the page phase",
                f"goal <= 10%: {goal_verdict(share <= 0.10)}",
            )
            _truncate()
        if len(per_row) > 1:
            growth = per_row[-1] / per_row[0]
            bench.add(
                "reconcile cost per profile, largest / smallest size",
                f"{growth:.2f}x",
                "linear means about 1x",
                f"goal <= 1.5x: {goal_verdict(growth <= 1.5)}",
            )
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    bench_table_print("reconcile_bench", bench.rows, time.perf_counter() - started)


if __name__ == "__main__":
    main()
