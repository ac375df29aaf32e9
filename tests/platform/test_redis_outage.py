"""Redis restarted or down under load (reliability.md, cases 18 and 19).

Each test runs its own ``redis-server`` (broker, cache, locks and request budget of both the
worker and this process), so it can be stopped and restarted without touching the shared one.
This process stands in for beat: the reconciler of runs and the relay of queued changes are
called on every poll, as beat would call them every minute.

Figures: printed per test (``-s``): creates and updates counted at the sandbox, attempts, and
how many messages the relay and the reconciler had to send again.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from linker.models import ProfileChange, RemoteProfile, SyncRun
from linker.profiles.changes import profile_change_submit
from linker.profiles.relay import profile_changes_relay
from linker.sync.runs import sync_run_foreground, sync_run_request, sync_runs_reconcile
from tests.linked_accounts import Linked
from tests.platform.private_redis import PrivateRedis, private_redis, this_process_uses
from tests.workers import celery_worker, wait_for, worker_env

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]

PAGE_SIZE = 250
WORKER_SETTINGS = {
    "LINKER_SYNC_STALE_SECONDS": "2",
    "LINKER_SYNC_MAX_ATTEMPTS": "5",
    "LINKER_RETRY_BASE_SECONDS": "0.2",
    "LINKER_SYNC_PAGE_SIZE": str(PAGE_SIZE),
    "LINKER_SYNC_PAGES_PER_TASK": "3",
    "LINKER_SYNC_CLIENT_RETRIES": "0",
}


@pytest.fixture(autouse=True)
def _same_settings_here(settings) -> None:  # type: ignore[no-untyped-def]
    settings.LINKER_SYNC_STALE_SECONDS = 2
    settings.LINKER_SYNC_MAX_ATTEMPTS = 5
    settings.LINKER_RETRY_BASE_SECONDS = 0.2
    settings.LINKER_SYNC_PAGE_SIZE = PAGE_SIZE


@pytest.fixture
def redis_server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[PrivateRedis]:
    persistent = getattr(request, "param", False)
    with private_redis(tmp_path, persistent=persistent) as server, this_process_uses(server.url):
        yield server


class Beat:
    """What beat does every minute, done every ``every`` seconds of polling; counts what it
    had to send again."""

    def __init__(self, every: float = 2.0) -> None:
        self.every = every
        self.last = -every
        self.runs_enqueued = 0
        self.changes_enqueued = 0

    def __call__(self) -> bool:
        if time.monotonic() - self.last >= self.every:
            self.last = time.monotonic()
            self.runs_enqueued += len(sync_runs_reconcile(stale_after=timedelta(seconds=3)))
            self.changes_enqueued += profile_changes_relay(older_than=timedelta(seconds=2))
        return True


def submit(account: Linked, creates: int, updates: list[int], prefix: str) -> list[int]:
    ids = [
        profile_change_submit(
            user=account.editor,
            tenant=account.tenant,
            kind="create",
            fields={"email": f"{prefix}{n}@example.com", "firstname": f"N{n}"},
        ).pk
        for n in range(creates)
    ]
    ids += [
        profile_change_submit(
            user=account.editor,
            tenant=account.tenant,
            kind="update",
            profile=profile_id,
            fields={"city": f"{prefix} {profile_id}"},
        ).pk
        for profile_id in updates
    ]
    return ids


def unfinished(ids: list[int]) -> int:
    return ProfileChange.objects.filter(pk__in=ids, state__in=["queued", "sending"]).count()


def synced(linked: Callable[..., Linked], profiles: int) -> Linked:
    account = linked(profiles=profiles)
    run, _ = sync_run_request(link=account.link, mode="full", enqueue=False)
    assert sync_run_foreground(run=run).state == "succeeded"
    return account


@pytest.mark.parametrize(
    "redis_server", [True, False], ids=["appendonly", "no-persistence"], indirect=True
)
def test_a_redis_restart_with_jobs_in_flight_finishes_every_job_and_writes_nothing_twice(
    redis_server: PrivateRedis, linked: Callable[..., Linked], sandbox
) -> None:
    """Case 18: a full sync and 30 changes in flight when Redis restarts."""
    writer = synced(linked, 200)
    reader = linked(profiles=4000, name="Reader")
    targets = sorted(writer.remote())[:15]
    # Slow Copernica down so that the restart lands in the middle of the work.
    sandbox.fault(path="/v4/database/", method="GET", delay_ms=150, count=100_000)
    sandbox.fault(path="/v4/database/", method="POST", delay_ms=150, count=100_000)
    sandbox.fault(path="/v4/profile/", method="PUT", delay_ms=150, count=100_000)
    sandbox.reset_stats()
    beat = Beat()

    with celery_worker(env=worker_env(REDIS_URL=redis_server.url, **WORKER_SETTINGS)):
        run, _ = sync_run_request(link=reader.link, mode="full")
        changes = submit(writer, 15, targets, "restart")
        wait_for(
            lambda: SyncRun.objects.get(pk=run.pk).pages >= 2 and unfinished(changes) < 30,
            timeout=30,
            what="the sync and the changes to be under way",
        )
        in_flight = (SyncRun.objects.get(pk=run.pk).pages, unfinished(changes))
        redis_server.restart()
        wait_for(
            lambda: (
                beat() and unfinished(changes) == 0 and not SyncRun.objects.get(pk=run.pk).is_active
            ),
            timeout=60,
            interval=0.25,
            what="every job to reach a final state",
        )
    sandbox.clear_faults()
    stats = sandbox.stats()
    done = SyncRun.objects.get(pk=run.pk)
    states = set(ProfileChange.objects.filter(pk__in=changes).values_list("state", flat=True))
    with writer.client() as client:
        emails = [
            len(
                client.find_profiles(
                    writer.account.database_id, {"email": f"restart{n}@example.com"}
                )
            )
            for n in range(15)
        ]

    print(
        f"\ncase 18 ({'appendonly' if redis_server.persistent else 'no persistence'}): "
        f"restart at page {in_flight[0]} with {in_flight[1]}/30 changes unfinished; "
        f"run {done.state} after {done.attempts} claims; changes {sorted(states)}; "
        f"creates {stats['profiles_created']}/15, updates {stats['profiles_updated']}/15; "
        f"re-sent by beat: {beat.runs_enqueued} steps, {beat.changes_enqueued} changes"
    )
    assert done.state == "succeeded"
    assert reader.mirror() == reader.remote()
    assert RemoteProfile.objects.filter(link=reader.link).count() == 4000
    assert states == {"done"}
    assert stats["profiles_created"] == 15
    assert stats["profiles_updated"] == 15
    assert emails == [1] * 15


def test_changes_submitted_while_redis_is_down_are_accepted_and_sent_once_it_is_back(
    redis_server: PrivateRedis, linked: Callable[..., Linked], sandbox
) -> None:
    """Case 19: 100 changes (60 creates, 40 updates) submitted with Redis down."""
    account = synced(linked, 100)
    targets = sorted(account.remote())[:40]
    sandbox.reset_stats()
    redis_server.stop()

    started = time.monotonic()
    changes = submit(account, 60, targets, "down")
    submit_seconds = time.monotonic() - started
    accepted = ProfileChange.objects.filter(pk__in=changes, state="queued").count()

    redis_server.start()
    beat = Beat()
    with celery_worker(env=worker_env(REDIS_URL=redis_server.url, **WORKER_SETTINGS)):
        wait_for(
            lambda: beat() and unfinished(changes) == 0,
            timeout=60,
            interval=0.25,
            what="the relayed changes to be sent",
        )
    stats = sandbox.stats()
    attempts = list(ProfileChange.objects.filter(pk__in=changes).values_list("state", "attempts"))

    print(
        f"\ncase 19: {accepted}/100 accepted with Redis down in {submit_seconds:.2f} s; "
        f"relayed {beat.changes_enqueued}; reached Copernica: "
        f"{stats['profiles_created']} creates + {stats['profiles_updated']} updates"
    )
    assert accepted == 100
    assert attempts == [("done", 1)] * 100
    assert stats["profiles_created"] + stats["profiles_updated"] == 100
    assert (stats["profiles_created"], stats["profiles_updated"]) == (60, 40)
