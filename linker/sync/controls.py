"""What agency staff do to a link's syncing from the pages: sync now, for one or many tenants.

The runs (:mod:`linker.sync.runs`) do the work; these services check the role and pick the
arguments.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import PermissionDenied

from accounts.models import Tenant
from accounts.selectors import AnyUser, can_manage_tenant
from linker.linking.links import link_get
from linker.models import SyncMode, SyncRun, SyncSchedule
from linker.platform.errors import InvalidInputError
from linker.sync.runs import sync_run_request


def sync_now(*, user: AnyUser, tenant: Tenant, full: bool = False) -> tuple[SyncRun, bool]:
    """Queue a sync of the tenant's link. A link never fully synced gets a full run.

    Returns (run, created); an already queued or running run is returned as is.
    """
    if not can_manage_tenant(user=user, tenant=tenant):
        raise PermissionDenied("Only agency staff can start a sync.")
    if tenant.archived_at is not None:
        raise InvalidInputError(f"{tenant.name} is archived: restore it to sync it again.")
    link = link_get(tenant=tenant)
    if link is None or not link.is_usable:
        raise InvalidInputError("This tenant has no working Copernica link; connect it first.")
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
        except (PermissionDenied, InvalidInputError):
            outcome.skipped.append(tenant.name)
            continue
        (outcome.started if created else outcome.busy).append(tenant.name)
    return outcome
