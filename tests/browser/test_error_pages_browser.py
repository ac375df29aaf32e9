"""With DEBUG off, as the demo runs, people see the product's own 404 page (issue 12, 10)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import screenshot
from tests.conftest import World
from tests.factories import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_missing_page_shows_the_products_404_page_not_djangos_debug_page(
    page: Page,
    live_server,  # type: ignore[no-untyped-def]
    settings,  # type: ignore[no-untyped-def]
    world: World,
) -> None:
    settings.DEBUG = False
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Email").fill(world.staff_a.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("link", name="Dashboard")).to_be_visible()

    response = page.goto(f"{live_server.url}/no-such-page/")
    assert response is not None
    assert response.status == 404
    screenshot(page, "error-404")
    expect(page).to_have_title("Not found · Copernica Linker")
    expect(page.get_by_role("heading", name="Not found")).to_be_visible()
    # The product's layout (signed in), with its way back.
    expect(page.get_by_role("link", name="Dashboard")).to_be_visible()
    expect(page.get_by_role("link", name="Back to your tenants")).to_be_visible()
    body = page.content()
    assert "Using the URLconf" not in body
    assert "DEBUG = True" not in body
    assert "Page not found at" not in body

    # Another agency's tenant is the same 404 as a missing one.
    response = page.goto(f"{live_server.url}/tenants/{world.tenant_b1.pk}/")
    assert response is not None
    assert response.status == 404
    expect(page.get_by_role("heading", name="Not found")).to_be_visible()
