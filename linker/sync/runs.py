"""Sync runs: requesting, cancelling and reconciling them, and advancing one by a step.

A run is a ``SyncRun`` row and is advanced in *steps*: a step claims the run, pages through
profiles until it has done ``LINKER_SYNC_PAGES_PER_TASK`` pages or
``LINKER_SYNC_SECONDS_PER_TASK`` seconds, and gives the worker back; the task then enqueues the
next step (so one huge account never holds a worker for long, and small accounts get their
turn in between). What a step does is in :mod:`linker.sync.engine`.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Exists, F, OuterRef, Q, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from api_client import CopernicaError, RateLimitedError
from linker.linking.client import metered_session
from linker.linking.errors import LinkNotUsableError
from linker.models import ACTIVE_SYNC_STATES, Link, SyncMode, SyncRun, SyncState
from linker.notifications.services import notify_sync_failed
from linker.platform.delivery import Task, retry_delay
from linker.platform.delivery import enqueue as enqueue_task
from linker.platform.ratelimit import BudgetExhaustedError
from linker.sync import upserts
from linker.sync.engine import ClaimLostError, Engine

logger = logging.getLogger(__name__)


@dataclass
class StepOutcome:
    """What a step left behind: whether to enqueue another one, and after how long."""

    run_id: int
    state: str
    again: bool = False
    countdown: float = 0.0


def _stale_after() -> timedelta:
    return timedelta(seconds=settings.LINKER_SYNC_STALE_SECONDS)


def _error_text(error: BaseException) -> tuple[str, str]:
    return type(error).__name__[:100], str(error)[:500]


# ---------------------------------------------------------------------------- requesting runs


def sync_run_request(
    *, link: Link, mode: str = SyncMode.INCREMENTAL, trigger: str = "manual", enqueue: bool = True
) -> tuple[SyncRun, bool]:
    """Queue a sync of ``link`` unless one is queued or running; returns (run, created).

    However many callers ask at once there is at most one active run per link: requests are
    serialised on the link row, and a partial unique index backs that up. A link that is not
    usable gets a *skipped* run that says why, and no call is made.
    """
    with transaction.atomic():
        # FOR NO KEY UPDATE, of the link only: it serialises the requests (and the beat's
        # batch, which locks the link FOR UPDATE) without blocking the foreign-key checks of
        # rows that refer to the link. A FOR UPDATE lock did: the beat's new schedule row had
        # locked the tenant's dashboard row (its trigger) and its FK check at commit waited
        # for this lock, while this run's insert waited for that dashboard row: a deadlock.
        locked = (
            Link.objects.select_for_update(no_key=True, of=("self",))
            .select_related("tenant")
            .get(pk=link.pk)
        )
        active = SyncRun.objects.filter(link=locked, state__in=ACTIVE_SYNC_STATES).first()
        if active is not None:
            return active, False
        now = timezone.now()
        if not locked.is_usable:
            run = SyncRun.objects.create(
                link=locked,
                mode=mode,
                trigger=trigger,
                state=SyncState.SKIPPED,
                finished_at=now,
                error_class="LinkNotUsableError",
                error_message=str(LinkNotUsableError(locked))[:500],
            )
            return run, True
        try:
            with transaction.atomic():
                run = SyncRun.objects.create(
                    link=locked, mode=mode, trigger=trigger, checkpoint={"phase": "schema"}
                )
        except IntegrityError:
            existing = SyncRun.objects.filter(link=locked, state__in=ACTIVE_SYNC_STATES).first()
            if existing is None:
                raise
            return existing, False
        if enqueue:
            enqueue_task(Task.SYNC_RUN_STEP, run.pk)
    return run, True


def sync_run_cancel(*, run: SyncRun) -> bool:
    """Cancel a queued or running run; a step in flight stops at its next page."""
    updated = SyncRun.objects.filter(pk=run.pk, state__in=ACTIVE_SYNC_STATES).update(
        state=SyncState.CANCELLED, finished_at=timezone.now(), claim=""
    )
    return bool(updated)


# ------------------------------------------------------------------------------ reconciling


def sync_runs_reconcile(*, stale_after: timedelta | None = None) -> list[int]:
    """Re-enqueue active runs whose worker vanished or whose message was lost (beat).

    A run whose heartbeat is older than ``stale_after`` lost its worker: its claim is dropped,
    the loss counts as a failed attempt, and a poison run that keeps losing its worker ends as
    failed after ``LINKER_SYNC_MAX_ATTEMPTS``.
    """
    now = timezone.now()
    cutoff = now - (stale_after if stale_after is not None else _stale_after())
    stale = (
        SyncRun.objects.filter(state__in=ACTIVE_SYNC_STATES)
        .filter(Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at=None, queued_at__lt=cutoff))
        .filter(Q(not_before=None) | Q(not_before__lte=now))
        .values_list("pk", flat=True)
    )
    enqueued: list[int] = []
    for run_id in list(stale):
        with transaction.atomic():
            run = SyncRun.objects.select_for_update().filter(pk=run_id).first()
            if run is None or not run.is_active:
                continue
            if run.heartbeat_at is not None and run.heartbeat_at >= cutoff:
                continue
            if run.claim:
                run.claim = ""
                run.failures += 1
            if _give_up_if_poison(run):
                continue
            run.heartbeat_at = now
            run.save(update_fields=["claim", "failures", "heartbeat_at"])
            enqueue_task(Task.SYNC_RUN_STEP, run.pk)
            enqueued.append(run.pk)
    return enqueued


def _give_up_if_poison(run: SyncRun) -> bool:
    """End a run that kept losing its worker (inside the caller's transaction, row locked)."""
    if run.failures < settings.LINKER_SYNC_MAX_ATTEMPTS:
        return False
    _mark_failed(
        run,
        "WorkerLostError",
        f"Gave up after {run.failures} attempts: the worker kept stopping.",
    )
    return True


def _mark_failed(run: SyncRun, error_class: str, message: str) -> None:
    run.state = SyncState.FAILED
    run.finished_at = timezone.now()
    run.claim = ""
    run.error_class = error_class[:100]
    run.error_message = message[:500]
    run.save(
        update_fields=[
            "state",
            "finished_at",
            "claim",
            "error_class",
            "error_message",
            "failures",
            "heartbeat_at",
        ]
    )
    transaction.on_commit(lambda: notify_sync_failed(run=run))


# ------------------------------------------------------------------------------ running a step


def sync_run_step(
    *,
    run_id: int,
    max_pages: int | None = None,
    max_seconds: float | None = None,
    progress: Callable[[SyncRun], None] | None = None,
) -> StepOutcome:
    """Advance run ``run_id`` by one chunk. Safe to call twice for the same run at once.

    The claim, the engine's commits and the request counts commit without waiting for the
    WAL to reach the disk (:func:`upserts.commits_unflushed`): each goes with the run's
    checkpoint, so what a crash of PostgreSQL could lose is redone from the checkpoint before
    it (a claim lost so is the claim of a worker that lost its connection too). A small run
    committed a dozen times, and waiting for the disk cost more than the statements. A step
    that gives the run back or fails waits for the disk as before.
    """
    claim = uuid.uuid4().hex
    error: Exception | None = None
    finished = False
    with upserts.commits_unflushed() if connection.vendor == "postgresql" else nullcontext():
        run = _claim(run_id=run_id, claim=claim)
        if isinstance(run, StepOutcome):
            return run
        deadline = time.monotonic() + (
            max_seconds if max_seconds is not None else settings.LINKER_SYNC_SECONDS_PER_TASK
        )
        pages = max_pages if max_pages is not None else settings.LINKER_SYNC_PAGES_PER_TASK
        try:
            with metered_session(
                run.link, max_retries=settings.LINKER_SYNC_CLIENT_RETRIES
            ) as session:
                engine = Engine(run, claim, session, progress)
                finished = engine.advance(deadline=deadline, max_pages=pages)
        except Exception as caught:  # handled below, once the commits wait for the disk again
            error = caught
    if error is None:
        if finished:
            return StepOutcome(run_id, SyncState.SUCCEEDED)
        return _release(run, claim, countdown=0.0, failed=False)
    return _step_failed(run, claim, error)


def _claim(*, run_id: int, claim: str) -> SyncRun | StepOutcome:
    """Claim the run for this step → the run (with its link), or the outcome of a step that
    has nothing to do (finished, claimed by another worker, early, or its link unusable)."""
    now = timezone.now()
    claimed = _claim_free(run_id=run_id, claim=claim, now=now)
    if claimed is not None:
        return claimed
    with transaction.atomic():
        run = (
            SyncRun.objects.select_for_update()
            .select_related("link", "link__tenant")
            .filter(pk=run_id)
            .first()
        )
        if run is None:
            return StepOutcome(run_id, "missing")
        if not run.is_active:
            return StepOutcome(run_id, run.state)  # finished: a duplicate delivery
        if run.claim and run.heartbeat_at and run.heartbeat_at > now - _stale_after():
            return StepOutcome(run_id, run.state)  # another worker is on it right now
        if run.not_before and run.not_before > now:
            return StepOutcome(run_id, run.state)  # early duplicate; the delayed one will come
        if run.claim:
            run.failures += 1  # its last holder stopped without a word: a crash
        if _give_up_if_poison(run):
            return StepOutcome(run_id, run.state)
        link = run.link
        if not link.is_usable:
            state = SyncState.SKIPPED if run.state == SyncState.QUEUED else SyncState.FAILED
            run.state = state
            run.finished_at = now
            run.claim = ""
            run.error_class = "LinkNotUsableError"
            run.error_message = str(LinkNotUsableError(link))[:500]
            run.save()
            return StepOutcome(run_id, state)
        run.state = SyncState.RUNNING
        run.started_at = run.started_at or now
        run.attempts += 1
        run.chunks += 1
        run.claim = claim
        run.heartbeat_at = now
        run.not_before = None
        run.save(update_fields=_CLAIMED_FIELDS)
    return run


def _claim_free(*, run_id: int, claim: str, now: datetime) -> SyncRun | None:
    """The usual claim in one UPDATE of its own (no transaction around it): a run nobody
    holds, not early, not a poison run, of a usable link. → the run, or ``None`` when any of
    that is not so and :func:`_claim` looks closer, row locked.

    A small run's step was 4 round trips here (BEGIN, SELECT ... FOR UPDATE of the run, its
    link and tenant, UPDATE, COMMIT); now 2. The WHERE is re-checked by PostgreSQL on the row
    it updates, so two workers cannot both claim it."""
    usable_link = Link.objects.filter(Link.usable_q(), pk=OuterRef("link_id"))
    updated = SyncRun.objects.filter(
        Q(not_before=None) | Q(not_before__lte=now),
        Exists(usable_link),
        pk=run_id,
        state__in=ACTIVE_SYNC_STATES,
        claim="",
        failures__lt=settings.LINKER_SYNC_MAX_ATTEMPTS,
    ).update(
        state=SyncState.RUNNING,
        started_at=Coalesce(F("started_at"), Value(now)),
        attempts=F("attempts") + 1,
        chunks=F("chunks") + 1,
        claim=claim,
        heartbeat_at=now,
        not_before=None,
    )
    if not updated:
        return None
    return SyncRun.objects.select_related("link", "link__tenant").get(pk=run_id)


_CLAIMED_FIELDS = [
    "state",
    "started_at",
    "attempts",
    "chunks",
    "claim",
    "heartbeat_at",
    "not_before",
    "failures",
]


def _step_failed(run: SyncRun, claim: str, error: Exception) -> StepOutcome:
    """What a step that raised ``error`` leaves behind."""
    if isinstance(error, ClaimLostError):
        return StepOutcome(run.pk, "claim-lost")
    if isinstance(error, LinkNotUsableError):
        return _finish_with_error(run, claim, error)
    if isinstance(error, BudgetExhaustedError):
        return _release(run, claim, countdown=error.retry_after, failed=False)
    if isinstance(error, RateLimitedError):
        # The session emptied the account's budget for the Retry-After already.
        wait = error.retry_after if error.retry_after is not None else 0.0
        return _release(run, claim, countdown=max(wait, 1.0), failed=True, error=error)
    if not isinstance(error, CopernicaError):
        logger.error("Sync run %s failed unexpectedly", run.pk, exc_info=error)
    return _release(run, claim, countdown=None, failed=True, error=error)


def _release(
    run: SyncRun,
    claim: str,
    *,
    countdown: float | None,
    failed: bool,
    error: BaseException | None = None,
) -> StepOutcome:
    """Give the run back after a chunk (or a failure) so the next step can claim it."""
    with transaction.atomic():
        current = SyncRun.objects.select_for_update().filter(pk=run.pk, claim=claim).first()
        if current is None or not current.is_active:
            return StepOutcome(run.pk, current.state if current else "claim-lost")
        now = timezone.now()
        current.claim = ""
        current.heartbeat_at = now
        if failed:
            current.failures += 1
            if error is not None:
                current.error_class, current.error_message = _error_text(error)
            if current.failures >= settings.LINKER_SYNC_MAX_ATTEMPTS:
                current.state = SyncState.FAILED
                current.finished_at = now
                current.save()
                failed_run = current
                transaction.on_commit(lambda: notify_sync_failed(run=failed_run))
                return StepOutcome(run.pk, current.state)
            if countdown is None:
                countdown = retry_delay(current.failures)
        wait = countdown or 0.0
        current.not_before = now + timedelta(seconds=wait) if wait > 0 else None
        current.save()
    return StepOutcome(run.pk, SyncState.RUNNING, again=True, countdown=wait)


def _finish_with_error(run: SyncRun, claim: str, error: BaseException) -> StepOutcome:
    with transaction.atomic():
        current = SyncRun.objects.select_for_update().filter(pk=run.pk, claim=claim).first()
        if current is None or not current.is_active:
            return StepOutcome(run.pk, "claim-lost")
        _mark_failed(current, *_error_text(error))
    return StepOutcome(run.pk, SyncState.FAILED)


# ------------------------------------------------------------------------------ foreground


def sync_run_foreground(
    *, run: SyncRun, progress: Callable[[SyncRun], None] | None = None
) -> SyncRun:
    """Drive a run to its end in this process (``manage.py sync``), waiting when told to."""
    while True:
        outcome = sync_run_step(run_id=run.pk, progress=progress)
        if not outcome.again:
            break
        if outcome.countdown:
            time.sleep(outcome.countdown)
    run.refresh_from_db()
    return run
