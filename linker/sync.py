"""The paged sync engine: Copernica's databases and profiles into the local mirror.

A run is a ``SyncRun`` row and is advanced in *steps*: a step claims the run, pages through
profiles until it has done ``LINKER_SYNC_PAGES_PER_TASK`` pages or
``LINKER_SYNC_SECONDS_PER_TASK`` seconds, and gives the worker back; the task then enqueues the
next step (so one huge account never holds a worker for long, and small accounts get their
turn in between). Each page's upsert and the run's checkpoint commit in one transaction, and
only while the step still holds its claim, so a killed worker resumes at the page it was on and
a slow one that lost its claim cannot move the checkpoint backwards.

Full runs walk every database with keyset paging on ``id`` (``limit=1000``, ``total=false``),
then reconcile deletions against Copernica's profile id list with a mass-delete guard.
Incremental runs walk only profiles whose ``modified`` is at or after the newest one we hold,
minus an overlap window. Copernica's timestamps carry no zone; they are stored as UTC, and the
watermark goes back to Copernica in the same form, so the round trip is exact.
"""

from __future__ import annotations

import hashlib
import json
import logging
import queue
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Max, Q
from django.utils import timezone

from api_client import (
    CopernicaClient,
    CopernicaError,
    KeysetPage,
    NotFoundError,
    RateLimitedError,
)
from linker.copernica import LinkNotUsableError, link_session
from linker.ledger import RequestTally
from linker.models import (
    Link,
    RemoteDatabase,
    RemoteProfile,
    SyncMode,
    SyncRun,
    SyncSchedule,
    SyncState,
)
from linker.models.mirror import ACTIVE_SYNC_STATES
from linker.notifications import notify_sync_failed
from linker.ratelimit import BudgetExhaustedError, RequestBudget, account_key_for

logger = logging.getLogger(__name__)

#: Copernica's ``modified`` has one-second resolution and a write may land a moment late.
INCREMENTAL_OVERLAP = timedelta(minutes=2)
#: A removal of more than this share of the mirror waits for a second full run that agrees.
MASS_REMOVAL_SHARE = 0.10
#: Up to this many missing profiles are each confirmed with Copernica before removal.
CONFIRM_REMOVALS_UP_TO = 200
_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
#: Publishing from a request or a beat task: one reconnect (a pooled connection may be stale
#: after a Redis restart), then give up at once; the row is committed and the reconciler or
#: the relay enqueues it later. (``retry=False`` alone still waits ~6 s on a refused broker:
#: kombu retries the connection for ``broker_connection_timeout``.)
FAIL_FAST_PUBLISH = {"max_retries": 1, "interval_start": 0, "interval_step": 0, "interval_max": 0}


class ClaimLostError(Exception):
    """Another worker took this run over (ours was presumed dead); stop without writing."""


@dataclass
class StepOutcome:
    """What a step left behind: whether to enqueue another one, and after how long."""

    run_id: int
    state: str
    again: bool = False
    countdown: float = 0.0


# ---------------------------------------------------------------------------------- helpers


def parse_timestamp(value: object) -> datetime | None:
    """A Copernica ``YYYY-MM-DD hh:mm:ss`` as an aware UTC datetime (``None`` if unset)."""
    if not isinstance(value, str) or len(value) != 19 or value.startswith("0000"):
        return None
    try:
        return datetime.strptime(value, _TIME_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return None


def format_timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(_TIME_FORMAT)


def _clean_timestamp(value: object) -> str | None:
    return value if parse_timestamp(value) is not None else None  # type: ignore[return-value]


def retry_delay(failures: int) -> float:
    """Exponential backoff with jitter: between half and all of ``base * 2**(n-1)``."""
    ceiling = min(300.0, settings.LINKER_RETRY_BASE_SECONDS * 2 ** max(failures - 1, 0))
    return ceiling / 2 + random.uniform(0, ceiling / 2)


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
        locked = Link.objects.select_for_update().select_related("tenant").get(pk=link.pk)
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
            _enqueue_step_on_commit(run.pk)
    return run, True


def _enqueue_step_on_commit(run_id: int, countdown: float = 0.0) -> None:
    from linker import tasks

    def send() -> None:
        try:
            tasks.sync_run_step.apply_async(
                args=(run_id,), countdown=countdown, retry=True, retry_policy=FAIL_FAST_PUBLISH
            )
        except Exception:
            # The broker is down: the run stays queued and the reconciler enqueues it later.
            logger.warning("Could not enqueue sync run %s; the reconciler will retry", run_id)

    transaction.on_commit(send)


def sync_run_cancel(*, run: SyncRun) -> bool:
    """Cancel a queued or running run; a step in flight stops at its next page."""
    updated = SyncRun.objects.filter(pk=run.pk, state__in=ACTIVE_SYNC_STATES).update(
        state=SyncState.CANCELLED, finished_at=timezone.now(), claim=""
    )
    return bool(updated)


# ------------------------------------------------------------------------------- scheduling


def _next_full_at(schedule: SyncSchedule, now: datetime) -> datetime:
    local = timezone.localtime(now)
    candidate = local.replace(hour=schedule.full_hour, minute=0, second=0, microsecond=0)
    if candidate <= local:
        candidate += timedelta(days=1)
    return candidate + timedelta(seconds=random.uniform(0, 1800))


def _next_incremental_at(schedule: SyncSchedule, now: datetime) -> datetime:
    return now + timedelta(minutes=schedule.incremental_minutes, seconds=random.uniform(0, 60))


def sync_schedule_due(*, now: datetime | None = None) -> list[int]:
    """Queue the runs that are due (beat, every minute); returns the ids of new runs.

    Schedule rows are locked with SKIP LOCKED, so two beats running at once split the work
    instead of doubling it; the one-active-run rule covers the rest.
    """
    now = now or timezone.now()
    for link in Link.objects.filter(state="active").exclude(access_token_encrypted=""):
        if not hasattr(link, "sync_schedule"):
            SyncSchedule.objects.get_or_create(
                link=link,
                defaults={
                    # Jitter the first run so links linked together don't sync in lockstep.
                    "next_incremental_at": now + timedelta(seconds=random.uniform(0, 60)),
                    "next_full_at": None,
                },
            )
    created: list[int] = []
    due = Q(next_incremental_at__lte=now) | Q(next_full_at__lte=now) | Q(next_full_at=None)
    ids = list(
        SyncSchedule.objects.filter(due, enabled=True, link__state="active").values_list(
            "pk", flat=True
        )
    )
    for schedule_id in ids:
        with transaction.atomic():
            schedule = (
                SyncSchedule.objects.select_for_update(skip_locked=True)
                .select_related("link")
                .filter(pk=schedule_id)
                .first()
            )
            if schedule is None:
                continue
            full_due = schedule.next_full_at is None or schedule.next_full_at <= now
            if schedule.next_full_at is None:
                # First sight of the link: a full run now, then nightly.
                mode = SyncMode.FULL
            elif full_due:
                mode = SyncMode.FULL
            elif schedule.next_incremental_at is None or schedule.next_incremental_at <= now:
                mode = SyncMode.INCREMENTAL
            else:
                continue
            run, new = sync_run_request(link=schedule.link, mode=mode, trigger="schedule")
            if run.is_active and not new:
                continue  # busy: leave it due, try again next minute
            if mode == SyncMode.FULL:
                schedule.next_full_at = _next_full_at(schedule, now)
            schedule.next_incremental_at = _next_incremental_at(schedule, now)
            schedule.save(update_fields=["next_full_at", "next_incremental_at"])
            if new and run.is_active:
                created.append(run.pk)
    return created


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
            if run.failures >= settings.LINKER_SYNC_MAX_ATTEMPTS:
                _mark_failed(
                    run,
                    "WorkerLostError",
                    f"Gave up after {run.failures} attempts: the worker kept stopping.",
                )
                continue
            run.heartbeat_at = now
            run.save(update_fields=["claim", "failures", "heartbeat_at"])
            _enqueue_step_on_commit(run.pk)
            enqueued.append(run.pk)
    return enqueued


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
    """Advance run ``run_id`` by one chunk. Safe to call twice for the same run at once."""
    claim = uuid.uuid4().hex
    now = timezone.now()
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
        if run.failures >= settings.LINKER_SYNC_MAX_ATTEMPTS:
            _mark_failed(
                run,
                "WorkerLostError",
                f"Gave up after {run.failures} attempts: the worker kept stopping.",
            )
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
        run.save()

    account_key = account_key_for(link)
    tally = RequestTally(link, account_key)
    budget = RequestBudget(account_key)
    deadline = time.monotonic() + (
        max_seconds if max_seconds is not None else settings.LINKER_SYNC_SECONDS_PER_TASK
    )
    pages = max_pages if max_pages is not None else settings.LINKER_SYNC_PAGES_PER_TASK
    try:
        with link_session(
            link,
            on_request=tally.record,
            before_request=budget.take,
            max_retries=settings.LINKER_SYNC_CLIENT_RETRIES,
        ) as client:
            engine = _Engine(run, claim, client, tally, progress)
            finished = engine.advance(deadline=deadline, max_pages=pages)
        if finished:
            return StepOutcome(run_id, SyncState.SUCCEEDED)
        return _release(run, claim, tally, countdown=0.0, failed=False)
    except ClaimLostError:
        return StepOutcome(run_id, "claim-lost")
    except LinkNotUsableError as error:
        return _finish_with_error(run, claim, tally, error)
    except BudgetExhaustedError as error:
        return _release(run, claim, tally, countdown=error.retry_after, failed=False)
    except RateLimitedError as error:
        wait = error.retry_after if error.retry_after is not None else 0.0
        budget.hold_off(wait)
        return _release(run, claim, tally, countdown=max(wait, 1.0), failed=True, error=error)
    except Exception as error:
        if not isinstance(error, CopernicaError):
            logger.exception("Sync run %s failed unexpectedly", run_id)
        return _release(run, claim, tally, countdown=None, failed=True, error=error)
    finally:
        tally.flush()


def _release(
    run: SyncRun,
    claim: str,
    tally: RequestTally,
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


def _finish_with_error(
    run: SyncRun, claim: str, tally: RequestTally, error: BaseException
) -> StepOutcome:
    with transaction.atomic():
        current = SyncRun.objects.select_for_update().filter(pk=run.pk, claim=claim).first()
        if current is None or not current.is_active:
            return StepOutcome(run.pk, "claim-lost")
        _mark_failed(current, *_error_text(error))
    return StepOutcome(run.pk, SyncState.FAILED)


# ------------------------------------------------------------------------------- the engine


class _Prefetcher:
    """Fetches pages on a thread, at most two ahead of the writer (memory stays flat).

    The thread stops by itself once ``max_pages`` pages were fetched or the deadline passed,
    so a step ends with every fetched page written and no request wasted.
    """

    _END = object()

    def __init__(self, source: Iterator[KeysetPage], *, max_pages: int, deadline: float) -> None:
        self._source = source
        self._max_pages = max_pages
        self._deadline = deadline
        self._slots = threading.Semaphore(2)
        self._queue: queue.Queue[object] = queue.Queue()
        self._stop = threading.Event()
        self.complete = False  # the source ran out: the database is done
        self._thread = threading.Thread(target=self._run, name="sync-prefetch", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        fetched = 0
        try:
            while not self._stop.is_set():
                if fetched >= self._max_pages or time.monotonic() > self._deadline:
                    return
                while not self._slots.acquire(timeout=0.5):
                    if self._stop.is_set():
                        return
                try:
                    page = next(self._source)
                except StopIteration:
                    self.complete = True
                    return
                fetched += 1
                self._queue.put(page)
        except BaseException as error:
            self._queue.put(error)
        finally:
            self._queue.put(self._END)

    def __iter__(self) -> Iterator[KeysetPage]:
        while True:
            item = self._queue.get()
            if item is self._END:
                return
            if isinstance(item, BaseException):
                raise item
            assert isinstance(item, KeysetPage)
            yield item
            self._slots.release()

    def close(self) -> None:
        self._stop.set()
        self._slots.release()
        self._thread.join(timeout=60)


class _Engine:
    def __init__(
        self,
        run: SyncRun,
        claim: str,
        client: CopernicaClient,
        tally: RequestTally,
        progress: Callable[[SyncRun], None] | None,
    ) -> None:
        self.run = run
        self.claim = claim
        self.client = client
        self.tally = tally
        self.progress = progress
        self.cp: dict[str, Any] = dict(run.checkpoint or {"phase": "schema"})
        self._requests_reported = 0
        self._postgres = connection.vendor == "postgresql"

    # -- bookkeeping: every write below goes through _commit with the claim check

    def _commit(self, **counters: int) -> None:
        """Save the checkpoint and counters; the caller's transaction holds the page data."""
        requests = self.tally.total - self._requests_reported
        updates: dict[str, Any] = {
            "checkpoint": self.cp,
            "heartbeat_at": timezone.now(),
            "requests": F("requests") + requests,
        }
        for name, value in counters.items():
            updates[name] = F(name) + value
        if counters.get("pages"):
            updates["failures"] = 0  # progress: the attempts counter starts over
        matched = SyncRun.objects.filter(
            pk=self.run.pk, claim=self.claim, state=SyncState.RUNNING
        ).update(**updates)
        if not matched:
            raise ClaimLostError
        self._requests_reported += requests

    def advance(self, *, deadline: float, max_pages: int) -> bool:
        while True:
            phase = self.cp.get("phase", "schema")
            if phase == "schema":
                self._schema()
            elif phase == "profiles":
                if not self._profiles(deadline=deadline, max_pages=max_pages):
                    return False
            elif phase == "reconcile":
                self._reconcile()
            else:
                self._finish()
                return True

    def _schema(self) -> None:
        databases = self.client.databases()
        now = timezone.now()
        with transaction.atomic():
            ids: list[int] = []
            for item in databases:
                database, _ = RemoteDatabase.objects.update_or_create(
                    link=self.run.link,
                    copernica_id=int(item["ID"]),
                    defaults={
                        "name": str(item.get("name", ""))[:300],
                        "fields": _embedded(item.get("fields")),
                        "interests": _embedded(item.get("interests")),
                        "collections": _embedded(item.get("collections")),
                        "synced_at": now,
                        "removed_at": None,
                    },
                )
                ids.append(database.pk)
            since: dict[str, str] = {}
            if self.run.mode == SyncMode.INCREMENTAL:
                for database_id in ids:
                    newest = RemoteProfile.objects.filter(database_id=database_id).aggregate(
                        newest=Max("modified")
                    )["newest"]
                    if newest is not None:
                        since[str(database_id)] = format_timestamp(newest - INCREMENTAL_OVERLAP)
            self.cp = {
                "phase": "profiles",
                "databases": ids,
                "db_index": 0,
                "after_id": 0,
                "since": since,
            }
            self._commit()

    def _profiles(self, *, deadline: float, max_pages: int) -> bool:
        databases: list[int] = self.cp["databases"]
        pages_left = max_pages
        while self.cp["db_index"] < len(databases):
            if pages_left <= 0 or time.monotonic() > deadline:
                return False
            database = RemoteDatabase.objects.get(pk=databases[self.cp["db_index"]])
            params: dict[str, list[str]] = {}
            since = self.cp.get("since", {}).get(str(database.pk))
            if self.run.mode == SyncMode.INCREMENTAL and since:
                params["fields[]"] = [f"modified>={since}"]
            source = self.client.paginate_keyset(
                database.copernica_id,
                params,
                page_size=settings.LINKER_SYNC_PAGE_SIZE,
                after_id=self.cp["after_id"],
            )
            prefetch = _Prefetcher(source, max_pages=pages_left, deadline=deadline)
            try:
                for page in prefetch:
                    with transaction.atomic():
                        created, updated = self._write_page(database, page.items)
                        self.cp["after_id"] = page.last_id
                        self._commit(
                            pages=1,
                            fetched=page.count,
                            created_count=created,
                            updated_count=updated,
                        )
                    pages_left -= 1
                    self._report()
            finally:
                prefetch.close()
            if not prefetch.complete:
                return False
            with transaction.atomic():
                self.cp["db_index"] += 1
                self.cp["after_id"] = 0
                if self.cp["db_index"] >= len(databases):
                    full = self.run.mode == SyncMode.FULL
                    self.cp["phase"] = "reconcile" if full else "done"
                self._commit()
        if self.cp.get("phase") == "profiles":
            with transaction.atomic():
                self.cp["phase"] = "reconcile" if self.run.mode == SyncMode.FULL else "done"
                self._commit()
        return True

    def _report(self) -> None:
        if self.progress is not None:
            self.run.refresh_from_db(fields=["fetched", "pages", "created_count", "updated_count"])
            self.progress(self.run)

    # -- upserts

    def _write_page(self, database: RemoteDatabase, items: list[dict[str, Any]]) -> tuple[int, int]:
        if self._postgres:
            return upsert_profiles_postgres(
                link_id=self.run.link_id, database_id=database.pk, run_id=self.run.pk, items=items
            )
        return upsert_profiles_portable(
            link_id=self.run.link_id, database_id=database.pk, run_id=self.run.pk, items=items
        )

    # -- deletions

    def _reconcile(self) -> None:
        databases = RemoteDatabase.objects.filter(pk__in=self.cp["databases"])
        missing: dict[int, list[int]] = {}
        remote_total = 0
        local_total = 0
        blocked = ""
        for database in databases:
            # Profiles created or changed while we paged (behind the cursor, or new).
            started = self.run.started_at or timezone.now()
            changed = {"fields[]": [f"modified>={format_timestamp(started - INCREMENTAL_OVERLAP)}"]}
            for page in self.client.paginate_keyset(
                database.copernica_id, changed, page_size=settings.LINKER_SYNC_PAGE_SIZE
            ):
                with transaction.atomic():
                    created, updated = self._write_page(database, page.items)
                    self._commit(
                        pages=1, fetched=page.count, created_count=created, updated_count=updated
                    )
            # The id list after the walk: a profile created in between is merely not counted
            # yet, while the other order could take it for a removal.
            remote = {int(value) for value in self.client.profile_ids(database.copernica_id)}
            live = RemoteProfile.objects.filter(database=database, removed_at=None)
            local_count = live.count()
            local_total += local_count
            remote_total += len(remote)
            if not remote and local_count:
                blocked = "Copernica listed no profiles at all; nothing was removed."
                continue
            gone = [
                pid
                for pid in live.values_list("copernica_id", flat=True).iterator(chunk_size=20_000)
                if pid not in remote
            ]
            if gone:
                missing[database.pk] = sorted(gone)
            del remote
        to_remove = sum(len(ids) for ids in missing.values())
        pending = 0
        schedule, _ = SyncSchedule.objects.get_or_create(link=self.run.link)
        fingerprint = ""
        if to_remove and to_remove > MASS_REMOVAL_SHARE * max(local_total, 1):
            fingerprint = _fingerprint(missing)
            if schedule.pending_removal_fingerprint != fingerprint:
                pending, missing = to_remove, {}
                blocked = (
                    f"{to_remove} of {local_total} profiles are missing at Copernica; more than "
                    f"{MASS_REMOVAL_SHARE:.0%} waits for a second full run that agrees."
                )
        elif 0 < to_remove <= CONFIRM_REMOVALS_UP_TO:
            missing = {
                database_pk: self._confirmed_gone(ids) for database_pk, ids in missing.items()
            }
        now = timezone.now()
        with transaction.atomic():
            removed = 0
            for database_pk, ids in missing.items():
                for start in range(0, len(ids), 5000):
                    removed += RemoteProfile.objects.filter(
                        database_id=database_pk,
                        copernica_id__in=ids[start : start + 5000],
                        removed_at=None,
                    ).update(removed_at=now, last_run_id=self.run.pk)
            schedule.pending_removal_fingerprint = fingerprint if pending else ""
            schedule.pending_removal_count = pending
            schedule.pending_removal_run_id = self.run.pk if pending else None
            schedule.save(
                update_fields=[
                    "pending_removal_fingerprint",
                    "pending_removal_count",
                    "pending_removal_run",
                ]
            )
            self.cp["phase"] = "done"
            self.cp["note"] = blocked
            SyncRun.objects.filter(pk=self.run.pk).update(
                remote_count=remote_total,
                local_count=local_total - removed,
                pending_removals=pending,
            )
            self._commit(removed_count=removed)

    def _confirmed_gone(self, ids: list[int]) -> list[int]:
        """Of ``ids``, those Copernica confirms removed (0 false removals for small sets)."""
        gone: list[int] = []
        for profile_id in ids:
            try:
                profile = self.client.get_profile(profile_id)
            except NotFoundError:
                gone.append(profile_id)
                continue
            if profile.get("removed"):
                gone.append(profile_id)
        return gone

    def _finish(self) -> None:
        now = timezone.now()
        with transaction.atomic():
            self._commit()
            run = SyncRun.objects.select_for_update().get(pk=self.run.pk)
            if run.local_count is None:
                run.local_count = RemoteProfile.objects.filter(
                    link_id=run.link_id, removed_at=None
                ).count()
            run.state = SyncState.SUCCEEDED
            run.finished_at = now
            run.claim = ""
            run.error_class = ""
            run.error_message = str(self.cp.get("note", ""))[:500]
            run.save()
            schedule, _ = SyncSchedule.objects.get_or_create(link_id=run.link_id)
            schedule.last_success_at = now
            if run.mode == SyncMode.FULL:
                schedule.last_full_at = now
            schedule.save(update_fields=["last_success_at", "last_full_at"])
            self.run = run


def _embedded(value: object) -> list[Any]:
    if isinstance(value, dict) and isinstance(value.get("data"), list):
        return list(value["data"])
    if isinstance(value, list):
        return value
    return []


def _fingerprint(missing: dict[int, list[int]]) -> str:
    digest = hashlib.sha256()
    for database_pk in sorted(missing):
        digest.update(f"{database_pk}:".encode())
        digest.update(",".join(map(str, missing[database_pk])).encode())
        digest.update(b";")
    return digest.hexdigest()


# ----------------------------------------------------------------------------------- upserts

_UPSERT_SQL = """
WITH incoming AS (
    SELECT * FROM unnest(%(ids)s::bigint[], %(fields)s::text[], %(interests)s::text[],
                         %(created)s::text[], %(modified)s::text[])
        AS t(copernica_id, fields, interests, created, modified)
), written AS (
    INSERT INTO {table} AS p
        (link_id, database_id, copernica_id, fields, interests, created, modified,
         removed_at, last_run_id)
    SELECT %(link)s, %(database)s, copernica_id, fields::jsonb, interests::jsonb,
           created::timestamp AT TIME ZONE 'UTC', modified::timestamp AT TIME ZONE 'UTC',
           NULL, %(run)s
    FROM incoming
    ON CONFLICT (database_id, copernica_id) DO UPDATE SET
        fields = EXCLUDED.fields,
        interests = EXCLUDED.interests,
        created = EXCLUDED.created,
        modified = EXCLUDED.modified,
        removed_at = NULL,
        last_run_id = EXCLUDED.last_run_id
    WHERE (p.fields, p.interests, p.modified, p.removed_at)
          IS DISTINCT FROM (EXCLUDED.fields, EXCLUDED.interests, EXCLUDED.modified, NULL)
    RETURNING (xmax = 0) AS inserted
)
SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM written
"""


def upsert_profiles_postgres(
    *, link_id: int, database_id: int, run_id: int | None, items: list[dict[str, Any]]
) -> tuple[int, int]:
    """Upsert one page in one statement; unchanged rows are not touched. → (created, updated)"""
    if not items:
        return 0, 0
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    params = {
        "ids": [int(item["ID"]) for item in items],
        "fields": [dumps(item.get("fields") or {}) for item in items],
        "interests": [dumps(item.get("interests") or []) for item in items],
        "created": [_clean_timestamp(item.get("created")) for item in items],
        "modified": [_clean_timestamp(item.get("modified")) for item in items],
        "link": link_id,
        "database": database_id,
        "run": run_id,
    }
    with connection.cursor() as cursor:
        cursor.execute(_UPSERT_SQL.format(table=RemoteProfile._meta.db_table), params)  # type: ignore[arg-type]
        created, updated = cursor.fetchone()
    return int(created), int(updated)


def upsert_profiles_portable(
    *, link_id: int, database_id: int, run_id: int | None, items: list[dict[str, Any]]
) -> tuple[int, int]:
    """The same upsert for databases without ``ON CONFLICT ... WHERE`` (the SQLite demo)."""
    by_id = {int(item["ID"]): item for item in items}
    existing = {
        row.copernica_id: row
        for row in RemoteProfile.objects.filter(database_id=database_id, copernica_id__in=by_id)
    }
    new: list[RemoteProfile] = []
    changed: list[RemoteProfile] = []
    for profile_id, item in by_id.items():
        fields = item.get("fields") or {}
        interests = item.get("interests") or []
        created = parse_timestamp(item.get("created"))
        modified = parse_timestamp(item.get("modified"))
        row = existing.get(profile_id)
        if row is None:
            new.append(
                RemoteProfile(
                    link_id=link_id,
                    database_id=database_id,
                    copernica_id=profile_id,
                    fields=fields,
                    interests=interests,
                    created=created,
                    modified=modified,
                    last_run_id=run_id,
                )
            )
        elif (row.fields, row.interests, row.modified, row.removed_at) != (
            fields,
            interests,
            modified,
            None,
        ):
            row.fields, row.interests, row.created, row.modified = (
                fields,
                interests,
                created,
                modified,
            )
            row.removed_at = None
            row.last_run_id = run_id
            changed.append(row)
    RemoteProfile.objects.bulk_create(new)
    RemoteProfile.objects.bulk_update(
        changed, ["fields", "interests", "created", "modified", "removed_at", "last_run"]
    )
    return len(new), len(changed)


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
