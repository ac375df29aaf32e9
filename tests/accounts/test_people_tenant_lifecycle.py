"""A tenant's lifecycle (issue 14): rename, archive (off the dashboard, no syncs, data kept),
restore, and delete confirmed by its name (disconnected, mirror removed, logged)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from accounts.models import Membership, SecurityEvent, SecurityEventKind, Tenant
from accounts.services import AccountsError, tenant_archive, tenant_rename, tenant_restore
from linker.health.selectors import dashboard_get
from linker.linking.client import jwt_cache_key
from linker.linking.tenants import tenant_delete_confirmed
from linker.models import (
    Link,
    LinkEvent,
    ProfileChange,
    RemoteDatabase,
    RemoteProfile,
    SyncRun,
    SyncSchedule,
)
from linker.platform.errors import InvalidInputError
from linker.sync.controls import sync_now, sync_now_bulk
from linker.sync.schedule import sync_schedule_due
from tests.conftest import World
from tests.factories import link_tenant


def _events(kind: str) -> list[SecurityEvent]:
    return list(SecurityEvent.objects.filter(kind=kind))


# --------------------------------------------------------------------------------- rename


def test_agency_staff_rename_a_tenant_and_it_is_logged(world: World) -> None:
    renamed = tenant_rename(actor=world.staff_a, tenant=world.tenant_a1, name="  Alpha Bicycles ")
    assert renamed.name == "Alpha Bicycles"
    assert Tenant.objects.get(pk=world.tenant_a1.pk).name == "Alpha Bicycles"
    (event,) = _events(SecurityEventKind.TENANT_RENAMED)
    assert event.agency == world.agency_a
    assert event.user == world.staff_a
    assert event.detail == "Alpha Bikes renamed to Alpha Bicycles."


@pytest.mark.parametrize(
    ("name", "problem"),
    [("   ", "needs a name"), ("Alpha\r\nBcc: x", "one line"), ("x" * 201, "At most 200")],
)
def test_a_bad_name_is_refused(world: World, name: str, problem: str) -> None:
    with pytest.raises(AccountsError, match=problem):
        tenant_rename(actor=world.staff_a, tenant=world.tenant_a1, name=name)
    assert Tenant.objects.get(pk=world.tenant_a1.pk).name == "Alpha Bikes"


def test_tenant_people_cannot_rename_archive_or_delete_their_tenant(world: World) -> None:
    for actor in (world.tenant_admin_a1, world.viewer_a1):
        with pytest.raises(PermissionDenied):
            tenant_rename(actor=actor, tenant=world.tenant_a1, name="Mine now")
        with pytest.raises(PermissionDenied):
            tenant_archive(actor=actor, tenant=world.tenant_a1)
        with pytest.raises(PermissionDenied):
            tenant_delete_confirmed(user=actor, tenant=world.tenant_a1, typed_name="Alpha Bikes")
    tenant = Tenant.objects.get(pk=world.tenant_a1.pk)
    assert tenant.name == "Alpha Bikes"
    assert tenant.archived_at is None


# -------------------------------------------------------------------------- archive, restore


def test_an_archived_tenant_leaves_the_default_list_and_has_its_own_chip(world: World) -> None:
    tenant_archive(actor=world.staff_a, tenant=world.tenant_a1)
    default = dashboard_get(user=world.staff_a)
    assert [t.name for t in default.page.object_list] == ["Alpha Cars"]
    chips = {key: count for key, _label, count in default.chips}
    assert chips[""] == 1
    assert chips["archived"] == 1
    assert chips["not_linked"] == 1
    archived = dashboard_get(user=world.staff_a, filter="archived")
    assert [t.name for t in archived.page.object_list] == ["Alpha Bikes"]
    # Another agency's archived tenants are counted nowhere.
    tenant_archive(actor=world.staff_b, tenant=world.tenant_b1)
    assert {k: c for k, _l, c in dashboard_get(user=world.staff_a).chips}["archived"] == 1


def test_an_archived_tenant_starts_no_sync_by_hand_and_its_data_is_kept(world: World) -> None:
    link = link_tenant(world.tenant_a1)
    database = RemoteDatabase.objects.create(link=link, copernica_id=1, name="Customers")
    RemoteProfile.objects.create(link=link, database=database, copernica_id=5, fields={})
    tenant = tenant_archive(actor=world.staff_a, tenant=world.tenant_a1)
    assert tenant.archived_at is not None
    with pytest.raises(InvalidInputError, match="archived"):
        sync_now(user=world.staff_a, tenant=tenant)
    outcome = sync_now_bulk(user=world.staff_a, tenants=[tenant])
    assert outcome.skipped == ["Alpha Bikes"]
    assert not outcome.started
    assert not SyncRun.objects.exists()
    assert RemoteProfile.objects.filter(link=link).count() == 1
    assert Link.objects.get(pk=link.pk).access_token_encrypted  # still linked
    (event,) = _events(SecurityEventKind.TENANT_ARCHIVED)
    assert event.user == world.staff_a


def test_an_archived_tenants_schedule_starts_no_run(world: World) -> None:
    """The beat's tick (``sync_schedule_due``) skips an archived tenant's link; a restored one
    is synced again on the next tick."""
    link = link_tenant(world.tenant_a1)
    now = timezone.now()
    SyncSchedule.objects.create(link=link, next_incremental_at=now - timedelta(minutes=1))
    tenant_archive(actor=world.staff_a, tenant=world.tenant_a1)
    assert sync_schedule_due(now=now) == []
    assert not SyncRun.objects.exists()
    tenant_restore(actor=world.staff_a, tenant=world.tenant_a1)
    assert len(sync_schedule_due(now=now)) == 1


def test_restore_brings_the_tenant_back_and_lets_it_sync(world: World) -> None:
    link_tenant(world.tenant_a1)
    tenant_archive(actor=world.staff_a, tenant=world.tenant_a1)
    with pytest.raises(AccountsError, match="archived already"):
        tenant_archive(actor=world.staff_a, tenant=world.tenant_a1)
    tenant = tenant_restore(actor=world.agency_admin_a, tenant=world.tenant_a1)
    assert tenant.archived_at is None
    assert "Alpha Bikes" in [t.name for t in dashboard_get(user=world.staff_a).page.object_list]
    run, created = sync_now(user=world.staff_a, tenant=tenant)
    assert created
    assert run.link.tenant_id == tenant.pk
    with pytest.raises(AccountsError, match="not archived"):
        tenant_restore(actor=world.staff_a, tenant=tenant)
    assert len(_events(SecurityEventKind.TENANT_RESTORED)) == 1


# --------------------------------------------------------------------------------- delete


def _linked_with_mirror(world: World) -> Link:
    link = link_tenant(world.tenant_a1)
    database = RemoteDatabase.objects.create(link=link, copernica_id=1, name="Customers")
    RemoteProfile.objects.bulk_create(
        RemoteProfile(link=link, database=database, copernica_id=i, fields={}) for i in range(30)
    )
    ProfileChange.objects.create(
        link=link, database=database, kind="update", copernica_profile_id=3, fields={"a": "b"}
    )
    return link


def test_a_wrong_name_deletes_nothing(world: World) -> None:
    link = _linked_with_mirror(world)
    with pytest.raises(InvalidInputError) as refused:
        tenant_delete_confirmed(
            user=world.agency_admin_a, tenant=world.tenant_a1, typed_name="alpha"
        )
    assert "Alpha Bikes" in refused.value.field_errors["confirm_name"][0]
    assert Tenant.objects.filter(pk=world.tenant_a1.pk).exists()
    assert Link.objects.get(pk=link.pk).access_token_encrypted
    assert RemoteProfile.objects.filter(link=link).count() == 30


def test_agency_staff_may_archive_but_not_delete(world: World) -> None:
    _linked_with_mirror(world)
    with pytest.raises(PermissionDenied):
        tenant_delete_confirmed(
            user=world.staff_a, tenant=world.tenant_a1, typed_name="Alpha Bikes"
        )
    assert Tenant.objects.filter(pk=world.tenant_a1.pk).exists()
    assert not LinkEvent.objects.filter(kind=LinkEvent.Kind.DISCONNECTED).exists()


def test_the_agency_admin_deletes_a_tenant_with_its_link_and_mirror(world: World) -> None:
    link = _linked_with_mirror(world)
    cache.set(jwt_cache_key(link), "a cached jwt")
    tenant_delete_confirmed(
        user=world.agency_admin_a, tenant=world.tenant_a1, typed_name=" Alpha Bikes "
    )
    assert not Tenant.objects.filter(pk=world.tenant_a1.pk).exists()
    assert not Link.objects.filter(pk=link.pk).exists()
    assert not RemoteProfile.objects.filter(link_id=link.pk).exists()
    assert not ProfileChange.objects.filter(link_id=link.pk).exists()
    assert not Membership.objects.filter(tenant_id=world.tenant_a1.pk).exists()
    assert cache.get(jwt_cache_key(link)) is None
    # The agency's log keeps the record: the link removed, then the tenant.
    (removed,) = _events(SecurityEventKind.LINK_REMOVED)
    assert "The tenant was deleted." in removed.detail
    (deleted,) = _events(SecurityEventKind.TENANT_DELETED)
    assert deleted.agency == world.agency_a
    assert deleted.user == world.agency_admin_a
    assert "Alpha Bikes" in deleted.detail
    assert Tenant.objects.filter(pk=world.tenant_a2.pk).exists()
