"""The agency dashboard: health at a glance, search, filters, sorting, paging, bulk actions."""

from __future__ import annotations

import csv
import io

import pytest
from django.core import mail
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import Membership, Role, Tenant
from linker.models import (
    ConnectLink,
    Link,
    LinkState,
    RemoteDatabase,
    RemoteProfile,
    RequestLedger,
    SyncRun,
    SyncState,
)
from tests.conftest import World
from tests.factories import finished_run, link_tenant, make_member, make_tenant
from tests.pages.conftest import Mirror


def _rows(page: str) -> int:
    return page.count("<tr data-status=")


def _status_world(world: World) -> dict[str, Tenant]:
    """One tenant of agency A in each state the dashboard knows."""
    tenants = {
        "active": world.tenant_a1,
        "needs_reconnect": world.tenant_a2,
        "failing": make_tenant(agency=world.agency_a, name="Gamma Garden"),
        "syncing": make_tenant(agency=world.agency_a, name="Delta Dairy"),
        "not_linked": make_tenant(agency=world.agency_a, name="Epsilon Eyewear"),
    }
    link_tenant(tenants["active"])
    link_tenant(tenants["needs_reconnect"], state=LinkState.NEEDS_RECONNECT)
    failing = link_tenant(tenants["failing"])
    finished_run(failing, ago_minutes=60)
    finished_run(failing, state=SyncState.FAILED, ago_minutes=5, error_message="HTTP 503")
    syncing = link_tenant(tenants["syncing"])
    SyncRun.objects.create(link=syncing, mode="full", state=SyncState.RUNNING)
    return tenants


def test_dashboard_shows_each_tenants_state_as_a_badge(world: World) -> None:
    tenants = _status_world(world)
    client = Client()
    client.force_login(world.staff_a)
    page = client.get(reverse("home")).content.decode()
    for status, tenant in tenants.items():
        row = page.split(f">{tenant.name}</a>")[1].split("</tr>")[0]
        assert f'class="badge {status}"' in row, (status, row)


def test_needs_me_filter_shows_only_reconnect_and_failing(world: World) -> None:
    tenants = _status_world(world)
    client = Client()
    client.force_login(world.staff_a)
    page = client.get(reverse("home"), {"filter": "needs_me"}).content.decode()
    assert _rows(page) == 2
    assert tenants["needs_reconnect"].name in page
    assert tenants["failing"].name in page
    assert tenants["active"].name not in page
    assert 'data-testid="filter-needs_me">Needs me <span class="count">2</span>' in page


def test_search_finds_tenant_by_copernica_account_name(world: World) -> None:
    link_tenant(world.tenant_a2, name="Autohuis Copernica")
    client = Client()
    client.force_login(world.staff_a)
    page = client.get(reverse("home"), {"q": "autohuis"}).content.decode()
    assert _rows(page) == 1
    assert world.tenant_a2.name in page


def test_sorting_by_profiles_puts_the_biggest_first(mirror: Mirror) -> None:
    link_tenant(mirror.world.tenant_a2)
    page = mirror.staff.get(reverse("home"), {"sort": "-profiles"}).content.decode()
    assert page.index(mirror.world.tenant_a1.name) < page.index(mirror.world.tenant_a2.name)
    assert "120" in page.split(">Alpha Bikes</a>")[1].split("</tr>")[0]
    page = mirror.staff.get(reverse("home"), {"sort": "profiles"}).content.decode()
    assert page.index(mirror.world.tenant_a2.name) < page.index(mirror.world.tenant_a1.name)


def test_row_shows_counts_last_sync_and_requests_today(mirror: Mirror) -> None:
    page = mirror.staff.get(reverse("home")).content.decode()
    row = page.split(">Alpha Bikes</a>")[1].split("</tr>")[0]
    assert "Alpha Bikes Copernica" in row
    assert "120" in row
    assert "of 120" in row
    assert "321" in row  # today's requests, not yesterday's 1,500
    assert "never" not in row


def _bulk_tenants(world: World, count: int) -> None:
    agency = world.agency_a
    tenants = Tenant.objects.bulk_create(
        Tenant(name=f"Bulk {i:04d}", agency=agency) for i in range(count)
    )
    states = [LinkState.ACTIVE, LinkState.NEEDS_RECONNECT, LinkState.ACTIVE, LinkState.PENDING]
    links = Link.objects.bulk_create(
        Link(
            tenant=tenant,
            state=states[i % 4],
            access_token_encrypted="x",
            copernica_account_id=str(i),
            copernica_account_name=f"Account {i}",
        )
        for i, tenant in enumerate(tenants)
        if i % 5
    )
    SyncRun.objects.bulk_create(
        SyncRun(link=link, mode="full", state=SyncState.SUCCEEDED, remote_count=3) for link in links
    )
    RequestLedger.objects.bulk_create(
        RequestLedger(link=link, account_key="k", day=timezone.localdate(), requests=7)
        for link in links
    )
    databases = RemoteDatabase.objects.bulk_create(
        RemoteDatabase(link=link, copernica_id=1, name="db") for link in links[:200]
    )
    RemoteProfile.objects.bulk_create(
        RemoteProfile(link_id=db.link_id, database=db, copernica_id=n, fields={})
        for db in databases
        for n in range(3)
    )


def _dashboard_queries(client: Client, params: dict[str, str]) -> tuple[int, str]:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse("home"), params)
    assert response.status_code == 200
    return len(queries), response.content.decode()


@pytest.mark.parametrize(
    "params",
    [{}, {"sort": "-profiles", "page": "2"}, {"filter": "needs_me", "q": "Bulk"}],
    ids=["plain", "sorted-page-2", "filtered-search"],
)
def test_dashboard_queries_do_not_grow_with_tenants(world: World, params: dict[str, str]) -> None:
    client = Client()
    client.force_login(world.staff_a)
    _bulk_tenants(world, 20)
    small, _small_page = _dashboard_queries(client, params)
    _bulk_tenants(world, 1980)
    large, large_page = _dashboard_queries(client, params)
    assert Tenant.objects.filter(agency=world.agency_a).count() == 2002
    print(f"dashboard queries {params}: {small} at 22 tenants, {large} at 2,002 tenants")
    assert small == large
    assert large <= 10
    assert _rows(large_page) == 50 or params.get("filter")
    assert world.tenant_b1.name not in large_page


def test_dashboard_and_its_export_never_show_another_agency(world: World) -> None:
    link_tenant(world.tenant_b1, name="Beta Secret Account")
    client = Client()
    client.force_login(world.staff_a)
    for params in ({}, {"q": "Beta"}, {"q": "Secret"}, {"filter": "active"}, {"sort": "-requests"}):
        page = client.get(reverse("home"), params).content.decode()
        assert world.tenant_b1.name not in page
        assert "Beta Secret Account" not in page
    # Counts on the filter chips count only the user's own tenants (2 of agency A).
    page = client.get(reverse("home"), {"q": "Beta"}).content.decode()
    assert 'data-testid="filter-all">All <span class="count">0</span>' in page
    export = b"".join(client.get(reverse("dashboard_export")).streaming_content).decode()
    names = [row[0] for row in csv.reader(io.StringIO(export))][1:]
    assert sorted(names) == ["Alpha Bikes", "Alpha Cars"]


def test_tenant_admin_sees_only_their_tenant_on_the_dashboard(world: World) -> None:
    client = Client()
    client.force_login(world.tenant_admin_a1)
    page = client.get(reverse("home")).content.decode()
    assert _rows(page) == 1
    assert world.tenant_a1.name in page
    assert "New tenant" not in page


def test_empty_dashboard_says_what_to_do_next(world: World) -> None:
    Tenant.objects.filter(agency=world.agency_a).delete()
    client = Client()
    client.force_login(world.staff_a)
    page = client.get(reverse("home")).content.decode()
    assert "Create your first tenant" in page


def test_bulk_sync_naming_a_foreign_tenant_is_refused_and_writes_nothing(world: World) -> None:
    link_tenant(world.tenant_b1)
    client = Client()
    client.force_login(world.staff_a)
    response = client.post(
        reverse("tenant_bulk"), {"action": "sync", "tenants": [world.tenant_b1.pk]}, follow=True
    )
    assert "Choose an action for tenants you manage" in response.content.decode()
    assert not SyncRun.objects.exists()
    response = client.post(
        reverse("tenant_bulk"),
        {"action": "connect_link", "tenants": [world.tenant_a1.pk, world.tenant_b1.pk]},
    )
    assert not ConnectLink.objects.exists()
    assert mail.outbox == []


def test_bulk_send_connect_link_emails_the_partner_admin(world: World) -> None:
    client = Client()
    client.force_login(world.staff_a)
    response = client.post(
        reverse("tenant_bulk"),
        {"action": "connect_link", "tenants": [world.tenant_a1.pk, world.tenant_a2.pk]},
        follow=True,
    )
    page = response.content.decode()
    assert ConnectLink.objects.filter(tenant__in=[world.tenant_a1, world.tenant_a2]).count() == 2
    assert [m.to for m in mail.outbox] == [[world.tenant_admin_a1.email]]
    assert "/connect/" in mail.outbox[0].body
    assert "Connect link emailed for Alpha Bikes" in page
    assert "send this link yourself. Alpha Cars: http://testserver/connect/" in page


def test_bulk_sync_starts_runs_for_linked_tenants_and_says_which_not(world: World) -> None:
    link_tenant(world.tenant_a1)
    client = Client()
    client.force_login(world.staff_a)
    page = client.post(
        reverse("tenant_bulk"),
        {"action": "sync", "tenants": [world.tenant_a1.pk, world.tenant_a2.pk]},
        follow=True,
    ).content.decode()
    assert SyncRun.objects.filter(link__tenant=world.tenant_a1, state="queued").count() == 1
    assert "Sync started for Alpha Bikes" in page
    assert "Not synced (not linked, or not yours to manage): Alpha Cars" in page


def test_tenant_admin_cannot_bulk_sync(world: World) -> None:
    link_tenant(world.tenant_a1)
    client = Client()
    client.force_login(world.tenant_admin_a1)
    client.post(reverse("tenant_bulk"), {"action": "sync", "tenants": [world.tenant_a1.pk]})
    assert not SyncRun.objects.exists()


def test_create_tenant_invites_its_partner_admin(world: World) -> None:
    client = Client()
    client.force_login(world.staff_a)
    response = client.post(
        reverse("tenant_create", kwargs={"agency_id": world.agency_a.pk}),
        {"name": "Zeta Zoo", "admin_email": "Owner@Zeta.example"},
        follow=True,
    )
    tenant = Tenant.objects.get(name="Zeta Zoo")
    assert tenant.agency == world.agency_a
    member = Membership.objects.get(tenant=tenant)
    assert member.role == Role.TENANT_ADMIN
    assert member.user.email == "owner@zeta.example"
    assert "We emailed owner@zeta.example a connect link" in response.content.decode()
    (message,) = mail.outbox
    assert message.to == ["owner@zeta.example"]
    connect_url = next(line for line in message.body.splitlines() if "/connect/" in line)
    password_url = next(line for line in message.body.splitlines() if "/invite/" in line)
    assert Client().get(connect_url.replace("http://testserver", "")).status_code == 200
    # The invited admin chooses a password and can then log in.
    invite = Client()
    form = invite.get(password_url.replace("http://testserver", ""), follow=True)
    assert "Choose a password" in form.content.decode()
    done = invite.post(
        form.redirect_chain[-1][0],
        {"new_password1": "a long new password 42", "new_password2": "a long new password 42"},
    )
    assert done.status_code == 302
    member.user.refresh_from_db()
    assert member.user.check_password("a long new password 42")


def test_create_tenant_without_a_name_shows_the_error_and_creates_nothing(world: World) -> None:
    client = Client()
    client.force_login(world.staff_a)
    before = Tenant.objects.count()
    response = client.post(
        reverse("tenant_create", kwargs={"agency_id": world.agency_a.pk}), {"name": ""}
    )
    assert response.status_code == 200
    assert "This field is required" in response.content.decode()
    assert Tenant.objects.count() == before


def test_staff_of_one_agency_cannot_create_tenants_in_another(world: World) -> None:
    staff_b2 = make_member(role=Role.AGENCY_STAFF, agency=world.agency_b)
    client = Client()
    client.force_login(staff_b2)
    response = client.post(
        reverse("tenant_create", kwargs={"agency_id": world.agency_a.pk}), {"name": "Sneaky"}
    )
    assert response.status_code == 404
    assert not Tenant.objects.filter(name="Sneaky").exists()
