"""Two-factor authentication for one person: setup, the code step, recovery codes, turning off.

Reliability.md case 39 (recovery codes work once each) and case 44 (each step in the log).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.urls import reverse
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken

from accounts.authenticator import AuthenticatorApp
from accounts.models import SecurityEvent, SecurityEventKind, TwoFactorPolicy, User
from accounts.two_factor import REMEMBER_COOKIE
from tests.accounts.two_factor_codes import OtpClock, install_otp_clock, secret_key
from tests.conftest import World
from tests.factories import PASSWORD

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def otp_clock(monkeypatch: pytest.MonkeyPatch) -> OtpClock:
    return install_otp_clock(monkeypatch)


def _sign_in(client: Client, user: User) -> None:
    """The password step, through the real login view."""
    response = client.post(reverse("login"), {"username": user.email, "password": PASSWORD})
    assert response.status_code == 302, response.content.decode()[:500]


def _enrol(client: Client, user: User, clock: OtpClock) -> tuple[AuthenticatorApp, list[str]]:
    """Set up the app from the settings page's link, as a person would; returns the codes."""
    client.get(reverse("two_factor_setup"))
    device = AuthenticatorApp.objects.get(user=user, confirmed=False)
    response = client.post(reverse("two_factor_setup"), {"code": clock.code(device)})
    assert response.status_code == 303, response.content.decode()[:500]
    page = client.get(reverse("two_factor_recovery_codes")).content.decode()
    clock.advance(30)  # the next sign-in is at a later step than the setup's code
    return device, re.findall(r"<li><code>([a-z2-7]{8})</code></li>", page)


def _events(user: User, kind: SecurityEventKind) -> list[SecurityEvent]:
    return list(SecurityEvent.objects.filter(user=user, kind=kind))


def test_setup_shows_a_local_qr_code_and_the_secret_and_a_right_code_turns_it_on(
    world: World, otp_clock: OtpClock
) -> None:
    user = world.agency_admin_a
    client = Client()
    _sign_in(client, user)
    settings_page = client.get(reverse("account_settings")).content.decode()
    assert "Set up two-factor authentication" in settings_page

    response = client.get(reverse("two_factor_setup"))
    page = response.content.decode()
    device = AuthenticatorApp.objects.get(user=user)
    secret = re.search(r'data-testid="totp-secret">([A-Z2-7 ]+)<', page)
    assert secret is not None
    assert secret_key(secret.group(1)) == device.bin_key
    # The QR code is inline SVG drawn here: no image from anywhere, no inline style for the CSP.
    svg = page[page.index("<svg") : page.index("</svg>")]
    assert "<path" in svg
    assert "style=" not in svg
    assert "<img" not in page
    assert "unsafe-inline" not in response["Content-Security-Policy"]
    assert "img-src 'self' data:" in response["Content-Security-Policy"]
    assert client.get(reverse("two_factor_setup")).content.decode().count(secret.group(1)) == 1

    wrong = client.post(reverse("two_factor_setup"), {"code": "000000"})
    assert wrong.status_code == 200
    wrong_page = wrong.content.decode()
    assert "That code is not the one your app shows" in wrong_page
    assert 'value="000000"' in wrong_page  # the input is kept
    device.refresh_from_db()
    assert not device.confirmed

    otp_clock.advance(1)  # django-otp's throttle: one second after one wrong code
    right = client.post(reverse("two_factor_setup"), {"code": otp_clock.code(device)})
    assert right.status_code == 303
    device.refresh_from_db()
    assert device.confirmed
    codes_page = client.get(right["Location"]).content.decode()
    codes = re.findall(r"<li><code>([a-z2-7]{8})</code></li>", codes_page)
    assert len(codes) == 10
    assert "I have saved them" in codes_page
    # Shown once: the page does not show them again.
    again = client.get(reverse("two_factor_recovery_codes")).content.decode()
    assert not any(code in again for code in codes)
    assert "10 unused recovery codes" in again
    assert len(_events(user, SecurityEventKind.TWO_FACTOR_ENABLED)) == 1
    assert len(_events(user, SecurityEventKind.TWO_FACTOR_FAILED)) == 1
    assert "10 recovery codes left" in client.get(reverse("account_settings")).content.decode()


def test_a_signed_in_person_with_an_app_must_pass_the_code_step(
    world: World, otp_clock: OtpClock
) -> None:
    user = world.staff_a
    first = Client()
    _sign_in(first, user)
    device, _codes = _enrol(first, user, otp_clock)

    client = Client()
    _sign_in(client, user)
    held = client.get(reverse("home"))
    assert held.status_code == 302
    assert held["Location"] == f"{reverse('two_factor_verify')}?next=%2F"
    verify_page = client.get(held["Location"]).content.decode()
    assert "Enter your two-factor code" in verify_page

    response = client.post(
        reverse("two_factor_verify"), {"code": otp_clock.code(device), "next": "/"}
    )
    assert response.status_code == 302
    assert response["Location"] == "/"
    assert client.get(reverse("home")).status_code == 200
    # The same code twice is refused (django-otp keeps the last accepted step).
    replay = Client()
    _sign_in(replay, user)
    refused = replay.post(reverse("two_factor_verify"), {"code": otp_clock.code(device)})
    assert refused.status_code == 200
    assert "That code is not right" in refused.content.decode()


def test_an_open_redirect_in_next_goes_to_the_dashboard_instead(
    world: World, otp_clock: OtpClock
) -> None:
    user = world.staff_a
    client = Client()
    _sign_in(client, user)
    device, _codes = _enrol(client, user, otp_clock)
    client.post(reverse("logout"))
    _sign_in(client, user)
    response = client.post(
        reverse("two_factor_verify"),
        {"code": otp_clock.code(device), "next": "https://evil.example/"},
    )
    assert response["Location"] == reverse("home")


def test_five_wrong_codes_sign_the_person_out_and_are_logged(
    world: World, otp_clock: OtpClock
) -> None:
    user = world.staff_a
    client = Client()
    _sign_in(client, user)
    _enrol(client, user, otp_clock)
    client.post(reverse("logout"))
    _sign_in(client, user)
    answers = []
    for _ in range(5):
        response = client.post(reverse("two_factor_verify"), {"code": "123456"})
        answers.append(response.status_code)
    print(f"case 39: wrong codes answered {answers}; signed out after {len(answers)}")
    assert answers == [200, 200, 200, 200, 303]
    home = client.get(reverse("home"))
    assert home.status_code == 302
    assert home["Location"].startswith(reverse("login"))
    failures = _events(user, SecurityEventKind.TWO_FACTOR_FAILED)
    assert len(failures) == 6  # five refusals and the sign-out
    assert any("signed out" in event.detail for event in failures)


def test_a_right_code_right_after_a_wrong_one_waits_for_django_otps_throttle(
    world: World, otp_clock: OtpClock
) -> None:
    user = world.staff_a
    client = Client()
    _sign_in(client, user)
    device, _codes = _enrol(client, user, otp_clock)
    client.post(reverse("logout"))
    _sign_in(client, user)
    client.post(reverse("two_factor_verify"), {"code": "123456"})
    client.post(reverse("two_factor_verify"), {"code": "654321"})
    too_soon = client.post(reverse("two_factor_verify"), {"code": otp_clock.code(device)})
    assert "Too many wrong codes in a row" in too_soon.content.decode()
    otp_clock.advance(2)  # 1 s after the first failure, 2 s after the second
    response = client.post(reverse("two_factor_verify"), {"code": otp_clock.code(device)})
    assert response.status_code == 302
    assert client.get(reverse("home")).status_code == 200


def test_recovery_codes_work_once_each(
    world: World,
    otp_clock: OtpClock,
    settings,  # type: ignore[no-untyped-def]
) -> None:
    """Case 39: each of the 10 recovery codes signs in once, and never again."""
    # Throttling off here, so that a refusal below is the code's single use and not a delay.
    settings.OTP_STATIC_THROTTLE_FACTOR = 0
    user = world.agency_admin_a
    client = Client()
    _sign_in(client, user)
    _device, codes = _enrol(client, user, otp_clock)
    assert len(codes) == 10

    accepted_first, accepted_again = 0, 0
    for code in codes:
        fresh = Client()
        _sign_in(fresh, user)
        # Typed as people type them: upper case, with a space.
        response = fresh.post(
            reverse("two_factor_verify"), {"code": f"{code[:4]} {code[4:]}".upper()}
        )
        if response.status_code == 302 and fresh.get(reverse("home")).status_code == 200:
            accepted_first += 1
    for code in codes:
        fresh = Client()
        _sign_in(fresh, user)
        response = fresh.post(reverse("two_factor_verify"), {"code": code})
        if response.status_code == 302:
            accepted_again += 1
        assert fresh.get(reverse("home")).status_code == 302
    print(
        f"case 39: recovery codes accepted the first time {accepted_first}/10, "
        f"a second time {accepted_again}/10"
    )
    assert (accepted_first, accepted_again) == (10, 0)
    assert not StaticToken.objects.filter(device__user=user).exists()
    used = _events(user, SecurityEventKind.RECOVERY_CODE_USED)
    assert len(used) == 10
    assert {event.detail for event in used} >= {"9 recovery codes left.", "0 recovery codes left."}


def test_new_recovery_codes_replace_the_old_ones(world: World, otp_clock: OtpClock) -> None:
    user = world.staff_a
    client = Client()
    _sign_in(client, user)
    _device, old = _enrol(client, user, otp_clock)
    response = client.post(reverse("two_factor_recovery_codes_regenerate"))
    assert response.status_code == 303
    page = client.get(response["Location"]).content.decode()
    new = re.findall(r"<li><code>([a-z2-7]{8})</code></li>", page)
    assert len(new) == 10
    assert not set(new) & set(old)
    assert len(_events(user, SecurityEventKind.RECOVERY_CODES_REGENERATED)) == 1

    fresh = Client()
    _sign_in(fresh, user)
    assert fresh.post(reverse("two_factor_verify"), {"code": old[0]}).status_code == 200
    otp_clock.advance(1)
    assert fresh.post(reverse("two_factor_verify"), {"code": new[0]}).status_code == 302


def test_remembered_device_skips_the_step_until_two_factor_is_turned_off(
    world: World, otp_clock: OtpClock
) -> None:
    user = world.staff_a
    client = Client()
    _sign_in(client, user)
    device, _codes = _enrol(client, user, otp_clock)
    client.post(reverse("logout"))

    _sign_in(client, user)
    response = client.post(
        reverse("two_factor_verify"), {"code": otp_clock.code(device), "remember": "on"}
    )
    cookie = response.cookies[REMEMBER_COOKIE]
    assert cookie["httponly"]
    assert cookie["max-age"] == 30 * 86_400
    remembered = cookie.value

    browser = Client()
    browser.cookies[REMEMBER_COOKIE] = remembered
    _sign_in(browser, user)
    assert browser.get(reverse("home")).status_code == 200  # no code step

    # Not for anyone else, and not if tampered with.
    other = world.agency_admin_a
    other_device = AuthenticatorApp.objects.create(user=other, name="app", confirmed=True)
    assert other_device.pk
    stranger = Client()
    stranger.cookies[REMEMBER_COOKIE] = remembered
    _sign_in(stranger, other)
    assert stranger.get(reverse("home")).status_code == 302
    forged = Client()
    forged.cookies[REMEMBER_COOKIE] = remembered[:-2] + ("AA" if remembered[-2:] != "AA" else "BB")
    _sign_in(forged, user)
    assert forged.get(reverse("home")).status_code == 302

    # Turned off (the answer also deletes the cookie), then on again: the old cookie is void.
    off = browser.post(reverse("two_factor_disable"), {"credential": PASSWORD})
    assert off.status_code == 303
    assert off.cookies[REMEMBER_COOKIE].value == ""
    _enrol(browser, user, otp_clock)
    later = Client()
    later.cookies[REMEMBER_COOKIE] = remembered
    _sign_in(later, user)
    held = later.get(reverse("home"))
    assert held.status_code == 302
    assert held["Location"].startswith(reverse("two_factor_verify"))


def test_remember_cookie_is_secure_where_the_session_cookie_is(
    world: World,
    otp_clock: OtpClock,
    settings,  # type: ignore[no-untyped-def]
) -> None:
    settings.SESSION_COOKIE_SECURE = True
    user = world.staff_a
    client = Client()
    _sign_in(client, user)
    device, _codes = _enrol(client, user, otp_clock)
    client.post(reverse("logout"))
    _sign_in(client, user)
    response = client.post(
        reverse("two_factor_verify"), {"code": otp_clock.code(device), "remember": "on"}
    )
    assert response.cookies[REMEMBER_COOKIE]["secure"]


def test_remembered_device_expires_after_the_configured_days(
    world: World,
    otp_clock: OtpClock,
    settings,  # type: ignore[no-untyped-def]
) -> None:
    user = world.staff_a
    client = Client()
    _sign_in(client, user)
    device, _codes = _enrol(client, user, otp_clock)
    client.post(reverse("logout"))
    _sign_in(client, user)
    response = client.post(
        reverse("two_factor_verify"), {"code": otp_clock.code(device), "remember": "on"}
    )
    remembered = response.cookies[REMEMBER_COOKIE].value
    # The signature's timestamp is checked against the setting, whatever the browser keeps.
    settings.LINKER_2FA_REMEMBER_DAYS = 0
    later = Client()
    later.cookies[REMEMBER_COOKIE] = remembered
    _sign_in(later, user)
    assert later.get(reverse("home")).status_code == 302


def test_turning_off_needs_a_current_code_or_the_password(
    world: World, otp_clock: OtpClock
) -> None:
    user = world.staff_a
    client = Client()
    _sign_in(client, user)
    device, _codes = _enrol(client, user, otp_clock)

    wrong = client.post(reverse("two_factor_disable"), {"credential": "not my password"})
    assert wrong.status_code == 200
    assert "neither your password nor a current code" in wrong.content.decode()
    assert AuthenticatorApp.objects.filter(user=user).exists()

    otp_clock.advance(1)
    by_code = client.post(reverse("two_factor_disable"), {"credential": otp_clock.code(device)})
    assert by_code.status_code == 303
    assert not AuthenticatorApp.objects.filter(user=user).exists()
    assert not StaticDevice.objects.filter(user=user).exists()
    assert len(_events(user, SecurityEventKind.TWO_FACTOR_DISABLED)) == 1

    fresh = Client()
    _sign_in(fresh, user)
    assert fresh.get(reverse("home")).status_code == 200  # the password alone again


def test_turning_off_is_refused_while_the_agency_requires_it(
    world: World, otp_clock: OtpClock
) -> None:
    user = world.staff_a
    client = Client()
    _sign_in(client, user)
    _enrol(client, user, otp_clock)
    world.agency_a.two_factor = TwoFactorPolicy.AGENCY
    world.agency_a.save()
    page = client.get(reverse("account_settings")).content.decode()
    assert "Turn off two-factor authentication" not in page
    response = client.post(reverse("two_factor_disable"), {"credential": PASSWORD})
    assert response.status_code == 200
    assert "Your agency requires two-factor authentication" in response.content.decode()
    assert AuthenticatorApp.objects.filter(user=user, confirmed=True).exists()


def test_tenant_users_may_turn_it_on_for_themselves(world: World, otp_clock: OtpClock) -> None:
    world.agency_a.two_factor = TwoFactorPolicy.AGENCY
    world.agency_a.save()
    user = world.tenant_admin_a1
    client = Client()
    _sign_in(client, user)
    assert client.get(reverse("home")).status_code == 200  # not covered by the policy
    device, codes = _enrol(client, user, otp_clock)
    assert len(codes) == 10
    fresh = Client()
    _sign_in(fresh, user)
    assert fresh.get(reverse("home")).status_code == 302
    fresh.post(reverse("two_factor_verify"), {"code": otp_clock.code(device)})
    assert fresh.get(reverse("home")).status_code == 200


def test_operator_reset_removes_the_app_and_is_logged(world: World, otp_clock: OtpClock) -> None:
    user = world.staff_a
    client = Client()
    _sign_in(client, user)
    _enrol(client, user, otp_clock)
    call_command("two_factor_reset", user.email.upper())
    assert not AuthenticatorApp.objects.filter(user=user).exists()
    assert not StaticDevice.objects.filter(user=user).exists()
    [event] = _events(user, SecurityEventKind.TWO_FACTOR_DISABLED)
    assert "operator" in event.detail
    assert event.agency == world.agency_a
    fresh = Client()
    _sign_in(fresh, user)
    assert fresh.get(reverse("home")).status_code == 200


def test_operator_reset_of_an_unknown_email_is_refused(db: None) -> None:
    with pytest.raises(CommandError, match=r"No user with the email 'nobody@example\.com'"):
        call_command("two_factor_reset", "nobody@example.com")


def test_operator_reset_of_an_unknown_email_exits_non_zero_with_one_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update({"LINKER_VAR_DIR": str(tmp_path), "DJANGO_ENV": "development"})
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    result = subprocess.run(
        [sys.executable, "manage.py", "two_factor_reset", "nobody@example.com"],
        cwd=ROOT, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.strip() == "CommandError: No user with the email 'nobody@example.com'."
