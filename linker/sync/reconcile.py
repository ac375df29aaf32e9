"""The reconcile phase of a full run, in bounded, checkpointed steps.

Three stages, each committed in small transactions through the engine's ``commit()`` (the
checkpoint, the heartbeat and the claim check), so the reconciler never takes a working run
for dead and a run taken over resumes where it stopped:

1. ``walk``: the (sub)profiles created or changed while the run paged, per source, a page per
   transaction (checkpoint: source and ``after_id``). Then ANALYZE of the mirror, if a bulk
   load left it without statistics.
2. ``load``: each source's id list. Copernica's count is read first; if it equals the number
   of different ids the run's walks saw (the engine recorded them, ``cp["walked"]``), those
   are the list and nothing more is asked. Otherwise the list is read into
   ``SyncRemoteId``, with the count read again just after it; a block of up to
   ``ID_ROWS_PER_COMMIT`` ids per transaction (checkpoint: source, offset, last id). A load
   resumed in a later step re-reads the last id it holds and marks the list *moved* if it is
   no longer there.
3. ``decide``: per source, the rules of :mod:`linker.sync.removals`, applied in one short
   transaction with the checkpoint (the list's rows go with it).

A step stops at its deadline or page budget between two transactions (an id block counts as
its 1000-id pages, a decided source as one). ``cp["reconcile"]`` holds::

    {"walk": {"source": i, "after_id": n} | None, "loaded": i, "start": n, "last": "id",
     "before": n, "moved": bool, "lists": {key: ListedIds}, "decided": i,
     "outcomes": {key: SourceOutcome}}
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import Any, Protocol

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from api_client import ID_PAGE_SIZE, CopernicaClient, KeysetPage, format_since
from linker.models import SyncRun, SyncSchedule
from linker.platform.delivery import LOW_PRIORITY, Task, enqueue
from linker.sync import remote_ids, removals, upserts
from linker.sync.sources import PROFILE_SOURCE, Source

#: Copernica's ``modified`` has one-second resolution and a write may land a moment late.
CHANGED_OVERLAP = timedelta(minutes=2)
#: Ids loaded per transaction (and heartbeat) while a list is read, at most.
ID_ROWS_PER_COMMIT = 5_000
#: The longest the phase goes without touching the run's heartbeat between two requests.
HEARTBEAT_SECONDS = 1.0
#: Whether a full run takes the ids its walks recorded as a source's id list when Copernica's
#: count agrees (else it reads Copernica's list). Tests of the downloaded list switch it off.
WALKED_LISTS = True
#: The checkpoint's rows recorded per source by the walks (``cp["walked"]``, set by the engine).
WALKED = "walked"
#: The checkpoint's sources that a full run's walk read in one answer, with its rows
#: (``cp["whole"]``, set by the engine): nothing of them changed while the run paged, so the
#: catch-up walk skips them, and their walked list's size is that answer's.
WHOLE = "whole"
#: The checkpoint's rows per source that a full run's walk COPYed straight into the mirror
#: (``cp["straight"]``, set by the engine): new rows, each once. While nothing of the source
#: is recorded (``walked`` 0) they are the walked list, counted without a query.
STRAIGHT = "straight"


class EngineSide(Protocol):
    """What the phase needs of :class:`linker.sync.engine.Engine`."""

    run: SyncRun
    client: CopernicaClient
    cp: dict[str, Any]
    postgres: bool
    finished: bool

    def commit(self, *, progressed: bool = False, **counters: int) -> None: ...

    def finish(
        self, *, removed: int = 0, added: dict[str, int] | None = None, **counts: int
    ) -> None: ...

    def prepare(self, source: Source, page: KeysetPage) -> upserts.PreparedPage: ...

    def page_commit(
        self,
        source: Source,
        position: int,
        page: upserts.PreparedPage,
        *,
        straight_in: bool,
        advance: Callable[[], None],
    ) -> bool: ...


#: A first sync that wrote this many rows or more analyzes the mirror before its counts. Without
#: statistics the planner takes the table for nearly empty and counted a database's live rows
#: through the e-mail index, one heap page per row in e-mail order: 2 s for 1,000,000 rows
#: just COPYed (EXPLAIN, reconcile_bench), against the ~0.2 s a sample costs.
ANALYZE_LATER_BELOW = 50_000


@dataclass
class StepBudget:
    """What is left of a step: pages and time."""

    deadline: float
    pages: int

    @property
    def spent(self) -> bool:
        return self.pages <= 0 or time.monotonic() > self.deadline


def reconcile_advance(
    engine: EngineSide, sources: list[Source], *, deadline: float, max_pages: int
) -> bool:
    """Advance the phase by a step; ``True`` once it is done (the phase is then ``done``)."""
    phase = Phase(engine, sources, StepBudget(deadline, max_pages))
    return phase.advance()


class Phase:
    def __init__(self, engine: EngineSide, sources: list[Source], budget: StepBudget) -> None:
        self.engine = engine
        self.sources = sources
        self.budget = budget
        self.run = engine.run
        self.beaten = time.monotonic()
        self.verified: int | None = None  # the source whose walked ids were counted
        self.schedule: SyncSchedule | None = None

    def advance(self) -> bool:
        if "reconcile" not in self.engine.cp:
            start = {
                "walk": {"source": 0, "after_id": 0},
                "loaded": 0,
                "start": 0,
                "lists": {},
                "decided": 0,
                "outcomes": {},
            }
            if WALKED in self.engine.cp:
                # The schema phase cleared the lists left by runs that stopped before their
                # end (this run records its own after it): nothing to write yet, the state
                # goes out with the phase's first commit (a run stopped before then starts
                # the phase again).
                self.engine.cp["reconcile"] = start
            else:
                # Lists left by such runs, and by an earlier attempt of this one.
                remote_ids.remote_ids_discard_stale()
                remote_ids.remote_ids_clear(run_id=self.run.pk)
                self._save(start)
        state: dict[str, Any] = self.engine.cp["reconcile"]
        if state["walk"] is not None and not self._walk(state):
            return False
        while state["decided"] < len(self.sources):
            if state["loaded"] < len(self.sources):
                if not self._load(state):
                    return False
            elif not self._decide(state):
                return False
        if not self.engine.finished:  # the last decision ends the run itself
            self._finish(state)
        return True

    def _save(self, state: dict[str, Any]) -> None:
        with transaction.atomic():
            self.engine.cp["reconcile"] = state
            self._commit()

    def _commit(self, *, progressed: bool = True, **counters: int) -> None:
        """The engine's commit (checkpoint, heartbeat, claim check), by default as progress:
        a step that fails every time before its first progress still ends as failed."""
        self.engine.commit(progressed=progressed, **counters)
        self.beaten = time.monotonic()

    def _heartbeat(self) -> None:
        """Touch the heartbeat (and check the claim) if the last one is getting old."""
        if time.monotonic() - self.beaten >= HEARTBEAT_SECONDS:
            with transaction.atomic():
                self._commit(progressed=False)

    # -- 1. what changed while the run paged

    def _walk(self, state: dict[str, Any]) -> bool:
        walk = state["walk"]
        started = self.run.started_at or timezone.now()
        changed = {"fields[]": [f"modified>={format_since(started - CHANGED_OVERLAP)}"]}
        whole: dict[str, int] = self.engine.cp.get(WHOLE, {})
        walked = False
        caught_up = False  # a page of the catch-up walk written (its ids recorded)
        while walk["source"] < len(self.sources):
            source = self.sources[walk["source"]]
            if source.key in whole:
                # Read in one answer: nothing changed while it was paged. What changed since
                # moves Copernica's count (then its list is read) or waits for the next run.
                walk.update(source=walk["source"] + 1, after_id=0)
                continue
            walked = True
            pages = source.pages(
                self.engine.client,
                changed,
                page_size=settings.LINKER_SYNC_PAGE_SIZE,
                after_id=walk["after_id"],
                copying=self.engine.postgres,
            )
            try:
                while True:
                    if self.budget.spent:
                        return False
                    page = next(pages, None)
                    if page is None:
                        break
                    prepared = self.engine.prepare(source, page)
                    self.engine.page_commit(
                        source,
                        walk["source"],
                        prepared,
                        straight_in=False,
                        advance=functools.partial(walk.__setitem__, "after_id", page.last_id),
                    )
                    self.beaten = time.monotonic()
                    self.budget.pages -= 1
                    caught_up = True
            finally:
                pages.close()
            walk.update(source=walk["source"] + 1, after_id=0)
            if walk["source"] < len(self.sources):  # the last one's goes with the end below
                self._save(state)
        if self.engine.postgres:
            # A first sync COPYed every row in since autovacuum last looked: the counts below
            # want statistics. ANALYZE samples a bounded number of rows: the same on any size,
            # so only a run whose own rows are a good part of a table pays for it. (Sources
            # read in one answer wrote at most that answer's rows.)
            written = sum(whole.values())
            if walked:
                created, updated = (
                    SyncRun.objects.filter(pk=self.run.pk)
                    .values_list("created_count", "updated_count")
                    .get()
                )
                written = created + updated
            recorded: dict[str, int] = self.engine.cp.get(WALKED, {})
            straight_in = not (
                caught_up or any(recorded.values()) or len(recorded) != len(self.sources)
            )
            if straight_in and written < ANALYZE_LATER_BELOW:
                # Every page went straight in (a first sync) and few: the phase's count of the
                # live rows (removals_none_missing) reads them whatever the plan. The browser's
                # and the next runs' plans want statistics: a task at the lowest priority,
                # instead of ~0.05 s here.
                enqueue(Task.SYNC_MIRRORS_ANALYZE, written, priority=LOW_PRIORITY)
            else:
                upserts.mirrors_analyze(written=written, quick=True)
        state["walk"] = None
        if walked:
            self._save(state)
        else:
            # Nothing written: the walk's end goes out with the phase's next commit (a step
            # stopped before then skips the same sources again, for nothing).
            self.engine.cp["reconcile"] = state
        return True

    # -- 2. the id lists

    def _load(self, state: dict[str, Any]) -> bool:
        """Load the list of source ``state["loaded"]``; ``False`` if the step ran out first."""
        if self.budget.spent:
            return False
        position = state["loaded"]
        source = self.sources[position]
        client = self.engine.client
        if state["start"] == 0:
            before = source.count(client)
            walked: dict[str, int] = self.engine.cp.get(WALKED, {})
            if WALKED_LISTS and source.key in walked:
                listed = self._walked_list(source, position, walked[source.key], before)
                if listed is not None:
                    # Nothing written: the list goes out with the next commit (the decision
                    # on it, next in this step); a step stopped before then reads the count
                    # again (no page).
                    state["lists"][source.key] = asdict(listed)
                    state.update(loaded=position + 1, start=0)
                    self.verified = position
                    return True
                with transaction.atomic():
                    # Not the list: read Copernica's, with this count as the one before it.
                    del walked[source.key]
                    self._commit(progressed=False)
            with transaction.atomic():
                remote_ids.remote_ids_clear(run_id=self.run.pk, position=position)
                state.update(before=before, moved=False, last="")
                self._commit(progressed=False)
        # Resumed: read from the last id held, which must still be there (else: moved).
        resumed = state["start"] > 0
        blocks = source.ids(client, start=state["start"] - 1 if resumed else 0)
        buffer: list[str] = []
        try:
            for block in blocks:
                if resumed and block:
                    # The last id held, read again: drop it. Another id in its place means the
                    # list shifted since; keep that one (it may be one no read has seen).
                    if block[0] == state["last"]:
                        block = block[1:]
                    else:
                        state["moved"] = True
                    resumed = False
                buffer.extend(block)
                stale = time.monotonic() - self.beaten >= HEARTBEAT_SECONDS
                if len(buffer) >= ID_ROWS_PER_COMMIT or (buffer and stale):
                    with transaction.atomic():
                        self._append(state, position, buffer)
                        self._commit()
                    buffer = []
                    if self.budget.spent:
                        return False
        finally:
            blocks.close()
        if resumed:
            state["moved"] = True  # the list no longer reaches the resume point
        after = source.count(client)
        with transaction.atomic():
            self._append(state, position, buffer)
            remote_ids.remote_ids_analyze(postgres=self.engine.postgres)
            listed = removals.ListedIds(
                length=state["start"],
                before=state["before"],
                after=after,
                distinct=remote_ids.remote_ids_distinct(run_id=self.run.pk, position=position),
                moved=state["moved"],
            )
            state["lists"][source.key] = asdict(listed)
            state.update(loaded=position + 1, start=0)
            self._commit()
        return True

    def _walked_list(
        self, source: Source, position: int, recorded: int, count: int
    ) -> removals.ListedIds | None:
        """The ids the walks saw of ``source`` as its id list, if Copernica's count agrees
        with their number; ``None`` if it does not (or PostgreSQL lost the recorded ones).

        The walk (and the catch-up walk) saw every profile that was there when it passed;
        those deleted after it passed are in it too, those created after the catch-up walk
        are not. Either makes the number of different ids differ from the count read now,
        and then Copernica's own list is read instead. An equal number is taken with the
        suspicion a downloaded list gets: the rows it lacks go through the same rules.
        """
        # Nothing recorded (every page went straight in): nothing a restart could have lost.
        held = recorded and remote_ids.remote_ids_loaded(run_id=self.run.pk, position=position)
        if held != recorded:
            return None  # a PostgreSQL restart emptied the UNLOGGED table
        whole: dict[str, int] = self.engine.cp.get(WHOLE, {})
        straight: dict[str, int] = self.engine.cp.get(STRAIGHT, {})
        if source.key in whole:
            # One answer: its different ids.
            size = whole[source.key]
        elif not recorded and source.key in straight:
            # Every page of the walk went straight in (the catch-up walk wrote none: it would
            # have recorded its ids): the rows it COPYed.
            size = straight[source.key]
        else:
            size = remote_ids.walked_size(
                source=source, run_id=self.run.pk, position=position, postgres=self.engine.postgres
            )
        if size != count:
            return None
        return removals.ListedIds(length=size, before=count, after=count, distinct=size, rows=held)

    def _append(self, state: dict[str, Any], position: int, ids: list[str]) -> None:
        if not ids:
            return
        remote_ids.remote_ids_append(
            run_id=self.run.pk,
            position=position,
            first_ordinal=state["start"],
            ids=ids,
            postgres=self.engine.postgres,
        )
        state["start"] += len(ids)
        state["last"] = ids[-1]
        self.budget.pages -= math.ceil(len(ids) / ID_PAGE_SIZE)

    # -- 3. the removals

    def _decide(self, state: dict[str, Any]) -> bool:
        if self.budget.spent:
            return False
        position = state["decided"]
        source = self.sources[position]
        listed = removals.ListedIds(**state["lists"][source.key])
        held = (
            listed.rows  # counted by _walked_list in this step
            if self.verified == position and listed.rows is not None
            else remote_ids.remote_ids_loaded(run_id=self.run.pk, position=position)
        )
        if held != (listed.length if listed.rows is None else listed.rows):
            # PostgreSQL restarted and emptied the UNLOGGED table: load again from here.
            state.update(loaded=position, start=0)
            self._save(state)
            return True
        with transaction.atomic():
            decision = removals.removals_none_missing(
                run=self.run, source=source, listed=listed
            ) or removals.removals_check(
                run=self.run,
                source=source,
                position=position,
                listed=listed,
                postgres=self.engine.postgres,
            )
            if decision.action != removals.CONFIRM:
                # Nothing missing (or the list refused): decided in the same transaction.
                self._decided(state, position, source, listed, decision)
        if decision.action == removals.CONFIRM:
            # The missing set is committed; its rows are read back outside any transaction.
            decision = removals.removals_confirm(
                client=self.engine.client,
                run=self.run,
                source=source,
                position=position,
                listed=listed,
                checked=decision,
                schedule=self._schedule(),
                heartbeat=self._heartbeat,
            )
            with transaction.atomic():
                self._decided(state, position, source, listed, decision)
        self.budget.pages -= 1
        return True

    def _decided(
        self,
        state: dict[str, Any],
        position: int,
        source: Source,
        listed: removals.ListedIds,
        decision: removals.Decision,
    ) -> None:
        """Apply the decision on source ``position`` with the checkpoint (the caller's
        transaction); the last source's ends the run."""
        outcome = removals.removals_apply(
            run=self.run,
            source=source,
            position=position,
            listed=listed,
            decision=decision,
            postgres=self.engine.postgres,
            schedule=self._schedule(),
        )
        state["outcomes"][source.key] = outcome.as_json()
        state["decided"] = position + 1
        self.engine.cp["reconcile"] = state
        if state["decided"] == len(self.sources):
            # The last source: the run ends in this transaction (one commit fewer).
            self._end(state, removed=outcome.removed)
        else:
            remote_ids.remote_ids_clear(run_id=self.run.pk, position=position)
            self._commit(removed_count=outcome.removed)

    def _schedule(self) -> SyncSchedule:
        """The link's schedule (its pending removals), read once per step."""
        if self.schedule is None:
            self.schedule = removals.removals_schedule(run=self.run)
        return self.schedule

    def _finish(self, state: dict[str, Any]) -> None:
        """End a run whose sources were all decided in an earlier step (or that has none)."""
        with transaction.atomic():
            self._end(state)

    def _end(self, state: dict[str, Any], *, removed: int = 0) -> None:
        """The run's end in the caller's transaction: the pending removals of sources no
        longer walked forgotten, the lists cleared, and the run succeeded with its counts
        (``removed``: the rows the caller's last decision marked removed)."""
        outcomes = {
            key: removals.SourceOutcome.from_json(value) for key, value in state["outcomes"].items()
        }
        profiles = [o for key, o in outcomes.items() if key.startswith(f"{PROFILE_SOURCE}:")]
        removals.removals_finish(run=self.run, sources=self.sources, schedule=self._schedule())
        remote_ids.remote_ids_clear(run_id=self.run.pk)
        self.engine.cp["phase"] = "done"
        self.engine.cp["note"] = " ".join(o.note for o in outcomes.values() if o.note)
        # The counts go with the run's state.
        self.engine.finish(
            removed=removed,
            remote_count=sum(o.remote for o in profiles),
            local_count=sum(o.local for o in profiles),
            pending_removals=sum(o.pending for o in outcomes.values()),
        )
