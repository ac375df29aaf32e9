"""The prefetcher's two threads: the next page is fetched while one is prepared, every page
fetched is handed over, and a failed preparation stops the fetching.

Synchronised by events (each wait bounded, a missed one fails the test), never by sleeps.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from api_client import KeysetPage
from linker.sync import upserts
from linker.sync.prefetch import Prefetcher
from linker.sync.upserts import PreparedPage

WAIT = 10.0


def _prepared(page: KeysetPage) -> PreparedPage:
    ids = [page.last_id]
    return PreparedPage(
        upserts.SUBPROFILES, 7, f"{page.last_id}\n".encode(), 1, page.last_id, None, ids
    )


class Walk:
    """Pages 1..``pages`` of a keyset walk, noting each one asked for."""

    def __init__(self, pages: int) -> None:
        self.pages = pages
        self.asked: list[int] = []
        self.fetched = {number: threading.Event() for number in range(1, pages + 1)}

    def __iter__(self) -> Iterator[KeysetPage]:
        for number in range(1, self.pages + 1):
            self.asked.append(number)
            self.fetched[number].set()
            yield KeysetPage([], number, None)


def _taken(prefetch: Prefetcher) -> list[int]:
    try:
        batches = prefetch.batches(most=1, joinable=upserts.pages_mergeable)
        return [page.last_id for batch in batches for page in batch]
    finally:
        prefetch.close()


def test_the_next_page_is_fetched_while_a_page_is_prepared() -> None:
    """The first page's preparation waits until the second page has been fetched: with one
    thread doing both, that wait would never end."""
    walk = Walk(3)
    seen_while_preparing: list[bool] = []

    def prepare(page: KeysetPage) -> PreparedPage:
        if page.last_id == 1:
            seen_while_preparing.append(walk.fetched[2].wait(WAIT))
        return _prepared(page)

    prefetch = Prefetcher(iter(walk), prepare, max_pages=10, deadline=time.monotonic() + 60)

    assert _taken(prefetch) == [1, 2, 3]
    assert seen_while_preparing == [True]
    assert prefetch.complete


def test_every_page_fetched_is_handed_over_and_no_more_are_asked_for() -> None:
    """``max_pages`` ends the fetching, not the preparing: the pages fetched by then are all
    written (no request wasted), and the walk is not complete."""
    walk = Walk(5)
    prefetch = Prefetcher(iter(walk), _prepared, max_pages=3, deadline=time.monotonic() + 60)

    assert _taken(prefetch) == [1, 2, 3]
    assert walk.asked == [1, 2, 3]
    assert not prefetch.complete


def test_a_failed_preparation_is_raised_and_stops_the_fetching() -> None:
    walk = Walk(50)

    def prepare(page: KeysetPage) -> PreparedPage:
        if page.last_id == 2:
            raise ValueError("a page that cannot be copied")
        return _prepared(page)

    prefetch = Prefetcher(iter(walk), prepare, max_pages=100, deadline=time.monotonic() + 60)
    batches = prefetch.batches(most=1, joinable=upserts.pages_mergeable)
    try:
        first = next(batches)
        with pytest.raises(ValueError, match="cannot be copied"):
            next(batches)
    finally:
        prefetch.close()

    assert [page.last_id for page in first] == [1]
    assert not prefetch._fetcher.is_alive()
    assert not prefetch._thread.is_alive()
    # At most the pages in flight (``AHEAD``) past the failed one were asked for.
    assert len(walk.asked) < 50
