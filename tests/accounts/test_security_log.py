"""The agency security log (reliability.md case 44): who did what, when and from where, for the
agency's admins only."""

from __future__ import annotations

import re
from datetime import timedelta
from io import StringIO

import pytest
from django.core import mail
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import Membership, Role, SecurityEvent, SecurityEventKind
from accounts.security_log import security_event_record, user_agent_summary
from api_client.sandbox.control import SandboxControl
from linker.models import ApiKey, Link
from tests.conftest import World
from tests.factories import PASSWORD, make_sandbox_application, make_user

ADDRESS = "203.0.113.44"
FIREFOX = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0"

# Kinds another part of the product records (two-factor, issue 13 part A) or that need no
# request of their own here.
NOT_HERE = {
    SecurityEventKind.TWO_FACTOR_ENABLED,
    SecurityEventKind.TWO_FACTOR_DISABLED,
    SecurityEventKind.TWO_FACTOR_FAILED,
    SecurityEventKind.RECOVERY_CODE_USED,
    SecurityEventKind.RECOVERY_CODES_REGENERATED,
    SecurityEventKind.TWO_FACTOR_POLICY_CHANGED,
}
# Recorded by a management command: no browser, no address.
FROM_A_COMMAND = {SecurityEventKind.KEY_ROTATED, SecurityEventKind.MEMBER_ROLE_CHANGED}


def _client(user=None) -> Client:  # type: ignore[no-untyped-def]
    client = Client(REMOTE_ADDR=ADDRESS, HTTP_USER_AGENT=FIREFOX)
    if user is not None:
        response = client.post(reverse("login"), {"username": user.email, "password": PASSWORD})
        assert response.status_code == 302
    return client


def _reset_password(user) -> None:  # type: ignore[no-untyped-def]
    _client().post(reverse("password_reset"), {"email": user.email})
    (message,) = [m for m in mail.outbox if user.email in m.to]
    found = re.search(r"https?://[^/]+(/accounts/reset/\S+/)", message.body)
    assert found
    guest = _client()
    opened = guest.get(found.group(1))
    new = "another long passphrase 31"
    guest.post(opened["Location"], {"new_password1": new, "new_password2": new})
    user.set_password(PASSWORD)  # back to the factory password for the rest of the story
    user.save()


def _story(world: World, sandbox: SandboxControl, settings) -> None:  # type: ignore[no-untyped-def]
    """Agency A's people do one of everything the log records, all from one browser."""
    admin, staff = world.agency_admin_a, world.staff_a
    # Sign in, sign out; sign out everywhere; a password reset.
    _client(staff).post(reverse("logout"))
    _client(admin).post(reverse("sign_out_everywhere"))
    _reset_password(admin)
    browser = _client(admin)
    # A member added (with the new tenant's invitation), their role changed, then removed.
    browser.post(
        reverse("tenant_create", kwargs={"agency_id": world.agency_a.pk}),
        {"name": "Gamma Tools", "admin_email": "partner@gamma.example"},
    )
    gamma = Membership.objects.get(user__email="partner@gamma.example").tenant
    assert gamma is not None
    call_command(
        "add_member", "partner@gamma.example", "--role", "tenant_viewer", "--tenant", str(gamma.pk),
        stdout=StringIO(),
    )  # fmt: skip
    superuser = make_user(is_staff=True, is_superuser=True)
    membership = Membership.objects.get(user__email="partner@gamma.example")
    _client(superuser).post(
        reverse("admin:accounts_membership_delete", args=[membership.pk]), {"post": "yes"}
    )
    # A link made with a pasted API token (checked at the sandbox), then removed.
    settings.COPERNICA_AUTH_URL = sandbox.auth_url
    settings.COPERNICA_API_URL = sandbox.api_url
    settings.COPERNICA_REST_URL = sandbox.rest_url
    make_sandbox_application(
        sandbox=sandbox, agency=world.agency_a, redirect_uri="http://testserver/oauth/callback"
    )
    account = sandbox.create_account("Alpha Bikes Copernica", profiles=2)
    tenant_url = {"tenant_id": world.tenant_a1.pk}
    browser.post(reverse("token_link", kwargs=tenant_url), {"api_token": account.api_token})
    assert Link.objects.get(tenant=world.tenant_a1).access_token_encrypted
    browser.post(reverse("disconnect", kwargs=tenant_url))
    # Exports.
    browser.get(reverse("dashboard_export"))
    browser.get(reverse("profile_export", kwargs=tenant_url))
    # People and tenants (issue 14): an invitation sent again; a tenant renamed, archived,
    # restored, then deleted.
    members = {"agency_id": world.agency_a.pk}
    browser.post(
        reverse("agency_members", kwargs=members),
        {"email": "late@alpha.example", "role": Role.AGENCY_STAFF},
    )
    late = Membership.objects.get(user__email="late@alpha.example")
    browser.post(reverse("agency_member_resend", kwargs={**members, "membership_id": late.pk}))
    cars = {"tenant_id": world.tenant_a2.pk}
    browser.post(reverse("tenant_settings", kwargs=cars), {"name": "Alpha Autos"})
    browser.post(reverse("tenant_archive", kwargs=cars))
    browser.post(reverse("tenant_restore", kwargs=cars))
    browser.post(reverse("tenant_delete", kwargs=cars), {"confirm_name": "Alpha Autos"})
    # An API key made and revoked (issue 15).
    browser.post(
        reverse("api_keys", kwargs=members), {"name": "Alpha CRM", "scopes": ["read", "write"]}
    )
    api_key = ApiKey.objects.get(agency=world.agency_a, name="Alpha CRM")
    browser.post(reverse("api_key_revoke", kwargs={**members, "key_id": api_key.pk}))
    # A key rotation, and a throttled request.
    call_command("rotate_keys", stdout=StringIO())
    settings.LINKER_API_TOKEN_RATE = "1/h"
    for _ in range(2):
        browser.post(reverse("token_link", kwargs=tenant_url), {"api_token": "f" * 32})
    # Last, as it locks this browser's address out: failed sign-ins up to a lockout.
    for n in range(settings.AXES_FAILURE_LIMIT):
        _client().post(reverse("login"), {"username": staff.email, "password": f"bad{n}"})


def test_each_kind_appears_with_who_when_and_where(
    world: World,
    sandbox: SandboxControl,
    settings,  # type: ignore[no-untyped-def]
) -> None:
    """Case 44: every kind this part records is in agency A's log, with who, when, where."""
    started = timezone.now()
    _story(world, sandbox, settings)
    log = SecurityEvent.objects.filter(agency=world.agency_a)
    expected = set(SecurityEventKind) - NOT_HERE
    found = {kind for kind in expected if log.filter(kind=kind).exists()}
    print(
        f"case 44: {len(found)} of {len(expected)} kinds in agency A's log "
        f"({log.count()} events); missing: {sorted(expected - found)}"
    )
    assert found == expected
    for kind in expected - FROM_A_COMMAND:
        event = log.filter(kind=kind).latest("created_at")
        assert event.created_at >= started, kind
        assert event.user is not None or event.email, kind
        assert event.ip_address == ADDRESS, kind
        assert event.user_agent == FIREFOX, kind
    for kind in FROM_A_COMMAND:
        event = log.filter(kind=kind).latest("created_at")
        assert event.ip_address is None, kind
    assert log.filter(kind=SecurityEventKind.MEMBER_ADDED, user=world.agency_admin_a).exists()
    # Agency B's log has the deployment-wide key rotation and nothing of agency A's people.
    assert set(
        SecurityEvent.objects.filter(agency=world.agency_b).values_list("kind", flat=True)
    ) == {SecurityEventKind.KEY_ROTATED}


def _events(world: World, count: int) -> None:
    now = timezone.now()
    SecurityEvent.objects.bulk_create(
        SecurityEvent(
            agency=world.agency_a,
            user=world.staff_a,
            email=world.staff_a.email,
            kind=SecurityEventKind.SIGN_IN if n % 2 else SecurityEventKind.EXPORT,
            ip_address="192.0.2.7",
            user_agent=FIREFOX,
            detail=f"event {n}",
            created_at=now - timedelta(minutes=count - n),
        )
        for n in range(count)
    )


def test_the_agency_admin_reads_the_log_newest_first(world: World) -> None:
    _events(world, 3)
    client = Client()
    client.force_login(world.agency_admin_a)
    response = client.get(reverse("security_log", kwargs={"agency_id": world.agency_a.pk}))
    page = response.content.decode()
    assert response.status_code == 200
    assert page.index("event 2") < page.index("event 1") < page.index("event 0")
    assert "192.0.2.7" in page
    assert "Firefox 128 on Windows" in page
    assert world.staff_a.email in page


def test_the_log_filters_by_kind_and_pages(world: World) -> None:
    _events(world, 130)
    client = Client()
    client.force_login(world.agency_admin_a)
    url = reverse("security_log", kwargs={"agency_id": world.agency_a.pk})
    exports = client.get(url, {"kind": SecurityEventKind.EXPORT}).content.decode()
    assert "event 128" in exports
    assert "event 129" not in exports  # a sign-in
    assert "65 events" in exports
    second = client.get(url, {"kind": SecurityEventKind.EXPORT, "page": 2}).content.decode()
    assert "event 28" in second
    assert "event 128" not in second
    assert 'href="?kind=export&amp;page=1"' in second


@pytest.mark.parametrize("query", [{"kind": "nonsense"}, {"kind": "\x00"}, {"kind": "x" * 10_000}])
def test_a_bad_kind_is_a_clear_400(world: World, query: dict[str, object]) -> None:
    client = Client()
    client.force_login(world.agency_admin_a)
    response = client.get(reverse("security_log", kwargs={"agency_id": world.agency_a.pk}), query)
    assert response.status_code == 400
    assert "Select a valid choice" in response.content.decode()


@pytest.mark.parametrize("page", ["\u00b2", "0", "-1", "99999999999999999999", "x"])
def test_any_page_number_shows_a_page(world: World, page: str) -> None:
    _events(world, 3)
    client = Client()
    client.force_login(world.agency_admin_a)
    url = reverse("security_log", kwargs={"agency_id": world.agency_a.pk})
    assert client.get(url, {"page": page}).status_code == 200


def test_only_the_agencys_admins_see_its_log(world: World) -> None:
    """Case 44: agency B's admin, agency A's staff and a missing agency: the same 404."""
    _events(world, 2)
    admin_b = make_user()
    Membership.objects.create(user=admin_b, agency=world.agency_b, role=Role.AGENCY_ADMIN)
    url = reverse("security_log", kwargs={"agency_id": world.agency_a.pk})
    answers = {}
    for label, user in (
        ("agency B's admin", admin_b),
        ("agency A's staff", world.staff_a),
        ("agency A's tenant admin", world.tenant_admin_a1),
    ):
        client = Client()
        client.force_login(user)
        response = client.get(url)
        answers[label] = response.status_code
        assert "event 1" not in response.content.decode()
    missing = Client()
    missing.force_login(admin_b)
    not_found = missing.get(reverse("security_log", kwargs={"agency_id": 999999}))
    print(f"case 44: agency A's log opened by {answers}; a missing agency: {not_found.status_code}")
    assert set(answers.values()) == {404}
    assert not_found.status_code == 404
    anonymous = Client().get(url)
    assert anonymous.status_code == 302


def test_agency_admins_find_their_log_from_the_settings_page(world: World) -> None:
    client = Client()
    client.force_login(world.agency_admin_a)
    page = client.get(reverse("account_settings")).content.decode()
    assert reverse("security_log", kwargs={"agency_id": world.agency_a.pk}) in page
    staff = Client()
    staff.force_login(world.staff_a)
    assert "security-log" not in staff.get(reverse("account_settings")).content.decode()


def test_an_event_is_filed_under_each_agency_of_its_person(world: World) -> None:
    Membership.objects.create(user=world.staff_a, agency=world.agency_b, role=Role.AGENCY_STAFF)
    security_event_record(kind=SecurityEventKind.EXPORT, user=world.staff_a, detail="x")
    assert set(
        SecurityEvent.objects.filter(kind=SecurityEventKind.EXPORT).values_list("agency", flat=True)
    ) == {world.agency_a.pk, world.agency_b.pk}


def test_control_characters_never_reach_the_log(world: World) -> None:
    (event,) = security_event_record(
        kind=SecurityEventKind.SIGN_IN_FAILED, email="a\x00b@example.com", detail="one\ntwo"
    )
    event.refresh_from_db()
    assert (event.email, event.detail) == ("ab@example.com", "onetwo")


@pytest.mark.parametrize(
    ("user_agent", "summary"),
    [
        (FIREFOX, "Firefox 128 on Windows"),
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like "
            "Gecko) Version/17.5 Safari/605.1.15",
            "Safari 17 on macOS",
        ),
        (
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/126.0.0.0 Safari/537.36 Edg/126.0.2592.68",
            "Edge 126 on Linux",
        ),
        ("curl/8.5.0", "curl 8"),
        ("", ""),
        ("x" * 100, "x" * 39 + "…"),
    ],
)
def test_user_agents_are_shortened(user_agent: str, summary: str) -> None:
    assert user_agent_summary(user_agent) == summary


def test_membership_added_in_the_admin_is_logged_and_cannot_be_edited_in_place(
    world: World,
) -> None:
    """Case 44: the admin adds members through the service (logged); it never edits a role in
    place, which would bypass the log and the end of sessions."""
    superuser = make_user(is_staff=True, is_superuser=True)
    newcomer = make_user()
    admin = _client(superuser)
    response = admin.post(
        reverse("admin:accounts_membership_add"),
        {"user": newcomer.pk, "role": Role.AGENCY_STAFF, "agency": world.agency_a.pk},
    )
    assert response.status_code == 302
    membership = Membership.objects.get(user=newcomer)
    assert membership.role == Role.AGENCY_STAFF
    logged = SecurityEvent.objects.filter(
        kind=SecurityEventKind.MEMBER_ADDED, agency=world.agency_a, user=superuser
    )
    assert logged.count() == 1
    response = admin.post(
        reverse("admin:accounts_membership_change", args=[membership.pk]),
        {"user": newcomer.pk, "role": Role.AGENCY_ADMIN, "agency": world.agency_a.pk},
    )
    assert response.status_code == 403
    membership.refresh_from_db()
    assert membership.role == Role.AGENCY_STAFF
