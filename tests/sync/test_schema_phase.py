"""The schema phase compares Copernica's databases and collections with the mirror's before it
writes: what differs is written, what Copernica no longer lists is marked removed, the rest
only has its ``synced_at`` touched."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.utils import timezone

from linker.models import RemoteCollection, RemoteDatabase, SyncRun
from linker.sync.runs import sync_run_foreground, sync_run_request
from tests.linked_accounts import Linked

pytestmark = pytest.mark.django_db(transaction=True)


def run_sync(account: Linked, mode: str) -> SyncRun:
    run, _ = sync_run_request(link=account.link, mode=mode, enqueue=False)
    run = sync_run_foreground(run=run)
    assert run.state == "succeeded"
    return run


def test_a_schema_that_differs_from_the_mirror_is_written_back_and_the_rest_touched(
    linked: Callable[..., Linked],
) -> None:
    account = linked(profiles=10, databases=2, collections=1, subprofiles=2)
    run_sync(account, "full")
    first, second = RemoteDatabase.objects.filter(link=account.link).order_by("copernica_id")
    collection = RemoteCollection.objects.filter(link=account.link).order_by("copernica_id")[0]
    described = (first.name, first.fields)
    touched_at = second.synced_at
    RemoteDatabase.objects.filter(pk=first.pk).update(name="Renamed here", fields=[])
    RemoteCollection.objects.filter(pk=collection.pk).update(removed_at=timezone.now())
    gone = RemoteDatabase.objects.create(link=account.link, copernica_id=999_999, name="Gone")

    run_sync(account, "incremental")

    first.refresh_from_db()
    second.refresh_from_db()
    collection.refresh_from_db()
    gone.refresh_from_db()
    assert (first.name, first.fields) == described != ("Renamed here", [])
    assert collection.removed_at is None
    assert gone.removed_at is not None
    assert second.synced_at is not None
    assert touched_at is not None
    assert second.synced_at > touched_at
    live = RemoteDatabase.objects.filter(link=account.link, removed_at=None).count()
    assert live == 2
    assert RemoteCollection.objects.filter(link=account.link, removed_at=None).count() == 2
