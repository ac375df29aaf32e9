"""The dashboard's pager in headless Chromium: "Next" and "Previous" walk the pages of a sort
by cursor, and the filter chips start again from the first page."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from accounts.models import Tenant
from linker.health.selectors import PAGE_SIZE
from linker.models import Link, LinkState
from tests.conftest import World
from tests.factories import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

EXTRA = 2 * PAGE_SIZE + 5
DASH = "\N{EN DASH}"


def test_next_and_previous_walk_the_status_sorted_pages(
    page: Page,
    live_server,  # type: ignore[no-untyped-def]
    world: World,
) -> None:
    tenants = Tenant.objects.bulk_create(
        Tenant(name=f"Pager {n:03d}", agency=world.agency_a) for n in range(EXTRA)
    )
    # Every fourth needs a reconnect: they lead the status sort and make up "needs me".
    Link.objects.bulk_create(
        Link(
            tenant=tenant,
            access_token_encrypted="x",
            state=LinkState.NEEDS_RECONNECT if n % 4 == 0 else LinkState.ACTIVE,
        )
        for n, tenant in enumerate(tenants)
    )
    total = EXTRA + 2  # and the world's two tenants of agency A
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Email").fill(world.staff_a.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    table = page.get_by_test_id("dashboard")
    table.get_by_role("link", name="Status").click()
    position = page.get_by_test_id("page-position")
    expect(position).to_have_text(f"Page 1 of 3 · 1{DASH}{PAGE_SIZE} of {total} tenants")
    expect(table.locator("tr[data-status]").first).to_have_attribute(
        "data-status", "needs_reconnect"
    )
    first_names = table.locator("tr[data-status] td a").all_inner_texts()

    page.get_by_test_id("page-next").click()
    expect(position).to_have_text(
        f"Page 2 of 3 · {PAGE_SIZE + 1}{DASH}{2 * PAGE_SIZE} of {total} tenants"
    )
    page.get_by_test_id("page-next").click()
    expect(position).to_have_text(
        f"Page 3 of 3 · {2 * PAGE_SIZE + 1}{DASH}{total} of {total} tenants"
    )
    expect(page.get_by_test_id("page-next")).to_have_count(0)
    expect(table.locator("tr[data-status]")).to_have_count(total - 2 * PAGE_SIZE)

    page.get_by_test_id("page-previous").click()
    page.get_by_test_id("page-previous").click()
    expect(position).to_have_text(f"Page 1 of 3 · 1{DASH}{PAGE_SIZE} of {total} tenants")
    expect(page.get_by_test_id("page-previous")).to_have_count(0)
    assert table.locator("tr[data-status] td a").all_inner_texts() == first_names

    # From a later page, a filter chip shows its own first page.
    page.get_by_test_id("page-next").click()
    page.get_by_test_id("filter-needs_me").click()
    needs_me = (EXTRA + 3) // 4
    expect(table.locator("tr[data-status]")).to_have_count(needs_me)
    expect(table.locator('tr[data-status="needs_reconnect"]')).to_have_count(needs_me)
