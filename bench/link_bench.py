"""Linking benchmarks (issue 4): JWT exchanges under concurrency, and what the cache costs.

    uv run python bench/link_bench.py      (DATABASE_URL and REDIS_URL from scripts/services.sh)

1. 8 processes x 500 calls on one link, all starting with an empty JWT cache: how many
   exchanges reach the auth service (goal: 1).
2. The latency the shared JWT cache adds to a call: a cache hit (Redis GET + AES-GCM decrypt)
   against the in-process memory cache, and a full identity() call with each.
"""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.database import bench_django_setup  # noqa: E402 - after the path set-up above
from bench.report import bench_table_print, figure  # noqa: E402

PROCESSES, CALLS = 8, 500
#: The database the bench replaces ``DATABASE_URL``'s with (``LINK_BENCH_DB`` to use another).
BENCH_DB = os.environ.get("LINK_BENCH_DB", "linker_bench")


def _setup_django(*, migrate: bool = False) -> None:
    bench_django_setup(BENCH_DB, migrate=migrate)


def _start_sandbox() -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "api_client.sandbox", "--port", "0"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    match = re.search(r"(http://\S+)", proc.stdout.readline())
    assert match, "the sandbox did not start"
    return proc, match.group(1)


def worker(link_id: int, calls: int, start_at: float) -> None:
    """One process: wait for the common start, then make ``calls`` identity calls."""
    _setup_django()
    from linker.linking.client import client_for
    from linker.models import Link

    link = Link.objects.get(pk=link_id)
    with client_for(link) as client:
        while time.time() < start_at:
            time.sleep(0.001)
        for _ in range(calls):
            client.identity()


def main() -> None:
    _setup_django(migrate=True)
    from django.core.cache import cache

    from accounts.models import Tenant
    from api_client import CopernicaClient, MemoryTokenCache
    from api_client.sandbox.control import SandboxControl
    from linker.linking.client import LinkTokenCache, client_for, jwt_cache_key
    from linker.models import Link
    from tests.factories import make_link

    began = time.perf_counter()
    proc, url = _start_sandbox()
    try:
        sandbox = SandboxControl(url)
        account = sandbox.create_account("Bench", profiles=1)
        Link.objects.all().delete()
        tenant = Tenant.objects.create(name="Bench tenant")
        link = make_link(tenant=tenant, api_token=account.api_token, sandbox_url=url)
        cache.delete(jwt_cache_key(link))
        sandbox.reset_stats()
        start_at = time.time() + 3.0  # every process imports Django first, then all go at once
        code = f"import sys; sys.path.insert(0, {str(ROOT)!r}); import bench.link_bench as b; "
        workers = [
            subprocess.Popen(
                [sys.executable, "-c", code + f"b.worker({link.pk}, {CALLS}, {start_at})"],
                cwd=ROOT,
            )
            for _ in range(PROCESSES)
        ]
        for w in workers:
            assert w.wait() == 0
        elapsed = time.time() - start_at
        stats = sandbox.stats()
        print(f"{PROCESSES} processes x {CALLS} calls on one link ({elapsed:.1f} s):")
        print(f"  exchanges at the auth service: {stats['auth_calls']} (goal 1)")
        print(f"  API calls: {stats['api_calls']}")

        shared = LinkTokenCache(link)
        key = jwt_cache_key(link)
        memory = MemoryTokenCache()
        memory.set(key, shared.get(key))  # type: ignore[arg-type]
        rounds = 2000
        t0 = time.perf_counter()
        for _ in range(rounds):
            shared.get(key)
        shared_us = (time.perf_counter() - t0) / rounds * 1e6
        t0 = time.perf_counter()
        for _ in range(rounds):
            memory.get(key)
        memory_us = (time.perf_counter() - t0) / rounds * 1e6

        def timed_calls(client: CopernicaClient, n: int = 300) -> float:
            samples = []
            for _ in range(n):
                t = time.perf_counter()
                client.identity()
                samples.append(time.perf_counter() - t)
            return statistics.median(samples) * 1000

        with client_for(link) as redis_client:
            redis_ms = timed_calls(redis_client)
        with CopernicaClient(
            account.api_token,
            api_url=f"{url}/v4",
            auth_url=f"{url}/authenticate",
            token_cache=memory,
            cache_key=key,
        ) as memory_client:
            memory_ms = timed_calls(memory_client)
        print("JWT cache cost per call:")
        print(f"  shared cache hit (Redis GET + decrypt): {shared_us:.0f} µs")
        print(f"  in-process memory cache hit:            {memory_us:.1f} µs")
        print(f"  identity() median, shared cache:        {redis_ms:.2f} ms")
        print(f"  identity() median, memory cache:        {memory_ms:.2f} ms")
        print(f"  added by the shared cache:              {redis_ms - memory_ms:+.2f} ms")
        figures = [
            figure(
                f"JWT exchanges, {PROCESSES} processes x {CALLS} calls on one link",
                stats["auth_calls"],
                "exchanges",
                at_most=1,
            ),
            figure("JWT cache hit, shared (Redis + decrypt)", shared_us, "µs", baseline=memory_us),
            figure("identity() median, shared JWT cache", redis_ms, "ms", baseline=memory_ms),
        ]
        bench_table_print("link_bench", [], time.perf_counter() - began, figures=figures)
    finally:
        proc.terminate()
        proc.wait()


if __name__ == "__main__":
    main()
