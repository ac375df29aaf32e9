"""A full run's id list from its own walk (issue 11's reconcile speed, reliability.md cases 45
and 47): the ids the page walk and the catch-up walk saw stand for Copernica's id list when
Copernica's count agrees with them, and are doubted exactly like a downloaded list.

The engine runs in this process against PostgreSQL and the sandbox over HTTP. The tests of the
downloaded list's own guards are in ``test_removal_guards.py``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from django.db import connection

from linker.linking import client as link_client
from linker.models import RemoteProfile, SyncRemoteId, SyncRun
from linker.sync import reconcile
from linker.sync.engine import Engine
from linker.sync.removals import SAMPLE_SIZE
from linker.sync.runs import sync_run_foreground, sync_run_request, sync_run_step
from tests.linked_accounts import Linked
from tests.sync.sandbox_counts import id_list_requests

pytestmark = pytest.mark.django_db(transaction=True)

READ_BACK = "GET /v4/profile/{id}"


def full_sync(account: Linked) -> SyncRun:
    run, created = sync_run_request(link=account.link, mode="full", enqueue=False)
    assert created
    return sync_run_foreground(run=run)


def step_to_reconcile(run: SyncRun, monkeypatch: pytest.MonkeyPatch, **step: Any) -> SyncRun:
    """Step the run through its page phase; stop before the reconcile phase does anything."""
    with monkeypatch.context() as patched:
        patched.setattr(reconcile, "reconcile_advance", lambda *args, **kwargs: False)
        while run.checkpoint.get("phase") in ("schema", "profiles"):
            sync_run_step(run_id=run.pk, **step)
            run.refresh_from_db()
    return run


def removed_ids(account: Linked) -> set[int]:
    rows = RemoteProfile.objects.filter(link=account.link).exclude(removed_at=None)
    return set(rows.values_list("copernica_id", flat=True))


def read_backs(account: Linked) -> int:
    return int(account.sandbox.stats()["requests"].get(READ_BACK, 0))


class WalkCut(httpx.HTTPTransport):
    """A Copernica (or a proxy) whose profile pages leave out every profile from ``cutoff``
    on (a walk that ends early), and whose count is ``total`` rewritten."""

    def __init__(self, *, cutoff: int, total: Callable[[int], int] = lambda total: total) -> None:
        super().__init__()
        self.cutoff, self.total = cutoff, total

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        if not request.url.path.endswith("/profiles"):
            return response
        response.read()
        document = response.json()
        if request.url.params.get("total") == "true":
            document["total"] = self.total(document["total"])
        else:
            document["data"] = [i for i in document["data"] if int(i["ID"]) < self.cutoff]
            document["count"] = len(document["data"])
        return httpx.Response(
            200, content=json.dumps(document).encode(), headers={"Content-Type": "application/json"}
        )


@contextmanager
def copernica_through(
    monkeypatch: pytest.MonkeyPatch, transport: httpx.BaseTransport
) -> Iterator[None]:
    """The engine's clients go through ``transport``; the test's own client does not."""
    original = link_client.client_for

    def client_for(link, **options):  # type: ignore[no-untyped-def]
        return original(link, transport=transport, **options)

    monkeypatch.setattr(link_client, "client_for", client_for)
    yield
    monkeypatch.setattr(link_client, "client_for", original)


def test_a_first_full_sync_reads_no_id_list_and_records_no_id_it_copied_straight_in(
    linked: Callable[..., Linked], settings, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    """The pages COPYed straight into an empty mirror are their own record (the rows this run
    wrote); Copernica's count of each source is the only extra request."""
    settings.LINKER_SYNC_PAGE_SIZE = 500
    account = linked(profiles=2000, databases=1, collections=1, subprofiles=1500)
    run, _ = sync_run_request(link=account.link, mode="full", enqueue=False)

    paged = step_to_reconcile(run, monkeypatch)
    walked = paged.checkpoint["walked"]
    recorded = SyncRemoteId.objects.filter(run_id=run.pk).count()
    done = sync_run_foreground(run=paged)

    assert recorded == 0
    assert list(walked.values()) == [0, 0]  # a database and a collection
    assert done.state == "succeeded"
    assert id_list_requests(account.sandbox) == 0
    assert (done.fetched, done.removed_count) == (3500, 0)
    assert account.mirror() == account.remote()
    assert account.mirror_subprofiles() == account.remote_subprofiles()
    assert not SyncRemoteId.objects.filter(run_id=run.pk).exists()


def test_a_row_a_first_sync_did_not_write_is_read_back_and_removed_if_copernica_has_none(
    linked: Callable[..., Linked], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A first sync COPYs every page straight in, so its walked list is the rows it wrote; a
    live row it did not write (a webhook's, for a profile Copernica deleted since) is missing
    from that list, read back and removed, not taken for one of the run's own."""
    account = linked(profiles=1200)
    run, _ = sync_run_request(link=account.link, mode="full", enqueue=False)
    paged = step_to_reconcile(run, monkeypatch)
    database = RemoteProfile.objects.filter(link=account.link).first().database
    stray = RemoteProfile.objects.create(
        link=account.link, database=database, copernica_id=987_654_321, fields={"x": "y"}
    )
    account.sandbox.reset_stats()

    done = sync_run_foreground(run=paged)

    assert done.state == "succeeded"
    assert id_list_requests(account.sandbox) == 0
    assert read_backs(account) == 1
    assert (done.removed_count, done.local_count) == (1, 1200)
    assert removed_ids(account) == {stray.copernica_id}
    assert account.mirror() == account.remote()


def test_profiles_deleted_between_full_runs_are_removed_without_reading_the_id_list(
    linked: Callable[..., Linked],
) -> None:
    """Case 31 on the walk's list: 37 of 3,000 deleted; each is read back, exactly those go."""
    account = linked(profiles=3000)
    full_sync(account)
    gone = set(sorted(account.remote())[4::80][:37])
    with account.client() as client:
        for profile_id in gone:
            client.delete_profile(profile_id)
    account.sandbox.reset_stats()

    run = full_sync(account)

    assert run.state == "succeeded"
    assert id_list_requests(account.sandbox) == 0
    assert read_backs(account) == 37
    assert run.removed_count == 37
    assert removed_ids(account) == gone
    assert account.mirror() == account.remote()


def test_a_walk_that_ends_early_reads_copernicas_list_and_removes_nothing(
    linked: Callable[..., Linked], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Case 45: the pages stop 8% short of the end while Copernica's count is honest: the
    walk's ids disagree with the count, so Copernica's list is read, and it misses nothing."""
    account = linked(profiles=4000)
    full_sync(account)
    cutoff = sorted(account.remote())[3680]
    account.sandbox.reset_stats()

    with copernica_through(monkeypatch, WalkCut(cutoff=cutoff)):
        run = full_sync(account)

    assert run.state == "succeeded"
    assert id_list_requests(account.sandbox) == 4 + 1  # the whole list, to its empty end
    assert (run.removed_count, run.pending_removals) == (0, 0)
    assert removed_ids(account) == set()
    assert run.error_message == ""


def test_a_walk_and_a_count_both_8_percent_short_are_caught_by_the_sample(
    linked: Callable[..., Linked], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Case 45: the walk stops 320 short and the count lies along with it: the walk's ids are
    taken for the list, and its 320 missing profiles go through the same rules as a
    downloaded list's: a sample of 50 read back finds them live, none is removed."""
    account = linked(profiles=4000)
    full_sync(account)
    cutoff = sorted(account.remote())[3680]
    account.sandbox.reset_stats()

    with copernica_through(monkeypatch, WalkCut(cutoff=cutoff, total=lambda total: total - 320)):
        run = full_sync(account)

    assert run.state == "succeeded"
    assert id_list_requests(account.sandbox) == 0
    assert read_backs(account) == SAMPLE_SIZE
    assert run.removed_count == 0
    assert removed_ids(account) == set()
    assert "50 of 50 read back are still there" in run.error_message


def test_a_profile_deleted_after_the_walk_passed_it_makes_the_run_read_copernicas_list(
    linked: Callable[..., Linked], settings
) -> None:  # type: ignore[no-untyped-def]
    """Case 30: the walk saw a profile that is deleted before the run ends: the walk's ids are
    one more than Copernica's count, the list is read, and the deletion is applied."""
    settings.LINKER_SYNC_PAGE_SIZE = 500
    account = linked(profiles=2000)
    full_sync(account)
    run, _ = sync_run_request(link=account.link, mode="full", enqueue=False)
    sync_run_step(run_id=run.pk, max_pages=2)
    passed = sorted(account.remote())[10]
    with account.client() as client:
        client.delete_profile(passed)
    account.sandbox.reset_stats()

    done = sync_run_foreground(run=run)

    assert done.state == "succeeded"
    assert id_list_requests(account.sandbox) == 2 + 1
    assert removed_ids(account) == {passed}
    assert account.mirror() == account.remote()


def test_a_run_failing_mid_page_records_each_id_of_its_walk_once(
    linked: Callable[..., Linked], settings, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    """Case 47: a re-sync (every page upserted, so every id recorded) whose write of the third
    page (alone, or with the pages prepared behind it) fails after its ids were inserted: that
    transaction is undone with its checkpoint, the next step writes the page again, and the
    recorded list holds each id once."""
    settings.LINKER_SYNC_PAGE_SIZE = 500
    settings.LINKER_RETRY_BASE_SECONDS = 0.01
    account = linked(profiles=2500)
    full_sync(account)
    third_page = sorted(account.remote())[1000:1500]
    failed: list[int] = []
    commit = Engine.commit

    def commit_failing_once(engine: Engine, **counters: Any) -> None:
        if counters.get("pages") and engine.cp["after_id"] >= third_page[0] and not failed:
            failed.append(engine.cp["after_id"])
            raise RuntimeError("the worker stops in the middle of a page")
        commit(engine, **counters)

    monkeypatch.setattr(Engine, "commit", commit_failing_once)
    run, _ = sync_run_request(link=account.link, mode="full", enqueue=False)

    paged = step_to_reconcile(run, monkeypatch)
    attempts, checkpoint = paged.attempts, paged.checkpoint
    recorded = SyncRemoteId.objects.filter(run_id=run.pk, missing=False)
    ids = list(recorded.values_list("copernica_id", flat=True))
    done = sync_run_foreground(run=paged)

    assert len(failed) == 1
    assert attempts == 2
    assert sorted(ids) == sorted(account.remote())  # each id once
    assert checkpoint["walked"] == {checkpoint["sources"][0]: 2500}
    assert done.state == "succeeded"
    assert id_list_requests(account.sandbox) == 0
    assert done.removed_count == 0


def test_recorded_ids_lost_with_a_postgresql_restart_make_the_run_read_copernicas_list(
    linked: Callable[..., Linked], settings, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    """A crash of PostgreSQL empties the UNLOGGED table the walk recorded into (here: TRUNCATE
    between two steps), while the checkpoint counts what it recorded: the count no longer
    matches, so the list is read from Copernica; nothing live is removed."""
    settings.LINKER_SYNC_PAGE_SIZE = 500
    account = linked(profiles=2000)
    full_sync(account)
    gone = set(sorted(account.remote())[::400])
    with account.client() as client:
        for profile_id in gone:
            client.delete_profile(profile_id)
    run, _ = sync_run_request(link=account.link, mode="full", enqueue=False)
    paged = step_to_reconcile(run, monkeypatch, max_pages=1)
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE linker_syncremoteid")
    account.sandbox.reset_stats()

    done = sync_run_foreground(run=paged)

    assert done.state == "succeeded"
    assert id_list_requests(account.sandbox) == 2 + 1
    assert removed_ids(account) == gone
    assert account.mirror() == account.remote()
