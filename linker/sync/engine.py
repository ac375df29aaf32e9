"""The step and page pipeline: what one step of a run does, phase by phase.

Phases: ``schema`` (the databases), ``profiles`` (a keyset walk of every database, or of what
changed since the newest profile we hold for an incremental run), ``reconcile`` (full runs
only: a walk of what changed while we paged, then deletions decided by
:mod:`linker.sync.removals`, in steps of :mod:`linker.sync.reconcile`) and ``done``. The
engine owns the phases and the checkpoint.

Each page's write and the run's checkpoint commit in one transaction, and only while the step
still holds its claim, so a killed worker resumes at the page it was on and a slow one that
lost its claim cannot write. A full run's transaction also records the ids its page lists
(unless the page went straight into an empty mirror, where the rows themselves record it):
the reconcile phase takes them for Copernica's id list when Copernica's count agrees.

Pages are fetched and decoded on one thread and turned into COPY text on another, a few ahead
of the writer, so the next pages are on their way while PostgreSQL takes the current one
(:mod:`linker.sync.walks`, the profiles phase). Pages that are ready when the writer is go into
one transaction (up to ``walks.PAGES_PER_WRITE``) as one COPY, with the checkpoint after the
last of them: a write costs five round trips and a commit whatever its size, which on a busy
machine cost a 1000-subprofile page nearly as much as its rows.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import psycopg
from django.db import connection, transaction
from django.db.models import F, IntegerField
from django.db.models.functions import Coalesce
from django.utils import timezone

from api_client import KeysetPage, format_since
from linker.linking.client import MeteredSession
from linker.models import (
    Link,
    Notification,
    RemoteDatabase,
    RemoteProfile,
    SyncMode,
    SyncRun,
    SyncSchedule,
    SyncState,
)
from linker.notifications.services import notices_resolve
from linker.platform.delivery import LOW_PRIORITY, Task, enqueue
from linker.platform.errors import LinkerError
from linker.sync import copy_text, portable, reconcile, remote_ids, run_rows, upserts, walks
from linker.sync.schema import schema_mirror
from linker.sync.sources import PROFILE_SOURCE, Source, source_from_key, sources_of

#: Copernica's ``modified`` has one-second resolution and a write may land a moment late. (The
#: autumn's repeated hour is covered by ``format_since``, not by this window.)
INCREMENTAL_OVERLAP = timedelta(minutes=2)

#: The checkpoint's count of profiles an incremental run created or brought back from removed:
#: kept with the pages that added them, so a resumed run counts each once.
ADDED = "profiles_added"


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
        self.finished = False  # set by finish()
        self.postgres = connection.vendor == "postgresql"

    # -- bookkeeping: every write below goes through commit() with the claim check

    def commit(self, *, progressed: bool = False, **counters: int) -> None:
        """Save the checkpoint and counters; the caller's transaction holds the page data.

        A page written, or a step of the reconcile phase done (``progressed``), is progress:
        the run's count of failed attempts in a row starts over.
        """
        requests = self.session.requests - self._requests_reported
        progress = progressed or bool(counters.get("pages"))  # the attempts counter starts over
        if self.postgres:
            matched = self._commit_sql(requests, progress, counters)
        else:
            updates: dict[str, Any] = {
                "checkpoint": self.cp,
                "heartbeat_at": timezone.now(),
                "requests": F("requests") + requests,
            }
            for name, value in counters.items():
                updates[name] = F(name) + value
            if progress:
                updates["failures"] = 0
            matched = SyncRun.objects.filter(
                pk=self.run.pk, claim=self.claim, state=SyncState.RUNNING
            ).update(**updates)
        if not matched:
            raise ClaimLostError
        self._requests_reported += requests

    def _commit_sql(self, requests: int, progress: bool, counters: dict[str, int]) -> int:
        """:meth:`commit`'s UPDATE as SQL of its own: between two statements of every page
        PostgreSQL waits for this one, and the ORM took longer to build it than PostgreSQL
        to run it. → rows matched."""
        names = tuple(counters)
        sql = run_rows.commit_statement(names, progress)
        params: list[Any] = [json.dumps(self.cp), timezone.now(), requests, *counters.values()]
        with connection.cursor() as cursor:
            cursor.execute(sql, [*params, self.run.pk, self.claim, SyncState.RUNNING.value])
            return cursor.rowcount

    def advance(self, *, deadline: float, max_pages: int) -> bool:
        """Take the run through its phases until it is done (``True``) or the step's pages or
        time run out (``False``). The step's commits do not wait for the disk (see
        :func:`linker.sync.runs.sync_run_step`)."""
        return self._advance(deadline=deadline, max_pages=max_pages)

    def _advance(self, *, deadline: float, max_pages: int) -> bool:
        while True:
            phase = self.cp.get("phase", "schema")
            if phase == "schema":
                self._schema()
            elif phase == "profiles":
                if not walks.walks_advance(
                    self, self._sources(), deadline=deadline, max_pages=max_pages
                ):
                    return False
                if self.finished:
                    return True
            elif phase == "reconcile":
                # Its last step ends the run too (see reconcile.Phase._finish).
                return reconcile.reconcile_advance(
                    self, self._sources(), deadline=deadline, max_pages=max_pages
                )
            else:
                self.finish()
                return True

    def _schema(self) -> None:
        databases = self.client.databases()
        now = timezone.now()
        link = self.run.link
        with transaction.atomic():
            mirrored, collections = schema_mirror(link=link, databases=databases, now=now)
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
            if self.run.mode == SyncMode.FULL:
                # The ids each source's walk sees go into SyncRemoteId as its pages are
                # written: the reconcile phase's id list, unless it disagrees with Copernica's
                # count (see linker.sync.reconcile). ``walked`` counts the rows per source.
                # (The run itself recorded nothing yet: its ids come after this commit.)
                remote_ids.remote_ids_discard_stale()
                self.cp[reconcile.WALKED] = {source.key: 0 for source in walk}
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

    def report(self) -> None:
        """The run's progress to whoever watches (the foreground runner)."""
        if self.progress is not None:
            self.run.refresh_from_db(fields=["fetched", "pages", "created_count", "updated_count"])
            self.progress(self.run)

    # -- pages

    def prepare(self, source: Source, page: KeysetPage) -> upserts.PreparedPage:
        """COPY text of a page (on the preparing thread: no database access here)."""
        if not self.postgres:
            assert page.listed is None  # the portable way's walks do not ask for copying
            ids = [int(item["ID"]) for item in page.items]
            return upserts.PreparedPage(
                source.mirror, source.pk, b"", page.count, page.last_id, page.items, ids
            )
        return copy_text.page_prepare(
            mirror=source.mirror,
            items=page.listed if page.listed is not None else page.items,
            last_id=page.last_id,
            link_id=self.run.link_id,
            parent_id=source.pk,
            run_id=self.run.pk,
        )

    def page_commit(
        self,
        source: Source,
        position: int,
        page: upserts.PreparedPage,
        *,
        straight_in: bool,
        advance: Callable[[], None],
    ) -> bool:
        """Write a page, the ids it lists (a full run's, see ``walked``) and the checkpoint
        (``advance`` moves it past the page) in one transaction, under the claim check.

        A page meant to go straight in that meets a row already there (one the write-back
        created meanwhile) is written again, staged. → whether the next page may still go
        straight in.
        """
        walked: dict[str, int] | None = self.cp.get(reconcile.WALKED)
        recorded = walked.get(source.key) if walked is not None else None
        while True:
            try:
                with transaction.atomic():
                    written = self._page_write(
                        source, position, page, straight_in=straight_in, recorded=recorded
                    )
                    if walked is not None and recorded is not None and not straight_in:
                        walked[source.key] = recorded + page.count
                    elif walked is not None and straight_in:
                        # Rows new to the mirror, each once: the walked list's size while
                        # nothing of the source is recorded (see reconcile._walked_list).
                        straight = self.cp.setdefault(reconcile.STRAIGHT, {})
                        straight[source.key] = straight.get(source.key, 0) + page.count
                    if self._counts_added(source):
                        self.cp[ADDED] = self.cp.get(ADDED, 0) + written.created + written.revived
                    advance()
                    counters = {
                        "pages": page.pages,
                        "fetched": page.count,
                        "created_count": written.created,
                        "updated_count": written.updated,
                    }
                    if self.cp.get("phase") == "done":
                        self.finish(added=counters)  # an incremental run's last page
                    else:
                        self.commit(progressed=True, **counters)
                return straight_in
            except psycopg.errors.UniqueViolation:
                if not straight_in:
                    raise
                straight_in = False

    def _counts_added(self, source: Source) -> bool:
        """Whether this run keeps the count of profiles it adds (see ``ADDED``)."""
        return self.run.mode == SyncMode.INCREMENTAL and source.mirror is upserts.PROFILES

    def _page_write(
        self,
        source: Source,
        position: int,
        page: upserts.PreparedPage,
        *,
        straight_in: bool,
        recorded: int | None,
    ) -> upserts.Written:
        """The page's rows (and ids, after the ``recorded`` ones) in the caller's transaction."""
        if recorded is not None and straight_in:
            recorded = None  # its rows are the run's own (see remote_ids.walked_size)
        if self.postgres:
            first = ""
            if recorded is not None and page.count:
                first = remote_ids.remote_ids_append_sql(
                    run_id=self.run.pk, position=position, first_ordinal=recorded, ids=page.ids
                )
            return upserts.page_write(
                page=page,
                straight_in=straight_in,
                first=first,
                revived=self._counts_added(source),
            )
        assert page.items is not None
        if recorded is not None:
            remote_ids.remote_ids_append(
                run_id=self.run.pk,
                position=position,
                first_ordinal=recorded,
                ids=[str(copernica_id) for copernica_id in page.ids],
                postgres=False,
            )
        if page.mirror is upserts.PROFILES:
            return portable.upsert_profiles_portable(
                link_id=self.run.link_id,
                database_id=page.parent_id,
                run_id=self.run.pk,
                items=page.items,
            )
        return portable.upsert_subprofiles_portable(
            link_id=self.run.link_id,
            collection_id=page.parent_id,
            run_id=self.run.pk,
            items=page.items,
        )

    def finish(
        self, *, removed: int = 0, added: dict[str, int] | None = None, **counts: int
    ) -> None:
        """End the run as succeeded, in one transaction (the caller's, if it has one): its
        checkpoint, ``counts`` (``SyncRun`` fields: a full run's reconcile brings them, and
        ``removed``, the rows its last decision marked removed; ``added``: counters that its
        last page adds to, as :meth:`commit` does) and state in one UPDATE under the claim
        check (the runs table's trigger carries the counts to the link), the schedule's
        times, the end of a streak of failures, and the session's request counts and log."""
        now = timezone.now()
        run = self.run
        requests = self.session.requests - self._requests_reported
        local_count: Any = counts.pop("local_count", None)
        if local_count is None and run.mode == SyncMode.FULL:
            # Counted by the reconcile phase; a count here only if it left none.
            local_count = run_rows.local_count_counted(link_id=run.link_id)
        with transaction.atomic(savepoint=False):
            if local_count is None:
                # An incremental run does not count the mirror (a count grows with the
                # account; the run's cost must grow with what changed): the count so far,
                # which webhook batches keep between runs, and the profiles this run added.
                # It removes none (removals are a full run's reconcile). The link's row is
                # locked first so that a webhook batch's change of the count waits for this.
                held = (
                    Link.objects.select_for_update()
                    .values_list("profiles_mirrored", flat=True)
                    .get(pk=run.link_id)
                )
                local_count = Coalesce(
                    F("local_count"),
                    held + int(self.cp.get(ADDED, 0)),
                    output_field=IntegerField(),
                )
            matched = SyncRun.objects.filter(
                pk=run.pk, claim=self.claim, state=SyncState.RUNNING
            ).update(
                checkpoint=self.cp,
                heartbeat_at=now,
                requests=F("requests") + requests,
                local_count=local_count,
                removed_count=F("removed_count") + removed,
                **counts,
                **{name: F(name) + value for name, value in (added or {}).items()},
                state=SyncState.SUCCEEDED,
                finished_at=now,
                claim="",
                error_class="",
                error_message=str(self.cp.get("note", ""))[:500],
            )
            if not matched:
                raise ClaimLostError
            self._requests_reported += requests
            times = {"last_success_at": now}
            if run.mode == SyncMode.FULL:
                times["last_full_at"] = now
            if not SyncSchedule.objects.filter(link_id=run.link_id).update(**times):
                SyncSchedule.objects.create(link_id=run.link_id, **times)
            # A success ends a streak of failures: its notice goes in the same transaction.
            notices_resolve(link=run.link, kind=Notification.Kind.SYNC_FAILING)
            # The search text of the rows written since the last fill (this run's, the
            # write-back's: linker.profiles.search_fill), if any: a run that wrote nothing
            # of a filled mirror costs no task. Profiles COPYed straight in have none: no query.
            straight = self.cp.get(reconcile.STRAIGHT, {})
            if any(n for key, n in straight.items() if key.startswith(f"{PROFILE_SOURCE}:")) or (
                RemoteProfile.objects.filter(link_id=run.link_id, search_text=None).exists()
            ):
                enqueue(Task.PROFILE_SEARCH_FILL, run.link_id, priority=LOW_PRIORITY)
            # The request counts and log too (the session's own flush then has nothing left).
            self.session.flush()
        run.state = SyncState.SUCCEEDED
        run.finished_at = now
        run.claim = ""
        self.finished = True
