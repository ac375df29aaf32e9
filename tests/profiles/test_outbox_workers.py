"""Profile changes sent by the outbox on real Celery workers (reliability.md cases 20-23, 36).

Each message may be delivered twice, an answer may be lost on the way back, Copernica may
answer 503, 400 or 429: every change still reaches Copernica exactly once, or ends with the
reason it cannot.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import pytest

from accounts.models import Membership
from linker.models import ProfileChange
from linker.profiles import tasks as profile_tasks
from linker.profiles.changes import profile_change_submit
from tests.linked_accounts import Linked, synced
from tests.workers import celery_worker, wait_for, worker_env

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]

WORKER_SETTINGS = {"LINKER_RETRY_BASE_SECONDS": "0.2", "LINKER_SYNC_CLIENT_RETRIES": "0"}


@pytest.fixture(autouse=True)
def _same_settings_here(settings) -> None:  # type: ignore[no-untyped-def]
    """The test process's services use the workers' settings."""
    settings.LINKER_RETRY_BASE_SECONDS = 0.2


def env() -> dict[str, str]:
    return worker_env(**WORKER_SETTINGS)


def submit_creates(account: Linked, count: int, prefix: str) -> list[ProfileChange]:
    return [
        profile_change_submit(
            user=account.editor,
            tenant=account.tenant,
            kind="create",
            fields={"email": f"{prefix}{n}@example.com", "firstname": f"N{n}", "age": n % 90},
        )
        for n in range(count)
    ]


def all_final(ids: list[int]) -> bool:
    return not ProfileChange.objects.filter(pk__in=ids, state__in=["queued", "sending"]).exists()


def test_changes_delivered_twice_reach_copernica_once(
    linked: Callable[..., Linked], sandbox
) -> None:
    """Case 20: creates, updates and deletes, each message delivered twice."""
    account = synced(linked, 50)
    targets = sorted(account.remote())
    changes = submit_creates(account, 10, "twice")
    changes += [
        profile_change_submit(
            user=account.editor,
            tenant=account.tenant,
            kind="update",
            profile=profile_id,
            fields={"city": "Twice"},
        )
        for profile_id in targets[:5]
    ]
    changes += [
        profile_change_submit(
            user=account.editor, tenant=account.tenant, kind="delete", profile=profile_id
        )
        for profile_id in targets[5:10]
    ]
    for change in changes:
        profile_tasks.profile_change_send.delay(change.pk)  # the second delivery of each

    with celery_worker(env=env(), concurrency=2):
        wait_for(lambda: all_final([c.pk for c in changes]), timeout=60)
    stats = sandbox.stats()

    states = list(ProfileChange.objects.filter(pk__in=[c.pk for c in changes]).values_list(
        "state", "attempts"
    ))  # fmt: skip
    assert states == [("done", 1)] * 20
    assert (stats["profiles_created"], stats["profiles_updated"], stats["profiles_deleted"]) == (
        10,
        5,
        5,
    )


def test_a_create_whose_answer_was_lost_is_not_created_twice(
    linked: Callable[..., Linked], sandbox
) -> None:
    """Case 21: the connection drops after Copernica created the profile."""
    account = synced(linked, 20)
    sandbox.fault(path="/v4/database/", method="POST", drop="after", count=1)
    [change] = submit_creates(account, 1, "lost")

    with celery_worker(env=env()):
        wait_for(lambda: all_final([change.pk]), timeout=60)
    change.refresh_from_db()
    with account.client() as client:
        found = client.find_profiles(account.account.database_id, {"email": "lost0@example.com"})

    assert change.state == "done"
    assert change.attempts == 2
    assert len(found) == 1
    assert int(found[0]["ID"]) == change.copernica_profile_id
    assert sandbox.stats()["profiles_created"] == 1


def test_503_four_times_then_success_on_attempt_five_with_growing_waits(
    linked: Callable[..., Linked], sandbox
) -> None:
    """Case 22."""
    account = synced(linked, 20)
    sandbox.fault(path="/v4/database/", method="POST", status=503, count=4)
    [change] = submit_creates(account, 1, "flaky")

    with celery_worker(env=env()):
        wait_for(lambda: all_final([change.pk]), timeout=60)
    change.refresh_from_db()
    waits = [entry["retry_in"] for entry in change.attempt_log if "retry_in" in entry]

    assert (change.state, change.attempts) == ("done", 5)
    assert sandbox.stats()["profiles_created"] == 1
    assert len(waits) == 4
    for n, wait in enumerate(waits):
        ceiling = 0.2 * 2**n
        assert ceiling / 2 <= wait <= ceiling  # exponential, with jitter inside each step
    assert waits == sorted(waits)


def test_a_400_is_never_retried_and_shows_copernicas_message(
    linked: Callable[..., Linked], sandbox
) -> None:
    """Case 22: deleting a profile someone already removed at Copernica."""
    account = synced(linked, 20)
    target = sorted(account.remote())[0]
    change = profile_change_submit(
        user=account.editor, tenant=account.tenant, kind="delete", profile=target
    )
    with account.client() as client:
        client.delete_profile(target)
    deletes_before = sandbox.stats()["requests"].get("DELETE /v4/profile/{id}", 0)

    with celery_worker(env=env()):
        wait_for(lambda: all_final([change.pk]), timeout=60)
    change.refresh_from_db()

    assert (change.state, change.attempts) == ("failed", 1)
    assert change.error_message == "This profile has already been removed"
    assert sandbox.stats()["requests"]["DELETE /v4/profile/{id}"] == deletes_before + 1


def test_429_with_retry_after_delays_the_next_attempt(
    linked: Callable[..., Linked], sandbox
) -> None:
    """Case 23: the next attempt waits at least Retry-After."""
    account = synced(linked, 20)
    sandbox.fault(path="/v4/database/", method="POST", status=429, retry_after=2, count=1)
    [change] = submit_creates(account, 1, "slow")

    with celery_worker(env=env()):
        wait_for(lambda: all_final([change.pk]), timeout=60)
    change.refresh_from_db()
    refused, accepted = change.attempt_log[0], change.attempt_log[-1]
    gap = datetime.fromisoformat(accepted["sent_at"]) - datetime.fromisoformat(refused["at"])

    assert (change.state, change.attempts) == ("done", 2)
    assert refused["retry_in"] >= 2
    assert gap >= timedelta(seconds=2)
    assert sandbox.stats()["profiles_created"] == 1


def test_changes_of_a_user_who_lost_access_are_cancelled(
    linked: Callable[..., Linked], sandbox
) -> None:
    """Case 36 (the worker side)."""
    account = synced(linked, 20)
    changes = submit_creates(account, 3, "gone")
    Membership.objects.filter(user=account.editor).delete()

    with celery_worker(env=env()):
        wait_for(lambda: all_final([c.pk for c in changes]), timeout=60)

    assert set(
        ProfileChange.objects.filter(pk__in=[c.pk for c in changes]).values_list("state", flat=True)
    ) == {"cancelled"}
    assert sandbox.stats()["profiles_created"] == 0
