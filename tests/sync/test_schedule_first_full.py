"""The first full sync counts as the day's full sync (issue 12, problem 7): the next full run
follows the schedule's hour, not the next beat tick."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from linker.models import SyncMode, SyncRun, SyncSchedule, SyncState
from linker.sync.runs import sync_run_request
from linker.sync.schedule import sync_schedule_due
from tests.conftest import World
from tests.factories import link_tenant

pytestmark = pytest.mark.django_db(transaction=True)


def _succeed(run: SyncRun) -> None:
    SyncRun.objects.filter(pk=run.pk).update(
        state=SyncState.SUCCEEDED, finished_at=timezone.now(), claim=""
    )
    schedule, _ = SyncSchedule.objects.get_or_create(link_id=run.link_id)
    schedule.last_success_at = schedule.last_full_at = timezone.now()
    schedule.save()


def _full_runs(link) -> list[str]:  # type: ignore[no-untyped-def]
    return list(
        SyncRun.objects.filter(link=link, mode=SyncMode.FULL).values_list("trigger", flat=True)
    )


def _assert_next_full_at_the_hour(link, after) -> None:  # type: ignore[no-untyped-def]
    schedule = SyncSchedule.objects.get(link=link)
    assert schedule.next_full_at is not None
    local = timezone.localtime(schedule.next_full_at)
    assert local.hour == schedule.full_hour
    assert after < schedule.next_full_at <= after + timedelta(days=1, minutes=31)


def test_first_sight_of_a_link_gives_one_full_run_then_the_schedules_hour(world: World) -> None:
    link = link_tenant(world.tenant_a1)
    now = timezone.now()

    [run_id] = sync_schedule_due(now=now)
    _succeed(SyncRun.objects.get(pk=run_id))
    for minutes in (1, 2, 3):
        sync_schedule_due(now=now + timedelta(minutes=minutes))

    assert _full_runs(link) == ["schedule"]
    _assert_next_full_at_the_hour(link, now)


def test_a_first_full_run_started_by_hand_counts_as_the_days_full_run(world: World) -> None:
    link = link_tenant(world.tenant_a1)
    now = timezone.now()
    manual, _ = sync_run_request(link=link, mode=SyncMode.FULL, trigger="manual", enqueue=False)

    assert sync_schedule_due(now=now) == []  # busy with the manual run
    _succeed(manual)
    for minutes in (1, 2, 3):
        sync_schedule_due(now=now + timedelta(minutes=minutes))

    assert _full_runs(link) == ["manual"]
    _assert_next_full_at_the_hour(link, now)


def test_a_schedule_row_made_by_a_finished_full_run_plans_the_next_at_the_hour(
    world: World,
) -> None:
    link = link_tenant(world.tenant_a1)
    demo, _ = sync_run_request(link=link, mode=SyncMode.FULL, trigger="demo", enqueue=False)
    _succeed(demo)  # as the engine does: the schedule row appears with next_full_at unset
    now = timezone.now()

    sync_schedule_due(now=now + timedelta(minutes=1))

    assert _full_runs(link) == ["demo"]
    _assert_next_full_at_the_hour(link, now)
