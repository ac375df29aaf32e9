"""Connect links opened by a client's admin in a real browser, with no login here (issue 12, 1).

Chromium sends an ``Origin`` header with every form POST; on a page served with
``Referrer-Policy: no-referrer`` that header is ``null`` and Django's CSRF check refuses the
form. Django's test client sends no ``Origin``, so only a browser shows it.
"""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.urls import reverse
from playwright.sync_api import Browser, Page, expect

from api_client.sandbox.control import SandboxControl
from linker.models import ConnectLink, Link, LinkState
from linker.views.linking import CONNECT_LINK_REFERRER_POLICY
from tests.browser.conftest import screenshot
from tests.conftest import World
from tests.factories import PASSWORD, make_sandbox_application

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

_URL = re.compile(r"https?://\S+/connect/\S+")


def _log_in(page: Page, base_url: str, email: str) -> None:
    page.goto(f"{base_url}/accounts/login/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()


def _connect_in_fresh_context(browser: Browser, url: str, account_name: str, shot: str) -> None:
    """A private window: no session, no cookies; the client opens the link and approves."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        page = context.new_page()
        response = page.goto(url)
        assert response is not None
        assert response.ok
        page.get_by_role("button", name="Connect Copernica").click()
        expect(page.get_by_role("heading", name="Authorize Copernica Linker")).to_be_visible()
        page.get_by_label(account_name).check()
        page.get_by_role("button", name="Allow").click()
        expect(page.get_by_role("heading", name="Connected")).to_be_visible()
        assert "code=" not in page.url
        assert "state=" not in page.url
        screenshot(page, shot)
    finally:
        context.close()


def test_connect_link_opened_in_a_fresh_browser_links_the_tenant(
    browser: Browser,
    page: Page,
    live_server,  # type: ignore[no-untyped-def]
    world: World,
    sandbox: SandboxControl,
) -> None:
    make_sandbox_application(
        sandbox=sandbox, agency=world.agency_a, redirect_uri=f"{live_server.url}/oauth/callback"
    )
    sandbox.create_account("Alpha Bikes Copernica", profiles=5)
    _log_in(page, live_server.url, world.staff_a.email)
    page.get_by_role("link", name="Alpha Bikes").click()
    page.get_by_role("button", name="Create connect link").click()
    # Shown once, in a field of its own beside a copy button (issue 14).
    shown = page.get_by_label("New connect link (shown only now)").input_value()
    found = _URL.search(shown)
    assert found, shown

    _connect_in_fresh_context(browser, found.group(0), "Alpha Bikes Copernica", "connect-link-done")

    link = Link.objects.get(tenant=world.tenant_a1)
    assert link.state == LinkState.ACTIVE
    assert link.copernica_account_name == "Alpha Bikes Copernica"
    assert ConnectLink.objects.get(tenant=world.tenant_a1).used_at is not None


def test_invitation_email_link_opened_in_a_fresh_browser_links_the_new_tenant(
    browser: Browser,
    page: Page,
    live_server,  # type: ignore[no-untyped-def]
    world: World,
    sandbox: SandboxControl,
) -> None:
    make_sandbox_application(
        sandbox=sandbox, agency=world.agency_a, redirect_uri=f"{live_server.url}/oauth/callback"
    )
    sandbox.create_account("Gamma Garden Copernica", profiles=5)
    _log_in(page, live_server.url, world.staff_a.email)
    page.get_by_role("link", name="New tenant").click()
    page.get_by_label("Client company").fill("Gamma Garden")
    page.get_by_label("Partner admin's email").fill("admin@gamma.example")
    page.get_by_role("button", name="Create and invite").click()
    expect(page.get_by_role("status")).to_contain_text("We emailed admin@gamma.example")

    (email,) = [m for m in mail.outbox if "admin@gamma.example" in m.to]
    found = _URL.search(email.body)
    assert found, email.body

    _connect_in_fresh_context(browser, found.group(0), "Gamma Garden Copernica", "invite-done")

    link = Link.objects.get(tenant__name="Gamma Garden")
    assert link.state == LinkState.ACTIVE
    assert link.copernica_account_name == "Gamma Garden Copernica"


def test_connect_link_page_keeps_its_url_from_other_origins(
    browser: Browser,
    live_server,  # type: ignore[no-untyped-def]
    world: World,
) -> None:
    """The token in the page's URL goes to no other site: same-origin referrers only."""
    from linker.linking.connect_links import connect_link_create

    _, token = connect_link_create(tenant=world.tenant_a1, user=world.staff_a)
    context = browser.new_context()
    try:
        page = context.new_page()
        response = page.goto(
            live_server.url + reverse("connect_link_open", kwargs={"token": token})
        )
        assert response is not None
        assert response.headers["referrer-policy"] == CONNECT_LINK_REFERRER_POLICY
        assert CONNECT_LINK_REFERRER_POLICY == "same-origin"
        assert "no-store" in response.headers["cache-control"]
    finally:
        context.close()
