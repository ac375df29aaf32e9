"""The *API keys* page in Chromium (make a key, copy it, revoke it), and the API's reference
page (``/api/v1/docs``) rendering under the site's strict CSP with no violation (issue 15)."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import Browser, expect

from tests.browser.conftest import screenshot
from tests.conftest import World
from tests.factories import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Recorded by the page itself: each CSP violation the browser reports (CDP-injected, so the
# CSP under test does not apply to this script).
_WATCH_CSP = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__csp.push(event.violatedDirective + " " + event.blockedURI);
});
"""


def _tenants(base_url: str, secret: str) -> int:
    response = httpx.get(
        f"{base_url}/api/v1/tenants", headers={"Authorization": f"Bearer {secret}"}, timeout=10
    )
    return response.status_code


def test_an_admin_makes_copies_and_revokes_a_key(
    browser: Browser,
    live_server,  # type: ignore[no-untyped-def]
    world: World,
) -> None:
    # A fresh, logged-out window: sign in, then the page from the navigation.
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    context.add_init_script(_WATCH_CSP)
    try:
        page = context.new_page()
        page.goto(f"{live_server.url}/accounts/login/")
        page.get_by_label("Email").fill(world.agency_admin_a.email)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.get_by_role("link", name="API keys").click()
        expect(
            page.get_by_role("heading", name=f"API keys of {world.agency_a.name}")
        ).to_be_visible()

        page.get_by_label("Name").fill("Zapier")
        page.get_by_label("Admin").check()
        page.get_by_role("button", name="Make key").click()
        shown = page.get_by_test_id("new-key-value")
        expect(shown).to_be_visible()
        secret = shown.input_value()
        page.get_by_role("button", name="Copy").click()
        expect(page.get_by_text("Copied to the clipboard.")).to_be_visible()
        copied = page.evaluate("navigator.clipboard.readText()")
        screenshot(page, "api-key-made")
        assert secret.startswith("clk_")
        assert copied == secret
        assert _tenants(live_server.url, secret) == 200

        row = page.get_by_test_id("api-keys").locator("tr", has_text="Zapier")
        expect(row).to_contain_text("read, write, admin")
        expect(row).to_contain_text(world.agency_admin_a.email)
        page.once("dialog", lambda dialog: dialog.accept())
        row.get_by_role("button", name="Revoke").click()
        expect(page.get_by_text("revoked: it stopped working")).to_be_visible()
        expect(row).to_contain_text("Revoked")
        assert _tenants(live_server.url, secret) == 401
        # The revoked attempt is in the API section of the log.
        page.reload()
        expect(page.get_by_test_id("api-requests")).to_contain_text("GET /api/v1/tenants")
        expect(page.get_by_test_id("api-requests")).to_contain_text("401")
        screenshot(page, "api-key-revoked")
        assert page.evaluate("window.__csp") == []
    finally:
        context.close()


def test_the_api_reference_renders_with_no_csp_violation(
    browser: Browser,
    live_server,  # type: ignore[no-untyped-def]
) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.add_init_script(_WATCH_CSP)
    problems: list[str] = []
    try:
        page = context.new_page()
        page.on(
            "console",
            lambda message: (
                problems.append(message.text)
                if message.type == "error" or "Content Security Policy" in message.text
                else None
            ),
        )
        outside: list[str] = []
        page.on(
            "request",
            lambda request: (
                outside.append(request.url)
                if not request.url.startswith(live_server.url)
                and not request.url.startswith("data:")
                else None
            ),
        )
        response = page.goto(f"{live_server.url}/api/v1/docs")
        assert response is not None
        assert response.ok
        assert "script-src 'self'" in response.headers["content-security-policy"]
        expect(page.get_by_role("heading", name="Copernica Linker API")).to_be_visible()
        # Swagger UI fetched the document and drew the operations.
        expect(page.locator(".opblock").first).to_be_visible()
        expect(page.get_by_text("/api/v1/tenants/{tenant_id}/profiles", exact=True)).to_be_visible()
        screenshot(page, "api-docs")
        violations = page.evaluate("window.__csp")
        print(
            f"/api/v1/docs: {page.locator('.opblock').count()} operations, "
            f"{len(violations)} CSP violations, {len(outside)} requests elsewhere"
        )
        assert violations == []
        assert problems == []
        assert outside == []  # no CDN: every file is ours
    finally:
        context.close()
