"""The sync benches on a real Celery worker (parts 4 and 5 of ``bench/sync_bench.py``, whose
``--parts links,changes`` runs them; their rows land in its table):

4. 200 links x 500 profiles on a real Celery worker with 2 processes, their runs started by one
   beat tick (as scheduled runs are), against one link of 100,000 on the same worker.
5. 1,000 queued profile updates sent by a real Celery worker (2 processes): changes/s reaching
   the sandbox, with the default per-account request budget and with the budget off.
"""

from __future__ import annotations

import time
from typing import Any

from bench.report import goal_verdict
from bench.sync_harness import Bench, truncate_mirror
from bench.workers import celery_worker

CHANGES = 1_000
WORKER_LOG = "sync_bench_worker.log"


def _only_due(links: list[Any]) -> None:
    """Schedules due now (a first full run) for ``links``, and none due for any other link."""
    from linker.models import Link, SyncSchedule

    SyncSchedule.objects.exclude(link__in=links).update(enabled=False)
    SyncSchedule.objects.bulk_create(
        [SyncSchedule(link=link) for link in links]
        + [
            SyncSchedule(link=link, enabled=False)
            for link in Link.objects.exclude(pk__in=[link.pk for link in links])
        ],
        ignore_conflicts=True,
    )
    SyncSchedule.objects.filter(link__in=links).update(
        enabled=True, next_incremental_at=None, next_full_at=None, last_full_at=None
    )


def many_links(bench: Bench, hundred_full: dict[str, Any]) -> None:
    print("\n4. 200 links x 500 profiles, real Celery worker with 2 processes", flush=True)
    from linker.models import RemoteProfile, SyncRun
    from linker.sync.runs import sync_run_request
    from linker.sync.schedule import sync_schedule_due
    from tests.workers import wait_for

    links = [bench.link(f"Small {n}", 500) for n in range(200)]
    one = bench.link("One", 100_000)
    truncate_mirror()

    def unfilled(link: Any) -> bool:
        return RemoteProfile.objects.filter(link=link, search_text=None).exists()

    def all_done(run_ids: list[int]) -> bool:
        return not SyncRun.objects.filter(pk__in=run_ids, state__in=["queued", "running"]).exists()

    with celery_worker(log=WORKER_LOG, concurrency=2):
        started = time.perf_counter()
        single = sync_run_request(link=one, mode="full", trigger="bench")[0].pk
        wait_for(lambda: all_done([single]), timeout=300, interval=0.1)
        one_seconds = time.perf_counter() - started
        # Its end enqueued the fill of its search text (linker.profiles.search_fill): tasks
        # of 20 s on the same queue at the lowest priority, not part of the run's time. The
        # 200 links start on an idle worker, as the one link did (their own fills, queued
        # behind their steps, are left out alike).
        started = time.perf_counter()
        wait_for(lambda: not unfilled(one), timeout=600, interval=0.5)
        fill_seconds = time.perf_counter() - started

        # The 200 runs start as scheduled runs do: by a beat tick, which creates a batch's runs
        # in one INSERT and publishes each (a driver asking link by link spent 4-7 s of the two
        # cores on it while the workers ran). Only the 200 are due.
        _only_due(links)
        started = time.perf_counter()
        runs = sync_schedule_due()
        requested = time.perf_counter() - started
        assert len(runs) == len(links), f"the tick started {len(runs)} runs"
        wait_for(lambda: all_done(runs), timeout=600, interval=0.1)
        many_seconds = time.perf_counter() - started
        filled = RemoteProfile.objects.filter(link__in=links, search_text__isnull=False).count()
    print(f"   the beat tick starting the 200 runs took {requested:.2f} s; {filled:,} of their "
          "rows had their search text filled when the last run ended")  # fmt: skip
    states = set(SyncRun.objects.filter(pk__in=[*runs, single]).values_list("state", flat=True))
    assert states == {"succeeded"}, states
    bench.add(
        "200 links x 500 (2 worker processes)",
        f"{many_seconds:.1f} s ({100_000 / many_seconds:,.0f} profiles/s)",
        f"one link of 100k on the same worker: {one_seconds:.1f} s "
        f"(foreground: {hundred_full['seconds']:.1f} s; its search text filled after it "
        f"in {fill_seconds:.1f} s)",
        f"{many_seconds / one_seconds:.1f}x the time of one link (goal <= 1.5x): "
        f"{goal_verdict(many_seconds / one_seconds <= 1.5)}",
    )


def changes(bench: Bench) -> None:
    print(f"\n5. {CHANGES:,} queued profile changes, real Celery worker (2 processes)", flush=True)
    from django.db.models import Max

    from linker.models import ProfileChange, RemoteProfile
    from linker.profiles.changes import profile_change_submit
    from linker.sync.runs import sync_run_foreground, sync_run_request
    from tests.workers import wait_for

    link = bench.link("Writes", CHANGES)
    run, _ = sync_run_request(link=link, mode="full", enqueue=False)
    sync_run_foreground(run=run)
    targets = list(RemoteProfile.objects.filter(link=link).order_by("copernica_id")[:CHANGES])

    for label, extra in (
        ("default budget (50/s, burst 100)", {}),
        ("budget off", {"LINKER_ACCOUNT_REQUESTS_PER_SECOND": "0"}),
    ):
        ids = [
            profile_change_submit(
                user=link.bench_editor,
                tenant=link.tenant,
                kind="update",
                profile=profile,
                fields={"city": f"{label[:7]} {profile.copernica_id}"},
            ).pk
            for profile in targets
        ]
        bench.sandbox.reset_stats()
        with celery_worker(log=WORKER_LOG, concurrency=2, **extra):
            wait_for(
                lambda ids=ids: (
                    not ProfileChange.objects.filter(
                        pk__in=ids, state__in=["queued", "sending"]
                    ).exists()
                ),
                timeout=300,
                interval=0.1,
            )
        changes_qs = ProfileChange.objects.filter(pk__in=ids)
        done = changes_qs.filter(state="done").count()
        last = changes_qs.aggregate(last=Max("finished_at"))["last"]
        seconds = (last - _first_send(ids)).total_seconds()
        updated = bench.sandbox.stats()["profiles_updated"]
        bench.add(
            f"{CHANGES:,} queued changes, {label}",
            f"{updated / seconds:,.0f} changes/s reaching the sandbox ({seconds:.1f} s)",
            f"{done} done, {updated} updates counted at the sandbox",
        )


def _first_send(ids: list[int]) -> Any:
    from datetime import datetime

    from linker.models import ProfileChange

    sent = [
        datetime.fromisoformat(entry["sent_at"])
        for log in ProfileChange.objects.filter(pk__in=ids).values_list("attempt_log", flat=True)
        for entry in log
        if "sent_at" in entry
    ]
    return min(sent)
