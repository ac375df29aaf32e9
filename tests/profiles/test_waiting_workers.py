"""A change made while the link needs reconnecting waits, then reaches Copernica once, in order,
after the reconnect: on a real Celery worker (issue 12, problem 2)."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from linker.models import ProfileChange
from linker.profiles.changes import profile_change_submit
from tests.linked_accounts import Linked
from tests.profiles.conftest import synced_shop
from tests.profiles.test_waiting_changes import break_link, reconnect, remote_city
from tests.workers import celery_worker, wait_for, worker_env

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]


def test_changes_made_while_the_link_needs_reconnecting_are_sent_once_in_order_after_it(
    linked: Callable[..., Linked], sandbox
) -> None:  # type: ignore[no-untyped-def]
    shop = synced_shop(linked)
    break_link(shop)
    profile = shop.profile()
    first, second = (
        profile_change_submit(
            user=shop.editor, tenant=shop.tenant, kind="update", profile=profile,
            fields={"city": city},
        )
        for city in ("Before", "After")
    )  # fmt: skip
    ids = [first.pk, second.pk]

    with celery_worker(env=worker_env(LINKER_RETRY_BASE_SECONDS="0.2")):
        time.sleep(1.0)  # a worker is there, and still nothing goes out
        assert set(ProfileChange.objects.filter(pk__in=ids).values_list("state", flat=True)) == {
            "waiting"
        }
        assert sandbox.stats()["profiles_updated"] == 0

        reconnect(shop)  # as the OAuth callback does

        wait_for(
            lambda: not ProfileChange.objects.filter(pk__in=ids).exclude(state="done").exists(),
            timeout=60,
            what="both changes to be done",
        )
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.attempts, second.attempts) == (1, 1)
    assert first.finished_at is not None
    assert second.finished_at is not None
    assert first.finished_at < second.finished_at
    assert sandbox.stats()["profiles_updated"] == 2
    assert remote_city(shop) == "After"
