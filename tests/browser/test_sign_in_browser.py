"""Signing in when it goes wrong, in a real browser that starts logged out: the lockout after
failed passwords (case 37) and the whole forgot-password flow (case 38)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.core import mail
from django.db.models import F
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import screenshot
from tests.conftest import World
from tests.factories import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

_RESET_LINK = re.compile(r"https?://\S+/accounts/reset/\S+/")
NEW_PASSWORD = "a new and long passphrase 58"


def _fresh(browser: Browser) -> Page:
    """A private window: no session, no cookies."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    return context.new_page()


def _sign_in(page: Page, email: str, password: str) -> None:
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


def test_wrong_passwords_lock_the_sign_in_with_a_clear_page(
    browser: Browser,
    live_server,  # type: ignore[no-untyped-def]
    world: World,
) -> None:
    """Case 37 in a browser: the limit's failures, then the lockout page even for the right
    password; after the cool-off the right password signs in."""
    page = _fresh(browser)
    try:
        page.goto(f"{live_server.url}/accounts/login/")
        for n in range(settings.AXES_FAILURE_LIMIT - 1):
            _sign_in(page, world.staff_a.email, f"wrong-{n}")
            expect(page.get_by_role("alert")).to_contain_text("do not match an account")
        _sign_in(page, world.staff_a.email, "wrong-last")
        minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
        expect(page.get_by_role("heading", name="Too many failed sign-ins")).to_be_visible()
        expect(page.get_by_text(f"Try again in {minutes} minutes.")).to_be_visible()
        screenshot(page, "sign-in-locked-out")

        page.goto(f"{live_server.url}/accounts/login/")
        _sign_in(page, world.staff_a.email, PASSWORD)
        expect(page.get_by_role("heading", name="Too many failed sign-ins")).to_be_visible()

        AccessAttempt.objects.update(
            attempt_time=F("attempt_time") - settings.AXES_COOLOFF_TIME - timedelta(seconds=1)
        )
        page.goto(f"{live_server.url}/accounts/login/")
        _sign_in(page, world.staff_a.email, PASSWORD)
        expect(page.get_by_role("link", name="Dashboard")).to_be_visible()
    finally:
        page.context.close()


def test_forgot_password_from_the_login_page_to_signed_in(
    browser: Browser,
    live_server,  # type: ignore[no-untyped-def]
    world: World,
) -> None:
    """Case 38 in a browser: ask, read the email, set a new password once, sign in with it."""
    page = _fresh(browser)
    try:
        page.goto(f"{live_server.url}/accounts/login/")
        page.get_by_role("link", name="Forgot your password?").click()
        page.get_by_label("Email").fill(world.staff_a.email)
        page.get_by_role("button", name="Email me a reset link").click()
        expect(page.get_by_role("heading", name="Check your email")).to_be_visible()

        (message,) = [m for m in mail.outbox if world.staff_a.email in m.to]
        found = _RESET_LINK.search(message.body)
        assert found, message.body
        link = live_server.url + "/accounts/reset/" + found.group(0).split("/accounts/reset/")[1]
        page.goto(link)
        expect(page.get_by_role("heading", name="Choose a new password")).to_be_visible()
        assert "/set-password/" in page.url  # the token left the address bar
        page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
        page.get_by_label("New password again").fill(NEW_PASSWORD)
        page.get_by_role("button", name="Save password").click()
        expect(page.get_by_role("heading", name="Password changed")).to_be_visible()
        screenshot(page, "password-reset-done")

        page.get_by_role("link", name="Sign in").click()
        _sign_in(page, world.staff_a.email, NEW_PASSWORD)
        expect(page.get_by_role("link", name="Dashboard")).to_be_visible()

        other = _fresh(browser)
        try:
            other.goto(link)
            expect(other.get_by_role("alert")).to_contain_text("already used or has expired")
        finally:
            other.context.close()
    finally:
        page.context.close()
