"""A second tenant linked to an account another tenant holds waits in *pending* (issue 12, 6):
the page says it waits for confirmation, never "Linked to …", and warns once."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from api_client.sandbox.control import SandboxControl
from linker.models import Link, LinkState
from tests.browser.conftest import screenshot
from tests.conftest import World
from tests.factories import PASSWORD, make_sandbox_application

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ACCOUNT = "Shared Copernica"


def _connect(page: Page, base_url: str, tenant_name: str) -> None:
    page.goto(f"{base_url}/")
    page.get_by_role("link", name=tenant_name).click()
    page.get_by_role("button", name="Connect Copernica").click()
    expect(page.get_by_role("heading", name="Authorize Copernica Linker")).to_be_visible()
    page.get_by_label(ACCOUNT).check()
    page.get_by_role("button", name="Allow").click()


def test_link_waiting_for_confirmation_is_not_announced_as_linked(
    page: Page,
    live_server,  # type: ignore[no-untyped-def]
    world: World,
    sandbox: SandboxControl,
) -> None:
    make_sandbox_application(
        sandbox=sandbox, agency=world.agency_a, redirect_uri=f"{live_server.url}/oauth/callback"
    )
    sandbox.create_account(ACCOUNT, profiles=3)
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Email").fill(world.staff_a.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    _connect(page, live_server.url, "Alpha Bikes")
    expect(page.get_by_role("status")).to_contain_text(f"Linked to Copernica account {ACCOUNT}")

    _connect(page, live_server.url, "Alpha Cars")
    expect(page.get_by_test_id("link-state")).to_have_text("Pending")
    status = page.get_by_role("status")
    expect(status).to_contain_text("waits for confirmation")
    expect(status).not_to_contain_text("Linked to")
    expect(page.get_by_text("is already linked to Alpha Bikes")).to_have_count(1)
    expect(page.get_by_role("button", name="Link anyway")).to_be_visible()
    screenshot(page, "pending-link")
    assert Link.objects.get(tenant=world.tenant_a2).state == LinkState.PENDING
