"""Write-back: per change against bare ``update_profile`` calls, and one change's latency while
every sync worker is busy against an idle system (issue 16).

    uv run python bench/writeback_bench.py [--changes 300] [--rounds 3] [--samples 20]
        [--parts batch,latency] [--profile]
    (DATABASE_URL and REDIS_URL from scripts/services.sh; the database is replaced by
    ``linker_writebackbench``, or ``WRITEBACK_BENCH_DB``, created and migrated if missing)

1. **Per change** (request budget off, this process): ``--changes`` updates of one link's
   profiles, stored by ``profile_change_submit`` outside the timing (the message each publishes
   is purged), then every message handled as one worker would, in order:
   ``profile_change_send`` of each id, until all are done. The outbox sends them in batches
   (:data:`linker.profiles.batch_taking.BATCH_SIZE`): a message whose change an earlier batch took
   finds nothing to do. Its time per change is set against the same number of bare
   ``CopernicaClient.update_profile`` calls on one client (JWT exchanged before the timing,
   one kept-alive connection), the fair floor of batched sends. The two alternate in
   ``--rounds`` blocks so that a busy machine slows both alike. Goal: at most 2x.
2. **Latency while the syncs are busy** (real worker processes, request budget off): a
   ``writes`` worker (1 process) and a ``default`` worker (2 processes, the sync workers).
   ``--samples`` changes, one after another, each timed from ``profile_change_submit`` until
   the row reads *done*: first with nothing else running, then while both sync processes are
   busy with full syncs of two large accounts (checked before and after the samples). The
   accounts that sync are on a sandbox of their own: Copernica's servers are not ours, and
   this measures what our side does to a change. Goal: the busy median at most 2x the idle.
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
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.database import bench_django_setup  # noqa: E402 - after the path set-up
from bench.report import Figure, bench_table_print, figure, goal_verdict  # noqa: E402
from bench.workers import celery_worker  # noqa: E402

BENCH_DB = os.environ.get("WRITEBACK_BENCH_DB", "linker_writebackbench")
PROFILES = 2_000
#: The two accounts the sync workers are busy with in part 2: long enough to outlast the
#: samples (checked), on a sandbox of their own.
SYNC_PROFILES = 200_000
#: How often part 2 looks at the change's row while it waits for *done*.
POLL_SECONDS = 0.002
#: The sync workers' niceness in part 2: as deployed (docker-compose.yml, scripts/demo.sh), so
#: a user's change is not starved of CPU by syncs on a small machine.
SYNC_WORKER_NICE = 10
#: Every worker of part 2 runs with the request budget off, as part 1.
WORKER_SETTINGS = {"LINKER_ACCOUNT_REQUESTS_PER_SECOND": "0"}
WORKER_LOG = "writeback_bench_worker.log"


def _setup_django() -> None:
    # The request budget off: the outbox's own cost, not Copernica's allowance, is measured.
    bench_django_setup(BENCH_DB, budget_off=True)


@contextmanager
def _sandbox(seed: int) -> Iterator[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "api_client.sandbox", "--port", "0", "--seed", str(seed)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        match = re.search(r"(http://\S+)", proc.stdout.readline())
        if match is None:
            raise SystemExit("The sandbox did not start.")
        yield match.group(1)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _linked(url: str, profiles: int = PROFILES, *, mirrored: bool = True) -> Any:
    """A tenant linked to a sandbox account of ``profiles`` profiles, with an editor; mirrored
    by a full sync in this process unless ``mirrored`` is false."""
    from accounts.models import Role
    from api_client.sandbox.control import SandboxControl
    from linker.sync.runs import sync_run_foreground, sync_run_request
    from tests.factories import make_link, make_member, make_tenant, make_user

    name = f"Writeback {uuid.uuid4().hex[:6]}"
    account = SandboxControl(url, timeout=120).create_account(name, profiles)
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
    if mirrored:
        sync_run_foreground(run=sync_run_request(link=link, mode="full", enqueue=False)[0])
    return link


def _purge_writes() -> None:
    from celery import current_app

    with current_app.connection_for_write() as conn:
        conn.default_channel.queue_purge("writes")


def _submit(link: Any, profile_id: int, city: str) -> int:
    from linker.profiles.changes import profile_change_submit

    return profile_change_submit(
        user=link.bench_editor,
        tenant=link.tenant,
        kind="update",
        profile=profile_id,
        fields={"city": city},
    ).pk


# ---------------------------------------------------------------------- 1. per change


def bare_calls(client: Any, profile_ids: list[int], tag: str) -> float:
    """Seconds of ``len(profile_ids)`` bare ``update_profile`` calls on ``client``."""
    started = time.perf_counter()
    for profile_id in profile_ids:
        client.update_profile(profile_id, {"city": f"Bare {tag} {profile_id}"})
    return time.perf_counter() - started


def outbox_sends(ids: list[int], sizes: list[int], queries: list[tuple[int, int]]) -> float:
    """Seconds until every change of ``ids`` (submitted before) is done, handling each one's
    message in order as one worker would. ``queries`` gets each message's (size of the batch
    it sent or 0, SQL statements it made); ``sizes`` is filled by :func:`phases_timed`."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from linker.models import ProfileChange
    from linker.profiles.batch_sending import profile_change_send

    started = time.perf_counter()
    with CaptureQueriesContext(connection) as captured:
        for change_id in ids:
            before, batches = len(captured.captured_queries), len(sizes)
            profile_change_send(change_id=change_id)
            size = sizes[-1] if len(sizes) > batches else 0
            queries.append((size, len(captured.captured_queries) - before))
    seconds = time.perf_counter() - started
    states = Counter(ProfileChange.objects.filter(pk__in=ids).values_list("state", flat=True))
    assert states == {"done": len(ids)}, states
    return seconds


@contextmanager
def phases_timed(spent: Counter[str], sizes: list[int]) -> Iterator[None]:
    """Add the seconds of each phase of the outbox's batches to ``spent``, and each batch's
    size to ``sizes``, meanwhile."""
    from linker.profiles import batch_sending
    from linker.profiles.outbox import SendOutcome

    originals = (
        batch_sending.batch_take,
        batch_sending.metered_session,
        batch_sending.change_send,
        batch_sending.batch_finish,
    )
    take, open_session, send, finish = originals

    def timed(name: str, call: Callable[..., Any]) -> Callable[..., Any]:
        def run(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return call(*args, **kwargs)
            finally:
                spent[name] += time.perf_counter() - started

        return run

    def taken(change_id: int) -> Any:
        started = time.perf_counter()
        result = take(change_id)
        if isinstance(result, SendOutcome):
            spent["messages finding nothing to do"] += time.perf_counter() - started
        else:
            spent["lock, join, mark sending (commit)"] += time.perf_counter() - started
            sizes.append(len(result[1]))
        return result

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
            spent["session close (its counts: with the finish)"] += time.perf_counter() - started

    batch_sending.batch_take = taken  # type: ignore[assignment]
    batch_sending.metered_session = session  # type: ignore[assignment]
    batch_sending.change_send = timed("the calls to Copernica", send)  # type: ignore[assignment]
    finishing = timed("re-lock, mirror, finish (commit)", finish)
    batch_sending.batch_finish = finishing  # type: ignore[assignment]
    try:
        yield
    finally:
        (
            batch_sending.batch_take,  # type: ignore[assignment]
            batch_sending.metered_session,  # type: ignore[assignment]
            batch_sending.change_send,  # type: ignore[assignment]
            batch_sending.batch_finish,  # type: ignore[assignment]
        ) = originals


Measured = tuple[list[tuple[str, ...]], list[Figure]]


def per_change(url: str, options: argparse.Namespace) -> Measured:
    from api_client import CopernicaClient
    from linker.models import RemoteProfile
    from linker.profiles.batch_taking import BATCH_SIZE

    print(f"1. {options.changes} changes x {options.rounds} rounds, budget off", flush=True)
    link = _linked(url)
    ids = list(
        RemoteProfile.objects.filter(link=link)
        .order_by("copernica_id")
        .values_list("copernica_id", flat=True)[: options.changes * options.rounds]
    )
    assert len(ids) == options.changes * options.rounds, len(ids)
    bare = sent = 0.0
    spent: Counter[str] = Counter()
    queries: list[tuple[int, int]] = []
    sizes: list[int] = []
    profiler = None
    if options.profile:
        import cProfile

        profiler = cProfile.Profile()
    account = link.bench_account
    with CopernicaClient(
        account.api_token, api_url=f"{url}/v4", auth_url=f"{url}/authenticate"
    ) as client:
        client.identity()  # the JWT exchange and the connection, outside the timing
        for number in range(options.rounds):
            chunk = ids[number * options.changes : (number + 1) * options.changes]
            round_bare = round_sent = 0.0
            # Blocks of one batch, the two sides taking turns to go first: a machine whose
            # load comes and goes slows both alike.
            for block_start in range(0, len(chunk), BATCH_SIZE):
                block = chunk[block_start : block_start + BATCH_SIZE]
                tag = f"{number}.{block_start}"
                changes = [_submit(link, p, f"Outbox {tag} {p}") for p in block]
                _purge_writes()
                if (block_start // BATCH_SIZE) % 2:
                    round_bare += bare_calls(client, block, tag)
                if profiler:
                    profiler.enable()
                with phases_timed(spent, sizes):
                    round_sent += outbox_sends(changes, sizes, queries)
                if profiler:
                    profiler.disable()
                if not (block_start // BATCH_SIZE) % 2:
                    round_bare += bare_calls(client, block, tag)
            bare, sent = bare + round_bare, sent + round_sent
            print(
                f"  round {number + 1}: bare {round_bare / len(chunk) * 1000:.2f} ms,"
                f" outbox {round_sent / len(chunk) * 1000:.2f} ms per change",
                flush=True,
            )
    if profiler:
        import pstats

        pstats.Stats(profiler).sort_stats("cumulative").print_stats(40)

    count = options.changes * options.rounds
    bare_ms, sent_ms = bare / count * 1000, sent / count * 1000
    spent["other (task code, Python)"] = sent - sum(spent.values())
    print("  where a change's time goes (mean per change):")
    for name, seconds in spent.most_common():
        print(f"    {name:<40} {seconds / count * 1000:6.2f} ms")
    batches = len(sizes)
    per_batch = sorted({n for size, n in queries if size})
    per_idle = sorted({n for size, n in queries if not size})
    print(
        f"  {batches} batches of {min(sizes)}-{max(sizes)} changes (at most {BATCH_SIZE}); SQL "
        f"statements per batch: {per_batch[0]}-{per_batch[-1]}, per message finding nothing "
        f"to do: {'-'.join(str(n) for n in per_idle[:1] + per_idle[-1:])}"
    )
    item = figure(
        "write-back per change (queued changes of one link, budget off)",
        sent_ms,
        "ms",
        baseline=bare_ms,
        at_most=2,
    )
    rows: list[tuple[str, ...]] = [
        (
            f"write-back per change, {count} updates of one link",
            f"{sent_ms:.2f} ms ({1000 / sent_ms:,.0f} changes/s, {batches} batches)",
            f"bare update_profile on one client: {bare_ms:.2f} ms",
            f"{item.ratio:.2f}x (goal <= 2x): {goal_verdict(bool(item.met))}",
        )
    ]
    figures = [
        item,
        figure("bare update_profile call", bare_ms, "ms"),
        figure("SQL statements per batch (most)", per_batch[-1], "statements"),
    ]
    return rows, figures


# ------------------------------------------------------------- 2. latency, syncs busy


def _latency(
    link: Any, profile_ids: list[int], tag: str, phases: list[tuple[float, ...]] | None = None
) -> list[float]:
    """Seconds from submit to *done* of one change after another; ``phases`` gets each one's
    (submit, waiting for a worker, taking and sending, recording until seen done)."""
    from linker.models import ProfileChange

    samples = []
    for profile_id in profile_ids:
        started, wall = time.perf_counter(), time.time()
        change_id = _submit(link, profile_id, f"Latency {tag} {profile_id}")
        submitted = time.time()
        rows = ProfileChange.objects.filter(pk=change_id)
        deadline = started + 60
        while (state := rows.values_list("state", flat=True)[0]) != "done":
            assert state in ("queued", "sending"), state
            assert time.perf_counter() < deadline, "the change was not sent within 60 s"
            time.sleep(POLL_SECONDS)
        samples.append(time.perf_counter() - started)
        seen = time.time()
        change = rows.get()
        assert change.finished_at is not None
        taken = _epoch(change.attempt_log[-1]["sent_at"])
        finished = change.finished_at.timestamp()
        if phases is not None:
            phases.append((submitted - wall, taken - submitted, finished - taken, seen - finished))
    return samples


def _epoch(iso: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(iso).timestamp()


def _syncs_stop(run_ids: list[int]) -> None:
    """Cancel the runs and wait (a while) for both sync processes to be free, so that the
    workers stop between two steps rather than in the middle of one."""
    from django.core.cache import cache

    from linker.models import SyncRun
    from linker.platform.tasks import worker_ping
    from linker.sync.runs import sync_run_cancel

    for run in SyncRun.objects.filter(pk__in=run_ids):
        sync_run_cancel(run=run)
    nonces = [uuid.uuid4().hex for _ in range(2)]
    for nonce in nonces:
        worker_ping.apply_async(args=(nonce,), queue="default")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if all(cache.get(f"worker-ping:{nonce}") == "pong" for nonce in nonces):
            return
        time.sleep(0.05)


def latency_busy(url: str, options: argparse.Namespace) -> Measured:
    from linker.models import RemoteProfile, SyncRun
    from linker.sync.runs import sync_run_request
    from tests.workers import wait_for

    samples = options.samples
    print(f"\n2. one change's latency, {samples} samples idle and {samples} busy", flush=True)
    link = _linked(url)
    targets = list(
        RemoteProfile.objects.filter(link=link)
        .order_by("-copernica_id")
        .values_list("copernica_id", flat=True)[: 2 * samples]
    )
    with ExitStack() as stack:
        sync_url = stack.enter_context(_sandbox(seed=17))
        busy_links = [_linked(sync_url, SYNC_PROFILES, mirrored=False) for _ in range(2)]
        stack.enter_context(
            celery_worker(log=WORKER_LOG, queues="writes", concurrency=1, **WORKER_SETTINGS)
        )
        # The sync workers at a lower CPU priority, as docker-compose.yml and the demo run them.
        stack.enter_context(
            celery_worker(
                log=WORKER_LOG,
                queues="default",
                concurrency=2,
                niceness=options.sync_nice,
                **WORKER_SETTINGS,
            )
        )
        _latency(link, targets[:2], "warm-up")  # the worker's first connection and JWT
        idle_phases: list[tuple[float, ...]] = []
        busy_phases: list[tuple[float, ...]] = []
        idle = _latency(link, targets[:samples], "idle", idle_phases)
        runs = [sync_run_request(link=busy, mode="full")[0].pk for busy in busy_links]

        def both_syncing() -> bool:
            return SyncRun.objects.filter(pk__in=runs, state="running", pages__gt=0).count() == 2

        wait_for(both_syncing, timeout=120, what="both sync workers to be busy")
        busy = _latency(link, targets[samples:], "busy", busy_phases)
        still_busy = both_syncing()
        pages = list(SyncRun.objects.filter(pk__in=runs).values_list("pages", flat=True))
        _syncs_stop(runs)
    if not still_busy:
        raise SystemExit(
            "The syncs ended before the samples did: raise SYNC_PROFILES so they outlast them."
        )
    idle_ms, busy_ms = statistics.median(idle) * 1000, statistics.median(busy) * 1000
    names = ("submit", "waiting for the worker", "taking and sending", "recording, seen done")
    for label, phases in (("idle", idle_phases), ("busy", busy_phases)):
        medians = [statistics.median(phase) * 1000 for phase in zip(*phases, strict=True)]
        shown = ", ".join(f"{name} {ms:.1f}" for name, ms in zip(names, medians, strict=True))
        print(f"  {label}, median ms per phase: {shown}")
    print(
        f"  idle: median {idle_ms:.1f} ms, max {max(idle) * 1000:.1f} ms; busy: median "
        f"{busy_ms:.1f} ms, max {max(busy) * 1000:.1f} ms (sync pages meanwhile: {pages})"
    )
    item = figure(
        "one change's latency while every sync worker is busy (median, submit to done)",
        busy_ms,
        "ms",
        baseline=idle_ms,
        at_most=2,
    )
    rows: list[tuple[str, ...]] = [
        (
            f"one change's latency, 2 sync processes busy ({samples} samples)",
            f"{busy_ms:.1f} ms median (max {max(busy) * 1000:.1f} ms)",
            f"idle: {idle_ms:.1f} ms median (max {max(idle) * 1000:.1f} ms)",
            f"{item.ratio:.2f}x (goal <= 2x): {goal_verdict(bool(item.met))}",
        )
    ]
    return rows, [item, figure("one change's latency, idle (median)", idle_ms, "ms")]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--changes", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--parts", default="batch,latency", help="batch, latency or both")
    parser.add_argument("--profile", action="store_true", help="cProfile the outbox sends")
    parser.add_argument(
        "--sync-nice", type=int, default=SYNC_WORKER_NICE, help="the sync workers' niceness"
    )
    options = parser.parse_args()
    _setup_django()
    from django.conf import settings

    assert settings.LINKER_ACCOUNT_REQUESTS_PER_SECOND == 0
    parts = set(options.parts.split(","))
    started = time.perf_counter()
    rows: list[tuple[str, ...]] = []
    figures: list[Figure] = []
    with _sandbox(seed=16) as url:
        if "batch" in parts:
            more_rows, more = per_change(url, options)
            rows, figures = rows + more_rows, figures + more
        if "latency" in parts:
            more_rows, more = latency_busy(url, options)
            rows, figures = rows + more_rows, figures + more
    bench_table_print("writeback_bench", rows, time.perf_counter() - started, figures=figures)


if __name__ == "__main__":
    main()
