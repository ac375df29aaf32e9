"""The dashboard's keyset pages (next and previous by cursor, the old page numbers still
served) and the status rank stored on the link (migration 0016)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import Tenant
from linker.health.keyset import cursor_encode
from linker.health.selectors import PAGE_SIZE, SORTS, dashboard_get, dashboard_rows
from linker.models import Link, LinkState, SyncMode, SyncRun, SyncSchedule, SyncState
from tests.conftest import World
from tests.factories import finished_run, link_tenant

TENANTS = 2 * PAGE_SIZE + 17
DASH = "\N{EN DASH}"  # between a page's first and last row, as the pager writes it


def _tenants(world: World, count: int = TENANTS) -> None:
    """``count`` tenants in every status, with ties in each sort key (and never-synced ones)."""
    tenants = Tenant.objects.bulk_create(
        # Repeated names: the id must break the ties for a cursor to continue after any row.
        Tenant(name=f"Many {n % 40:03d}", agency=world.agency_a)
        for n in range(count)
    )
    states = [LinkState.ACTIVE] * 5 + [LinkState.NEEDS_RECONNECT, LinkState.PENDING]
    links = Link.objects.bulk_create(
        Link(tenant=tenant, access_token_encrypted="x", state=states[n % len(states)])
        for n, tenant in enumerate(tenants)
        if n % 9 != 0  # some not linked
    )
    runs = [SyncState.SUCCEEDED, SyncState.FAILED, SyncState.RUNNING, SyncState.SUCCEEDED]
    SyncRun.objects.bulk_create(
        SyncRun(link=link, mode=SyncMode.FULL, state=runs[n % len(runs)])
        for n, link in enumerate(links)
    )
    now = timezone.now()
    SyncSchedule.objects.bulk_create(
        SyncSchedule(
            link=link, last_success_at=None if n % 4 == 0 else now - timedelta(hours=n % 6)
        )
        for n, link in enumerate(links)
    )


def _walk(world: World, sort: str, **params: str) -> list[int]:
    """The tenant ids of every page, following "next" from the first page."""
    seen: list[int] = []
    after = ""
    while True:
        page = dashboard_get(user=world.staff_a, sort=sort, after=after, **params).page
        assert page.start == len(seen)
        seen += [tenant.pk for tenant in page]
        if not page.has_next:
            return seen
        after = page.after


@pytest.mark.parametrize("sort", list(SORTS))
def test_next_pages_list_every_tenant_once_in_the_sorts_order(world: World, sort: str) -> None:
    _tenants(world)
    expected = list(dashboard_rows(user=world.staff_a, sort=sort).values_list("pk", flat=True))
    assert len(expected) == TENANTS + 2  # and world's two tenants of agency A
    assert _walk(world, sort) == expected


def test_previous_from_the_last_page_returns_the_pages_before_it(world: World) -> None:
    _tenants(world)
    first = dashboard_get(user=world.staff_a, sort="-status").page
    second = dashboard_get(user=world.staff_a, sort="-status", after=first.after).page
    third = dashboard_get(user=world.staff_a, sort="-status", after=second.after).page
    assert (third.has_next, third.number, third.num_pages) == (False, 3, 3)
    back = dashboard_get(user=world.staff_a, sort="-status", before=third.before).page
    assert [t.pk for t in back] == [t.pk for t in second]
    assert (back.start, back.has_previous, back.has_next) == (PAGE_SIZE, True, True)
    front = dashboard_get(user=world.staff_a, sort="-status", before=back.before).page
    assert [t.pk for t in front] == [t.pk for t in first]
    assert (front.start, front.has_previous) == (0, False)


def test_the_needs_me_filter_pages_by_cursor_too(world: World) -> None:
    _tenants(world, 4 * PAGE_SIZE)
    expected = list(
        dashboard_rows(user=world.staff_a, filter="needs_me", sort="status").values_list(
            "pk", flat=True
        )
    )
    assert len(expected) > PAGE_SIZE
    assert _walk(world, "status", filter="needs_me") == expected


@pytest.mark.parametrize(
    "cursor",
    [
        "not a cursor",
        cursor_encode("name", ["Many 001", 5], 50),  # another sort's
        cursor_encode("status", ["five", "Many 001", 5], 50),  # a rank that is no number
        cursor_encode("status", [1, "Many 001"], 50),  # a column short
        cursor_encode("status", [1, "Many 001", 5], -3),
    ],
)
def test_a_malformed_or_foreign_cursor_shows_the_first_page(world: World, cursor: str) -> None:
    _tenants(world)
    first = dashboard_get(user=world.staff_a, sort="status").page
    for key in ("after", "before"):
        page = dashboard_get(user=world.staff_a, sort="status", **{key: cursor}).page
        assert [t.pk for t in page] == [t.pk for t in first]
        assert page.start == 0


def test_an_old_page_number_is_still_served_and_leads_on_by_cursor(world: World) -> None:
    _tenants(world)
    client = Client()
    client.force_login(world.staff_a)
    html = client.get(reverse("home"), {"sort": "last_sync", "page": "2"}).content.decode()
    assert f"Page 2 of 3 · {PAGE_SIZE + 1}{DASH}{2 * PAGE_SIZE} of {TENANTS + 2} tenants" in html
    page = dashboard_get(user=world.staff_a, sort="last_sync", page=2).page
    after = dashboard_get(user=world.staff_a, sort="last_sync", after=page.after).page
    expected = list(
        dashboard_rows(user=world.staff_a, sort="last_sync").values_list("pk", flat=True)
    )
    assert [t.pk for t in after] == expected[2 * PAGE_SIZE :]
    # Beyond the last page: the last page, as before.
    last = dashboard_get(user=world.staff_a, sort="last_sync", page=99).page
    assert (last.number, last.has_next) == (3, False)


def test_a_page_by_cursor_takes_as_many_queries_as_the_first(world: World) -> None:
    _tenants(world)
    client = Client()
    client.force_login(world.staff_a)
    first = dashboard_get(user=world.staff_a, sort="-requests").page
    counts = []
    for params in ({"sort": "-requests"}, {"sort": "-requests", "after": first.after}):
        with CaptureQueriesContext(connection) as queries:
            response = client.get(reverse("home"), params)
        assert response.status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1]


def test_next_and_previous_links_carry_the_cursors_and_filters_start_over(world: World) -> None:
    _tenants(world)
    client = Client()
    client.force_login(world.staff_a)
    first = dashboard_get(user=world.staff_a, sort="status").page
    html = client.get(reverse("home"), {"sort": "status", "after": first.after}).content.decode()
    assert 'href="?sort=status&amp;before=' in html
    assert 'href="?sort=status&amp;after=' in html
    # The chips and column headers lead to a first page: no cursor rides along.
    chips = html.split('aria-label="Filter tenants"')[1].split("</nav>")[0]
    assert "after=" not in chips
    assert "before=" not in chips
    # The bulk form comes back to this very page.
    assert f'name="back" value="sort=status&amp;after={first.after}"' in html


def _rank(link: Link) -> int | None:
    return Link.objects.values_list("status_rank", flat=True).get(pk=link.pk)


def test_the_stored_rank_follows_the_links_state_token_and_latest_run(world: World) -> None:
    link = link_tenant(world.tenant_a1)
    assert _rank(link) == 5  # active
    finished_run(link, state=SyncState.FAILED)
    assert _rank(link) == 1  # failing
    Link.objects.filter(pk=link.pk).update(state=LinkState.NEEDS_RECONNECT)
    assert _rank(link) == 0
    Link.objects.filter(pk=link.pk).update(state=LinkState.ACTIVE, access_token_encrypted="")
    assert _rank(link) == 4  # no token: not linked
    stored = Link.objects.get(pk=link.pk)
    stored.access_token_encrypted, stored.state = "x", LinkState.PENDING
    stored.save()
    assert _rank(link) == 2
    Link.objects.filter(pk=link.pk).update(state=LinkState.ACTIVE)
    SyncRun.objects.create(link=link, mode=SyncMode.FULL, state=SyncState.QUEUED)
    assert _rank(link) == 3  # syncing
    # A write of the rank itself is corrected to what the row says.
    Link.objects.filter(pk=link.pk).update(status_rank=5)
    assert _rank(link) == 3


def test_a_cursor_after_a_long_accented_name_leads_to_the_next_page(world: World) -> None:
    prefix = "Žluťoučký kůň " * 13
    Tenant.objects.bulk_create(
        Tenant(name=f"{prefix}{n:03d}"[-200:], agency=world.agency_a) for n in range(PAGE_SIZE)
    )
    client = Client()
    client.force_login(world.staff_a)
    first = client.get(reverse("home")).content.decode()
    next_href = first.split('rel="next"')[0].rsplit('href="', 1)[1].split('"')[0]
    second = client.get(reverse("home") + next_href.replace("&amp;", "&")).content.decode()
    # Alpha Bikes and Alpha Cars lead; the last accented tenant opens the second page.
    assert f"{prefix}{PAGE_SIZE - 1:03d}"[-200:] in second
    assert f"Page 2 of 2 · {PAGE_SIZE + 1}{DASH}{PAGE_SIZE + 2}" in second
