"""The sync engine in this process, against PostgreSQL and the sandbox over HTTP.

Reliability cases 30-33 and the incremental run; the worker-level cases are in test_workers.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from django.db import connection, transaction
from django.utils import timezone

from linker.linking import client as link_client
from linker.models import RemoteProfile, RequestLogEntry, SyncRun, SyncSchedule
from linker.sync import reconcile
from linker.sync.engine import Engine
from linker.sync.runs import sync_run_foreground, sync_run_request, sync_run_step
from linker.sync.schedule import sync_schedule_due
from linker.sync.sources import Source
from tests.linked_accounts import Linked, profile_page_requests
from tests.sync.sandbox_counts import id_list_requests

pytestmark = pytest.mark.django_db(transaction=True)


def full_sync(account: Linked, **step: Any) -> SyncRun:
    run, created = sync_run_request(link=account.link, mode="full", enqueue=False)
    assert created
    if step:
        sync_run_step(run_id=run.pk, **step)
        run.refresh_from_db()
        return run
    return sync_run_foreground(run=run)


def row_versions(account: Linked) -> dict[int, str]:
    """Each mirror row's PostgreSQL row version (xmin): it changes on any write to the row."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT copernica_id, xmin::text FROM linker_remoteprofile WHERE link_id = %s",
            [account.link.pk],
        )
        return dict(cursor.fetchall())


@contextmanager
def rewritten_profile_ids(
    monkeypatch: pytest.MonkeyPatch, rewrite: Callable[[list[str]], list[str]]
) -> Iterator[None]:
    """Make Copernica's profile id list come back rewritten (empty, truncated...), and make
    the runs read it: a full run takes the ids its walk saw instead when Copernica's count
    agrees with them (``test_walked_ids.py``)."""
    monkeypatch.setattr(reconcile, "WALKED_LISTS", False)

    class Rewriting(httpx.HTTPTransport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            response = super().handle_request(request)
            if request.url.path.endswith("/profileids"):
                response.read()
                ids = rewrite(response.json())
                return httpx.Response(200, json=ids, headers={"Content-Type": "application/json"})
            return response

    original = link_client.client_for

    def client_for(link, **options):  # type: ignore[no-untyped-def]
        return original(link, transport=Rewriting(), **options)

    monkeypatch.setattr(link_client, "client_for", client_for)
    yield
    monkeypatch.setattr(link_client, "client_for", original)


def test_full_sync_mirrors_every_profile_once(linked: Callable[..., Linked], sandbox) -> None:
    account = linked(profiles=5000)

    run = full_sync(account)
    page_requests = profile_page_requests(sandbox)
    all_requests = sum(sandbox.stats()["requests"].values())

    assert run.state == "succeeded"
    assert (run.fetched, run.created_count, run.updated_count, run.removed_count) == (
        5000,
        5000,
        0,
        0,
    )
    assert account.mirror() == account.remote()
    assert RemoteProfile.objects.filter(link=account.link).count() == 5000
    assert run.in_sync_label == "in sync: 5000 / 5000"
    # Keyset at limit=1000: 5 pages, the empty one that ends the walk, the changed-since walk,
    # and Copernica's count (limit=1), which agrees with the ids the walks saw: no id list.
    assert page_requests == 7 + 1
    assert id_list_requests(sandbox) == 0
    assert run.requests == all_requests


def test_three_full_syncs_without_changes_change_no_rows(
    linked: Callable[..., Linked],
) -> None:
    """Case 33."""
    account = linked(profiles=3000)
    full_sync(account)
    before = row_versions(account)

    again = [full_sync(account) for _ in range(2)]

    assert [(r.created_count, r.updated_count, r.removed_count) for r in again] == [(0, 0, 0)] * 2
    assert [r.fetched for r in again] == [3000, 3000]
    assert row_versions(account) == before


def test_a_page_copied_straight_in_is_written_again_staged_when_a_row_already_exists(
    linked: Callable[..., Linked], settings, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    """A profile created through the write-back while a first sync COPYs pages into the mirror:
    the COPY of its page fails, and that page is written again through the upsert."""
    settings.LINKER_SYNC_PAGE_SIZE = 100
    account = linked(profiles=300)
    ids = sorted(account.remote())
    created: list[int] = []
    prepare = Engine.prepare

    def prepare_and_meet_the_editor(engine: Engine, source: Source, page: Any) -> Any:
        prepared = prepare(engine, source, page)
        if not created and page.last_id > ids[150]:  # the second page, on the fetch thread
            try:
                RemoteProfile.objects.create(
                    link_id=engine.run.link_id,
                    database_id=source.pk,
                    copernica_id=ids[150],
                    fields={"email": "made-here@example.com"},
                )
                created.append(ids[150])
            finally:
                connection.close()
        return prepared

    monkeypatch.setattr(Engine, "prepare", prepare_and_meet_the_editor)
    run = full_sync(account)

    assert created == [ids[150]]
    assert run.state == "succeeded"
    assert (run.pages, run.created_count, run.updated_count) == (3, 299, 1)
    assert account.mirror() == account.remote()
    assert RemoteProfile.objects.filter(link=account.link).count() == 300
    assert run.removed_count == 0


def test_37_profiles_deleted_at_copernica_are_marked_removed(
    linked: Callable[..., Linked],
) -> None:
    """Case 31."""
    account = linked(profiles=5000)
    full_sync(account)
    ids = sorted(account.remote())
    deleted = set(ids[5::131][:37])
    assert len(deleted) == 37
    with account.client() as client:
        for profile_id in deleted:
            client.delete_profile(profile_id)

    run = full_sync(account)

    removed = set(
        RemoteProfile.objects.filter(link=account.link)
        .exclude(removed_at=None)
        .values_list("copernica_id", flat=True)
    )
    assert run.removed_count == 37
    assert removed == deleted  # exactly those: 0 false removals
    assert account.mirror() == account.remote()
    assert run.in_sync_label == "in sync: 4963 / 4963"


def test_profiles_created_and_deleted_during_a_full_sync_end_up_mirrored(
    linked: Callable[..., Linked], settings
) -> None:
    """Case 30."""
    settings.LINKER_SYNC_PAGE_SIZE = 500
    account = linked(profiles=5000)
    full_sync(account)
    run, _ = sync_run_request(link=account.link, mode="full", enqueue=False)
    sync_run_step(run_id=run.pk, max_pages=4)  # half way through
    ids = sorted(account.remote())
    behind, ahead = ids[100:105], ids[4000:4005]
    with account.client() as client:
        for profile_id in behind + ahead:
            client.delete_profile(profile_id)
        created = [
            client.create_profile(account.account.database_id, {"email": f"new{n}@example.com"})
            for n in range(7)
        ]
        client.update_profile(ids[50], {"city": "Zwolle"})

    run = sync_run_foreground(run=run)

    mirror = account.mirror()
    assert run.state == "succeeded"
    assert mirror == account.remote()
    assert {int(i) for i in created} <= set(mirror)
    assert not set(behind + ahead) & set(mirror)
    assert mirror[ids[50]][0]["city"] == "Zwolle"


def test_an_empty_id_list_removes_nothing(
    linked: Callable[..., Linked], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Case 32: Copernica answers the id list with []."""
    account = linked(profiles=2000)
    full_sync(account)

    with rewritten_profile_ids(monkeypatch, lambda ids: []):
        run = full_sync(account)

    assert run.state == "succeeded"
    assert run.removed_count == 0
    assert RemoteProfile.objects.filter(link=account.link, removed_at=None).count() == 2000
    assert "nothing was removed" in run.error_message


def test_a_truncated_id_list_is_refused_and_leaves_nothing_pending(
    linked: Callable[..., Linked], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Cases 32 and 45: a truncated list (30% missing) disagrees with Copernica's count, so it
    is refused as a whole: nothing removed, and no mass removal left waiting for agreement."""
    account = linked(profiles=2000)
    full_sync(account)
    # The list stops 70% of the way through, however it is paged.
    cutoff = sorted(account.remote())[1400]

    with rewritten_profile_ids(monkeypatch, lambda ids: [i for i in ids if int(i) < cutoff]):
        first = full_sync(account)
    live_after_first = RemoteProfile.objects.filter(link=account.link, removed_at=None).count()
    honest = full_sync(account)  # Copernica's real list: nothing missing, nothing pending

    assert (first.removed_count, first.pending_removals) == (0, 0)
    assert "held 1400 ids while Copernica counted 2000" in first.error_message
    assert live_after_first == 2000
    assert (honest.removed_count, honest.pending_removals) == (0, 0)
    assert SyncSchedule.objects.get(link=account.link).pending_removal_fingerprint == ""


def test_a_mass_deletion_at_copernica_is_applied_by_the_second_agreeing_run(
    linked: Callable[..., Linked],
) -> None:
    """Case 32: 20% deleted for real: the first run holds back, the second applies."""
    account = linked(profiles=1000)
    full_sync(account)
    with account.client() as client:
        for profile_id in sorted(account.remote())[:200]:
            client.delete_profile(profile_id)

    first = full_sync(account)
    second = full_sync(account)

    assert (first.removed_count, first.pending_removals) == (0, 200)
    assert (second.removed_count, second.pending_removals) == (200, 0)
    assert account.mirror() == account.remote()


def test_an_auth_error_mid_run_removes_nothing(linked: Callable[..., Linked], settings) -> None:
    """Case 32: access revoked half way; the run fails and the mirror keeps every profile."""
    settings.LINKER_SYNC_PAGE_SIZE = 500
    account = linked(profiles=3000)
    full_sync(account)
    with account.client() as client:
        for profile_id in sorted(account.remote())[:10]:
            client.delete_profile(profile_id)
    run = full_sync(account, max_pages=2)
    account.sandbox.revoke(account.account.api_token)
    from django.core.cache import cache

    cache.clear()  # the JWT cached by the first steps would outlive the revocation

    run = sync_run_foreground(run=run)

    assert run.state == "failed"
    assert run.removed_count == 0
    assert RemoteProfile.objects.filter(link=account.link, removed_at=None).count() == 3000
    account.link.refresh_from_db()
    assert account.link.state == "needs_reconnect"


def test_incremental_run_fetches_only_changed_profiles(
    linked: Callable[..., Linked], sandbox
) -> None:
    account = linked(profiles=5000)
    full_sync(account)
    changed = sorted(account.remote())[::100]  # 1%
    with account.client() as client:
        for profile_id in changed:
            client.update_profile(profile_id, {"city": "Incrementalstad"})
    sandbox.reset_stats()

    run, _ = sync_run_request(link=account.link, mode="incremental", enqueue=False)
    run = sync_run_foreground(run=run)
    page_requests = profile_page_requests(sandbox)

    assert run.state == "succeeded"
    assert run.updated_count == len(changed) == 50
    assert run.fetched < 100
    assert page_requests == 1
    assert account.mirror() == account.remote()


def test_the_same_sync_requested_ten_times_at_once_makes_one_run(
    linked: Callable[..., Linked],
) -> None:
    """Case 24 (the database side): 10 requests and two beats racing for one link."""
    account = linked(profiles=10)
    barrier = threading.Barrier(12)
    runs: list[int] = []

    def request() -> None:
        try:
            barrier.wait()
            run, _ = sync_run_request(link=account.link, mode="full", enqueue=False)
            runs.append(run.pk)
        finally:
            connection.close()

    def beat() -> None:
        try:
            barrier.wait()
            sync_schedule_due()
        finally:
            connection.close()

    threads = [threading.Thread(target=request) for _ in range(10)]
    threads += [threading.Thread(target=beat) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert SyncRun.objects.filter(link=account.link).count() == 1
    assert set(runs) == {SyncRun.objects.get(link=account.link).pk}


def test_a_link_that_is_not_usable_gets_a_skipped_run(linked: Callable[..., Linked]) -> None:
    account = linked(profiles=10)
    account.link.state = "needs_reconnect"
    account.link.save()

    run, created = sync_run_request(link=account.link, mode="full", enqueue=False)

    assert created
    assert run.state == "skipped"
    assert "needs reconnect" in run.error_message
    assert account.sandbox.stats()["api_calls"] == 0


@pytest.mark.skipif("connection.vendor != 'postgresql'")
def test_a_row_referring_to_the_link_commits_while_a_run_is_being_requested(
    linked: Callable[..., Linked],
) -> None:
    """The beat's new schedule row (its FK check at commit) never waits for the lock that
    ``sync_run_request`` holds on the link: that wait closed a deadlock cycle with the
    dashboard row the schedule's trigger had locked and the run's trigger wanted."""
    account = linked(profiles=10)
    requested, done = threading.Event(), threading.Event()

    def request() -> None:
        try:
            with transaction.atomic():  # the request's lock held until ``done``
                sync_run_request(link=account.link, mode="full", enqueue=False)
                requested.set()
                done.wait(timeout=30)
        finally:
            connection.close()

    holder = threading.Thread(target=request)
    holder.start()
    try:
        assert requested.wait(timeout=30)
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL lock_timeout = '2s'")
            RequestLogEntry.objects.create(
                link=account.link, at=timezone.now(), method="GET", path="/v4/x", duration_ms=1
            )
            with connection.cursor() as cursor:
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # the FK check, now
    finally:
        done.set()
        holder.join()

    assert RequestLogEntry.objects.filter(link=account.link).count() == 1
