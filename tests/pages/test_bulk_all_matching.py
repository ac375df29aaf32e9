"""Bulk actions over every tenant matching the dashboard's filter (issue 14: "bulk actions reach
only the 50 rows on screen, never all 1,240 matching"), with a confirmation that names N; and
bulk actions only for those who may use them."""

from __future__ import annotations

from django.test import Client
from django.urls import reverse

from accounts.models import Tenant
from linker.models import LinkState, SyncRun
from tests.conftest import World
from tests.factories import link_tenant


def _many(world: World, count: int) -> list[Tenant]:
    """``count`` linked tenants of agency A named "Batch …" (more than a dashboard page)."""
    tenants = Tenant.objects.bulk_create(
        Tenant(name=f"Batch {i:03d}", agency=world.agency_a) for i in range(count)
    )
    for tenant in tenants:
        link_tenant(tenant, state=LinkState.ACTIVE)
    return tenants


def test_all_matching_asks_first_naming_how_many_then_syncs_every_page(world: World) -> None:
    _many(world, 60)  # a dashboard page holds 50
    staff = Client()
    staff.force_login(world.staff_a)
    home = staff.get(reverse("home"), {"q": "Batch"}).content.decode()
    assert "on all 60 matching this filter" in home
    ask = staff.post(
        reverse("tenant_bulk"), {"action": "sync", "scope": "all", "back": "q=Batch&page=2"}
    )
    assert ask.status_code == 200
    page = ask.content.decode()
    assert "Sync now for all 60 tenants?" in page
    assert '<input type="hidden" name="confirm" value="60">' in page
    assert not SyncRun.objects.exists()  # nothing before the confirmation
    done = staff.post(
        reverse("tenant_bulk"),
        {"action": "sync", "scope": "all", "confirm": "60", "back": "q=Batch&page=2"},
    )
    assert done.status_code == 303
    assert done["Location"] == reverse("home") + "?q=Batch&page=2"
    assert SyncRun.objects.filter(link__tenant__name__startswith="Batch").count() == 60
    assert not SyncRun.objects.exclude(link__tenant__name__startswith="Batch").exists()
    message = staff.get(done["Location"]).content.decode()
    assert "Sync started for 60 tenants." in message


def test_a_count_that_changed_since_the_question_is_asked_again(world: World) -> None:
    _many(world, 3)
    staff = Client()
    staff.force_login(world.staff_a)
    again = staff.post(
        reverse("tenant_bulk"),
        {"action": "sync", "scope": "all", "confirm": "2", "back": "q=Batch"},
    )
    page = again.content.decode()
    assert "The number of matching tenants changed" in page
    assert "Sync now for all 3 tenants?" in page
    assert not SyncRun.objects.exists()


def test_all_matching_follows_the_filter_chip(world: World) -> None:
    tenants = _many(world, 4)
    link = tenants[0].link
    link.state = LinkState.NEEDS_RECONNECT
    link.save(update_fields=["state"])
    staff = Client()
    staff.force_login(world.staff_a)
    page = staff.post(
        reverse("tenant_bulk"),
        {"action": "connect_link", "scope": "all", "back": "filter=needs_me"},
    ).content.decode()
    assert "Send connect link for all 1 tenant?" in page
    assert "<strong>Needs me</strong>" in page


def test_people_without_an_agency_role_get_no_bulk_actions(world: World) -> None:
    """Issue 14: bulk actions shown to tenant admins and viewers, who learn afterwards that
    "only agency staff send connect links"."""
    for user in (world.tenant_admin_a1, world.viewer_a1):
        client = Client()
        client.force_login(user)
        page = client.get(reverse("home")).content.decode()
        assert "Alpha Bikes" in page
        assert 'data-testid="bulk-bar"' not in page
        assert 'name="tenants"' not in page
        assert "Send connect link" not in page
    staff = Client()
    staff.force_login(world.staff_a)
    page = staff.get(reverse("home")).content.decode()
    assert 'data-testid="bulk-bar"' in page
    assert page.count('name="tenants"') == 2  # Alpha Bikes and Alpha Cars
