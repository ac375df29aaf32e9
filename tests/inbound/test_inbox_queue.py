"""The inbox's queue of pending events (migration 0021): every stored event is queued, however
it was stored, and leaves the queue when it is finished; finishing rewrites no index entry."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from linker.inbound import applying
from linker.models import InboundEvent, InboundPending, RemoteProfile
from linker.platform.delivery import Task
from tests.inbound.conftest import Hooked


def created(account: Hooked, profile: int) -> InboundEvent:
    return InboundEvent(
        link_id=account.link_id,
        body_sha256=f"{profile:064d}",
        action="create",
        kind="profile",
        copernica_id=profile,
        database_copernica_id=int(account.linked.account.database_id),
        modified=timezone.now(),
        payload={"fields": {"email": f"{profile}@example.nl"}},
    )


def test_events_stored_in_bulk_are_queued_and_leave_the_queue_when_applied(
    hooked: Callable[..., Hooked],
) -> None:
    account = hooked(profiles=2, register=False)
    InboundEvent.objects.bulk_create([created(account, 900_000 + n) for n in range(5)])
    assert InboundPending.objects.filter(link_id=account.link_id).count() == 5

    assert account.apply() == 5

    assert not InboundPending.objects.filter(link_id=account.link_id).exists()
    assert account.events(state="applied", note="created") == 5
    assert (
        RemoteProfile.objects.filter(link_id=account.link_id, copernica_id__gte=900_000).count()
        == 5
    )
    assert account.apply() == 0  # nothing applied twice


def test_deleting_events_takes_their_queue_rows_in_one_statement(
    hooked: Callable[..., Hooked],
) -> None:
    """The queue follows deletes by a trigger, so Django deletes events without loading them
    first (a relation it cascades along would make the daily prune read every old event)."""
    account = hooked(profiles=2, register=False)
    InboundEvent.objects.bulk_create([created(account, 900_000 + n) for n in range(5)])

    with CaptureQueriesContext(connection) as queries:
        InboundEvent.objects.filter(link_id=account.link_id).delete()

    assert [q["sql"].split()[0] for q in queries.captured_queries] == ["DELETE"]
    assert not InboundPending.objects.filter(link_id=account.link_id).exists()


def updates() -> tuple[int, int]:
    """The inbox's updates and HOT updates this backend counted and has not reported yet
    (they include an earlier test's until then; nothing is reported inside a transaction)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_xact_user_tables "
            "WHERE relname = 'linker_inboundevent'"
        )
        updated, hot = cursor.fetchone()
    return int(updated), int(hot)


def test_finishing_events_is_a_hot_update(hooked: Callable[..., Hooked]) -> None:
    """No column a worker sets when it finishes an event is indexed and the inbox's pages keep
    room, so PostgreSQL writes each finished version beside the old one without index entries
    (before, each finish added an entry to every index of the inbox)."""
    account = hooked(profiles=2, register=False)
    InboundEvent.objects.bulk_create([created(account, 900_000 + n) for n in range(50)])
    updated, hot = updates()

    assert account.apply() == 50

    assert updates() == (updated + 50, hot + 50)


def test_the_relay_enqueues_the_links_whose_queued_events_waited_too_long(
    hooked: Callable[..., Hooked], monkeypatch: pytest.MonkeyPatch
) -> None:
    waiting, fresh, done = (hooked(profiles=1, register=False) for _ in range(3))
    late = timezone.now() - timedelta(seconds=applying.RELAY_AFTER_SECONDS + 5)
    for account, received_at in ((waiting, late), (fresh, timezone.now()), (done, late)):
        event = created(account, 900_000)
        event.received_at = received_at
        event.save()
    done.apply()
    enqueued: list[tuple[object, int]] = []
    monkeypatch.setattr(applying, "enqueue", lambda task, link_id: enqueued.append((task, link_id)))

    assert applying.inbound_events_relay() == 1

    assert enqueued == [(Task.INBOUND_EVENTS_APPLY, waiting.link_id)]
