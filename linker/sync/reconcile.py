"""The reconcile phase of a full run, in bounded, checkpointed steps.

Three stages, each committed in small transactions through the engine's ``commit()`` (the
checkpoint, the heartbeat and the claim check), so the reconciler never takes a working run
for dead and a run taken over resumes where it stopped:

1. ``walk``: the (sub)profiles created or changed while the run paged, per source, a page per
   transaction (checkpoint: source and ``after_id``). Then ANALYZE of the mirror.
2. ``load``: each source's id list into ``SyncRemoteId``, with Copernica's count read just
   before and just after it; a block of up to ``ID_ROWS_PER_COMMIT`` ids per transaction
   (checkpoint: source, offset, last id). A load resumed in a later step re-reads the last id
   it holds and marks the list *moved* if it is no longer there.
3. ``decide``: per source, the rules of :mod:`linker.sync.removals`, applied in one short
   transaction with the checkpoint (the list's rows go with it).

A step stops at its deadline or page budget between two transactions (an id block counts as
its 1000-id pages, a decided source as one). ``cp["reconcile"]`` holds::

    {"walk": {"source": i, "after_id": n} | None, "loaded": i, "start": n, "last": "id",
     "before": n, "moved": bool, "lists": {key: ListedIds}, "decided": i,
     "outcomes": {key: SourceOutcome}}
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import Any, Protocol

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from api_client import ID_PAGE_SIZE, CopernicaClient, KeysetPage, format_since
from linker.models import SyncRun
from linker.sync import remote_ids, removals, upserts
from linker.sync.sources import PROFILE_SOURCE, Source

#: Copernica's ``modified`` has one-second resolution and a write may land a moment late.
CHANGED_OVERLAP = timedelta(minutes=2)
#: Ids loaded per transaction (and heartbeat) while a list is read, at most.
ID_ROWS_PER_COMMIT = 5_000
#: The longest the phase goes without touching the run's heartbeat between two requests.
HEARTBEAT_SECONDS = 1.0


class EngineSide(Protocol):
    """What the phase needs of :class:`linker.sync.engine.Engine`."""

    run: SyncRun
    client: CopernicaClient
    cp: dict[str, Any]
    postgres: bool

    def commit(self, *, progressed: bool = False, **counters: int) -> None: ...

    def prepare(self, source: Source, page: KeysetPage) -> upserts.PreparedPage: ...

    def write_page(
        self, page: upserts.PreparedPage, straight_in: bool = False
    ) -> tuple[int, int, bool]: ...


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

    def advance(self) -> bool:
        if "reconcile" not in self.engine.cp:
            # Lists left by runs that stopped before their end, and by an earlier attempt.
            remote_ids.remote_ids_discard_stale()
            remote_ids.remote_ids_clear(run_id=self.run.pk)
            self._save(
                {
                    "walk": {"source": 0, "after_id": 0},
                    "loaded": 0,
                    "start": 0,
                    "lists": {},
                    "decided": 0,
                    "outcomes": {},
                }
            )
        state: dict[str, Any] = self.engine.cp["reconcile"]
        if state["walk"] is not None and not self._walk(state):
            return False
        while state["decided"] < len(self.sources):
            if state["loaded"] < len(self.sources):
                if not self._load(state):
                    return False
            elif not self._decide(state):
                return False
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
        while walk["source"] < len(self.sources):
            source = self.sources[walk["source"]]
            pages = source.pages(
                self.engine.client,
                changed,
                page_size=settings.LINKER_SYNC_PAGE_SIZE,
                after_id=walk["after_id"],
            )
            try:
                while True:
                    if self.budget.spent:
                        return False
                    page = next(pages, None)
                    if page is None:
                        break
                    prepared = self.engine.prepare(source, page)
                    with transaction.atomic():
                        created, updated, _ = self.engine.write_page(prepared)
                        walk["after_id"] = page.last_id
                        self._commit(
                            pages=1,
                            fetched=page.count,
                            created_count=created,
                            updated_count=updated,
                        )
                    self.budget.pages -= 1
            finally:
                pages.close()
            walk.update(source=walk["source"] + 1, after_id=0)
            self._save(state)
        if self.engine.postgres:
            # A first sync COPYed every row in since autovacuum last looked: the counts below
            # want statistics. ANALYZE samples a bounded number of rows: the same on any size.
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE linker_remoteprofile, linker_remotesubprofile")
        state["walk"] = None
        self._save(state)
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
        held = remote_ids.remote_ids_loaded(run_id=self.run.pk, position=position)
        if held != listed.length:
            # PostgreSQL restarted and emptied the UNLOGGED table: load again from here.
            state.update(loaded=position, start=0)
            self._save(state)
            return True
        decision = removals.removals_decide(
            client=self.engine.client,
            run=self.run,
            source=source,
            position=position,
            listed=listed,
            postgres=self.engine.postgres,
            heartbeat=self._heartbeat,
        )
        with transaction.atomic():
            outcome = removals.removals_apply(
                run=self.run,
                source=source,
                position=position,
                listed=listed,
                decision=decision,
                postgres=self.engine.postgres,
            )
            remote_ids.remote_ids_clear(run_id=self.run.pk, position=position)
            state["outcomes"][source.key] = outcome.as_json()
            state["decided"] = position + 1
            self.engine.cp["reconcile"] = state
            self._commit(removed_count=outcome.removed)
        self.budget.pages -= 1
        return True

    def _finish(self, state: dict[str, Any]) -> None:
        outcomes = {
            key: removals.SourceOutcome.from_json(value) for key, value in state["outcomes"].items()
        }
        profiles = [o for key, o in outcomes.items() if key.startswith(f"{PROFILE_SOURCE}:")]
        with transaction.atomic():
            removals.removals_finish(run=self.run, sources=self.sources)
            remote_ids.remote_ids_clear(run_id=self.run.pk)
            SyncRun.objects.filter(pk=self.run.pk).update(
                remote_count=sum(o.remote for o in profiles),
                local_count=sum(o.local for o in profiles),
                pending_removals=sum(o.pending for o in outcomes.values()),
            )
            self.engine.cp["phase"] = "done"
            self.engine.cp["note"] = " ".join(o.note for o in outcomes.values() if o.note)
            self._commit()
