"""The dashboard's kept rows and counts (migration 0017): right after every way a tenant, its
link, its runs, its schedule or its request ledger changes, and a page that costs the same
number of queries however many tenants there are."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.db.models import F
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import Agency, Role, Tenant
from accounts.services import tenant_archive, tenant_restore
from linker.health.selectors import FILTERS, SORTS, dashboard_get
from linker.linking.links import link_disconnect
from linker.linking.tenants import tenant_delete_confirmed
from linker.models import (
    NEVER_SYNCED,
    DashboardCount,
    DashboardRow,
    Link,
    LinkState,
    RequestLedger,
    SyncMode,
    SyncRun,
    SyncSchedule,
    SyncState,
)
from tests.conftest import World
from tests.factories import finished_run, link_tenant, make_member, make_tenant

NOT_LINKED = 4


def _expected_rows() -> dict[int, tuple[object, ...]]:
    """Every tenant's row, worked out from the tenant, its link, schedule and ledger."""
    today = timezone.localdate()
    rows = {}
    for tenant in Tenant.objects.all():
        link = Link.objects.filter(tenant=tenant).first()
        schedule = SyncSchedule.objects.filter(link=link).first() if link else None
        ledger = RequestLedger.objects.filter(link=link).order_by("-day").first() if link else None
        rows[tenant.pk] = (
            tenant.agency_id,
            tenant.name,
            tenant.archived_at is not None,
            link.status_rank if link else NOT_LINKED,
            link.profiles_mirrored if link else 0,
            (schedule.last_success_at if schedule else None) or NEVER_SYNCED,
            link.copernica_account_name if link else "",
            ledger.requests if ledger and ledger.day == today else 0,
        )
    return rows


def _kept_rows() -> dict[int, tuple[object, ...]]:
    today = timezone.localdate()
    return {
        row.pk: (
            row.agency_id,
            row.name,
            row.archived,
            row.status_rank,
            row.profiles_mirrored,
            row.last_sync_key,
            row.account_name,
            row.requests if row.requests_day == today else 0,
        )
        for row in DashboardRow.objects.all()
    }


def _expected_counts() -> dict[tuple[int, bool, int], int]:
    counts: dict[tuple[int, bool, int], int] = {}
    for tenant in Tenant.objects.filter(agency__isnull=False):
        link = Link.objects.filter(tenant=tenant).first()
        rank = link.status_rank if link else NOT_LINKED
        assert tenant.agency_id is not None
        key = (tenant.agency_id, tenant.archived_at is not None, rank)
        counts[key] = counts.get(key, 0) + 1
    return counts


def _kept_counts() -> dict[tuple[int, bool, int], int]:
    return {
        (count.agency_id, count.archived, count.status_rank): count.n
        for count in DashboardCount.objects.exclude(n=0)
    }


def _assert_kept() -> None:
    assert _kept_rows() == _expected_rows()
    assert _kept_counts() == _expected_counts()


def test_rows_and_counts_follow_a_tenant_through_its_whole_life(world: World) -> None:
    _assert_kept()  # the world's tenants, none linked
    tenant = make_tenant(agency=world.agency_a, name="Gamma Goods")
    _assert_kept()
    link = link_tenant(tenant, name="Gamma Copernica")  # connect
    assert DashboardRow.objects.get(pk=tenant.pk).account_name == "Gamma Copernica"
    _assert_kept()
    run = SyncRun.objects.create(link=link, mode=SyncMode.FULL, state=SyncState.QUEUED)
    _assert_kept()
    SyncRun.objects.filter(pk=run.pk).update(state=SyncState.RUNNING)
    _assert_kept()
    SyncRun.objects.filter(pk=run.pk).update(
        state=SyncState.SUCCEEDED, finished_at=timezone.now(), remote_count=12, local_count=11
    )
    assert DashboardRow.objects.get(pk=tenant.pk).profiles_mirrored == 11
    _assert_kept()
    finished_run(link, state=SyncState.FAILED, ago_minutes=1)
    assert DashboardRow.objects.get(pk=tenant.pk).status_rank == 1  # failing
    _assert_kept()
    schedule = SyncSchedule.objects.create(link=link, last_success_at=timezone.now())
    _assert_kept()
    SyncSchedule.objects.filter(pk=schedule.pk).update(last_success_at=None)
    _assert_kept()
    Link.objects.filter(pk=link.pk).update(state=LinkState.NEEDS_RECONNECT)
    _assert_kept()
    Link.objects.filter(pk=link.pk).update(state=LinkState.ACTIVE, copernica_account_name="Renamed")
    _assert_kept()
    link_disconnect(link=link, user=None)
    assert DashboardRow.objects.get(pk=tenant.pk).status_rank == NOT_LINKED
    _assert_kept()
    tenant_archive(actor=world.agency_admin_a, tenant=tenant)
    _assert_kept()
    tenant_restore(actor=world.agency_admin_a, tenant=tenant)
    _assert_kept()
    Tenant.objects.filter(pk=tenant.pk).update(name="Gamma Renamed", agency=world.agency_b)
    _assert_kept()
    admin_b = make_member(role=Role.AGENCY_ADMIN, agency=world.agency_b)
    tenant.refresh_from_db()
    tenant_delete_confirmed(user=admin_b, tenant=tenant, typed_name="Gamma Renamed")
    assert not DashboardRow.objects.filter(pk=tenant.pk).exists()
    _assert_kept()


def test_rows_and_counts_follow_bulk_writes_and_deletes(world: World) -> None:
    tenants = Tenant.objects.bulk_create(
        Tenant(name=f"Bulk {n}", agency=world.agency_a) for n in range(12)
    )
    links = Link.objects.bulk_create(
        Link(tenant=tenant, access_token_encrypted="x", state=LinkState.ACTIVE)
        for tenant in tenants[:8]
    )
    SyncRun.objects.bulk_create(
        SyncRun(link=link, mode=SyncMode.FULL, state=SyncState.RUNNING) for link in links[:4]
    )
    SyncSchedule.objects.bulk_create(
        SyncSchedule(link=link, last_success_at=timezone.now()) for link in links
    )
    _assert_kept()
    SyncRun.objects.filter(link__in=links[:2]).update(state=SyncState.FAILED)
    Tenant.objects.filter(pk__in=[t.pk for t in tenants[6:]]).update(archived_at=timezone.now())
    _assert_kept()
    SyncRun.objects.filter(link=links[0]).delete()
    SyncSchedule.objects.filter(link=links[1]).delete()
    Link.objects.filter(pk=links[2].pk).delete()
    Tenant.objects.filter(pk__in=[t.pk for t in tenants[9:]]).delete()
    _assert_kept()
    # A tenant of no agency has a row but no count (the counts are per agency).
    Tenant.objects.filter(pk=tenants[3].pk).update(agency=None)
    _assert_kept()


def test_the_row_keeps_todays_requests_not_yesterdays(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    link = link_tenant(world.tenant_a1)
    today = timezone.localdate()
    RequestLedger.objects.create(link=link, account_key="k", day=today, requests=5)
    RequestLedger.objects.filter(link=link).update(requests=F("requests") + 2)
    # A late write of yesterday's counts does not hide today's.
    RequestLedger.objects.create(
        link=link, account_key="k", day=today - timedelta(days=1), requests=40
    )
    _assert_kept()
    page = dashboard_get(user=world.staff_a, sort="-requests").page
    assert [(t.name, t.requests_today) for t in page][:1] == [("Alpha Bikes", 7)]  # type: ignore[attr-defined]
    # Tomorrow, the kept count is yesterday's: the page shows none and sorts by none.
    tomorrow = today + timedelta(days=1)
    monkeypatch.setattr(timezone, "localdate", lambda *args: tomorrow)
    page = dashboard_get(user=world.staff_a, sort="-requests").page
    assert [t.name for t in page] == ["Alpha Bikes", "Alpha Cars"]
    assert {t.requests_today for t in page} == {0}  # type: ignore[attr-defined]


def test_the_search_matches_names_and_accounts_in_any_case_and_the_account_id(
    world: World,
) -> None:
    link_tenant(world.tenant_a2, name="Zeta Ölwerke")
    found = {t.name for t in dashboard_get(user=world.staff_a, query="ALPHA B").page}
    assert found == {"Alpha Bikes"}
    found = {t.name for t in dashboard_get(user=world.staff_a, query="zeta öl").page}
    assert found == {"Alpha Cars"}
    account_id = Link.objects.get(tenant=world.tenant_a2).copernica_account_id
    found = {t.name for t in dashboard_get(user=world.staff_a, query=account_id).page}
    assert found == {"Alpha Cars"}
    # A LIKE wildcard is a character, and another agency's tenant is never found.
    assert list(dashboard_get(user=world.staff_a, query="%").page) == []
    assert list(dashboard_get(user=world.staff_a, query="Beta").page) == []


def test_each_user_sees_and_counts_only_their_reach(world: World) -> None:
    link_tenant(world.tenant_a1)
    superuser = make_member(role=Role.AGENCY_STAFF, agency=world.agency_b)
    superuser.is_superuser = True
    superuser.save()

    def seen(user) -> tuple[set[str], int]:  # type: ignore[no-untyped-def]
        dashboard = dashboard_get(user=user)
        return {t.name for t in dashboard.page}, dashboard.total

    everyone = {"Alpha Bikes", "Alpha Cars", "Beta Foods", "Lone Shop"}
    assert seen(world.staff_a) == ({"Alpha Bikes", "Alpha Cars"}, 2)
    assert seen(world.tenant_admin_a1) == ({"Alpha Bikes"}, 1)
    assert seen(world.outsider) == (set(), 0)
    assert seen(superuser) == (everyone, 4)
    # An agency member who also holds a tenant of another agency sees and counts both.
    make_member(role=Role.TENANT_VIEWER, tenant=world.tenant_b1, user=world.staff_a)
    assert seen(world.staff_a) == ({"Alpha Bikes", "Alpha Cars", "Beta Foods"}, 3)
    world.staff_a.is_active = False
    world.staff_a.save()
    assert seen(world.staff_a) == (set(), 0)


def _agency_of(size: int) -> tuple[Agency, object]:
    agency = Agency.objects.create(name=f"Agency of {size}", slug=f"dashboard-size-{size}")
    tenants = Tenant.objects.bulk_create(
        Tenant(name=f"T {n:03d}", agency=agency, archived_at=timezone.now() if n % 7 == 3 else None)
        for n in range(size)
    )
    states = [LinkState.ACTIVE, LinkState.ACTIVE, LinkState.NEEDS_RECONNECT, LinkState.PENDING]
    links = Link.objects.bulk_create(
        Link(tenant=tenant, access_token_encrypted="x", state=states[n % len(states)])
        for n, tenant in enumerate(tenants)
        if n % 5
    )
    SyncRun.objects.bulk_create(
        SyncRun(link=link, mode=SyncMode.FULL, state=SyncState.FAILED) for link in links[::3]
    )
    RequestLedger.objects.bulk_create(
        RequestLedger(link=link, account_key="k", day=timezone.localdate(), requests=n)
        for n, link in enumerate(links)
    )
    return agency, make_member(role=Role.AGENCY_STAFF, agency=agency)


CASES = (
    [{"sort": sort} for sort in SORTS]
    + [{"filter": key} for key in FILTERS if key]
    + [{"query": "T 00"}, {"sort": "status", "page": 2}]
)


@pytest.mark.parametrize("params", CASES, ids=lambda params: repr(params))
def test_a_page_takes_three_queries_for_a_few_tenants_or_many(
    world: World, params: dict[str, object]
) -> None:
    counts = []
    for size in (6, 180):
        _agency, staff = _agency_of(size)
        first = dashboard_get(user=staff, **params)  # type: ignore[arg-type]
        cursor = {"after": first.page.after} if first.page.after else {}
        for extra in ({}, cursor):
            with CaptureQueriesContext(connection) as queries:
                dashboard = dashboard_get(user=staff, **params, **extra)  # type: ignore[arg-type]
                shown = [(t.status, t.requests_today, t.agency.name) for t in dashboard.page]  # type: ignore[attr-defined]
            assert len(shown) == len(dashboard.page)
            counts.append(len(queries))
    assert counts == [3] * len(counts)
