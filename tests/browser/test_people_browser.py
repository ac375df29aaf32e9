"""People in headless Chromium (issue 14): the agency admin invites a staff member and a tenant
viewer from the pages; the staff member accepts in a fresh window, signs in and opens a tenant;
the admin removes them and their next page load is the login page. Then a tenant is archived
and restored from the pages."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from playwright.sync_api import Browser, Page, expect

from accounts.models import Membership, Role, Tenant
from tests.browser.conftest import screenshot
from tests.conftest import World
from tests.factories import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

_SET_PASSWORD = re.compile(r"https?://\S+(/invite/\S+/\S+/)")
STAFF_EMAIL = "new.staff@alpha.example"
VIEWER_EMAIL = "viewer@alpha-bikes.example"
STAFF_PASSWORD = "a long passphrase for new staff 71"


def _window(browser: Browser) -> Page:
    """A window of its own: no session, no cookies; confirmations accepted."""
    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    page.on("dialog", lambda dialog: dialog.accept())
    return page


def _sign_in(page: Page, base: str, email: str, password: str) -> None:
    page.goto(f"{base}/accounts/login/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("link", name="Dashboard")).to_be_visible()


def _invite(page: Page, email: str, role: str) -> None:
    form = page.get_by_test_id("invite-form")
    form.get_by_label("Email address").fill(email)
    form.get_by_label("Role").select_option(label=role)
    form.get_by_role("button", name="Send invitation").click()
    expect(page.get_by_role("status")).to_contain_text(f"Invited {email} as {role}")


def _set_password_path(email: str) -> str:
    (message,) = [m for m in mail.outbox if email in m.to]
    found = _SET_PASSWORD.search(message.body)
    assert found, message.body
    return found.group(1)  # on the live server's address, whatever LINKER_BASE_URL says


def test_an_admin_invites_staff_who_work_until_removed(
    browser: Browser,
    live_server,  # type: ignore[no-untyped-def]
    world: World,
) -> None:
    base = live_server.url
    admin = _window(browser)
    staff = _window(browser)
    try:
        _sign_in(admin, base, world.agency_admin_a.email, PASSWORD)

        # The Members page, from the navigation: invite a staff member.
        admin.get_by_role("navigation", name="Main").get_by_role("link", name="Members").click()
        expect(admin.get_by_role("heading", name="Members of Agency A")).to_be_visible()
        _invite(admin, STAFF_EMAIL, "Agency staff")
        expect(admin.get_by_test_id("pending")).to_contain_text(STAFF_EMAIL)
        screenshot(admin, "members-invited")

        # A tenant's People tab: invite a viewer of that tenant only.
        admin.get_by_role("link", name="Dashboard").click()
        admin.get_by_role("link", name="Alpha Bikes", exact=True).click()
        admin.get_by_test_id("tenant-tabs").get_by_role("link", name="People").click()
        expect(admin.get_by_role("heading", name="People of Alpha Bikes")).to_be_visible()
        _invite(admin, VIEWER_EMAIL, "Tenant viewer")
        expect(admin.get_by_test_id("pending")).to_contain_text(VIEWER_EMAIL)
        expect(admin.get_by_test_id("through-agency")).to_contain_text(STAFF_EMAIL)
        screenshot(admin, "people-invited")
        viewer = Membership.objects.get(user__email=VIEWER_EMAIL)
        assert (viewer.role, viewer.tenant_id) == (Role.TENANT_VIEWER, world.tenant_a1.pk)

        # The staff member, in a fresh logged-out window: the emailed link, a password, in.
        staff.goto(base + _set_password_path(STAFF_EMAIL))
        expect(staff.get_by_role("heading", name="Choose a password")).to_be_visible()
        staff.get_by_label("New password", exact=True).fill(STAFF_PASSWORD)
        staff.get_by_label("New password again").fill(STAFF_PASSWORD)
        staff.get_by_role("button", name="Save password").click()
        expect(staff.get_by_role("status")).to_contain_text("Password set")
        _sign_in(staff, base, STAFF_EMAIL, STAFF_PASSWORD)
        staff.get_by_role("link", name="Alpha Cars", exact=True).click()
        expect(staff.get_by_role("heading", name="Alpha Cars", level=1)).to_be_visible()

        # The admin sees them signed in, and removes them.
        admin.get_by_role("navigation", name="Main").get_by_role("link", name="Members").click()
        row = admin.get_by_test_id("members").get_by_test_id(f"person-{STAFF_EMAIL}")
        expect(row).to_contain_text("Off")  # two-factor
        expect(row).not_to_contain_text("never")  # signed in just now
        row.get_by_role("button", name="Remove").click()
        expect(admin.get_by_role("status")).to_contain_text(f"{STAFF_EMAIL} removed")
        expect(admin.get_by_test_id("members")).not_to_contain_text(STAFF_EMAIL)

        # Their next page load, in their own window: the login page.
        staff.reload()
        expect(staff).to_have_url(re.compile(r"/accounts/login/"))
        expect(staff.get_by_role("button", name="Log in")).to_be_visible()
        assert not Membership.objects.filter(user__email=STAFF_EMAIL).exists()
    finally:
        admin.context.close()
        staff.context.close()


def test_a_tenant_is_archived_and_restored_from_the_pages(
    browser: Browser,
    live_server,  # type: ignore[no-untyped-def]
    world: World,
) -> None:
    base = live_server.url
    page = _window(browser)
    try:
        _sign_in(page, base, world.staff_a.email, PASSWORD)
        dashboard = page.get_by_test_id("dashboard")
        expect(dashboard).to_contain_text("Alpha Cars")
        dashboard.get_by_role("link", name="Alpha Cars", exact=True).click()
        page.get_by_test_id("tenant-settings-link").click()
        page.get_by_role("button", name="Archive tenant").click()
        expect(page.get_by_role("status").first).to_contain_text("Alpha Cars is archived")
        expect(page.get_by_test_id("archived")).to_be_visible()
        assert Tenant.objects.get(pk=world.tenant_a2.pk).archived_at is not None

        page.get_by_role("link", name="Dashboard").click()
        expect(page.get_by_test_id("dashboard")).not_to_contain_text("Alpha Cars")
        expect(page.get_by_test_id("filter-archived")).to_contain_text("1")
        page.get_by_test_id("filter-archived").click()
        expect(page.get_by_test_id("dashboard")).to_contain_text("Alpha Cars")
        expect(page.get_by_test_id("dashboard")).not_to_contain_text("Alpha Bikes")
        screenshot(page, "dashboard-archived")

        page.get_by_test_id("dashboard").get_by_role("link", name="Alpha Cars").click()
        expect(page.get_by_test_id("archived")).to_contain_text("Archived")
        page.get_by_test_id("tenant-settings-link").click()
        page.get_by_role("button", name="Restore tenant").click()
        expect(page.get_by_role("status").first).to_contain_text("restored")
        page.get_by_role("link", name="Dashboard").click()
        expect(page.get_by_test_id("dashboard")).to_contain_text("Alpha Cars")
        assert Tenant.objects.get(pk=world.tenant_a2.pk).archived_at is None
    finally:
        page.context.close()


def test_the_people_pages_fit_a_phone(
    browser: Browser,
    live_server,  # type: ignore[no-untyped-def]
    world: World,
) -> None:
    """At 390 px the Members, People and Settings pages scroll down, never sideways (a wide
    table scrolls inside its card)."""
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    try:
        _sign_in(page, live_server.url, world.agency_admin_a.email, PASSWORD)
        pages = {
            "members": f"/agencies/{world.agency_a.pk}/members",
            "people": f"/tenants/{world.tenant_a1.pk}/people",
            "settings": f"/tenants/{world.tenant_a1.pk}/settings",
        }
        for name, path in pages.items():
            page.goto(live_server.url + path)
            expect(page.get_by_role("heading", level=1)).to_be_visible()
            width = page.evaluate("document.documentElement.scrollWidth")
            print(f"{name} at 390 px: page width {width} px")
            assert width <= 390, (name, width)
            screenshot(page, f"{name}-390")
    finally:
        context.close()
