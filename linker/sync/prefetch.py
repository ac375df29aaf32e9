"""Pages fetched, decoded and turned into COPY text on two threads, ahead of the writer."""

from __future__ import annotations

import queue
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar, cast

#: What the walk yields (a page, with whatever the preparing needs beside it).
Fetched = TypeVar("Fetched")
#: What the preparing makes of it (the page's COPY text, ...).
Prepared = TypeVar("Prepared")

#: How long a thread holding the GIL keeps it once another asks (Python's default: 5 ms), while
#: a prefetcher runs. The writer waits on PostgreSQL most of the time, and each time an answer
#: arrives it needs the GIL back from the thread that decodes and prepares pages: at 5 ms a
#: wait, several times a page, PostgreSQL sat idle for a good part of the page phase.
SWITCH_INTERVAL = 0.0005

_switching = threading.Lock()
_prefetchers = 0
_interval_before = 0.0


def _quick_switches(on: bool) -> None:
    """Shorten the GIL's switch interval while any prefetcher of this process runs."""
    global _prefetchers, _interval_before
    with _switching:
        if on:
            if not _prefetchers:
                _interval_before = sys.getswitchinterval()
                sys.setswitchinterval(min(SWITCH_INTERVAL, _interval_before))
            _prefetchers += 1
        else:
            _prefetchers -= 1
            if not _prefetchers:
                sys.setswitchinterval(_interval_before)


#: Pages the thread fetches and prepares before the writer has taken them. More than the one
#: being written and the next: PostgreSQL, Copernica and the thread take turns on a busy
#: machine, and pages that pile up meanwhile go into one write (see ``batches``). A prepared
#: page is its COPY text (~0.2 MB for 1000 profiles).
AHEAD = 8


class Prefetcher(Generic[Fetched, Prepared]):
    """Fetches and prepares pages on two threads, at most ``ahead`` before the writer.

    One thread fetches (and decodes) pages, the other turns them into COPY text, so Copernica
    (the sandbox: its own process) makes the next page while this one is prepared: with one
    thread doing both, each page's request waited for the preparation of the page before it
    and the other way round.

    The fetching stops by itself once ``max_pages`` pages were fetched or the deadline passed,
    and every page fetched is prepared, so a step ends with every fetched page written and no
    request wasted.
    """

    _END = object()

    def __init__(
        self,
        source: Iterator[Fetched],
        prepare: Callable[[Fetched], Prepared],
        *,
        max_pages: int,
        deadline: float,
        ahead: int = AHEAD,
    ) -> None:
        self._source = source
        self._prepare = prepare
        self._max_pages = max_pages
        self._deadline = deadline
        # Pages fetched and not yet written: taken by the fetching, given back by the writer.
        self._slots = threading.Semaphore(ahead)
        self._held: object = None  # what a batch took from the queue but did not take in
        self._fetched: queue.Queue[object] = queue.Queue()
        self._queue: queue.Queue[object] = queue.Queue()
        self._stop = threading.Event()
        self.complete = False  # the walk ran out of pages
        self._fetcher = threading.Thread(target=self._fetch, name="sync-fetch", daemon=True)
        self._thread = threading.Thread(target=self._run, name="sync-prepare", daemon=True)
        _quick_switches(True)
        self._closed = False
        self._fetcher.start()
        self._thread.start()

    def _fetch(self) -> None:
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
                self._fetched.put(page)
        except BaseException as error:
            self._fetched.put(error)
        finally:
            self._fetched.put(self._END)

    def _run(self) -> None:
        """Prepare what was fetched, in order; an error of the fetching is passed on."""
        try:
            while True:
                page = self._fetched.get()
                if page is self._END or self._stop.is_set():
                    return
                if isinstance(page, BaseException):
                    self._queue.put(page)
                    return
                self._queue.put(self._prepare(cast(Fetched, page)))
        except BaseException as error:
            self._stop.set()  # the fetching ends too: nothing after this page is written
            self._queue.put(error)
        finally:
            self._queue.put(self._END)

    def batches(
        self, *, most: int, joinable: Callable[[Prepared, Prepared], bool]
    ) -> Iterator[list[Prepared]]:
        """The pages in batches: the next page (waited for), and with it those already prepared
        by then, up to ``most`` in all, each ``joinable`` to the one before it.

        Fewer, larger writes when PostgreSQL is the slower side, with no wait for a page that
        is not there yet: when the fetch is the slower side, each page goes alone as it comes.
        """
        while True:
            item = self._held if self._held is not None else self._queue.get()
            self._held = None
            if item is self._END:
                return
            if isinstance(item, BaseException):
                raise item
            batch = [cast(Prepared, item)]
            while len(batch) < most:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                ended = item is self._END or isinstance(item, BaseException)
                if ended or not joinable(batch[-1], cast(Prepared, item)):
                    self._held = item
                    break
                batch.append(cast(Prepared, item))
            yield batch
            for _ in batch:
                self._slots.release()

    def close(self) -> None:
        self._stop.set()
        self._slots.release()
        self._fetcher.join(timeout=60)
        self._thread.join(timeout=60)
        if not self._closed:
            self._closed = True
            _quick_switches(False)
