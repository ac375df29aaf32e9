"""The whole story in headless Chromium: dashboard, connect, consent, sync with live progress,
browse, edit (seen at the sandbox), disconnect -- against a live server, a real Celery worker
and the sandbox over HTTP."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from api_client import CopernicaClient
from api_client.sandbox.control import SandboxControl
from linker.models import Link, LinkState, ProfileChange, RemoteProfile, SyncRun
from tests.browser.conftest import screenshot
from tests.conftest import World
from tests.factories import PASSWORD, link_tenant, make_sandbox_application
from tests.workers import celery_worker, worker_env

pytestmark = [
    pytest.mark.browser,
    pytest.mark.worker,
    pytest.mark.django_db(transaction=True),
]

PROFILES = 3000


def _register(world: World, sandbox: SandboxControl, base_url: str) -> None:
    make_sandbox_application(
        sandbox=sandbox, agency=world.agency_a, redirect_uri=f"{base_url}/oauth/callback"
    )


def test_agency_staff_walk_the_whole_story(
    page: Page,
    live_server,  # type: ignore[no-untyped-def]
    world: World,
    sandbox: SandboxControl,
) -> None:
    base = live_server.url
    _register(world, sandbox, base)
    account = sandbox.create_account("Alpha Bikes Copernica", profiles=PROFILES)
    link_tenant(world.tenant_a2, state=LinkState.NEEDS_RECONNECT, name="Alpha Cars Copernica")
    # Small pages, each answered a little slowly, so the sync runs long enough to watch.
    sandbox.fault(path=f"/v4/database/{account.database_id}/profiles", delay_ms=120, count=40)
    page.on("dialog", lambda dialog: dialog.accept())

    with celery_worker(concurrency=2, env=worker_env(LINKER_SYNC_PAGE_SIZE="100")):
        # The dashboard: health at a glance.
        page.goto(f"{base}/accounts/login/")
        page.get_by_label("Email").fill(world.staff_a.email)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        table = page.get_by_test_id("dashboard")
        expect(table).to_contain_text("Needs reconnect")
        expect(table).to_contain_text("Not linked")
        expect(page.get_by_test_id("filter-needs_me")).to_contain_text("1")
        screenshot(page, "dashboard")

        # Connect: Copernica's consent page and back.
        page.get_by_role("link", name="Alpha Bikes", exact=True).click()
        page.get_by_role("button", name="Connect Copernica").click()
        expect(page.get_by_role("heading", name="Authorize Copernica Linker")).to_be_visible()
        page.get_by_label("Alpha Bikes Copernica").check()
        page.get_by_role("button", name="Allow").click()
        expect(page.get_by_test_id("link-state")).to_have_text("Active")

        # Sync now: the progress bar moves without a reload.
        page.get_by_role("button", name="Sync now", exact=True).click()
        expect(page.get_by_role("status")).to_contain_text("Full sync started.")
        progress = page.get_by_test_id("sync-progress")
        expect(progress).to_be_visible()
        expect(progress).to_contain_text(re.compile(r"[1-9]\d* pages · [\d,]+ profiles"))
        expect(progress).to_contain_text("profiles/s")
        # A first sync has no total to go by: the bar says so instead of guessing.
        expect(progress.get_by_role("progressbar")).to_have_class(re.compile("indeterminate"))
        assert SyncRun.objects.get(link__tenant=world.tenant_a1).is_active
        screenshot(page, "tenant-mid-sync")
        # When it ends the page shows the run in the history.
        history = page.get_by_test_id("sync-history")
        expect(history).to_contain_text(f"in sync: {PROFILES:,} / {PROFILES:,}", timeout=60_000)
        expect(history).to_contain_text("Succeeded")
        assert RemoteProfile.objects.filter(link__tenant=world.tenant_a1).count() == PROFILES

        # Browse and search the mirror, open a profile, edit it.
        target = (
            RemoteProfile.objects.filter(link__tenant=world.tenant_a1)
            .order_by("-copernica_id")
            .first()
        )
        assert target is not None
        email = target.fields["email"]
        page.get_by_role("link", name="Browse profiles").click()
        expect(page.get_by_test_id("profiles")).to_be_visible()
        page.get_by_label("Search profiles").fill(email)
        page.get_by_label("Search profiles").press("Enter")
        expect(page.get_by_text("1 profile in")).to_be_visible()
        page.get_by_role("link", name=str(target.copernica_id), exact=True).click()
        expect(page.get_by_test_id("profile-fields")).to_contain_text(email)
        page.get_by_label("city").fill("Zwolle aan Zee")
        page.get_by_role("button", name="Save to Copernica").click()
        changes = page.get_by_test_id("changes")
        expect(changes).to_contain_text(f"Update of profile {target.copernica_id}")
        # The state updates live: queued/sending, then done.
        expect(changes.locator("[data-field=state]").first).to_have_text("Done", timeout=30_000)
        expect(changes.locator("tr[data-pending]")).to_have_count(0)
        # Once done, the page reloads itself and shows the value that landed (on a loaded
        # machine the reload can take longer than the default five seconds).
        expect(page.get_by_test_id("profile-fields")).to_contain_text(
            "Zwolle aan Zee", timeout=30_000
        )
        screenshot(page, "profile-editor")
        assert ProfileChange.objects.get().state == "done"
        link = Link.objects.get(tenant=world.tenant_a1)
        with CopernicaClient(
            account.api_token, api_url=sandbox.api_url, auth_url=sandbox.auth_url
        ) as client:
            assert client.get_profile(target.copernica_id)["fields"]["city"] == "Zwolle aan Zee"

        # A bad value is refused on the page, before anything is queued.
        page.get_by_label("age").fill("")
        page.get_by_label("email").fill("not an email")
        page.get_by_role("button", name="Save to Copernica").click()
        expect(page.get_by_text("This field is required.")).to_be_visible()
        expect(page.get_by_text("Enter a valid email address.")).to_be_visible()
        assert ProfileChange.objects.count() == 1

        # Disconnect, with confirmation.
        page.get_by_role("link", name="Alpha Bikes").first.click()
        page.get_by_role("button", name="Disconnect").click()
        expect(page.get_by_role("status")).to_contain_text("Disconnected.")
        expect(page.get_by_role("button", name="Connect Copernica")).to_be_visible()
        link.refresh_from_db()
        assert link.state == LinkState.DISCONNECTED
        assert not link.access_token_encrypted


def test_dashboard_works_at_phone_width(browser, live_server, world: World) -> None:  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    try:
        page.goto(f"{live_server.url}/accounts/login/")
        page.get_by_label("Email").fill(world.staff_a.email)
        page.get_by_label("Password").fill(PASSWORD)
        page.keyboard.press("Enter")
        expect(page.get_by_role("link", name="Alpha Cars")).to_be_visible()
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, width
        screenshot(page, "dashboard-phone")
    finally:
        context.close()
