"""A new link gets exactly one full run, on a real worker with the beat's ticks driven here; no
second "Full (schedule)" run a minute later (issue 12, problem 7)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from django.utils import timezone

from linker.models import SyncMode, SyncRun, SyncSchedule, SyncState
from linker.sync.controls import sync_now
from linker.sync.schedule import sync_schedule_due
from tests.linked_accounts import Linked
from tests.workers import celery_worker, wait_for, worker_env

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]


def _all_finished(link) -> bool:  # type: ignore[no-untyped-def]
    return not SyncRun.objects.filter(link=link, state__in=["queued", "running"]).exists()


def _full_runs(link) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    return list(
        SyncRun.objects.filter(link=link, mode=SyncMode.FULL)
        .order_by("id")
        .values_list("trigger", "state")
    )


def _ticks(link, start, minutes) -> None:  # type: ignore[no-untyped-def]
    """The beat, once a minute; each tick waits for what it queued to finish."""
    for minute in minutes:
        sync_schedule_due(now=start + timedelta(minutes=minute))
        wait_for(lambda: _all_finished(link), timeout=60, what="the queued runs to finish")


def _next_full_follows_the_hour(link, start) -> None:  # type: ignore[no-untyped-def]
    schedule = SyncSchedule.objects.get(link=link)
    assert schedule.next_full_at is not None
    assert timezone.localtime(schedule.next_full_at).hour == schedule.full_hour
    assert schedule.next_full_at > start + timedelta(minutes=3)


def test_a_new_link_gets_exactly_one_full_run_from_the_beat(
    linked: Callable[..., Linked], sandbox
) -> None:  # type: ignore[no-untyped-def]
    account = linked(profiles=40)
    start = timezone.now()

    with celery_worker(env=worker_env()):
        _ticks(account.link, start, range(4))

    assert _full_runs(account.link) == [("schedule", SyncState.SUCCEEDED)]
    _next_full_follows_the_hour(account.link, start)


def test_a_first_sync_now_counts_as_the_days_full_run(
    linked: Callable[..., Linked], sandbox
) -> None:  # type: ignore[no-untyped-def]
    account = linked(profiles=40)
    start = timezone.now()

    with celery_worker(env=worker_env()):
        sync_now(user=_agency_staff(account), tenant=account.tenant)
        sync_schedule_due(now=start)  # the beat sees the link while its first run is going
        wait_for(lambda: _all_finished(account.link), timeout=60, what="the first run")
        _ticks(account.link, start, range(1, 4))

    assert _full_runs(account.link) == [("manual", SyncState.SUCCEEDED)]
    _next_full_follows_the_hour(account.link, start)


def _agency_staff(account: Linked):  # type: ignore[no-untyped-def]
    from accounts.models import Role
    from tests.factories import make_agency, make_member

    agency = make_agency()
    account.tenant.agency = agency
    account.tenant.save()
    return make_member(role=Role.AGENCY_STAFF, agency=agency)
