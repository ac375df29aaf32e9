"""Pages that are ready together are written together (issue 10's subprofile speed): the
engine takes every page of a source that its prefetcher has prepared when it is ready to
write, up to ``PAGES_PER_WRITE``, into one transaction with the checkpoint after the last of
them.

The prefetcher's batches are checked on their own with pages made up here; the engine's runs go
against PostgreSQL and the sandbox over HTTP, with every page of the step prepared before the
first is written (the prefetcher's thread is waited for), so the batches do not depend on
timing.
"""

from __future__ import annotations

import functools
import itertools
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from api_client import KeysetPage
from linker.models import RemoteCollection, RemoteSubprofile, SyncRun
from linker.sync import upserts, walks
from linker.sync.engine import Engine
from linker.sync.prefetch import Prefetcher
from linker.sync.runs import sync_run_foreground, sync_run_request, sync_run_step
from linker.sync.upserts import PreparedPage
from tests.linked_accounts import Linked

PAGE_SIZE = 200


def made_page(ids: list[int]) -> PreparedPage:
    rows = "".join(f"{copernica_id}\n" for copernica_id in ids).encode()
    return PreparedPage(upserts.SUBPROFILES, 7, rows, len(ids), ids[-1], None, ids)


def prefetched(pages: list[object], **options: Any) -> Prefetcher:
    """A prefetcher over ``pages`` (an exception among them is raised by the walk), its thread
    run to the end before anything is taken."""

    def walk() -> Iterator[KeysetPage]:
        for page in pages:
            if isinstance(page, BaseException):
                raise page
            assert isinstance(page, PreparedPage)
            yield KeysetPage([], page.last_id, None)

    prepared = iter([page for page in pages if isinstance(page, PreparedPage)])
    prefetch = Prefetcher(
        walk(),
        lambda _: next(prepared),
        max_pages=100,
        deadline=time.monotonic() + 60,
        **options,
    )
    prefetch._thread.join(timeout=10)
    return prefetch


def test_pages_already_prepared_are_taken_together_up_to_the_most() -> None:
    pages = [made_page([n * 10 + 1, n * 10 + 2]) for n in range(5)]
    prefetch = prefetched(pages)
    try:
        batches = list(prefetch.batches(most=3, joinable=upserts.pages_mergeable))
    finally:
        prefetch.close()

    assert [len(batch) for batch in batches] == [3, 2]
    merged = upserts.pages_merge(batches[0])
    assert (merged.pages, merged.count, merged.last_id) == (3, 6, 22)
    assert merged.ids == [1, 2, 11, 12, 21, 22]
    assert merged.rows == b"1\n2\n11\n12\n21\n22\n"


def test_a_page_whose_ids_do_not_follow_the_one_before_starts_a_batch_of_its_own() -> None:
    """Merged rows must never hold an id twice: the upsert refuses a row it touches twice."""
    pages = [made_page([1, 2]), made_page([3, 4]), made_page([4, 5]), made_page([6])]
    prefetch = prefetched(pages)
    try:
        batches = list(prefetch.batches(most=8, joinable=upserts.pages_mergeable))
    finally:
        prefetch.close()

    assert [[page.ids for page in batch] for batch in batches] == [
        [[1, 2], [3, 4]],
        [[4, 5], [6]],
    ]


def test_the_pages_before_a_failed_fetch_are_handed_over_before_the_error() -> None:
    pages: list[object] = [made_page([1]), made_page([2]), RuntimeError("Copernica broke")]
    prefetch = prefetched(pages)
    try:
        batches = prefetch.batches(most=8, joinable=upserts.pages_mergeable)
        taken = next(batches)
        with pytest.raises(RuntimeError, match="Copernica broke"):
            next(batches)
    finally:
        prefetch.close()

    assert [page.ids for page in taken] == [[1], [2]]


# -- the engine


@pytest.fixture
def whole_walks(monkeypatch: pytest.MonkeyPatch, settings) -> list[tuple[str, int]]:  # type: ignore[no-untyped-def]
    """Every page of the step's walks prepared before the first is written (room for all of
    them ahead of the writer); → the writes of the page phase, as (source kind, Copernica
    pages)."""
    settings.LINKER_SYNC_PAGE_SIZE = PAGE_SIZE
    monkeypatch.setattr(walks, "Prefetcher", functools.partial(Prefetcher, ahead=100))
    writes: list[tuple[str, int]] = []
    batches = Prefetcher.batches

    def whole(self: Prefetcher, **options: Any) -> Iterator[list[PreparedPage]]:
        self._thread.join(timeout=30)
        yield from batches(self, **options)

    page_commit = Engine.page_commit

    def counted(self: Engine, source, position, page, **options):  # type: ignore[no-untyped-def]
        if self.cp["phase"] == "profiles":
            writes.append((source.kind, page.pages))
        return page_commit(self, source, position, page, **options)

    monkeypatch.setattr(Prefetcher, "batches", whole)
    monkeypatch.setattr(Engine, "page_commit", counted)
    return writes


@pytest.mark.django_db(transaction=True)
def test_a_collections_pages_prepared_together_go_in_one_transaction(
    linked: Callable[..., Linked], whole_walks: list[tuple[str, int]]
) -> None:
    account = linked(profiles=400, databases=1, collections=2, subprofiles=1000)
    run, _ = sync_run_request(link=account.link, mode="full", enqueue=False)

    run = sync_run_foreground(run=run)

    assert run.state == "succeeded"
    # 2 pages of profiles, 5 of each collection: three writes, every page counted.
    assert whole_walks == [("profiles", 2), ("subprofiles", 5), ("subprofiles", 5)]
    assert run.pages >= 2 + 5 + 5
    assert account.mirror_subprofiles() == account.remote_subprofiles()
    assert account.mirror() == account.remote()


@pytest.mark.django_db(transaction=True)
def test_a_batch_that_fails_leaves_the_checkpoint_before_it_and_the_run_resumes_there(
    linked: Callable[..., Linked],
    whole_walks: list[tuple[str, int]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    account = linked(profiles=400, databases=1, collections=2, subprofiles=1000)
    run, _ = sync_run_request(link=account.link, mode="full", enqueue=False)
    page_write = upserts.page_write
    failures = itertools.count()

    def failing(*, page: PreparedPage, **options: Any) -> tuple[int, int]:
        # The second collection's batch breaks once, after part of it reached PostgreSQL.
        collections = RemoteCollection.objects.filter(link=account.link).order_by("-pk")
        second_pk = collections.values_list("pk", flat=True).first()
        written = page_write(page=page, **options)
        second_collection = page.mirror is upserts.SUBPROFILES and page.parent_id == second_pk
        if second_collection and next(failures) == 0:
            raise RuntimeError("the worker was lost mid-batch")
        return written

    monkeypatch.setattr(upserts, "page_write", failing)
    sync_run_step(run_id=run.pk)
    run.refresh_from_db()

    first, second = RemoteCollection.objects.filter(link=account.link).order_by("pk")
    assert run.failures == 1
    assert (run.checkpoint["source_index"], run.checkpoint["after_id"]) == (2, 0)
    assert run.pages == 2 + 5  # the profiles and the first collection, not the failed batch
    assert RemoteSubprofile.objects.filter(collection=first).count() == 1000
    assert not RemoteSubprofile.objects.filter(collection=second).exists()

    SyncRun.objects.filter(pk=run.pk).update(not_before=None)
    run = sync_run_foreground(run=run)

    assert run.state == "succeeded"
    assert whole_walks[-1] == ("subprofiles", 5)  # the second collection again, from the top
    assert account.mirror_subprofiles() == account.remote_subprofiles()
