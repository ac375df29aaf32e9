"""Subprofile changes sent by the outbox on a real Celery worker: each message delivered twice,
each change made at Copernica once, and checked for a conflict once."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from linker.models import ProfileChange, RemoteSubprofile
from linker.profiles import tasks as profile_tasks
from linker.profiles.change_selectors import subprofile_version
from linker.profiles.changes import subprofile_change_submit
from tests.linked_accounts import Linked
from tests.profiles.conftest import requests, synced_shop
from tests.workers import celery_worker, wait_for, worker_env

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]


def env() -> dict[str, str]:
    return worker_env(LINKER_RETRY_BASE_SECONDS="0.2", LINKER_SYNC_CLIENT_RETRIES="0")


def all_final(ids: list[int]) -> bool:
    return not ProfileChange.objects.filter(pk__in=ids, state__in=["queued", "sending"]).exists()


def test_subprofile_changes_delivered_twice_reach_copernica_once(
    linked: Callable[..., Linked], sandbox
) -> None:
    shop = synced_shop(linked)
    subs = list(
        RemoteSubprofile.objects.filter(collection=shop.collection).order_by("copernica_id")
    )
    parents = sorted({sub.profile_copernica_id for sub in subs})
    changes = [
        subprofile_change_submit(
            user=shop.editor,
            tenant=shop.tenant,
            kind="create",
            collection=shop.collection,
            profile=parent,
            fields={"product": f"Twice {n}", "quantity": n + 1},
        )
        for n, parent in enumerate(parents[:4])
    ]
    changes += [
        subprofile_change_submit(
            user=shop.editor,
            tenant=shop.tenant,
            kind="update",
            subprofile=sub,
            fields={"status": "shipped twice"},
            base_modified=subprofile_version(subprofile=sub),
        )
        for sub in subs[:4]
    ]
    changes += [
        subprofile_change_submit(
            user=shop.editor, tenant=shop.tenant, kind="delete", subprofile=sub
        )
        for sub in subs[4:8]
    ]
    for change in changes:
        profile_tasks.profile_change_send.delay(change.pk)  # the second delivery of each

    with celery_worker(env=env(), concurrency=2):
        wait_for(lambda: all_final([c.pk for c in changes]), timeout=60)
    stats = sandbox.stats()

    rows = ProfileChange.objects.filter(pk__in=[c.pk for c in changes]).order_by("id")
    assert list(rows.values_list("state", "attempts")) == [("done", 1)] * 12
    assert (
        stats["subprofiles_created"],
        stats["subprofiles_updated"],
        stats["subprofiles_deleted"],
    ) == (4, 4, 4)
    assert requests(sandbox, "GET /v4/subprofile/{id}") == 4  # one conflict check per update
    with shop.linked.client() as client:
        made = client.find_subprofiles(shop.collection.copernica_id, ["product=~Twice%"])
    assert sorted(item["fields"]["product"] for item in made) == [f"Twice {n}" for n in range(4)]
    assert (
        RemoteSubprofile.objects.filter(
            collection=shop.collection, fields__product__startswith="Twice", removed_at=None
        ).count()
        == 4
    )
