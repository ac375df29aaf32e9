"""Pages an agency can live in all day (issue 14), in headless Chromium: the tenant page at
desktop and phone width (heights measured, screenshots in ``test-artifacts/``), no horizontal
overflow at 390 px on any page, the copy button, rows that are links."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse
from playwright.sync_api import Browser, BrowserContext, Page, expect

from accounts.models import Role, User
from linker.linking.connect_links import connect_link_create
from linker.models import SyncRun
from tests.browser.busy_tenant import busy_tenant
from tests.browser.conftest import ARTIFACTS, screenshot
from tests.conftest import World
from tests.factories import PASSWORD, make_member
from tests.web.parameters import CSV_EXPORTS, PARAMS
from tests.web.routes import LISTS, PUBLIC, ROUTES

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
# What the issue measured on the old tenant page, and what the new one must stay under.
OLD_DESKTOP_HEIGHT = 2600
OLD_PHONE_HEIGHT = 5000


def _signed_in(browser: Browser, base: str, user: User, viewport: dict[str, int]) -> Page:
    context = browser.new_context(viewport=viewport)  # type: ignore[arg-type]
    page = context.new_page()
    page.goto(f"{base}/accounts/login/")
    page.get_by_label("Email").fill(user.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Tenants")).to_be_visible()
    return page


def _width(page: Page) -> int:
    return int(page.evaluate("document.documentElement.scrollWidth"))


def _height(page: Page) -> int:
    return int(page.evaluate("document.documentElement.scrollHeight"))


def test_tenant_page_is_short_at_desktop_and_phone_width(
    browser: Browser,
    live_server: Any,
    world: World,
) -> None:
    """Issue 14: the tenant page was 2,600-3,100 px tall on a desktop and ~5,000 px on a phone
    (this fixture: 4,036 and 8,097 px before). Now each tab stays under the old heights."""
    admin = make_member(role=Role.AGENCY_ADMIN, agency=world.agency_a)
    busy_tenant(world.tenant_a1)
    url = live_server.url + reverse("tenant_detail", kwargs={"tenant_id": world.tenant_a1.pk})
    heights: dict[str, int] = {}
    for name, viewport, limit in (
        ("1280", DESKTOP, OLD_DESKTOP_HEIGHT),
        ("390", PHONE, OLD_PHONE_HEIGHT),
    ):
        page = _signed_in(browser, live_server.url, admin, viewport)
        try:
            for tab in ("overview", "syncs", "requests", "history"):
                page.goto(f"{url}?tab={tab}")
                expect(page.get_by_test_id("next-step")).to_be_visible()
                heights[f"{tab}@{name}"] = _height(page)
                assert _width(page) <= viewport["width"], (tab, name)
                screenshot(page, f"tenant-{tab}-{name}")
            page.goto(url)
            screenshot(page, f"tenant-{name}")
            assert heights[f"overview@{name}"] < limit
            assert heights[f"syncs@{name}"] < limit
        finally:
            page.context.close()
    print(f"tenant page heights (px): {heights}")
    assert (ARTIFACTS / "tenant-1280.png").exists()
    assert (ARTIFACTS / "tenant-390.png").exists()


def _pages(world: World) -> list[str]:
    """Every page of the routes table that answers GET, aimed at agency B's objects, plus the
    lists, the tenant page's tabs and a run page."""
    kwargs = {name: route.foreign_kwargs(world) for name, route in ROUTES.items()}
    urls = [
        reverse(name, kwargs=kwargs[name])
        for name, route in ROUTES.items()
        if "GET" in route.methods and name not in CSV_EXPORTS
    ]
    urls += [
        reverse(name)
        for name in sorted(LISTS - CSV_EXPORTS)
        if "GET" in (PARAMS[name].methods or ("GET",))
    ]
    tenant = reverse("tenant_detail", kwargs={"tenant_id": world.tenant_b1.pk})
    urls += [f"{tenant}?tab={tab}" for tab in ("syncs", "requests", "history")]
    run = SyncRun.objects.filter(link__tenant=world.tenant_b1, state="failed").first()
    assert run is not None
    urls.append(reverse("sync_run_detail", args=[world.tenant_b1.pk, run.pk]))
    return urls


# The innermost elements that stick out past the phone's width, to say what to fix.
_WIDEST = """[...document.querySelectorAll("body *")]
  .filter((e) => e.getBoundingClientRect().right > 391)
  .slice(-5)
  .map((e) => `${e.tagName}.${e.className}: ${Math.round(e.getBoundingClientRect().right)}`)"""


def _overflowing(context: BrowserContext, base: str, urls: list[str]) -> dict[str, int]:
    page = context.new_page()
    wide: dict[str, int] = {}
    for url in urls:
        response = page.goto(base + url)
        assert response is not None
        if "text/html" not in (response.headers.get("content-type") or ""):
            continue  # a CSV, the progress JSON: no page to lay out
        width = _width(page)
        if width > PHONE["width"]:
            wide[url] = width
            print(url, page.evaluate(_WIDEST))
            name = url.strip("/").replace("/", "-").replace("?", "-") or "home"
            screenshot(page, f"overflow-{name}")
    return wide


def test_no_page_scrolls_sideways_at_phone_width(
    browser: Browser,
    live_server: Any,
    world: World,
) -> None:
    """Issue 14: at 390 px the profile cards showed values without labels and long values ran
    past the card, the requests table was clipped, the connect-link table unlabelled. Every
    page of the routes table, as an agency admin, fits 390 px."""
    admin = make_member(role=Role.AGENCY_ADMIN, agency=world.agency_b)
    busy_tenant(world.tenant_b1)
    urls = _pages(world)
    page = _signed_in(browser, live_server.url, admin, PHONE)
    try:
        wide = _overflowing(page.context, live_server.url, urls)
    finally:
        page.context.close()
    # The pages anyone may open, in a fresh logged-out context; the client's landing page of a
    # connect link among them.
    _, token = connect_link_create(tenant=world.tenant_b1, user=admin)
    public = [
        reverse(name)
        for name in ("login", "password_reset", "password_reset_done", "connect_done")
        if name in PUBLIC
    ]
    public.append(reverse("connect_link_open", kwargs={"token": token}))
    context = browser.new_context(viewport=PHONE)  # type: ignore[arg-type]
    try:
        wide |= _overflowing(context, live_server.url, public)
    finally:
        context.close()
    print(f"pages opened at 390 px: {len(urls) + len(public)}, wider than 390 px: {wide}")
    assert not wide


def test_the_copy_button_puts_the_new_connect_link_on_the_clipboard(
    browser: Browser,
    live_server: Any,
    world: World,
) -> None:
    page = _signed_in(browser, live_server.url, world.staff_a, DESKTOP)
    try:
        page.context.grant_permissions(["clipboard-read", "clipboard-write"])
        page.get_by_role("link", name="Alpha Bikes").click()
        page.get_by_role("button", name="Create connect link").click()
        field = page.get_by_label("New connect link (shown only now)")
        url = field.input_value()
        assert "/connect/" in url
        page.get_by_role("button", name="Copy", exact=True).click()
        expect(page.get_by_text("Copied to the clipboard.")).to_be_visible()
        assert page.evaluate("navigator.clipboard.readText()") == url
    finally:
        page.context.close()


def test_a_click_anywhere_on_a_profile_row_opens_the_profile(
    browser: Browser,
    live_server: Any,
    world: World,
) -> None:
    """Issue 14: only the ID column was clickable."""
    busy_tenant(world.tenant_a1)
    page = _signed_in(browser, live_server.url, world.staff_a, DESKTOP)
    try:
        page.goto(
            live_server.url + reverse("profile_list", kwargs={"tenant_id": world.tenant_a1.pk})
        )
        # A real mouse click in the middle of a plain cell (Playwright's own click would
        # refuse: the row's stretched link covers the cell, which is the point).
        cell = page.get_by_role("cell", name="Customer7", exact=True)
        cell.scroll_into_view_if_needed()
        box = cell.bounding_box()
        assert box is not None
        page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        expect(page.get_by_role("heading", name="Profile 5007")).to_be_visible()
    finally:
        page.context.close()
