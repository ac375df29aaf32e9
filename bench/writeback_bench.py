"""Write-back per change against a bare ``update_profile`` call, on the same sandbox (issue 16).

    uv run python bench/writeback_bench.py [--changes 300] [--rounds 3]
    (DATABASE_URL and REDIS_URL from scripts/services.sh; the database is replaced by
    ``linker_writebackbench``, or ``WRITEBACK_BENCH_DB``, created and migrated if missing)

Both sides run in this process, one call after another, with the request budget off:

- baseline: ``CopernicaClient.update_profile`` on one client (JWT exchanged before the timing,
  one kept-alive connection): what a change must cost at least;
- outbox: ``profile_change_send`` of changes already stored by ``profile_change_submit`` (the
  web side, outside the timing): lock, mark sending, the call through a metered session, lock
  again, mirror, done; the message the submit published is purged, no worker takes it.

They alternate in ``--rounds`` blocks so that a busy machine slows both alike. Goal: the
outbox's time per change at most 2x the bare call's.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.report import bench_table_print, figure  # noqa: E402 - after the path set-up above

BENCH_DB = os.environ.get("WRITEBACK_BENCH_DB", "linker_writebackbench")
PROFILES = 2_000


def _setup_django() -> None:
    os.environ.setdefault("DJANGO_ENV", "test")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "linker.settings")
    # The request budget off: the outbox's own cost, not Copernica's allowance, is measured.
    os.environ["LINKER_ACCOUNT_REQUESTS_PER_SECOND"] = "0"
    url = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/linker")
    os.environ["DATABASE_URL"] = re.sub(r"/[^/]*$", f"/{BENCH_DB}", url)
    import django
    import psycopg

    admin = re.sub(r"/[^/]*$", "/postgres", os.environ["DATABASE_URL"])
    with psycopg.connect(admin.replace("postgres://", "postgresql://"), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [BENCH_DB])
        if not exists.fetchone():
            conn.execute(f"CREATE DATABASE {BENCH_DB}")
    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def _start_sandbox() -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "api_client.sandbox", "--port", "0", "--seed", "16"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    match = re.search(r"(http://\S+)", proc.stdout.readline())
    if match is None:
        raise SystemExit("The sandbox did not start.")
    return proc, match.group(1)


def _linked(url: str) -> Any:
    """A tenant linked to a sandbox account of ``PROFILES`` profiles, mirrored, with an editor."""
    from accounts.models import Role
    from api_client.sandbox.control import SandboxControl
    from linker.sync.runs import sync_run_foreground, sync_run_request
    from tests.factories import make_link, make_member, make_tenant, make_user

    name = f"Writeback {uuid.uuid4().hex[:6]}"
    account = SandboxControl(url, timeout=120).create_account(name, PROFILES)
    tenant = make_tenant(name=name)
    link = make_link(
        tenant=tenant,
        api_token=account.api_token,
        sandbox_url=url,
        account_id=account.account_id,
        account_name=name,
    )
    link.bench_account = account
    link.bench_editor = make_member(
        role=Role.TENANT_ADMIN, tenant=tenant, user=make_user(email=f"{name[-6:]}@bench.invalid")
    )
    sync_run_foreground(run=sync_run_request(link=link, mode="full", enqueue=False)[0])
    return link


def _purge_writes() -> None:
    from celery import current_app

    with current_app.connection_for_write() as conn:
        conn.default_channel.queue_purge("writes")


def bare_calls(url: str, link: Any, profile_ids: list[int], tag: str) -> list[float]:
    """Seconds of each bare ``update_profile`` call on one client."""
    from api_client import CopernicaClient

    account = link.bench_account
    samples = []
    with CopernicaClient(
        account.api_token, api_url=f"{url}/v4", auth_url=f"{url}/authenticate"
    ) as client:
        client.identity()  # the JWT exchange and the connection, outside the timing
        for profile_id in profile_ids:
            started = time.perf_counter()
            client.update_profile(profile_id, {"city": f"Bare {tag} {profile_id}"})
            samples.append(time.perf_counter() - started)
    return samples


def outbox_sends(link: Any, profile_ids: list[int], tag: str) -> list[float]:
    """Seconds of each ``profile_change_send`` of changes submitted beforehand."""
    from linker.models import ProfileChange
    from linker.profiles.changes import profile_change_submit
    from linker.profiles.outbox import profile_change_send

    ids = [
        profile_change_submit(
            user=link.bench_editor,
            tenant=link.tenant,
            kind="update",
            profile=profile_id,
            fields={"city": f"Outbox {tag} {profile_id}"},
        ).pk
        for profile_id in profile_ids
    ]
    _purge_writes()
    samples = []
    for change_id in ids:
        started = time.perf_counter()
        outcome = profile_change_send(change_id=change_id)
        samples.append(time.perf_counter() - started)
        assert outcome.state == ProfileChange.State.DONE, outcome
    return samples


@contextmanager
def phases_timed(spent: Counter[str]) -> Iterator[None]:
    """Add the seconds of each phase of ``profile_change_send`` to ``spent`` meanwhile."""
    from linker.profiles import outbox

    originals = (outbox.metered_session, outbox.change_send, outbox._finish)
    open_session, send, finish = originals

    @contextmanager
    def session(link: Any, **options: Any) -> Iterator[Any]:
        started = time.perf_counter()
        manager = open_session(link, **options)
        opened = manager.__enter__()
        spent["session open (client, token)"] += time.perf_counter() - started
        try:
            yield opened
        finally:
            started = time.perf_counter()
            manager.__exit__(None, None, None)
            spent["session close (ledger flush)"] += time.perf_counter() - started

    def timed(name: str, call: Callable[..., Any]) -> Callable[..., Any]:
        def run(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return call(*args, **kwargs)
            finally:
                spent[name] += time.perf_counter() - started

        return run

    outbox.metered_session = session  # type: ignore[assignment]
    outbox.change_send = timed("the call to Copernica", send)  # type: ignore[assignment]
    outbox._finish = timed("re-lock, mirror, done (commit)", finish)  # type: ignore[assignment]
    try:
        yield
    finally:
        outbox.metered_session, outbox.change_send, outbox._finish = originals  # type: ignore[assignment]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--changes", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", action="store_true", help="cProfile the outbox sends")
    options = parser.parse_args()
    _setup_django()
    from django.conf import settings

    assert settings.LINKER_ACCOUNT_REQUESTS_PER_SECOND == 0
    proc, url = _start_sandbox()
    started = time.perf_counter()
    try:
        link = _linked(url)
        from linker.models import RemoteProfile

        ids = list(
            RemoteProfile.objects.filter(link=link)
            .order_by("copernica_id")
            .values_list("copernica_id", flat=True)[: options.changes * options.rounds]
        )
        assert len(ids) == options.changes * options.rounds, len(ids)
        bare: list[float] = []
        sent: list[float] = []
        spent: Counter[str] = Counter()
        profiler = None
        if options.profile:
            import cProfile

            profiler = cProfile.Profile()
        for number in range(options.rounds):
            chunk = ids[number * options.changes : (number + 1) * options.changes]
            bare += bare_calls(url, link, chunk, str(number))
            if profiler:
                profiler.enable()
            with phases_timed(spent):
                sent += outbox_sends(link, chunk, str(number))
            if profiler:
                profiler.disable()
            print(
                f"  round {number + 1}: bare {statistics.mean(bare[-len(chunk) :]) * 1000:.2f} ms,"
                f" outbox {statistics.mean(sent[-len(chunk) :]) * 1000:.2f} ms per change",
                flush=True,
            )
        if profiler:
            import pstats

            pstats.Stats(profiler).sort_stats("cumulative").print_stats(40)
    finally:
        proc.terminate()
        proc.wait(timeout=10)

    bare_ms, sent_ms = statistics.mean(bare) * 1000, statistics.mean(sent) * 1000
    spent["lock, checks, mark sending (commit)"] = sum(sent) - sum(spent.values())
    print("\nWhere a change's time goes (mean per change):")
    for name, seconds in spent.most_common():
        print(f"  {name:<40} {seconds / len(sent) * 1000:6.2f} ms")
    item = figure(
        "write-back per change (profile_change_send, budget off)",
        sent_ms,
        "ms",
        baseline=bare_ms,
        at_most=2,
    )
    p95 = statistics.quantiles(sent, n=20)[-1] * 1000
    bare_p95 = statistics.quantiles(bare, n=20)[-1] * 1000
    rows = [
        (
            f"write-back per change, {len(sent)} updates",
            f"{sent_ms:.2f} ms mean, p95 {p95:.2f} ms ({1000 / sent_ms:,.0f} changes/s)",
            f"bare update_profile: {bare_ms:.2f} ms mean, p95 {bare_p95:.2f} ms",
            f"{item.ratio:.2f}x (goal <= 2x): {'goal met' if item.met else 'goal NOT met'}",
        )
    ]
    bench_table_print(
        "writeback_bench",
        rows,
        time.perf_counter() - started,
        figures=[item, figure("bare update_profile call", bare_ms, "ms")],
    )


if __name__ == "__main__":
    main()
