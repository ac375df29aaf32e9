"""The dashboard's status columns: kept on the link by triggers (migration 0012) whatever way a
run's state is written, and a dashboard whose query count does not grow with its tenants."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import Tenant
from linker.health.selectors import dashboard_get
from linker.linking.links import link_mirror_delete
from linker.models import (
    Link,
    LinkState,
    RemoteDatabase,
    RemoteProfile,
    RequestLedger,
    SyncMode,
    SyncRun,
    SyncSchedule,
    SyncState,
)
from linker.sync.runs import sync_run_cancel, sync_run_request
from tests.conftest import World
from tests.factories import finished_run, link_tenant, make_tenant


def _link(link: Link) -> Link:
    return Link.objects.get(pk=link.pk)


def _statuses(world: World, **params: str) -> dict[str, str]:
    page = dashboard_get(user=world.staff_a, **params).page
    return {tenant.name: tenant.status for tenant in page}  # type: ignore[attr-defined]


def test_latest_run_state_follows_a_run_from_queued_to_succeeded(world: World) -> None:
    link = link_tenant(world.tenant_a1)
    assert _link(link).latest_run_state == ""
    run, created = sync_run_request(link=link, mode=SyncMode.FULL, enqueue=False)
    assert created
    assert _link(link).latest_run_state == SyncState.QUEUED
    assert _statuses(world)["Alpha Bikes"] == "syncing"
    SyncRun.objects.filter(pk=run.pk).update(state=SyncState.RUNNING)
    assert _link(link).latest_run_state == SyncState.RUNNING
    run.refresh_from_db()
    run.state, run.finished_at = SyncState.SUCCEEDED, timezone.now()
    run.remote_count, run.local_count = 120, 118
    run.save()
    stored = _link(link)
    assert (stored.latest_run_state, stored.copernica_count, stored.profiles_mirrored) == (
        SyncState.SUCCEEDED,
        120,
        118,
    )
    tenant = dashboard_get(user=world.staff_a).page[0]
    assert (tenant.status, tenant.profiles_mirrored, tenant.copernica_count) == (  # type: ignore[attr-defined]
        "active",
        118,
        120,
    )


def test_failed_run_makes_the_tenant_failing_and_a_success_clears_it(world: World) -> None:
    link = link_tenant(world.tenant_a1)
    finished_run(link, ago_minutes=60, remote_count=5, local_count=5)
    finished_run(link, state=SyncState.FAILED, ago_minutes=5)
    assert _link(link).latest_run_state == SyncState.FAILED
    assert _statuses(world, filter="needs_me") == {"Alpha Bikes": "failing"}
    # The failure's counts (none) leave the last success's counts alone.
    assert (_link(link).copernica_count, _link(link).profiles_mirrored) == (5, 5)
    finished_run(link, ago_minutes=0, remote_count=6, local_count=6)
    assert _statuses(world)["Alpha Bikes"] == "active"
    assert (_link(link).copernica_count, _link(link).profiles_mirrored) == (6, 6)


def test_skipped_and_cancelled_runs_leave_the_status_to_the_run_before(world: World) -> None:
    link = link_tenant(world.tenant_a1)
    finished_run(link, state=SyncState.FAILED, ago_minutes=30)
    Link.objects.filter(pk=link.pk).update(access_token_encrypted="")
    skipped, _ = sync_run_request(link=link, enqueue=False)
    assert skipped.state == SyncState.SKIPPED
    assert _link(link).latest_run_state == SyncState.FAILED
    link = link_tenant(world.tenant_a2)
    finished_run(link, ago_minutes=30)
    queued, _ = sync_run_request(link=link, enqueue=False)
    assert _link(link).latest_run_state == SyncState.QUEUED
    assert sync_run_cancel(run=queued)
    assert _link(link).latest_run_state == SyncState.SUCCEEDED
    assert _statuses(world)["Alpha Cars"] == "active"


def test_deleting_the_latest_run_falls_back_to_the_one_before(world: World) -> None:
    link = link_tenant(world.tenant_a1)
    finished_run(link, ago_minutes=30)
    failed = finished_run(link, state=SyncState.FAILED, ago_minutes=5)
    failed.delete()
    assert _link(link).latest_run_state == SyncState.SUCCEEDED


def test_every_status_and_archived_shows_under_its_own_filter(world: World) -> None:
    names = {
        "active": world.tenant_a1.name,
        "needs_reconnect": world.tenant_a2.name,
        "pending": "Pending Pears",
        "not_linked": "Lonely Lamps",
        "disconnected": "Gone Gadgets",
        "syncing": "Delta Dairy",
        "failing": "Gamma Garden",
    }
    link_tenant(world.tenant_a1)
    link_tenant(world.tenant_a2, state=LinkState.NEEDS_RECONNECT)
    link_tenant(make_tenant(agency=world.agency_a, name=names["pending"]), state=LinkState.PENDING)
    make_tenant(agency=world.agency_a, name=names["not_linked"])
    gone = link_tenant(make_tenant(agency=world.agency_a, name=names["disconnected"]))
    Link.objects.filter(pk=gone.pk).update(state=LinkState.DISCONNECTED, access_token_encrypted="")
    syncing = link_tenant(make_tenant(agency=world.agency_a, name=names["syncing"]))
    SyncRun.objects.create(link=syncing, mode=SyncMode.FULL, state=SyncState.RUNNING)
    failing = link_tenant(make_tenant(agency=world.agency_a, name=names["failing"]))
    finished_run(failing, state=SyncState.FAILED)
    archived = make_tenant(agency=world.agency_a, name="Old Oranges")
    finished_run(link_tenant(archived), state=SyncState.FAILED)
    Tenant.objects.filter(pk=archived.pk).update(archived_at=timezone.now())

    statuses = _statuses(world)
    assert statuses == {
        names["active"]: "active",
        names["needs_reconnect"]: "needs_reconnect",
        names["pending"]: "pending",
        names["not_linked"]: "not_linked",
        names["disconnected"]: "not_linked",
        names["syncing"]: "syncing",
        names["failing"]: "failing",
    }
    assert _statuses(world, filter="archived") == {"Old Oranges": "failing"}
    assert _statuses(world, filter="not_linked") == {
        names["pending"]: "pending",
        names["not_linked"]: "not_linked",
        names["disconnected"]: "not_linked",
    }
    chips = {key: count for key, _label, count in dashboard_get(user=world.staff_a).chips}
    assert chips == {
        "": 7,
        "needs_me": 2,
        "needs_reconnect": 1,
        "failing": 1,
        "syncing": 1,
        "active": 1,
        "not_linked": 3,
        "archived": 1,
    }
    ranked = [t.name for t in dashboard_get(user=world.staff_a, sort="status").page]
    assert ranked[:2] == [names["needs_reconnect"], names["failing"]]
    assert ranked[-1] == names["active"]


def test_deleting_the_mirror_resets_the_profile_count(world: World) -> None:
    link = link_tenant(world.tenant_a1)
    database = RemoteDatabase.objects.create(link=link, copernica_id=1, name="Customers")
    RemoteProfile.objects.create(link=link, database=database, copernica_id=1, fields={})
    finished_run(link, remote_count=1, local_count=1)
    assert _link(link).profiles_mirrored == 1
    Link.objects.filter(pk=link.pk).update(state=LinkState.DISCONNECTED, access_token_encrypted="")
    link_mirror_delete(user=world.staff_a, link=_link(link))
    assert (_link(link).profiles_mirrored, _link(link).copernica_count) == (0, None)


def _tenants(world: World, count: int) -> None:
    tenants = Tenant.objects.bulk_create(
        Tenant(name=f"Many {n:03d}", agency=world.agency_a) for n in range(count)
    )
    links = Link.objects.bulk_create(
        Link(tenant=tenant, access_token_encrypted="x", state=LinkState.ACTIVE)
        for tenant in tenants
    )
    SyncRun.objects.bulk_create(
        SyncRun(link=link, mode=SyncMode.FULL, state=state)
        for link, state in zip(
            links, [SyncState.SUCCEEDED, SyncState.FAILED, SyncState.RUNNING] * count, strict=False
        )
    )
    SyncSchedule.objects.bulk_create(SyncSchedule(link=link) for link in links)
    RequestLedger.objects.bulk_create(
        RequestLedger(link=link, account_key="k", day=timezone.localdate(), requests=3)
        for link in links
    )


def _queries(client: Client, name: str, params: dict[str, str]) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse(name), params)
        if response.streaming:
            b"".join(response.streaming_content)  # type: ignore[attr-defined]
    assert response.status_code == 200
    return len(queries)


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("home", {"sort": "status"}),
        ("home", {"sort": "-requests", "page": "2"}),
        ("home", {"filter": "needs_me", "q": "Many"}),
        ("dashboard_export", {"sort": "-status"}),
    ],
)
def test_dashboard_and_export_queries_are_the_same_at_3_and_30_tenants(
    world: World, name: str, params: dict[str, str]
) -> None:
    client = Client()
    client.force_login(world.staff_a)
    _tenants(world, 3)
    small = _queries(client, name, params)
    _tenants(world, 27)
    assert _queries(client, name, params) == small


def test_the_export_reads_the_kept_rows_not_each_tenants_schedule_and_ledger(
    world: World,
) -> None:
    # A join per tenant to its schedule and today's ledger made the export 50 times slower per
    # row at 10,000 tenants than at 100; the kept rows hold both.
    _tenants(world, 3)
    client = Client()
    client.force_login(world.staff_a)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse("dashboard_export"), {"sort": "-status"})
        lines = b"".join(response.streaming_content).decode().splitlines()  # type: ignore[attr-defined]
    assert len(lines) == 1 + 5  # the header, world's two tenants of agency A and three more
    listing = [q["sql"] for q in queries.captured_queries if "linker_dashboardrow" in q["sql"]]
    assert len(listing) == 1
    assert "linker_syncschedule" not in listing[0]
    assert "linker_requestledger" not in listing[0]


def test_the_export_writes_the_last_success_in_the_users_time_zone(world: World) -> None:
    # The rows are written while the response streams, after the middleware has put the
    # server's zone back: the user's zone is taken before.
    link = link_tenant(world.tenant_a1, name="Alpha Bikes Copernica")
    success = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
    SyncSchedule.objects.update_or_create(link=link, defaults={"last_success_at": success})
    world.staff_a.time_zone = "Asia/Tokyo"
    world.staff_a.save(update_fields=["time_zone"])
    client = Client()
    client.force_login(world.staff_a)
    response = client.get(reverse("dashboard_export"), {"sort": "name"})
    rows = b"".join(response.streaming_content).decode().splitlines()  # type: ignore[attr-defined]
    assert rows[1].startswith("Alpha Bikes,")
    assert ",2024-03-01T21:00:00+09:00," in rows[1]


def test_a_later_page_continues_the_sort_where_the_first_one_ended(world: World) -> None:
    _tenants(world, 60)
    first = dashboard_get(user=world.staff_a, sort="status", page=1).page
    second = dashboard_get(user=world.staff_a, sort="status", page=2).page
    names = [t.name for t in first] + [t.name for t in second]
    ranks = [t.status_rank for t in first] + [t.status_rank for t in second]  # type: ignore[attr-defined]
    assert first.count == 62
    assert len(names) == len(set(names)) == 62
    assert ranks == sorted(ranks)
    assert [t.status for t in second][-1] == "active"  # type: ignore[attr-defined]


def test_export_lists_each_tenants_status_and_counts(world: World) -> None:
    link = link_tenant(world.tenant_a1, name="Alpha Bikes Copernica")
    finished_run(link, ago_minutes=60, remote_count=7, local_count=6)
    finished_run(link, state=SyncState.FAILED, remote_count=9, local_count=8)
    RequestLedger.objects.create(link=link, account_key="k", day=timezone.localdate(), requests=4)
    client = Client()
    client.force_login(world.staff_a)
    response = client.get(reverse("dashboard_export"), {"sort": "status"})
    rows = b"".join(response.streaming_content).decode().splitlines()  # type: ignore[attr-defined]
    assert rows[0].startswith("tenant,status,copernica_account")
    # Failing sorts before not linked; a failed run's counts are not the mirror's.
    assert rows[1:] == [
        "Alpha Bikes,Failing,Alpha Bikes Copernica,6,7,,4",
        "Alpha Cars,Not linked,,0,,,0",
    ]


def test_saving_a_link_read_before_a_run_finished_keeps_the_runs_figures(world: World) -> None:
    link = link_tenant(world.tenant_a1)
    stale = _link(link)
    finished_run(link, remote_count=9, local_count=8)
    stale.state_reason = "Verified."
    stale.save()
    stored = _link(link)
    assert stored.state_reason == "Verified."
    assert (stored.latest_run_state, stored.copernica_count, stored.profiles_mirrored) == (
        SyncState.SUCCEEDED,
        9,
        8,
    )
