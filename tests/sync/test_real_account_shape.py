"""A real account's shape: several databases, collections with subprofiles, capped id lists,
Amsterdam time (reliability.md cases 46 and 48), against PostgreSQL and the sandbox over HTTP."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.utils import timezone

from linker.models import RemoteCollection, RemoteDatabase, RemoteSubprofile, SyncRun
from linker.sync import reconcile
from linker.sync.activity import mirror_coverage
from linker.sync.runs import (
    sync_run_foreground,
    sync_run_request,
    sync_run_step,
    sync_runs_reconcile,
)
from tests.linked_accounts import Linked
from tests.sync.sandbox_counts import id_list_requests

pytestmark = pytest.mark.django_db(transaction=True)

SHAPE = {"databases": 3, "collections": 2, "subprofiles": 300}


def sync(account: Linked, mode: str = "full", **step: Any) -> SyncRun:
    run, created = sync_run_request(link=account.link, mode=mode, enqueue=False)
    assert created
    if step:
        sync_run_step(run_id=run.pk, **step)
        run.refresh_from_db()
        return run
    return sync_run_foreground(run=run)


def subprofile_page_requests(sandbox) -> int:  # type: ignore[no-untyped-def]
    return sum(
        count
        for key, count in sandbox.stats()["requests"].items()
        if key.startswith("GET ") and key.endswith("/subprofiles")
    )


def test_three_databases_with_two_collections_each_sync_completely(
    linked: Callable[..., Linked],
) -> None:
    account = linked(profiles=400, **SHAPE)

    run = sync(account)

    assert run.state == "succeeded"
    assert RemoteDatabase.objects.filter(link=account.link, removed_at=None).count() == 3
    assert RemoteCollection.objects.filter(link=account.link, removed_at=None).count() == 6
    remote_subprofiles = account.remote_subprofiles()
    assert len(remote_subprofiles) == 6 * 300
    assert account.mirror_subprofiles() == remote_subprofiles
    remote_profiles = account.remote_all()
    assert len(remote_profiles) == 3 * 400
    assert account.mirror_all() == remote_profiles
    coverage = mirror_coverage(link=account.link)
    assert len(coverage) == 3 + 6
    assert all(row.in_sync for row in coverage)
    assert {row.remote for row in coverage} == {400, 300}


def test_subprofiles_deleted_at_copernica_are_marked_removed_and_only_those(
    linked: Callable[..., Linked],
) -> None:
    account = linked(profiles=200, databases=1, collections=2, subprofiles=500)
    sync(account)
    collection_id = account.account.collection_ids[account.account.database_id][0]
    ids = sorted(
        i for i, row in account.remote_subprofiles().items() if row[0] == int(collection_id)
    )
    deleted = set(ids[3::50])
    with account.client() as client:
        for subprofile_id in deleted:
            client.delete_subprofile(subprofile_id)

    run = sync(account)

    removed = set(
        RemoteSubprofile.objects.filter(link=account.link)
        .exclude(removed_at=None)
        .values_list("copernica_id", flat=True)
    )
    assert run.state == "succeeded"
    assert removed == deleted
    assert account.mirror_subprofiles() == account.remote_subprofiles()


def test_a_profile_removed_at_copernica_takes_its_subprofiles_out_of_the_mirror(
    linked: Callable[..., Linked],
) -> None:
    account = linked(profiles=100, databases=1, collections=1, subprofiles=400)
    sync(account)
    owner = next(iter(account.remote_subprofiles().values()))[1]
    owned = {i for i, row in account.remote_subprofiles().items() if row[1] == owner}
    assert owned
    with account.client() as client:
        client.delete_profile(owner)

    sync(account)

    live = set(
        RemoteSubprofile.objects.filter(link=account.link, removed_at=None).values_list(
            "copernica_id", flat=True
        )
    )
    assert not owned & live
    assert account.mirror_subprofiles() == account.remote_subprofiles()


def test_an_incremental_run_fetches_only_changed_subprofiles(
    linked: Callable[..., Linked], sandbox
) -> None:  # type: ignore[no-untyped-def]
    account = linked(profiles=100, databases=1, collections=2, subprofiles=1000)
    sync(account)
    target = sorted(account.remote_subprofiles())[17]
    sandbox.reset_stats()
    with account.client() as client:
        collection_id = client.get_subprofile(target)["collection"]
        fields = client.collection_fields(collection_id)
        name = next(str(f["name"]) for f in fields if f.get("type") == "text")
        client.update_subprofile(target, {name: "Changed later"})

    run = sync(account, mode="incremental")

    row = RemoteSubprofile.objects.get(link=account.link, copernica_id=target)
    assert run.state == "succeeded"
    assert row.fields[name] == "Changed later"
    # One short page per collection: not the 1,000 subprofiles of each.
    assert subprofile_page_requests(sandbox) == 2
    assert run.fetched < 100


def test_id_lists_capped_at_100_remove_nothing_live_and_find_real_deletions(
    linked: Callable[..., Linked], sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    """Case 46: Copernica answers an unpaged id list with at most 100 ids. (The runs read the
    id lists: a full run otherwise takes the ids its walk saw when Copernica's count agrees.)"""
    monkeypatch.setattr(reconcile, "WALKED_LISTS", False)
    account = linked(profiles=5000, databases=1, collections=1, subprofiles=2000)
    sync(account)
    sandbox.set_options(id_list_cap=100)
    ids = sorted(account.remote())
    deleted = set(ids[7::400])
    with account.client() as client:
        for profile_id in deleted:
            client.delete_profile(profile_id)
    sandbox.reset_stats()

    run = sync(account)

    assert id_list_requests(sandbox) == 5 + 1 + 2 + 1  # both lists, paged to their empty end
    assert run.state == "succeeded"
    assert run.removed_count >= len(deleted)  # the profiles, and their subprofiles
    assert account.mirror() == account.remote()  # 0 false removals, every real one found
    assert account.mirror_subprofiles() == account.remote_subprofiles()
    assert run.in_sync_label == f"in sync: {5000 - len(deleted)} / {5000 - len(deleted)}"


def test_a_run_that_stopped_mid_collection_resumes_at_its_checkpoint(
    linked: Callable[..., Linked], sandbox, settings
) -> None:  # type: ignore[no-untyped-def]
    """The worker is lost in the middle of a collection's subprofiles."""
    settings.LINKER_SYNC_PAGE_SIZE = 200
    account = linked(profiles=400, databases=1, collections=2, subprofiles=1000)
    run = sync(account, max_pages=2 + 5 + 2)  # the profiles, one collection, 2 pages more
    assert run.checkpoint["source_index"] == 2
    assert run.checkpoint["after_id"] > 0
    # The worker dies holding the claim: the reconciler takes the run over.
    SyncRun.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))
    assert sync_runs_reconcile(stale_after=timedelta(minutes=5)) == [run.pk]
    before = subprofile_page_requests(sandbox)

    run = sync_run_foreground(run=run)
    fetched_after = subprofile_page_requests(sandbox) - before

    assert run.state == "succeeded"
    # The rest of the second collection (3 pages and the empty end), then one page of each
    # collection for the reconcile walk: nothing fetched twice. (And Copernica's count of each
    # collection, asked on the same path, which agrees with what the walks saw.)
    assert fetched_after == 3 + 1 + 2 + 2
    assert id_list_requests(sandbox) == 0
    assert account.mirror_subprofiles() == account.remote_subprofiles()


def test_a_change_in_the_repeated_autumn_hour_is_picked_up_by_the_next_incremental_run(
    linked: Callable[..., Linked], sandbox
) -> None:  # type: ignore[no-untyped-def]
    """Case 48: on 2026-10-25 Amsterdam's clocks go back from 03:00 to 02:00."""
    account = linked(profiles=50)
    sync(account)
    first, second = sorted(account.remote())[:2]
    # 02:50 summer time (first pass), then 02:20 winter time (second pass): half an hour
    # later, but an earlier wall-clock string.
    first_pass = datetime(2026, 10, 25, 0, 50, tzinfo=UTC)
    second_pass = datetime(2026, 10, 25, 1, 20, tzinfo=UTC)
    sandbox.set_options(clock=first_pass.timestamp())
    with account.client() as client:
        client.update_profile(first, {"city": "First pass"})
    assert sync(account, mode="incremental").state == "succeeded"
    assert account.mirror()[first][2] == "2026-10-25 02:50:00"
    sandbox.set_options(clock=second_pass.timestamp())
    with account.client() as client:
        client.update_profile(second, {"city": "Second pass"})
    assert account.remote()[second][2] == "2026-10-25 02:20:00"

    run = sync(account, mode="incremental")

    assert run.state == "succeeded"
    assert account.mirror()[second][0]["city"] == "Second pass"
    assert account.mirror() == account.remote()
