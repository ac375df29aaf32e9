"""When links sync: the beat's due check, and the schedule agency staff can override.

A link's first full run counts as the day's full run, whoever started it (the beat on first
sight of the link, *Sync now*, the demo): from then on full runs follow the schedule's hour.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts.models import Tenant
from accounts.selectors import AnyUser, can_manage_tenant
from linker.linking.links import link_get
from linker.models import ACTIVE_SYNC_STATES, Link, SyncMode, SyncRun, SyncSchedule, SyncState
from linker.platform.errors import InvalidInputError
from linker.sync.runs import sync_run_request

#: Full runs start at a random moment within this much after their hour, so that links with
#: the same hour don't all start together.
FULL_RUN_SPREAD = timedelta(minutes=30)


def next_full_at(*, full_hour: int, now: datetime, spread: bool = True) -> datetime:
    """The next ``full_hour`` o'clock (in the current time zone) after ``now``."""
    local = timezone.localtime(now)
    candidate = local.replace(hour=full_hour, minute=0, second=0, microsecond=0)
    if candidate <= local:
        candidate += timedelta(days=1)
    if spread:
        candidate += timedelta(seconds=random.uniform(0, FULL_RUN_SPREAD.total_seconds()))
    return candidate


def _next_incremental_at(schedule: SyncSchedule, now: datetime) -> datetime:
    return now + timedelta(minutes=schedule.incremental_minutes, seconds=random.uniform(0, 60))


def _full_run_held(schedule: SyncSchedule) -> bool:
    """Whether the link already had (or is having) a full run, although the schedule has not
    planned one yet: then that run is the day's full run."""
    if schedule.last_full_at is not None:
        return True
    return SyncRun.objects.filter(
        link_id=schedule.link_id,
        mode=SyncMode.FULL,
        state__in=[*ACTIVE_SYNC_STATES, SyncState.SUCCEEDED],
    ).exists()


def sync_schedule_due(*, now: datetime | None = None) -> list[int]:
    """Queue the runs that are due (beat, every minute); returns the ids of new runs.

    Schedule rows are locked with SKIP LOCKED, so two beats running at once split the work
    instead of doubling it; the one-active-run rule covers the rest.
    """
    now = now or timezone.now()
    for link in Link.objects.filter(state="active").exclude(access_token_encrypted=""):
        if not hasattr(link, "sync_schedule"):
            SyncSchedule.objects.get_or_create(
                link=link,
                defaults={
                    # Jitter the first run so links linked together don't sync in lockstep.
                    "next_incremental_at": now + timedelta(seconds=random.uniform(0, 60)),
                    "next_full_at": None,
                },
            )
    created: list[int] = []
    due = Q(next_incremental_at__lte=now) | Q(next_full_at__lte=now) | Q(next_full_at=None)
    ids = list(
        SyncSchedule.objects.filter(due, enabled=True, link__state="active").values_list(
            "pk", flat=True
        )
    )
    for schedule_id in ids:
        with transaction.atomic():
            schedule = (
                SyncSchedule.objects.select_for_update(skip_locked=True)
                .select_related("link")
                .filter(pk=schedule_id)
                .first()
            )
            if schedule is None:
                continue
            if schedule.next_full_at is None and _full_run_held(schedule):
                schedule.next_full_at = next_full_at(full_hour=schedule.full_hour, now=now)
                schedule.save(update_fields=["next_full_at"])
            if schedule.next_full_at is None or schedule.next_full_at <= now:
                # Due, or first sight of the link: a full run now, then nightly.
                mode = SyncMode.FULL
            elif schedule.next_incremental_at is None or schedule.next_incremental_at <= now:
                mode = SyncMode.INCREMENTAL
            else:
                continue
            run, new = sync_run_request(link=schedule.link, mode=mode, trigger="schedule")
            if run.is_active and not new:
                continue  # busy: leave it due, try again next minute
            if mode == SyncMode.FULL:
                schedule.next_full_at = next_full_at(full_hour=schedule.full_hour, now=now)
            schedule.next_incremental_at = _next_incremental_at(schedule, now)
            schedule.save(update_fields=["next_full_at", "next_incremental_at"])
            if new and run.is_active:
                created.append(run.pk)
    return created


def sync_schedule_get(*, link: Link) -> SyncSchedule | None:
    return SyncSchedule.objects.filter(link=link).first()


def sync_schedule_set(
    *,
    user: AnyUser,
    tenant: Tenant,
    enabled: bool,
    incremental_minutes: int,
    full_hour: int,
) -> SyncSchedule:
    """Override when the tenant's link syncs (agency staff only)."""
    if not can_manage_tenant(user=user, tenant=tenant):
        raise PermissionDenied("Only agency staff can change the sync schedule.")
    if not 5 <= incremental_minutes <= 24 * 60:
        raise InvalidInputError("Between 5 minutes and 24 hours.", field="incremental_minutes")
    if not 0 <= full_hour <= 23:
        raise InvalidInputError("An hour from 0 to 23.", field="full_hour")
    link = link_get(tenant=tenant)
    if link is None:
        raise InvalidInputError("This tenant is not linked.")
    now = timezone.now()
    with transaction.atomic():
        schedule, _ = SyncSchedule.objects.select_for_update().get_or_create(link=link)
        changed_hour = schedule.full_hour != full_hour
        schedule.enabled = enabled
        schedule.incremental_minutes = incremental_minutes
        schedule.full_hour = full_hour
        schedule.next_incremental_at = now + timedelta(minutes=incremental_minutes)
        if changed_hour and schedule.next_full_at is not None:
            schedule.next_full_at = next_full_at(full_hour=full_hour, now=now, spread=False)
        schedule.save()
    return schedule
