"""The profiles phase: each source's keyset walk (the profiles of each database, then the
subprofiles of each collection), from the checkpoint on, through one prefetcher.

The sources are walked one after the other as one stream of pages, so the first pages of the
next source are fetched and prepared while the last ones of this source are written: with a
prefetcher per source, the writer waited for the next source's first page at each boundary
(20-40 ms of a 1.1 s run of three sources on this machine). What the writer needs of the
database (may the next source's pages go straight in?) it asks itself, when that source's
first page reaches it; the fetching and preparing threads touch no database.

Each write's transaction moves the checkpoint past its pages (``after_id``), and past the
source when a short page ended its walk. A walk that ends on an empty answer (its last page
was full) is known to the writer only when a later source's page arrives, or when the stream
ends: its end is then committed on its own, before anything of the next source.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any, Protocol

from django.conf import settings
from django.db import transaction

from api_client import MAX_PAGE_SIZE, KeysetPage
from linker.models import SyncMode
from linker.sync import reconcile, upserts
from linker.sync.prefetch import Prefetcher
from linker.sync.sources import Source

#: The most of Copernica's pages one transaction writes: those already fetched and prepared
#: when the writer is ready for the next (see :meth:`Walks.advance`).
PAGES_PER_WRITE = 8

#: A page with the position of its source in the run's list of sources.
SourcePage = tuple[int, KeysetPage]
#: A prepared page with the position of its source.
PreparedSourcePage = tuple[int, upserts.PreparedPage]


class EngineSide(reconcile.EngineSide, Protocol):
    """What the phase needs of :class:`linker.sync.engine.Engine`."""

    def report(self) -> None: ...


def walks_advance(
    engine: EngineSide, sources: list[Source], *, deadline: float, max_pages: int
) -> bool:
    """Walk the sources from the checkpoint on until every walk ended (``True``: the phase
    after this one is in the checkpoint, or the run ended with its last page) or the step's
    pages or time ran out (``False``)."""
    return Walks(engine, sources).advance(deadline=deadline, max_pages=max_pages)


def _joinable(first: PreparedSourcePage, then: PreparedSourcePage) -> bool:
    return first[0] == then[0] and upserts.pages_mergeable(first[1], then[1])


class Walks:
    def __init__(self, engine: EngineSide, sources: list[Source]) -> None:
        self.engine = engine
        self.sources = sources
        self.full = engine.run.mode == SyncMode.FULL

    @property
    def cp(self) -> dict[str, Any]:
        return self.engine.cp

    def advance(self, *, deadline: float, max_pages: int) -> bool:
        engine = self.engine
        if self.cp["source_index"] < len(self.sources):
            prefetch = Prefetcher(
                self._pages(self.cp["source_index"], self.cp["after_id"]),
                self._prepare,
                max_pages=max_pages,
                deadline=deadline,
            )
            try:
                self._write(prefetch)
            finally:
                prefetch.close()
            if engine.finished:
                return True  # an incremental run ended with its last page
            if not prefetch.complete:
                return False
            # Every walk ended: those still open ended on an empty answer.
            self._ended_before(len(self.sources))
        self._phase_end()
        return True

    def _pages(self, start: int, after_id: int) -> Iterator[SourcePage]:
        """Every page of the sources from ``start`` on (of the first, after ``after_id``), on
        the fetching thread: what it needs of the checkpoint is read here, beforehand."""
        since: dict[str, str] = self.cp.get("since", {})
        walks = []
        for index in range(start, len(self.sources)):
            source = self.sources[index]
            params: dict[str, list[str]] = {}
            if not self.full and since.get(source.key):
                params["fields[]"] = [f"modified>={since[source.key]}"]
            walks.append((index, source, params))
        client, postgres = self.engine.client, self.engine.postgres
        page_size = settings.LINKER_SYNC_PAGE_SIZE

        def pages() -> Iterator[SourcePage]:
            first_after = after_id
            for index, source, params in walks:
                walk = source.pages(
                    client, params, page_size=page_size, after_id=first_after, copying=postgres
                )
                first_after = 0
                for page in walk:
                    yield index, page

        return pages()

    def _prepare(self, item: SourcePage) -> PreparedSourcePage:
        index, page = item
        return index, self.engine.prepare(self.sources[index], page)

    def _write(self, prefetch: Prefetcher[SourcePage, PreparedSourcePage]) -> None:
        engine = self.engine
        current = -1  # the source whose pages are being written
        straight_in = False
        for batch in prefetch.batches(most=PAGES_PER_WRITE, joinable=_joinable):
            index = batch[0][0]
            source = self.sources[index]
            if index != current:
                self._ended_before(index)
                current = index
                # Nothing of this source past the checkpoint yet (a first sync): COPY
                # straight in.
                straight_in = engine.postgres and upserts.copy_straight_in_allowed(
                    mirror=source.mirror, parent_id=source.pk, after_id=self.cp["after_id"]
                )
            page = upserts.pages_merge([prepared for _, prepared in batch])
            straight_in = engine.page_commit(
                source,
                index,
                page,
                straight_in=straight_in,
                advance=functools.partial(self._walked_past, source, index, page),
            )
            engine.report()
            if engine.finished:
                return

    def _ended_before(self, index: int) -> None:
        """The walks before source ``index`` that are still open ended on an empty answer (or
        had nothing at all): the checkpoint past them, committed before anything of ``index``
        (past the phase, when ``index`` is the end; an incremental run's end is its finish,
        see :meth:`_phase_end`)."""
        if self.cp["source_index"] >= index:
            return
        while self.cp["source_index"] < index:
            self._walk_ended(self.cp["source_index"])
        if self.cp["phase"] != "done":
            with transaction.atomic():
                self.engine.commit()

    def _walked_past(self, source: Source, index: int, page: upserts.PreparedPage) -> None:
        """The checkpoint past ``page`` of source ``index`` (in the page's transaction).

        A page shorter than Copernica's pages ends the walk (see ``_keyset_walk``): its
        checkpoint is past the source, and past the phase after the last source of a full
        run, so a small source costs no commit of its own after its page. A full run keeps
        the sources read in one answer (``WHOLE``): nothing changed while they were paged.
        """
        first = self.cp["after_id"] == 0
        self.cp["after_id"] = page.last_id
        size = min(settings.LINKER_SYNC_PAGE_SIZE, MAX_PAGE_SIZE)
        if page.count >= page.pages * size:
            return
        if self.full and first and page.pages == 1:
            self.cp.setdefault(reconcile.WHOLE, {})[source.key] = len(set(page.ids))
        self._walk_ended(index)

    def _walk_ended(self, index: int) -> None:
        """Past source ``index``; past the phase after the last source: a full run goes on to
        reconcile, an incremental one ends (with the page, if a page ended the walk)."""
        self.cp["source_index"] = index + 1
        self.cp["after_id"] = 0
        if index + 1 == len(self.cp["sources"]):
            self.cp["phase"] = "reconcile" if self.full else "done"

    def _phase_end(self) -> None:
        """Past the phase: a full run goes on to reconcile (its last commit in the phase said
        so already), an incremental one ends here (if its last page did not)."""
        if self.engine.finished:
            return
        if not self.full:
            self.cp["phase"] = "done"
            self.engine.finish()
        elif self.cp["phase"] != "reconcile":  # no source at all
            with transaction.atomic():
                self.cp["phase"] = "reconcile"
                self.engine.commit()
