"""Sync runs on real Celery workers, killed where the case says so.

Figures (reliability.md): case 17/29 kills the worker KILLS times during a 5,000-profile sync:
6 in `make test`, to keep the suite within its time budget on a 2-core machine, and the 20 of
the reliability case in `make chaos` (LINKER_CHAOS_KILLS=20).
"""

from __future__ import annotations

import math
import os
import random
import signal
from collections.abc import Callable
from datetime import timedelta

import pytest
from django.db import connection

from linker.models import ProfileChange, RemoteProfile, SyncRun
from linker.profiles.changes import profile_change_submit
from linker.sync import tasks as sync_tasks
from linker.sync.runs import (
    sync_run_cancel,
    sync_run_request,
    sync_runs_reconcile,
)
from tests.linked_accounts import Linked, profile_page_requests, synced
from tests.workers import celery_worker, wait_for, worker_env

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]

KILLS = int(os.environ.get("LINKER_CHAOS_KILLS", "6"))
# 20 pages of 5,000 profiles in `make test`; 50 under `make chaos`, so that 20 kills fit in.
PAGE_SIZE = 250 if KILLS <= 6 else 100
WORKER_SETTINGS = {
    "LINKER_SYNC_STALE_SECONDS": "2",
    "LINKER_SYNC_MAX_ATTEMPTS": "3",
    "LINKER_RETRY_BASE_SECONDS": "0.2",
    "LINKER_SYNC_PAGE_SIZE": str(PAGE_SIZE),
    "LINKER_SYNC_PAGES_PER_TASK": "5",
    "LINKER_SYNC_CLIENT_RETRIES": "0",
}


@pytest.fixture(autouse=True)
def _same_settings_here(settings) -> None:  # type: ignore[no-untyped-def]
    """The test process's reconciler and services use the workers' settings."""
    settings.LINKER_SYNC_STALE_SECONDS = 2
    settings.LINKER_SYNC_MAX_ATTEMPTS = 3
    settings.LINKER_RETRY_BASE_SECONDS = 0.2
    settings.LINKER_SYNC_PAGE_SIZE = PAGE_SIZE


def env() -> dict[str, str]:
    return worker_env(**WORKER_SETTINGS)


def kill(proc) -> None:  # type: ignore[no-untyped-def]
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def beat() -> bool:
    """What the reconciler beat does, on every poll: take over runs silent for 3 s."""
    sync_runs_reconcile(stale_after=timedelta(seconds=3))
    return True


def run_of(run_id: int) -> SyncRun:
    return SyncRun.objects.get(pk=run_id)


def finished(run_id: int) -> bool:
    return not run_of(run_id).is_active


def clean_page_requests(profiles: int, *, list_read: bool = False) -> int:
    """Profile list requests of an uninterrupted full run: pages, the empty end, the walk of
    profiles changed during the run, and Copernica's count (``limit=1&total=true``): once
    when it agrees with the ids the walks saw, and once more after the id list when the run
    had to read that (``list_read``)."""
    return math.ceil(profiles / PAGE_SIZE) + 1 + 1 + (2 if list_read else 1)


# ------------------------------------------------------------------------------- sync runs


def test_a_sync_survives_its_worker_killed_again_and_again(
    linked: Callable[..., Linked], sandbox
) -> None:
    """Cases 17 and 29: kill -9 mid-sync KILLS times; the run completes, 0 lost, 0 duplicated,
    and each crash re-fetches at most the page being written and the one fetched ahead."""
    account = linked(profiles=5000)
    sandbox.fault(path="/v4/database/", method="GET", delay_ms=120, count=100_000)
    run, _ = sync_run_request(link=account.link, mode="full")
    rng = random.Random(17)
    kills = 0
    while kills < KILLS and not finished(run.pk):
        with celery_worker(env=env()) as proc:
            target = run_of(run.pk).pages + rng.randint(1, 3 if KILLS <= 6 else 2)
            wait_for(
                lambda t=target: beat() and (run_of(run.pk).pages >= t or finished(run.pk)),
                timeout=60,
                what="pages to be written",
            )
            if finished(run.pk):
                break
            kill(proc)
            kills += 1
    with celery_worker(env=env()):
        wait_for(lambda: beat() and finished(run.pk), timeout=120, what="the run to finish")
    sandbox.clear_faults()
    page_requests = profile_page_requests(sandbox)

    done = run_of(run.pk)
    assert kills == KILLS
    assert done.state == "succeeded"
    assert account.mirror() == account.remote()
    assert RemoteProfile.objects.filter(link=account.link).count() == 5000  # none duplicated
    assert done.removed_count == 0
    refetched = page_requests - clean_page_requests(5000)
    print(f"\ncase 17/29: {kills} kills, {done.attempts} claims, {refetched} pages re-fetched")
    assert 0 <= refetched <= 2 * kills


def test_a_first_sync_of_20000_survives_three_kills_one_of_them_in_its_reconcile_phase(
    linked: Callable[..., Linked], sandbox
) -> None:  # type: ignore[no-untyped-def]
    """Case 47: SIGKILL 3x during a 20,000-profile first sync, taken over after 3 s; the third
    kill lands in the reconcile phase, which must resume, not start over forever."""
    account = linked(profiles=20_000)
    first = min(account.remote())
    sandbox.reset_stats()  # the run's requests only
    sandbox.fault(path="/v4/database/", method="GET", delay_ms=40, count=100_000)
    run, _ = sync_run_request(link=account.link, mode="full")
    rng = random.Random(47)
    kills = 0
    while kills < 2 and not finished(run.pk):
        with celery_worker(env=env()) as proc:
            target = run_of(run.pk).pages + rng.randint(5, 15)
            wait_for(
                lambda t=target: beat() and (run_of(run.pk).pages >= t or finished(run.pk)),
                timeout=120,
                what="pages to be written",
            )
            kill(proc)
            kills += 1
    # A profile the walk has passed is deleted, so the ids the walk saw are one more than
    # Copernica's count and the run reads Copernica's id list, which answers slowly from here
    # on: the reconcile phase is long enough to be hit.
    with account.client() as client:
        client.delete_profile(first)
    ids_path = f"/v4/database/{account.account.database_id}/profileids"
    sandbox.clear_faults()  # the first matching fault applies: the slow pages' one goes
    sandbox.fault(path=ids_path, method="GET", delay_ms=1500, count=6)
    with celery_worker(env=env()) as proc:
        wait_for(
            lambda: beat() and run_of(run.pk).checkpoint.get("phase") == "reconcile",
            timeout=180,
            what="the reconcile phase",
        )
        kill(proc)
        kills += 1
    with celery_worker(env=env()):
        wait_for(lambda: beat() and finished(run.pk), timeout=180, what="the run to finish")
    sandbox.clear_faults()
    page_requests = profile_page_requests(sandbox)

    done = run_of(run.pk)
    assert kills == 3
    assert done.state == "succeeded"
    assert account.mirror() == account.remote()
    assert RemoteProfile.objects.filter(link=account.link).count() == 20_000  # none duplicated
    assert done.removed_count == 1  # the profile deleted during the run
    refetched = page_requests - clean_page_requests(20_000, list_read=True)
    print(f"\ncase 47: {kills} kills, {done.attempts} claims, {refetched} pages re-fetched")
    assert 0 <= refetched <= 2 * kills


def test_a_sync_that_always_fails_ends_failed_after_bounded_attempts(
    linked: Callable[..., Linked], sandbox
) -> None:
    """Case 25: every profile page answers 503."""
    account = linked(profiles=1000)
    sandbox.fault(path="/v4/database/", method="GET", status=503, count=100_000)
    run, _ = sync_run_request(link=account.link, mode="full")

    with celery_worker(env=env()):
        wait_for(lambda: finished(run.pk), timeout=60, what="the run to give up")
    page_requests = profile_page_requests(sandbox)

    done = run_of(run.pk)
    assert done.state == "failed"
    assert (done.attempts, done.failures) == (3, 3)
    assert done.error_class == "ServerError"
    assert page_requests == 3


def test_a_sync_that_always_kills_its_worker_ends_failed(
    linked: Callable[..., Linked], sandbox
) -> None:
    """Case 25: the worker dies on every attempt (killed while the run is in its step)."""
    account = linked(profiles=1000)
    sandbox.fault(path="/v4/database/", method="GET", delay_ms=10_000, count=100_000)
    run_id = 0
    for attempt in range(1, 4):
        # The run is queued once the worker is up, so the start-up ping is not stuck behind it.
        with celery_worker(env=env()) as proc:
            if not run_id:
                run_id = sync_run_request(link=account.link, mode="full")[0].pk
            else:
                wait_for(lambda r=run_id: sync_runs_reconcile(stale_after=timedelta(0)) == [r])
            wait_for(lambda a=attempt, r=run_id: run_of(r).attempts == a, timeout=30)
            kill(proc)

    assert sync_runs_reconcile(stale_after=timedelta(0)) == []
    done = run_of(run_id)
    assert done.state == "failed"
    assert done.attempts == 3
    assert done.error_class == "WorkerLostError"


def test_a_sync_step_delivered_twice_fetches_every_page_once(
    linked: Callable[..., Linked], sandbox
) -> None:
    """Case 20 for syncs: every step message is delivered twice, to two worker processes."""
    account = linked(profiles=3000)
    run, _ = sync_run_request(link=account.link, mode="full")
    sync_tasks.sync_run_step.delay(run.pk)

    with celery_worker(env=env(), concurrency=2):
        wait_for(lambda: finished(run.pk), timeout=60, what="the run to finish")
    page_requests = profile_page_requests(sandbox)

    assert run_of(run.pk).state == "succeeded"
    assert page_requests == clean_page_requests(3000)
    assert account.mirror() == account.remote()


def test_a_huge_tenant_does_not_starve_a_small_one(linked: Callable[..., Linked], sandbox) -> None:
    """Case 23: one worker; a 30,000-profile sync is running when a small one is queued."""
    huge = linked(profiles=30_000, name="Huge")
    small = linked(profiles=300, name="Small")
    sandbox.fault(path="/v4/database/", method="GET", delay_ms=30, count=100_000)
    huge_run, _ = sync_run_request(link=huge.link, mode="full")
    with celery_worker(env=env()):
        wait_for(lambda: run_of(huge_run.pk).pages >= 5, timeout=60)
        small_run, _ = sync_run_request(link=small.link, mode="full")
        wait_for(lambda: finished(small_run.pk), timeout=60, what="the small run")
        huge_state = run_of(huge_run.pk)
        sync_run_cancel(run=huge_state)

    assert run_of(small_run.pk).state == "succeeded"
    assert huge_state.state == "running"
    assert huge_state.pages < math.ceil(30_000 / PAGE_SIZE)


def test_a_profile_change_is_sent_while_a_slow_reconcile_holds_the_sync_worker(
    linked: Callable[..., Linked], sandbox
) -> None:  # type: ignore[no-untyped-def]
    """Issue 11: write-back has a worker of its own, so it never waits behind a sync step."""
    account = synced(linked, 500)
    target, gone = sorted(account.remote())[0], sorted(account.remote())[-1]
    # A profile deleted at Copernica is read back by the next full run's reconcile phase, and
    # that answer comes 8 s late: a long reconcile phase.
    with account.client() as client:
        client.delete_profile(gone)
    sandbox.fault(path=f"/v4/profile/{gone}", method="GET", delay_ms=8000, count=1)

    with (
        celery_worker(queues="default", env=env()),
        celery_worker(queues="writes", env=env()),
    ):
        run, _ = sync_run_request(link=account.link, mode="full")
        wait_for(
            lambda: run_of(run.pk).checkpoint.get("phase") == "reconcile",
            timeout=60,
            what="the run to reach its reconcile phase",
        )
        change = profile_change_submit(
            user=account.editor,
            tenant=account.tenant,
            kind="update",
            profile=target,
            fields={"city": "Not behind the sync"},
        )
        wait_for(
            lambda: ProfileChange.objects.get(pk=change.pk).state == "done",
            timeout=30,
            what="the change to be sent",
        )
        reconciling = run_of(run.pk)

    assert reconciling.is_active  # the sync worker is still in the reconcile phase
    assert reconciling.checkpoint.get("phase") == "reconcile"
    assert account.remote()[target][0]["city"] == "Not behind the sync"


def _now() -> object:
    with connection.cursor() as cursor:
        cursor.execute("SELECT clock_timestamp()")
        return cursor.fetchone()[0]


def _used_since(moment: object) -> set[tuple[int, object]]:
    """(pid, backend_start) of the idle connections to the test database, other than this
    process's, that ran a statement after ``moment``."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid, backend_start FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid() "
            "AND state = 'idle' AND state_change > %s",
            [moment],
        )
        return set(cursor.fetchall())


def _seen_used_since(moment: object, what: str) -> set[tuple[int, object]]:
    """:func:`_used_since`, waited for until it names a connection: the one sample that did.
    (A sample taken after the wait may miss it: busy with a follow-up task, it is not idle.)"""
    seen: set[tuple[int, object]] = set()

    def found() -> bool:
        seen.update(_used_since(moment))
        return bool(seen)

    wait_for(found, what=what)
    return seen


def test_a_worker_process_keeps_its_database_connection_from_one_run_to_the_next(
    linked: Callable[..., Linked],
) -> None:
    """A small run's step does not open a PostgreSQL connection of its own: the worker's one
    process keeps its connection between tasks (CONN_MAX_AGE), where Celery closed it after
    every task."""
    first, second = linked(profiles=300, name="First"), linked(profiles=300, name="Second")
    with celery_worker(env=env()):
        mark = _now()
        run, _ = sync_run_request(link=first.link, mode="full")
        wait_for(lambda: finished(run.pk), timeout=60, what="the first run")
        before = _seen_used_since(mark, "the worker's connection, idle")
        mark = _now()
        again, _ = sync_run_request(link=second.link, mode="full")
        wait_for(lambda: finished(again.pk), timeout=60, what="the second run")
        after = _seen_used_since(mark, "the worker's connection, idle again")

    assert run_of(run.pk).state == run_of(again.pk).state == "succeeded"
    assert after <= before  # the backend that ran the second run ran the first one too
