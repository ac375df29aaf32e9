"""The step and page pipeline: what one step of a run does, phase by phase.

Phases: ``schema`` (the databases), ``profiles`` (a keyset walk of every database, or of what
changed since the newest profile we hold for an incremental run), ``reconcile`` (full runs
only: a walk of what changed while we paged, then deletions decided by
:mod:`linker.sync.removals`, in steps of :mod:`linker.sync.reconcile`) and ``done``. The
engine owns the phases and the checkpoint.

Each page's write and the run's checkpoint commit in one transaction, and only while the step
still holds its claim, so a killed worker resumes at the page it was on and a slow one that
lost its claim cannot write.

Pages are fetched, decoded and turned into COPY text on a thread, at most two ahead of the
writer, so the next page is on its way while PostgreSQL takes the current one.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from api_client import KeysetPage, format_since
from linker.linking.client import MeteredSession
from linker.models import (
    Notification,
    RemoteCollection,
    RemoteDatabase,
    RemoteProfile,
    SyncMode,
    SyncRun,
    SyncSchedule,
    SyncState,
)
from linker.notifications.services import notices_resolve
from linker.platform.errors import LinkerError
from linker.sync import reconcile, upserts
from linker.sync.prefetch import Prefetcher
from linker.sync.sources import Source, source_from_key, sources_of

#: Copernica's ``modified`` has one-second resolution and a write may land a moment late. (The
#: autumn's repeated hour is covered by ``format_since``, not by this window.)
INCREMENTAL_OVERLAP = timedelta(minutes=2)


class ClaimLostError(LinkerError):
    """Another worker took this run over (ours was presumed dead); stop without writing."""


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

    def commit(self, *, progressed: bool = False, **counters: int) -> None:
        """Save the checkpoint and counters; the caller's transaction holds the page data.

        A page written, or a step of the reconcile phase done (``progressed``), is progress:
        the run's count of failed attempts in a row starts over.
        """
        requests = self.session.requests - self._requests_reported
        updates: dict[str, Any] = {
            "checkpoint": self.cp,
            "heartbeat_at": timezone.now(),
            "requests": F("requests") + requests,
        }
        for name, value in counters.items():
            updates[name] = F(name) + value
        if progressed or counters.get("pages"):
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
                done = reconcile.reconcile_advance(
                    self, self._sources(), deadline=deadline, max_pages=max_pages
                )
                if not done:
                    return False
            else:
                self._finish()
                return True

    def _schema(self) -> None:
        databases = self.client.databases()
        now = timezone.now()
        link = self.run.link
        with transaction.atomic():
            mirrored: list[RemoteDatabase] = []
            collections: list[RemoteCollection] = []
            for item in databases:
                database, _ = RemoteDatabase.objects.update_or_create(
                    link=link,
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
                mirrored.append(database)
                for described in _embedded(item.get("collections")):
                    if not isinstance(described, dict) or "ID" not in described:
                        continue
                    collection, _ = RemoteCollection.objects.update_or_create(
                        link=link,
                        copernica_id=int(described["ID"]),
                        defaults={
                            "database": database,
                            "name": str(described.get("name", ""))[:300],
                            "fields": _embedded(described.get("fields")),
                            "synced_at": now,
                            "removed_at": None,
                        },
                    )
                    collections.append(collection)
            # What Copernica no longer lists is gone there: its rows stay for the history.
            RemoteDatabase.objects.filter(link=link, removed_at=None).exclude(
                pk__in=[d.pk for d in mirrored]
            ).update(removed_at=now)
            RemoteCollection.objects.filter(link=link, removed_at=None).exclude(
                pk__in=[c.pk for c in collections]
            ).update(removed_at=now)
            walk = sources_of(mirrored, collections)
            since: dict[str, str] = {}
            if self.run.mode == SyncMode.INCREMENTAL:
                for source in walk:
                    newest = source.newest_modified()
                    if newest is not None:
                        since[source.key] = format_since(newest - INCREMENTAL_OVERLAP)
            self.cp = {
                "phase": "profiles",
                "sources": [source.key for source in walk],
                "copernica_ids": {source.key: source.copernica_id for source in walk},
                "source_index": 0,
                "after_id": 0,
                "since": since,
            }
            self.commit()

    def _sources(self) -> list[Source]:
        if "sources" not in self.cp:
            # A checkpoint written before subprofiles were mirrored: its databases only.
            databases = RemoteDatabase.objects.filter(pk__in=self.cp.get("databases", []))
            walk = sources_of(sorted(databases, key=lambda d: d.pk), [])
            since = self.cp.get("since", {})
            self.cp.update(
                sources=[source.key for source in walk],
                copernica_ids={source.key: source.copernica_id for source in walk},
                source_index=self.cp.get("db_index", 0),
                since={f"profiles:{pk}": value for pk, value in since.items()},
            )
        ids = self.cp["copernica_ids"]
        return [source_from_key(key, ids) for key in self.cp["sources"]]

    def _profiles(self, *, deadline: float, max_pages: int) -> bool:
        sources = self._sources()
        pages_left = max_pages
        while self.cp["source_index"] < len(sources):
            if pages_left <= 0 or time.monotonic() > deadline:
                return False
            source = sources[self.cp["source_index"]]
            params: dict[str, list[str]] = {}
            since = self.cp.get("since", {}).get(source.key)
            if self.run.mode == SyncMode.INCREMENTAL and since:
                params["fields[]"] = [f"modified>={since}"]
            pages = source.pages(
                self.client,
                params,
                page_size=settings.LINKER_SYNC_PAGE_SIZE,
                after_id=self.cp["after_id"],
            )
            # Nothing of this source past the checkpoint yet (a first sync): COPY straight in.
            straight_in = self.postgres and upserts.copy_straight_in_allowed(
                mirror=source.mirror, parent_id=source.pk, after_id=self.cp["after_id"]
            )
            prefetch = Prefetcher(
                pages,
                functools.partial(self.prepare, source),
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
                self.cp["source_index"] += 1
                self.cp["after_id"] = 0
                self.commit()
        with transaction.atomic():
            self.cp["phase"] = "reconcile" if self.run.mode == SyncMode.FULL else "done"
            self.commit()
        return True

    def _report(self) -> None:
        if self.progress is not None:
            self.run.refresh_from_db(fields=["fetched", "pages", "created_count", "updated_count"])
            self.progress(self.run)

    # -- pages

    def prepare(self, source: Source, page: KeysetPage) -> upserts.PreparedPage:
        """COPY text of a page (on the fetch thread: no database access here)."""
        if not self.postgres:
            return upserts.PreparedPage(
                source.mirror, source.pk, b"", page.count, page.last_id, page.items
            )
        return upserts.page_prepare(
            mirror=source.mirror,
            items=page.items,
            last_id=page.last_id,
            link_id=self.run.link_id,
            parent_id=source.pk,
            run_id=self.run.pk,
        )

    def write_page(
        self, page: upserts.PreparedPage, straight_in: bool = False
    ) -> tuple[int, int, bool]:
        """Write a page in the caller's transaction → (created, updated, straight_in)."""
        if self.postgres:
            return upserts.page_write(page=page, straight_in=straight_in)
        assert page.items is not None
        if page.mirror is upserts.PROFILES:
            created, updated = upserts.upsert_profiles_portable(
                link_id=self.run.link_id,
                database_id=page.parent_id,
                run_id=self.run.pk,
                items=page.items,
            )
        else:
            created, updated = upserts.upsert_subprofiles_portable(
                link_id=self.run.link_id,
                collection_id=page.parent_id,
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
            # A success ends a streak of failures: its notice goes in the same transaction.
            notices_resolve(link=run.link, kind=Notification.Kind.SYNC_FAILING)
            self.run = run


def _embedded(value: object) -> list[Any]:
    if isinstance(value, dict) and isinstance(value.get("data"), list):
        return list(value["data"])
    if isinstance(value, list):
        return value
    return []
