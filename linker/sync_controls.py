"""What agency staff do to a link's syncing from the pages: sync now, override the schedule.

The sync engine (``linker.sync``) does the work; these services check the role and pick the
arguments.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.models import Tenant
from accounts.selectors import AnyUser, can_manage_tenant
from linker.models import Link, SyncMode, SyncRun, SyncSchedule
from linker.sync import sync_run_request


def _link_of(tenant: Tenant) -> Link | None:
    return Link.objects.filter(tenant=tenant).first()


def sync_now(*, user: AnyUser, tenant: Tenant, full: bool = False) -> tuple[SyncRun, bool]:
    """Queue a sync of the tenant's link. A link never fully synced gets a full run.

    Returns (run, created); an already queued or running run is returned as is.
    """
    if not can_manage_tenant(user=user, tenant=tenant):
        raise PermissionDenied("Only agency staff can start a sync.")
    link = _link_of(tenant)
    if link is None or not link.is_usable:
        raise ValidationError("This tenant has no working Copernica link; connect it first.")
    never_full = not SyncSchedule.objects.filter(link=link, last_full_at__isnull=False).exists()
    mode = SyncMode.FULL if full or never_full else SyncMode.INCREMENTAL
    return sync_run_request(link=link, mode=mode, trigger="manual")


@dataclass
class BulkOutcome:
    started: list[str]
    busy: list[str]
    skipped: list[str]


def sync_now_bulk(*, user: AnyUser, tenants: list[Tenant]) -> BulkOutcome:
    """Sync now for each tenant the user manages; tenants that cannot sync are reported."""
    outcome = BulkOutcome([], [], [])
    for tenant in tenants:
        try:
            _run, created = sync_now(user=user, tenant=tenant)
        except (PermissionDenied, ValidationError):
            outcome.skipped.append(tenant.name)
            continue
        (outcome.started if created else outcome.busy).append(tenant.name)
    return outcome


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
        raise ValidationError({"incremental_minutes": "Between 5 minutes and 24 hours."})
    if not 0 <= full_hour <= 23:
        raise ValidationError({"full_hour": "An hour from 0 to 23."})
    link = _link_of(tenant)
    if link is None:
        raise ValidationError("This tenant is not linked.")
    now = timezone.now()
    with transaction.atomic():
        schedule, _ = SyncSchedule.objects.select_for_update().get_or_create(link=link)
        changed_hour = schedule.full_hour != full_hour
        schedule.enabled = enabled
        schedule.incremental_minutes = incremental_minutes
        schedule.full_hour = full_hour
        schedule.next_incremental_at = now + timedelta(minutes=incremental_minutes)
        if changed_hour and schedule.next_full_at is not None:
            local = timezone.localtime(now)
            at = local.replace(hour=full_hour, minute=0, second=0, microsecond=0)
            schedule.next_full_at = at if at > local else at + timedelta(days=1)
        schedule.save()
    return schedule


def sync_schedule_get(*, link: Link) -> SyncSchedule | None:
    return SyncSchedule.objects.filter(link=link).first()
