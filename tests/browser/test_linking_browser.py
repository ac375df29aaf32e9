"""The whole handshake as a partner admin does it, in headless Chromium."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from api_client.sandbox.control import SandboxControl
from linker.models import Link, LinkState
from tests.browser.conftest import screenshot
from tests.conftest import World
from tests.factories import PASSWORD, make_sandbox_application

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _register(world: World, sandbox: SandboxControl, base_url: str) -> None:
    make_sandbox_application(
        sandbox=sandbox, agency=world.agency_a, redirect_uri=f"{base_url}/oauth/callback"
    )


def _log_in(page: Page, base_url: str, email: str) -> None:
    page.goto(f"{base_url}/accounts/login/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()


def test_partner_admin_connects_copernica_in_the_browser(
    page: Page,
    live_server,
    world: World,
    sandbox: SandboxControl,  # type: ignore[no-untyped-def]
) -> None:
    _register(world, sandbox, live_server.url)
    sandbox.create_account("Alpha Bikes Copernica", profiles=10)
    _log_in(page, live_server.url, world.tenant_admin_a1.email)
    expect(page.get_by_role("link", name="Alpha Bikes")).to_be_visible()
    page.get_by_role("link", name="Alpha Bikes").click()
    page.get_by_role("button", name="Connect Copernica").click()
    # Copernica's (the sandbox's) consent page.
    expect(page.get_by_role("heading", name="Authorize Copernica Linker")).to_be_visible()
    page.get_by_label("Alpha Bikes Copernica").check()
    page.get_by_role("button", name="Allow").click()
    expect(page.get_by_test_id("account-name")).to_contain_text("Alpha Bikes Copernica")
    expect(page.get_by_test_id("link-state")).to_have_text("Active")
    expect(page.get_by_role("status")).to_contain_text("Linked to Copernica account")
    assert "code=" not in page.url
    assert "state=" not in page.url
    screenshot(page, "tenant-linked")
    link = Link.objects.get(tenant=world.tenant_a1)
    assert link.state == LinkState.ACTIVE
    assert link.copernica_account_name == "Alpha Bikes Copernica"


def test_agency_staff_see_their_agencys_tenants(
    page: Page,
    live_server,
    world: World,  # type: ignore[no-untyped-def]
) -> None:
    _log_in(page, live_server.url, world.staff_a.email)
    expect(page.get_by_role("heading", name="Tenants")).to_be_visible()
    expect(page.get_by_role("link", name="Alpha Bikes")).to_be_visible()
    expect(page.get_by_role("link", name="Alpha Cars")).to_be_visible()
    expect(page.get_by_text("Beta Foods")).to_have_count(0)
    screenshot(page, "tenant-list")
