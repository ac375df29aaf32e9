"""The beat's tick at scale (issue 16): the same queries however many links, due links started
in batches, busy links not tried again every minute, and no link left without a schedule."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import Tenant
from linker.celery import app
from linker.models import Link, LinkState, SyncMode, SyncRun, SyncSchedule, SyncState
from linker.platform import vault
from linker.platform.keys import token_context
from linker.sync import schedule as schedule_module
from linker.sync.schedule import BUSY_RETRY, next_full_at, sync_schedule_due

pytestmark = pytest.mark.django_db(transaction=True)

DUE_EVERY = 15


@pytest.fixture(autouse=True)
def _hourly_scan_done() -> Iterator[None]:
    """Ticks as between two hourly full scans (the steady state), unless a test says not."""
    cache.set(schedule_module._FULL_SCAN_KEY, "1", timeout=schedule_module.FULL_SCAN_EVERY)
    yield
    cache.delete(schedule_module._FULL_SCAN_KEY)


def _links(count: int, *, state: str = LinkState.ACTIVE) -> list[Link]:
    tenants = Tenant.objects.bulk_create([Tenant(name=f"Scale {n}") for n in range(count)])
    links = []
    for tenant in tenants:
        link = Link(tenant=tenant, uid=uuid.uuid4(), state=state, linked_at=timezone.now())
        link.access_token_encrypted = vault.encrypt("not-a-token", context=token_context(link))
        links.append(link)
    return Link.objects.bulk_create(links)


def _scheduled(count: int, *, due_every: int = 0) -> list[Link]:
    """``count`` active links with schedules, none due, or every ``due_every``-th due now."""
    links = _links(count)
    now = timezone.now()
    SyncSchedule.objects.bulk_create(
        SyncSchedule(
            link=link,
            next_incremental_at=now - timedelta(seconds=30)
            if due_every and n % due_every == 0
            else now + timedelta(minutes=10),
            next_full_at=next_full_at(full_hour=2, now=now),
            last_full_at=now - timedelta(hours=20),
        )
        for n, link in enumerate(links)
    )
    return links


def _statements(queries: CaptureQueriesContext) -> list[str]:
    """The SQL statements sent, without BEGIN and COMMIT (as the bench counts them)."""
    sent = [query["sql"] for query in queries.captured_queries]
    return [sql for sql in sent if sql not in ("BEGIN", "COMMIT")]


def _tick() -> tuple[int, list[int]]:
    with CaptureQueriesContext(connection) as queries:
        created = sync_schedule_due(now=timezone.now())
    return len(_statements(queries)), created


def _purge_published() -> int:
    with app.connection_for_write() as conn:
        return int(conn.default_channel.queue_purge("default") or 0)


def _reset() -> None:
    SyncRun.objects.all().delete()
    SyncSchedule.objects.all().delete()
    Link.objects.all().delete()
    Tenant.objects.all().delete()


def test_a_tick_with_nothing_due_makes_the_same_queries_at_10_and_300_links() -> None:
    counts = {}
    for size in (10, 300):
        _scheduled(size)
        counts[size], created = _tick()
        assert created == []
        _reset()

    print(f"queries per tick, nothing due: {counts}")
    assert counts[10] == counts[300] <= 3


def test_a_tick_with_one_in_15_due_makes_the_same_queries_at_10_and_300_links() -> None:
    counts, started, published = {}, {}, {}
    for size in (10, 300):
        links = _scheduled(size, due_every=DUE_EVERY)
        _purge_published()
        counts[size], created = _tick()
        started[size], published[size] = len(created), _purge_published()
        due = {link.pk for n, link in enumerate(links) if n % DUE_EVERY == 0}
        runs = SyncRun.objects.filter(pk__in=created)
        assert set(runs.values_list("link_id", flat=True)) == due
        assert set(runs.values_list("mode", "trigger", "state")) == {
            (SyncMode.INCREMENTAL, "schedule", SyncState.QUEUED)
        }
        _reset()

    print(f"queries per tick, 1/15 due: {counts}; runs {started}; published {published}")
    assert counts[10] == counts[300] <= 7
    assert started == published == {10: 1, 300: 20}


def test_due_links_beyond_one_batch_are_all_started() -> None:
    links = _scheduled(25, due_every=1)

    created = sync_schedule_due(now=timezone.now(), batch=10)

    assert sorted(SyncRun.objects.filter(pk__in=created).values_list("link_id", flat=True)) == (
        sorted(link.pk for link in links)
    )


def test_a_link_still_busy_is_not_tried_again_every_minute() -> None:
    [link] = _scheduled(1, due_every=1)
    SyncRun.objects.create(link=link, mode=SyncMode.INCREMENTAL, state=SyncState.RUNNING)
    now = timezone.now()

    assert sync_schedule_due(now=now) == []
    schedule = SyncSchedule.objects.get(link=link)
    assert schedule.next_incremental_at is not None
    assert schedule.next_incremental_at >= now + timedelta(minutes=schedule.incremental_minutes)
    with CaptureQueriesContext(connection) as later:
        assert sync_schedule_due(now=now + timedelta(minutes=1)) == []
    # The next minute's tick finds nothing to do: no run asked for, no due time written.
    statements = [sql.split()[0] for sql in _statements(later)]
    assert statements.count("SELECT") == len(statements) <= 3
    assert SyncRun.objects.filter(link=link).count() == 1


def test_a_full_run_due_behind_an_incremental_run_waits_a_few_minutes() -> None:
    [link] = _scheduled(1)
    now = timezone.now()
    SyncSchedule.objects.filter(link=link).update(next_full_at=now - timedelta(minutes=1))
    SyncRun.objects.create(link=link, mode=SyncMode.INCREMENTAL, state=SyncState.RUNNING)

    assert sync_schedule_due(now=now) == []
    assert SyncSchedule.objects.get(link=link).next_full_at == now + BUSY_RETRY

    SyncRun.objects.filter(link=link).update(state=SyncState.SUCCEEDED)
    [run_id] = sync_schedule_due(now=now + BUSY_RETRY)
    assert SyncRun.objects.get(pk=run_id).mode == SyncMode.FULL
    assert timezone.localtime(SyncSchedule.objects.get(link=link).next_full_at).hour == 2


def test_a_full_run_going_when_the_full_run_falls_due_counts_as_the_days() -> None:
    [link] = _scheduled(1)
    now = timezone.now()
    far_hour = (timezone.localtime(now).hour + 12) % 24  # never within BUSY_RETRY of now
    SyncSchedule.objects.filter(link=link).update(
        next_full_at=now - timedelta(minutes=1), full_hour=far_hour
    )
    SyncRun.objects.create(link=link, mode=SyncMode.FULL, state=SyncState.RUNNING)

    assert sync_schedule_due(now=now) == []
    schedule = SyncSchedule.objects.get(link=link)
    assert schedule.next_full_at is not None
    assert timezone.localtime(schedule.next_full_at).hour == far_hour
    assert schedule.next_full_at > now + timedelta(hours=11)


def test_a_link_confirmed_long_after_it_was_made_gets_its_first_full_run() -> None:
    """A pending link gets its schedule when first seen; once active it is due at once."""
    [pending] = _links(1, state=LinkState.PENDING)
    assert sync_schedule_due(now=timezone.now()) == []
    assert SyncSchedule.objects.filter(link=pending).exists()
    _scheduled(250)  # many newer links: the pending one is far below the newest

    Link.objects.filter(pk=pending.pk).update(state=LinkState.ACTIVE)
    created = sync_schedule_due(now=timezone.now())

    assert list(
        SyncRun.objects.filter(pk__in=created, link=pending).values_list("mode", flat=True)
    ) == [SyncMode.FULL]


def test_a_link_left_without_a_schedule_is_found_by_the_hourly_full_scan(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(schedule_module, "NEW_LINKS_MARGIN", 0)
    older, newer = _links(2)
    SyncSchedule.objects.create(link=newer, next_full_at=timezone.now() + timedelta(hours=1))

    sync_schedule_due(now=timezone.now())
    assert not SyncSchedule.objects.filter(link=older).exists()  # below the newest: not looked at

    cache.delete(schedule_module._FULL_SCAN_KEY)  # an hour later
    created = sync_schedule_due(now=timezone.now())
    assert SyncRun.objects.get(pk__in=created, link=older).mode == SyncMode.FULL


def test_a_run_made_after_the_batch_was_read_is_not_doubled(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A run committed between the batch's read and its INSERT (case 24's race, narrowed to
    the tick): the INSERT breaks the one-active-run index and the batch asks link by link."""
    racing, other = _scheduled(2, due_every=1)
    read = schedule_module._due_batch

    def read_then_race(now, size):  # type: ignore[no-untyped-def]
        schedules = read(now, size)
        SyncRun.objects.create(link=racing, mode=SyncMode.FULL, trigger="manual")
        return schedules

    monkeypatch.setattr(schedule_module, "_due_batch", read_then_race)
    created = sync_schedule_due(now=timezone.now())

    active = SyncRun.objects.filter(state__in=[SyncState.QUEUED, SyncState.RUNNING])
    assert sorted(active.values_list("link_id", "trigger")) == sorted(
        [(racing.pk, "manual"), (other.pk, "schedule")]
    )
    assert list(SyncRun.objects.filter(pk__in=created).values_list("link_id", flat=True)) == [
        other.pk
    ]
