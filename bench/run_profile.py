"""Where one sync run's time goes, phase by phase (issue 16): wall time, queries, commits, HTTP
requests to the sandbox, cache round trips and task publishes of each phase.

    uv run python bench/run_profile.py [--small 500] [--runs 5] [--big 100000]

Against a sandbox subprocess and PostgreSQL (the database of ``bench/sync_bench.py``), in this
process, warm: full runs of ``--runs`` links of ``--small`` profiles (the first is left out:
imports and connections), then a full run of ``--big`` profiles, 1% of them changed at the
sandbox, and an incremental run. Each table is the median run's.
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import pstats
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.sync_harness import Bench, setup_django, start_sandbox  # noqa: E402

COUNTERS = ("seconds", "queries", "commits", "http", "http_s", "cache", "publish")


class Profile:
    """Per-phase counters; the innermost phase entered gets what happens."""

    def __init__(self) -> None:
        self.stack: list[str] = ["(outside)"]
        self.figures: dict[str, dict[str, float]] = defaultdict(lambda: dict.fromkeys(COUNTERS, 0))
        self.order: list[str] = []

    def add(self, counter: str, value: float = 1) -> None:
        self.figures[self.stack[-1]][counter] += value

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        if name not in self.order:
            self.order.append(name)
        self.stack.append(name)
        started = time.perf_counter()
        try:
            yield
        finally:
            spent = time.perf_counter() - started
            self.stack.pop()
            self.figures[name]["seconds"] += spent
            # The parent's own time excludes its children's.
            self.figures[self.stack[-1]]["seconds"] -= spent


PROFILE = Profile()
_WRAPPER: Any = None
LOG_QUERIES = False


def _wrap(owner: Any, name: str, phase: str) -> None:
    original = getattr(owner, name)

    @functools.wraps(original)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        with PROFILE.phase(phase):
            return original(*args, **kwargs)

    setattr(owner, name, wrapped)


def _count(owner: Any, name: str, counter: str, *, timed: str = "") -> None:
    original = getattr(owner, name)

    @functools.wraps(original)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        PROFILE.add(counter)
        started = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            if timed:
                PROFILE.add(timed, time.perf_counter() - started)

    setattr(owner, name, wrapped)


def instrument() -> None:
    import httpx
    from django.core.cache import caches
    from django.db import connection

    from linker.linking import client as linking_client
    from linker.linking import request_log
    from linker.platform import delivery, ledger
    from linker.sync import engine, reconcile, runs

    _wrap(runs, "_claim", "claim")
    _wrap(runs, "_release", "release")
    _wrap(linking_client, "client_for", "session open")
    _wrap(engine.Engine, "_schema", "schema")
    _wrap(engine.Engine, "_profiles", "profiles")
    _wrap(reconcile.Phase, "_walk", "reconcile: catch-up walk")
    _wrap(reconcile.Phase, "_load", "reconcile: id list")
    _wrap(reconcile.Phase, "_decide", "reconcile: decide")
    _wrap(engine.Engine, "finish", "finish")
    _wrap(ledger.RequestTally, "flush", "request counts flush")
    _wrap(request_log.RequestLogBuffer, "flush", "request log flush")
    _count(httpx.Client, "send", "http", timed="http_s")
    cache = caches["default"]
    for method in ("get", "set", "add", "delete", "get_many", "incr"):
        _count(cache, method, "cache")
    _count(delivery.current_app, "send_task", "publish")

    def counted(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
        PROFILE.add("queries")
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            if LOG_QUERIES:
                spent = (time.perf_counter() - started) * 1000
                text = " ".join(str(sql).split())
                print(f"    {PROFILE.stack[-1]:26} {spent:6.1f} ms  {text[:150]}")

    # Kept: a wrapper whose context manager is collected takes itself off again.
    global _WRAPPER
    _WRAPPER = connection.execute_wrapper(counted)
    _WRAPPER.__enter__()
    connection.ensure_connection()
    original_commit = connection._commit

    def commit() -> None:
        PROFILE.add("commits")
        original_commit()

    connection._commit = commit  # type: ignore[method-assign]


def run_once(link: Any, mode: str) -> tuple[float, dict[str, dict[str, float]], list[str]]:
    from linker.sync.runs import sync_run_foreground, sync_run_request

    global PROFILE
    PROFILE = Profile()
    with PROFILE.phase("request (enqueue)"):
        run, _ = sync_run_request(link=link, mode=mode, trigger="bench", enqueue=False)
    started = time.perf_counter()
    with PROFILE.phase("(step, other)"):
        run = sync_run_foreground(run=run)
    seconds = time.perf_counter() - started
    assert run.state == "succeeded", (run.state, run.error_message)
    return seconds, dict(PROFILE.figures), list(PROFILE.order)


def table(title: str, seconds: float, figures: dict[str, dict[str, float]], order: list[str]):
    print(f"\n{title}: {seconds * 1000:.1f} ms")
    print(f"  {'phase':28} {'ms':>8} {'queries':>8} {'commits':>8} {'http':>5} {'http ms':>8} "
          f"{'cache':>6} {'publish':>7}")  # fmt: skip
    total = dict.fromkeys(COUNTERS, 0.0)
    for name in order:
        row = figures[name]
        for counter in COUNTERS:
            total[counter] += row[counter]
        print(f"  {name:28} {row['seconds'] * 1000:8.1f} {row['queries']:8.0f} "
              f"{row['commits']:8.0f} {row['http']:5.0f} {row['http_s'] * 1000:8.1f} "
              f"{row['cache']:6.0f} {row['publish']:7.0f}")  # fmt: skip
    print(f"  {'total':28} {total['seconds'] * 1000:8.1f} {total['queries']:8.0f} "
          f"{total['commits']:8.0f} {total['http']:5.0f} {total['http_s'] * 1000:8.1f} "
          f"{total['cache']:6.0f} {total['publish']:7.0f}")  # fmt: skip


def _median(results: list[Any]) -> Any:
    return sorted(results, key=lambda result: result[0])[len(results) // 2]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--small", type=int, default=500)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--big", type=int, default=100_000)
    parser.add_argument("--skip-big", action="store_true")
    parser.add_argument("--queries", action="store_true", help="each query of one run")
    parser.add_argument("--cprofile", action="store_true", help="cProfile the small runs")
    options = parser.parse_args()
    setup_django(migrate=True)
    from accounts.models import Tenant
    from api_client import CopernicaClient
    from linker.models import Link

    Link.objects.filter(tenant__name__startswith="Profile ").delete()
    Tenant.objects.filter(name__startswith="Profile ").delete()
    proc, url = start_sandbox()
    try:
        bench = Bench(url, proc.pid)
        instrument()
        results = []
        links = [bench.link(f"Profile small {n}", options.small) for n in range(options.runs + 1)]
        results.append(run_once(links[0], "full"))
        profiler = cProfile.Profile() if options.cprofile else None
        if profiler is not None:
            profiler.enable()
        for link in links[1:]:
            results.append(run_once(link, "full"))
        if profiler is not None:
            profiler.disable()
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(60)
            pstats.Stats(profiler).sort_stats("tottime").print_stats(30)
        link = links[-1]
        if options.queries:
            global LOG_QUERIES
            LOG_QUERIES = True
            run_once(bench.link("Profile small logged", options.small), "full")
            run_once(link, "incremental")
            LOG_QUERIES = False
        table(f"full run of {options.small} (median of {options.runs})", *_median(results[1:]))
        again = [run_once(link, "incremental")]
        again += [run_once(link, "incremental") for _ in range(options.runs - 1)]
        table(f"incremental run of {options.small}, nothing changed", *_median(again))
        if options.skip_big:
            return
        big = bench.link("Profile big", options.big)
        table(f"full run of {options.big}", *run_once(big, "full"))
        account = big.bench_account
        with CopernicaClient(
            account.api_token, api_url=f"{url}/v4", auth_url=f"{url}/authenticate"
        ) as client:
            ids = sorted(int(value) for value in client.profile_ids(account.database_id))
            step = max(len(ids) // (options.big // 100), 1)
            for number, profile_id in enumerate(ids[::step][: options.big // 100]):
                client.update_profile(profile_id, {"city": f"Moved {number}"})
        table(f"incremental run of {options.big}, 1% changed", *run_once(big, "incremental"))
    finally:
        proc.terminate()
        proc.wait(timeout=10)


if __name__ == "__main__":
    main()
