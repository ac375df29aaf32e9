"""Celery tasks: thin wrappers that load rows by id and call one service.

Every task here is safe to run twice (acks_late redelivers after a crash), carries only ids and
plain values (JSON), and is enqueued with ``delay_on_commit`` from inside transactions.
"""

from __future__ import annotations

from celery import shared_task
from django.core.cache import cache


@shared_task(name="linker.worker_ping", acks_late=False, ignore_result=True)
def worker_ping(nonce: str) -> None:
    """Answer a liveness probe through the cache: proves the broker -> worker path works."""
    cache.set(f"worker-ping:{nonce}", "pong", timeout=300)


# --- Sync --------------------------------------------------------------------------------------


@shared_task(name="linker.sync_run_step", ignore_result=True)
def sync_run_step(run_id: int) -> None:
    """Advance one sync run by a chunk, then queue the next chunk behind other work."""
    from linker import sync

    outcome = sync.sync_run_step(run_id=run_id)
    if outcome.again:
        # Not delay_on_commit: there is no transaction here, and a lost message is found again
        # by sync_runs_reconcile from the run's heartbeat.
        sync_run_step.apply_async(args=(run_id,), countdown=outcome.countdown)


@shared_task(name="linker.sync_schedule_due", ignore_result=True, acks_late=False)
def sync_schedule_due() -> None:
    """Beat, every minute: queue the links whose sync is due."""
    from linker import sync

    sync.sync_schedule_due()


@shared_task(name="linker.sync_runs_reconcile", ignore_result=True, acks_late=False)
def sync_runs_reconcile() -> None:
    """Beat, every minute: re-enqueue runs whose worker vanished; end poison runs."""
    from linker import sync

    sync.sync_runs_reconcile()


# --- Write-back --------------------------------------------------------------------------------


@shared_task(name="linker.profile_change_send", ignore_result=True)
def profile_change_send(change_id: int) -> None:
    """Send one queued profile change to Copernica (a duplicate delivery is a no-op).

    Routed to the ``writes`` queue by ``CELERY_TASK_ROUTES``.
    """
    from linker import writes

    writes.profile_change_send(change_id=change_id)


@shared_task(name="linker.profile_changes_relay", ignore_result=True, acks_late=False)
def profile_changes_relay() -> None:
    """Beat, every minute: re-send changes whose message was lost."""
    from linker import writes

    writes.profile_changes_relay()
