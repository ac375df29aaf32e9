"""The step and page pipeline: what one step of a run does, phase by phase.

Phases: ``schema`` (the databases), ``profiles`` (a keyset walk of every database, or of what
changed since the newest profile we hold for an incremental run), ``reconcile`` (full runs
only: a walk of what changed while we paged, then deletions, decided by
:mod:`linker.sync.removals`) and ``done``. The engine owns the phases and the checkpoint.

Each page's write and the run's checkpoint commit in one transaction, and only while the step
still holds its claim, so a killed worker resumes at the page it was on and a slow one that
lost its claim cannot write.

Pages are fetched, decoded and turned into COPY text on a thread, at most two ahead of the
writer, so the next page is on its way while PostgreSQL takes the current one.
"""

from __future__ import annotations

import functools
import queue
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Max
from django.utils import timezone

from api_client import KeysetPage, format_timestamp
from linker.linking.client import MeteredSession
from linker.models import RemoteDatabase, RemoteProfile, SyncMode, SyncRun, SyncSchedule, SyncState
from linker.platform.errors import LinkerError
from linker.sync import removals, upserts

#: Copernica's ``modified`` has one-second resolution and a write may land a moment late.
INCREMENTAL_OVERLAP = timedelta(minutes=2)


class ClaimLostError(LinkerError):
    """Another worker took this run over (ours was presumed dead); stop without writing."""


class _Prefetcher:
    """Fetches and prepares pages on a thread, at most two ahead of the writer.

    The thread stops by itself once ``max_pages`` pages were fetched or the deadline passed,
    so a step ends with every fetched page written and no request wasted.
    """

    _END = object()

    def __init__(
        self,
        source: Iterator[KeysetPage],
        prepare: Callable[[KeysetPage], upserts.PreparedPage],
        *,
        max_pages: int,
        deadline: float,
    ) -> None:
        self._source = source
        self._prepare = prepare
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
                self._queue.put(self._prepare(page))
        except BaseException as error:
            self._queue.put(error)
        finally:
            self._queue.put(self._END)

    def __iter__(self) -> Iterator[upserts.PreparedPage]:
        while True:
            item = self._queue.get()
            if item is self._END:
                return
            if isinstance(item, BaseException):
                raise item
            assert isinstance(item, upserts.PreparedPage)
            yield item
            self._slots.release()

    def close(self) -> None:
        self._stop.set()
        self._slots.release()
        self._thread.join(timeout=60)


class Engine:
    """One step of one run: holds the claim, the session and the checkpoint (``cp``)."""

    def __init__(
        self,
        run: SyncRun,
        claim: str,
        session: MeteredSession,
        progress: Callable[[SyncRun], None] | None,
    ) -> None:
        self.run = run
        self.claim = claim
        self.session = session
        self.client = session.client
        self.progress = progress
        self.cp: dict[str, Any] = dict(run.checkpoint or {"phase": "schema"})
        self._requests_reported = 0
        self.postgres = connection.vendor == "postgresql"

    # -- bookkeeping: every write below goes through commit() with the claim check

    def commit(self, **counters: int) -> None:
        """Save the checkpoint and counters; the caller's transaction holds the page data."""
        requests = self.session.requests - self._requests_reported
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
            self.commit()

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
            # Nothing of this database past the checkpoint yet (a first sync): COPY straight in.
            straight_in = self.postgres and upserts.copy_straight_in_allowed(
                database_id=database.pk, after_id=self.cp["after_id"]
            )
            prefetch = _Prefetcher(
                source,
                functools.partial(self.prepare, database.pk),
                max_pages=pages_left,
                deadline=deadline,
            )
            try:
                for page in prefetch:
                    with transaction.atomic():
                        created, updated, straight_in = self.write_page(page, straight_in)
                        self.cp["after_id"] = page.last_id
                        self.commit(
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
                self.commit()
        if self.cp.get("phase") == "profiles":
            with transaction.atomic():
                self.cp["phase"] = "reconcile" if self.run.mode == SyncMode.FULL else "done"
                self.commit()
        return True

    def _reconcile(self) -> None:
        """Catch up on what changed while we paged, then mark what Copernica no longer lists."""
        databases = list(RemoteDatabase.objects.filter(pk__in=self.cp["databases"]).order_by("pk"))
        # Profiles created or changed while we paged (behind the cursor, or new).
        started = self.run.started_at or timezone.now()
        changed = {"fields[]": [f"modified>={format_timestamp(started - INCREMENTAL_OVERLAP)}"]}
        for database in databases:
            for page in self.client.paginate_keyset(
                database.copernica_id, changed, page_size=settings.LINKER_SYNC_PAGE_SIZE
            ):
                prepared = self.prepare(database.pk, page)
                with transaction.atomic():
                    created, updated, _ = self.write_page(prepared)
                    self.commit(
                        pages=1, fetched=page.count, created_count=created, updated_count=updated
                    )
        # The id lists after the walks: a profile created in between is merely not counted
        # yet, while the other order could take it for a removal. One transaction: the
        # removals' temporary table lives as long as it, and the claim check comes last.
        with transaction.atomic():
            outcome = removals.removals_reconcile(
                client=self.client, run=self.run, databases=databases, postgres=self.postgres
            )
            self.cp["phase"] = "done"
            self.cp["note"] = outcome.note
            SyncRun.objects.filter(pk=self.run.pk).update(
                remote_count=outcome.remote_total,
                local_count=outcome.local_total - outcome.removed,
                pending_removals=outcome.pending,
            )
            self.commit(removed_count=outcome.removed)

    def _report(self) -> None:
        if self.progress is not None:
            self.run.refresh_from_db(fields=["fetched", "pages", "created_count", "updated_count"])
            self.progress(self.run)

    # -- pages

    def prepare(self, database_id: int, page: KeysetPage) -> upserts.PreparedPage:
        """COPY text of a page (on the fetch thread: no database access here)."""
        if not self.postgres:
            return upserts.PreparedPage(database_id, b"", page.count, page.last_id, page.items)
        return upserts.page_prepare(
            items=page.items,
            last_id=page.last_id,
            link_id=self.run.link_id,
            database_id=database_id,
            run_id=self.run.pk,
        )

    def write_page(
        self, page: upserts.PreparedPage, straight_in: bool = False
    ) -> tuple[int, int, bool]:
        """Write a page in the caller's transaction → (created, updated, straight_in)."""
        if self.postgres:
            return upserts.page_write(page=page, straight_in=straight_in)
        assert page.items is not None
        created, updated = upserts.upsert_profiles_portable(
            link_id=self.run.link_id,
            database_id=page.database_id,
            run_id=self.run.pk,
            items=page.items,
        )
        return created, updated, False

    def _finish(self) -> None:
        now = timezone.now()
        with transaction.atomic():
            self.commit()
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
