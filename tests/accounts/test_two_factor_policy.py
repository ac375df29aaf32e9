"""An agency's two-factor policy: its page, and the gate that enforces it on every page.

Reliability.md case 39: an agency that requires 2FA: its admins and staff cannot reach any page
past enrolment without a second factor. Case 44: policy changes in the security log.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client
from django.urls import get_resolver, reverse
from django.urls.converters import IntConverter

from accounts.authenticator import AuthenticatorApp
from accounts.models import Agency, SecurityEvent, SecurityEventKind, TwoFactorPolicy, User
from tests.accounts.two_factor_codes import OtpClock, install_otp_clock
from tests.conftest import World
from tests.factories import PASSWORD
from tests.web.routes import LISTS, PUBLIC, ROUTES

# Pages of the Django admin, held like every other.
ADMIN_PATHS = ("/admin/", "/admin/accounts/tenant/", "/admin/otp_totp/totpdevice/")


@pytest.fixture
def otp_clock(monkeypatch: pytest.MonkeyPatch) -> OtpClock:
    return install_otp_clock(monkeypatch)


def _sign_in(client: Client, user: User) -> None:
    response = client.post(reverse("login"), {"username": user.email, "password": PASSWORD})
    assert response.status_code == 302, response.content.decode()[:500]


def _require(agency: Agency, policy: TwoFactorPolicy) -> None:
    agency.two_factor = policy
    agency.save(update_fields=["two_factor"])


def _sample_kwargs(name: str) -> dict[str, Any]:
    """Any values for a page's URL arguments: the gate answers before the view looks."""
    [(possibilities, _pattern, _defaults, converters)] = get_resolver().reverse_dict.getlist(name)
    [(_format, params)] = possibilities
    return {p: 1 if isinstance(converters[p], IntConverter) else "x" for p in params}


def _every_request(world: World) -> list[tuple[str, str, dict[str, Any]]]:
    """(method, path, data) for every URL in tests/web/routes.py and every admin page."""
    requests: list[tuple[str, str, dict[str, Any]]] = []
    for name, route in sorted(ROUTES.items()):
        url = reverse(name, kwargs=route.foreign_kwargs(world))
        requests += [(method, url, route.data) for method in route.methods]
    for name in sorted(LISTS | PUBLIC):
        if name in {"logout", "two_factor_setup"}:
            continue  # the two pages a held person may open
        url = reverse(name, kwargs=_sample_kwargs(name))
        requests += [("GET", url, {}), ("POST", url, {})]
    requests += [("GET", path, {}) for path in ADMIN_PATHS]
    return requests


def _without_csrf(content: bytes) -> str:
    # The logout form's CSRF token is masked afresh in every answer.
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]*"', "", content.decode())


def _held_at(response: Any, page: str) -> bool:
    return response.status_code == 302 and response["Location"].split("?")[0] == page


def test_agency_staff_without_an_app_are_held_at_setup_on_every_page(world: World) -> None:
    """Case 39: agency requires 2FA; its staff member without a device reaches 0 pages."""
    _require(world.agency_a, TwoFactorPolicy.AGENCY)
    world.staff_a.is_staff = True  # may use the Django admin, so the admin is tried too
    world.staff_a.save()
    client = Client()
    _sign_in(client, world.staff_a)
    requests = _every_request(world)
    setup = reverse("two_factor_setup")
    reachable = [
        (method, url)
        for method, url, data in requests
        if not _held_at(getattr(client, method.lower())(url, data=data), setup)
    ]
    urls = len({url for _method, url, _data in requests})
    print(
        f"case 39: {len(requests)} requests to {urls} URLs (routes.py and the admin) by "
        f"unenrolled staff of an agency requiring 2FA: {len(reachable)} reachable"
    )
    assert reachable == []
    assert len(requests) > 60
    # Static files and signing out stay open.
    assert client.get("/static/css/app.css").status_code == 200
    page = client.get(setup)
    assert page.status_code == 200
    assert "Your agency requires a second factor" in page.content.decode()
    assert ">Dashboard</a>" not in page.content.decode().split("<main")[0]  # no way round
    assert client.post(reverse("logout")).status_code == 302
    assert client.get(reverse("home"))["Location"].startswith(reverse("login"))


def test_once_enrolled_the_same_staff_member_reaches_the_pages(
    world: World, otp_clock: OtpClock
) -> None:
    _require(world.agency_a, TwoFactorPolicy.AGENCY)
    client = Client()
    _sign_in(client, world.staff_a)
    assert client.get(reverse("home")).status_code == 302
    client.get(reverse("two_factor_setup"))
    device = AuthenticatorApp.objects.get(user=world.staff_a)
    response = client.post(
        reverse("two_factor_setup"), {"code": otp_clock.code(device), "next": "/"}
    )
    assert response.status_code == 303
    codes_page = client.get(response["Location"]).content.decode()
    assert 'href="/">I have saved them' in codes_page
    for name in sorted(LISTS - {"two_factor_recovery_codes_regenerate"}):
        answer = client.get(reverse(name))
        assert answer.status_code in (200, 302, 303, 405), name
        assert not _held_at(answer, reverse("two_factor_setup")), name
    assert client.get(reverse("home")).status_code == 200


def test_a_person_with_an_app_is_held_at_the_code_step_on_every_page(world: World) -> None:
    """Case 39: a device but an unverified session reaches only the code page."""
    AuthenticatorApp.objects.create(user=world.agency_admin_a, name="app", confirmed=True)
    world.agency_admin_a.is_staff = True
    world.agency_admin_a.save()
    client = Client()
    _sign_in(client, world.agency_admin_a)
    requests = [
        (method, url, data)
        for method, url, data in _every_request(world)
        if url != reverse("two_factor_verify")
    ]
    verify = reverse("two_factor_verify")
    reachable = [
        (method, url)
        for method, url, data in requests
        if not _held_at(getattr(client, method.lower())(url, data=data), verify)
    ]
    print(
        f"case 39: {len(requests)} requests with an unverified session: {len(reachable)} reachable"
    )
    assert reachable == []
    assert client.get(verify).status_code == 200


def test_admins_only_policy_holds_admins_but_not_staff_or_tenant_users(world: World) -> None:
    _require(world.agency_a, TwoFactorPolicy.ADMINS)
    held = {}
    for user in (world.agency_admin_a, world.staff_a, world.tenant_admin_a1, world.viewer_a1):
        client = Client()
        _sign_in(client, user)
        held[user.email] = _held_at(client.get(reverse("home")), reverse("two_factor_setup"))
    assert held == {
        world.agency_admin_a.email: True,
        world.staff_a.email: False,
        world.tenant_admin_a1.email: False,
        world.viewer_a1.email: False,
    }


def test_agency_policy_never_holds_tenant_users(world: World) -> None:
    _require(world.agency_a, TwoFactorPolicy.AGENCY)
    for user in (world.tenant_admin_a1, world.viewer_a1):
        client = Client()
        _sign_in(client, user)
        assert client.get(reverse("home")).status_code == 200


def test_another_agencys_policy_does_not_hold_its_neighbours(world: World) -> None:
    _require(world.agency_b, TwoFactorPolicy.AGENCY)
    client = Client()
    _sign_in(client, world.staff_a)
    assert client.get(reverse("home")).status_code == 200


def test_agency_admin_sets_the_policy_and_it_is_logged(world: World) -> None:
    client = Client()
    _sign_in(client, world.agency_admin_a)
    url = reverse("agency_security", kwargs={"agency_id": world.agency_a.pk})
    page = client.get(url).content.decode()
    assert "Two-factor policy of Agency A" in page
    assert world.staff_a.email in page
    assert client.get(reverse("account_settings")).content.decode().count(f'href="{url}"') == 1

    response = client.post(url, {"two_factor": TwoFactorPolicy.AGENCY})
    assert response.status_code == 303
    world.agency_a.refresh_from_db()
    assert world.agency_a.two_factor == TwoFactorPolicy.AGENCY
    [event] = SecurityEvent.objects.filter(kind=SecurityEventKind.TWO_FACTOR_POLICY_CHANGED)
    assert event.agency == world.agency_a
    assert event.user == world.agency_admin_a
    assert event.detail == "Not required → Required for agency admins and staff."
    assert event.ip_address == "127.0.0.1"
    # The admin is covered too: from now on they are held at setup.
    assert _held_at(client.get(reverse("home")), reverse("two_factor_setup"))


def test_a_made_up_policy_is_refused_with_a_message(world: World) -> None:
    client = Client()
    _sign_in(client, world.agency_admin_a)
    url = reverse("agency_security", kwargs={"agency_id": world.agency_a.pk})
    response = client.post(url, {"two_factor": "everyone\x00"})
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    world.agency_a.refresh_from_db()
    assert world.agency_a.two_factor == TwoFactorPolicy.OFF


def test_policy_page_is_the_same_404_for_anyone_but_the_agencys_admins(world: World) -> None:
    world.staff_b.is_staff = True
    world.staff_b.save()
    other_admin = User.objects.create_user(email="admin.b@example.com", password=PASSWORD)
    other_admin.memberships.create(role="agency_admin", agency=world.agency_b)
    missing = reverse("agency_security", kwargs={"agency_id": 999_999})
    url = reverse("agency_security", kwargs={"agency_id": world.agency_a.pk})
    for user in (other_admin, world.staff_a, world.staff_b, world.tenant_admin_a1):
        client = Client()
        _sign_in(client, user)
        for method in ("get", "post"):
            foreign = getattr(client, method)(url, {"two_factor": TwoFactorPolicy.AGENCY})
            absent = getattr(client, method)(missing, {"two_factor": TwoFactorPolicy.AGENCY})
            assert foreign.status_code == absent.status_code == 404, (user.email, method)
            assert _without_csrf(foreign.content) == _without_csrf(absent.content)
    world.agency_a.refresh_from_db()
    assert world.agency_a.two_factor == TwoFactorPolicy.OFF
    assert not SecurityEvent.objects.filter(
        kind=SecurityEventKind.TWO_FACTOR_POLICY_CHANGED
    ).exists()
