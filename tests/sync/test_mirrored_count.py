"""The dashboard's count of mirrored profiles (``Link.profiles_mirrored``): exact after a full
run, kept by what an incremental run added, without counting the mirror on incremental runs."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from linker.models import Link, RemoteProfile, SyncRun
from linker.sync.runs import sync_run_foreground, sync_run_request
from tests.linked_accounts import Linked, synced

pytestmark = pytest.mark.django_db(transaction=True)


def run_sync(account: Linked, mode: str) -> SyncRun:
    run, created = sync_run_request(link=account.link, mode=mode, enqueue=False)
    assert created
    run = sync_run_foreground(run=run)
    assert run.state == "succeeded"
    return run


def mirrored(account: Linked) -> int:
    return Link.objects.values_list("profiles_mirrored", flat=True).get(pk=account.link.pk)


def mirror_counts(queries: list[dict[str, str]]) -> list[str]:
    """The captured statements that count the profile mirror."""
    return [
        query["sql"]
        for query in queries
        if "COUNT(" in query["sql"].upper() and "linker_remoteprofile" in query["sql"]
    ]


def test_an_incremental_run_that_adds_3_profiles_raises_the_count_by_3_without_counting(
    linked: Callable[..., Linked],
) -> None:
    account = synced(linked, 40)
    assert mirrored(account) == 40
    with account.client() as client:
        for number in range(3):
            client.create_profile(account.account.database_id, {"email": f"new{number}@x.nl"})
        client.update_profile(sorted(account.remote())[0], {"city": "Changed"})

    with CaptureQueriesContext(connection) as captured:
        run = run_sync(account, "incremental")

    assert (run.created_count, run.updated_count) == (3, 1)
    assert run.local_count == mirrored(account) == 43
    assert mirror_counts(captured.captured_queries) == []
    assert account.mirror() == account.remote()


def test_an_incremental_run_counts_a_profile_it_brings_back_from_removed(
    linked: Callable[..., Linked],
) -> None:
    account = synced(linked, 20)
    profile = sorted(account.remote())[5]
    RemoteProfile.objects.filter(link=account.link, copernica_id=profile).update(
        removed_at=timezone.now()
    )
    Link.objects.filter(pk=account.link.pk).update(profiles_mirrored=19)
    with account.client() as client:
        client.update_profile(profile, {"city": "Back again"})

    run_sync(account, "incremental")

    assert mirrored(account) == 20 == len(account.mirror())


def test_an_incremental_run_without_changes_keeps_the_count(
    linked: Callable[..., Linked],
) -> None:
    account = synced(linked, 20)

    run = run_sync(account, "incremental")

    assert run.local_count == mirrored(account) == 20


def test_a_full_run_sets_the_exact_count(linked: Callable[..., Linked]) -> None:
    account = synced(linked, 30)
    Link.objects.filter(pk=account.link.pk).update(profiles_mirrored=7)  # drifted somehow
    with account.client() as client:
        client.delete_profile(sorted(account.remote())[0])
        client.create_profile(account.account.database_id, {"email": "late@x.nl"})
        client.create_profile(account.account.database_id, {"email": "later@x.nl"})

    run_sync(account, "full")

    assert mirrored(account) == 31 == len(account.mirror())
