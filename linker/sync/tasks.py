"""Celery tasks of the sync: thin wrappers that carry ids and call one service.

Every task here is safe to run twice (acks_late redelivers after a crash) and carries only ids
and plain values (JSON).
"""

from __future__ import annotations

from celery import shared_task

from linker.platform.delivery import Task, publish
from linker.sync import upserts
from linker.sync.runs import sync_run_step as run_step
from linker.sync.runs import sync_runs_reconcile as runs_reconcile
from linker.sync.schedule import sync_schedule_due as schedule_due


@shared_task(name=Task.SYNC_RUN_STEP.value, ignore_result=True)
def sync_run_step(run_id: int) -> None:
    """Advance one sync run by a chunk, then queue the next chunk behind other work."""
    outcome = run_step(run_id=run_id)
    if outcome.again:
        # A lost message is found again by sync_runs_reconcile from the run's heartbeat.
        publish(Task.SYNC_RUN_STEP, run_id, countdown=outcome.countdown)


@shared_task(name=Task.SYNC_SCHEDULE_DUE.value, ignore_result=True, acks_late=False)
def sync_schedule_due() -> None:
    """Beat, every minute: queue the links whose sync is due."""
    schedule_due()


@shared_task(name=Task.SYNC_RUNS_RECONCILE.value, ignore_result=True, acks_late=False)
def sync_runs_reconcile() -> None:
    """Beat, every minute: re-enqueue runs whose worker vanished; end poison runs."""
    runs_reconcile()


@shared_task(name=Task.SYNC_MIRRORS_ANALYZE.value, ignore_result=True)
def sync_mirrors_analyze(written: int) -> None:
    """Statistics for the mirror tables after a first sync of ``written`` rows (enqueued by
    its reconcile phase, at the lowest priority: the run's own queries do not need them)."""
    upserts.mirrors_analyze(written=written)
