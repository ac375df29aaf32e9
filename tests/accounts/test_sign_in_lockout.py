"""Sign-in throttling with django-axes (reliability.md case 37).

Failures are counted per account and, apart, per client address. At the limit
(``LINKER_LOGIN_FAILURE_LIMIT``, 5 by default) sign-in is refused, the right password
included, with a 429 page, until the cool-off (``LINKER_LOGIN_COOLOFF_MINUTES``) has passed
since the last failure. The cool-off is passed here by moving the attempt records back in time.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.db.models import F
from django.test import Client
from django.urls import reverse

from accounts.models import SecurityEvent, SecurityEventKind
from tests.conftest import World
from tests.factories import PASSWORD, make_user

ATTACKER = "203.0.113.66"


def _sign_in(client: Client, email: str, password: str, address: str = ATTACKER):  # type: ignore[no-untyped-def]
    return client.post(
        reverse("login"), {"username": email, "password": password}, REMOTE_ADDR=address
    )


def _signed_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def _cool_off_passes() -> None:
    """Every recorded failure is now older than the cool-off (as if that time had passed)."""
    AccessAttempt.objects.update(
        attempt_time=F("attempt_time") - settings.AXES_COOLOFF_TIME - timedelta(seconds=1)
    )


def test_twenty_wrong_passwords_lock_the_account_and_the_right_one_waits_for_the_cool_off(
    world: World,
) -> None:
    """Case 37: 20 wrong passwords for one account from one address."""
    limit = settings.AXES_FAILURE_LIMIT
    email = world.agency_admin_a.email
    client = Client()
    statuses = [_sign_in(client, email, f"wrong-{n}").status_code for n in range(20)]
    answered = statuses.count(200)
    refused = statuses.count(429)
    during = _sign_in(client, email, PASSWORD)
    print(
        f"case 37: 20 wrong passwords from one address, limit {limit}: {answered} answered, "
        f"{refused} refused with 429 (from attempt {statuses.index(429) + 1}); the right password "
        f"during the lockout: {during.status_code}, signed in: {_signed_in(client)}"
    )
    assert statuses == [200] * (limit - 1) + [429] * (20 - limit + 1)
    assert during.status_code == 429
    assert not _signed_in(client)

    _cool_off_passes()
    after = _sign_in(client, email, PASSWORD)
    print(f"case 37: the right password after the cool-off: {after.status_code} -> signed in")
    assert after.status_code == 302
    assert after["Location"] == reverse("home")
    assert _signed_in(client)
    locked = SecurityEvent.objects.filter(kind=SecurityEventKind.LOCKED_OUT)
    assert [(e.agency, e.email, e.ip_address) for e in locked] == [
        (world.agency_a, email, ATTACKER)
    ]


def test_the_lockout_page_is_a_clear_page_in_the_sites_style(world: World) -> None:
    client = Client()
    for n in range(settings.AXES_FAILURE_LIMIT):
        response = _sign_in(client, world.staff_a.email, f"wrong-{n}")
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    page = response.content.decode()
    assert response.status_code == 429
    assert response["Retry-After"] == str(minutes * 60)
    assert "<h1>Too many failed sign-ins</h1>" in page
    assert f"Try again in {minutes} minutes." in page
    assert 'class="topbar"' in page  # the site's layout, not a bare text
    assert reverse("password_reset") in page


def test_failures_from_one_address_lock_that_address_for_every_account(world: World) -> None:
    """Per address: one failure each for five accounts, then even a sixth account's right
    password is refused from that address, and accepted from another."""
    limit = settings.AXES_FAILURE_LIMIT
    client = Client()
    for n in range(limit):
        _sign_in(client, f"guess{n}@example.com", "wrong")
    refused = _sign_in(client, world.staff_a.email, PASSWORD)
    elsewhere = _sign_in(Client(), world.staff_a.email, PASSWORD, address="198.51.100.20")
    print(
        f"case 37: {limit} accounts tried once each from one address: the next account's right "
        f"password there {refused.status_code}, from another address {elsewhere.status_code}"
    )
    assert refused.status_code == 429
    assert elsewhere.status_code == 302


def test_failures_for_one_account_lock_it_from_every_address(world: World) -> None:
    """Per account: one failure from each of five addresses, then the right password is
    refused from a sixth address; another account signs in from there."""
    limit = settings.AXES_FAILURE_LIMIT
    email = world.staff_a.email
    for n in range(limit):
        _sign_in(Client(), email, "wrong", address=f"192.0.2.{n + 1}")
    refused = _sign_in(Client(), email, PASSWORD, address="192.0.2.200")
    other = _sign_in(Client(), world.staff_b.email, PASSWORD, address="192.0.2.200")
    print(
        f"case 37: {limit} failures for one account from {limit} addresses: its right password "
        f"from a new address {refused.status_code}; another account there {other.status_code}"
    )
    assert refused.status_code == 429
    assert other.status_code == 302


def test_spellings_of_one_email_count_as_one_account(world: World) -> None:
    email = world.staff_a.email
    spellings = [email.upper(), email.title(), f"  {email}", email.capitalize(), email]
    for n, spelling in enumerate(spellings[: settings.AXES_FAILURE_LIMIT]):
        _sign_in(Client(), spelling, "wrong", address=f"192.0.2.{n + 1}")
    assert _sign_in(Client(), email, PASSWORD, address="192.0.2.99").status_code == 429


def test_every_attempt_is_in_the_security_log(world: World) -> None:
    limit = settings.AXES_FAILURE_LIMIT
    email = world.staff_a.email
    client = Client()
    for n in range(limit + 2):
        _sign_in(client, email, f"wrong-{n}")
    failed = SecurityEvent.objects.filter(kind=SecurityEventKind.SIGN_IN_FAILED).order_by("id")
    assert failed.count() == limit + 2
    assert {e.agency for e in failed} == {world.agency_a}
    assert {e.ip_address for e in failed} == {ATTACKER}
    assert [e.detail for e in failed][-2:] == ["Refused: locked out"] * 2
    assert SecurityEvent.objects.filter(kind=SecurityEventKind.LOCKED_OUT).count() == 1


def test_an_unknown_email_is_logged_for_no_agency(world: World) -> None:
    _sign_in(Client(), "nobody@example.com", "wrong")
    event = SecurityEvent.objects.get(kind=SecurityEventKind.SIGN_IN_FAILED)
    assert event.agency is None
    assert event.user is None
    assert event.email == "nobody@example.com"


@pytest.mark.parametrize("email", ["ann\x00@example.com", "x" * 5000, "\u00b2@example.com"])
def test_odd_emails_are_refused_without_an_error(db: None, email: str) -> None:
    make_user(email="ann@example.com")
    response = _sign_in(Client(), email, PASSWORD)
    assert response.status_code == 200
    assert "do not match an account" in response.content.decode()
