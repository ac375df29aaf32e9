"""The profiles phase walks its sources as one stream of pages (issue 10's subprofile speed):
the next source's first pages are fetched while this source's pages are still being written,
and a walk that ended on an empty answer is past in the checkpoint before the next is written.

Against PostgreSQL and the sandbox over HTTP. The writer is held at its first write until the
fetching thread has reached the last source, so nothing here depends on timing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from api_client import KeysetPage
from linker.sync.engine import Engine
from linker.sync.runs import sync_run_foreground, sync_run_request
from linker.sync.sources import Source
from tests.linked_accounts import Linked

PAGE_SIZE = 200


@pytest.mark.django_db(transaction=True)
def test_the_last_sources_first_page_is_fetched_before_the_first_source_is_written(
    linked: Callable[..., Linked], monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    settings.LINKER_SYNC_PAGE_SIZE = PAGE_SIZE
    # One short page of profiles, two pages of each collection: 5 pages, fewer than the
    # prefetcher may hold ahead of the writer.
    account = linked(profiles=100, databases=1, collections=2, subprofiles=300)
    run, _ = sync_run_request(link=account.link, mode="full", enqueue=False)
    last_reached = threading.Event()
    walked: list[str] = []  # the sources whose pages were fetched, in turn
    seen_at_first_write: list[bool] = []
    pages = Source.pages

    def watched(self: Source, *args: Any, **options: Any) -> Iterator[KeysetPage]:
        for page in pages(self, *args, **options):
            if self.key not in walked:
                walked.append(self.key)
            if len(walked) == 3:  # the last of the three sources
                last_reached.set()
            yield page

    page_commit = Engine.page_commit

    def held(self: Engine, *args: Any, **options: Any) -> bool:
        if self.cp["phase"] == "profiles" and not seen_at_first_write:
            seen_at_first_write.append(last_reached.wait(timeout=30))
        return page_commit(self, *args, **options)

    monkeypatch.setattr(Source, "pages", watched)
    monkeypatch.setattr(Engine, "page_commit", held)

    run = sync_run_foreground(run=run)

    assert run.state == "succeeded"
    run_sources = run.checkpoint["sources"]
    assert len(run_sources) == 3  # the database's profiles, then the two collections
    assert walked == run_sources
    assert seen_at_first_write == [True]
    assert account.mirror() == account.remote()
    assert account.mirror_subprofiles() == account.remote_subprofiles()
