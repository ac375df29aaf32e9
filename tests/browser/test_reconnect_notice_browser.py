"""After a successful Reconnect the "needs to reconnect" banner is gone on the very page that
follows, and from "Needs your attention" (issue 12, problem 4), in headless Chromium."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from api_client.sandbox.control import SandboxControl
from linker.linking.client import link_mark_needs_reconnect
from linker.models import Link, LinkState, Notification
from tests.browser.conftest import screenshot
from tests.browser.test_linking_browser import _log_in, _register
from tests.conftest import World

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _consent(page: Page, account_name: str) -> None:
    expect(page.get_by_role("heading", name="Authorize Copernica Linker")).to_be_visible()
    page.get_by_label(account_name).check()
    page.get_by_role("button", name="Allow").click()


def test_reconnect_removes_the_banner_at_once(
    page: Page,
    live_server,
    world: World,
    sandbox: SandboxControl,  # type: ignore[no-untyped-def]
) -> None:
    _register(world, sandbox, live_server.url)
    sandbox.create_account("Alpha Bikes Copernica", profiles=10)
    _log_in(page, live_server.url, world.tenant_admin_a1.email)
    page.get_by_role("link", name="Alpha Bikes").click()
    page.get_by_role("button", name="Connect Copernica").click()
    _consent(page, "Alpha Bikes Copernica")
    expect(page.get_by_test_id("link-state")).to_have_text("Active")
    link = Link.objects.get(tenant=world.tenant_a1)
    assert link_mark_needs_reconnect(link=link, reason="Copernica rejected the stored token.")

    page.reload()
    expect(page.get_by_test_id("notice")).to_contain_text("needs to reconnect")
    page.get_by_role("button", name="Reconnect Copernica").click()
    _consent(page, "Alpha Bikes Copernica")

    expect(page.get_by_test_id("link-state")).to_have_text("Active")
    expect(page.get_by_test_id("notice")).to_have_count(0)
    screenshot(page, "reconnected-without-banner")
    page.goto(f"{live_server.url}/")
    expect(page.get_by_test_id("notices")).to_have_count(0)
    assert Link.objects.get(pk=link.pk).state == LinkState.ACTIVE
    assert Notification.objects.get().resolved_at is not None  # no scan ran
