"""Sessions: idle timeout and absolute lifetime, "sign out everywhere", and a removed member's
sessions ending at once (reliability.md case 43).

The session's clocks are moved back here instead of waiting. Case 43 also names API keys:
this project has none yet, so sessions are all there is to end.
"""

from __future__ import annotations

import time
from io import StringIO

from django.contrib.auth.base_user import AbstractBaseUser
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from accounts.models import Role, SecurityEvent, SecurityEventKind, User
from accounts.services import membership_add, membership_remove
from accounts.sessions import SEEN_AT, SIGNED_IN_AT
from tests.conftest import World
from tests.factories import PASSWORD, make_user


def _signed_in(user: User, address: str = "203.0.113.9") -> Client:
    client = Client(REMOTE_ADDR=address)
    response = client.post(reverse("login"), {"username": user.email, "password": PASSWORD})
    assert response.status_code == 302, response.content[:300]
    return client


def _set_clock(client: Client, **seconds_ago: int) -> None:
    session = client.session
    now = int(time.time())
    for key, ago in seconds_ago.items():
        session[{"signed_in": SIGNED_IN_AT, "seen": SEEN_AT}[key]] = now - ago
    session.save()


def _sent_to_login(response) -> bool:  # type: ignore[no-untyped-def]
    return response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_an_idle_session_ends_with_a_message(world: World, settings) -> None:  # type: ignore[no-untyped-def]
    client = _signed_in(world.staff_a)
    idle = settings.LINKER_SESSION_IDLE_MINUTES * 60
    _set_clock(client, seen=idle - 5)
    assert client.get(reverse("home")).status_code == 200
    _set_clock(client, seen=idle + 5)
    response = client.get(reverse("home"))
    print(f"sessions: idle {idle + 5} s (timeout {idle} s) -> {response.status_code} to login")
    assert _sent_to_login(response)
    assert response["Location"] == f"{reverse('login')}?next=/"
    page = client.get(response["Location"]).content.decode()
    assert "signed out after a while without activity" in page
    assert "_auth_user_id" not in client.session
    event = SecurityEvent.objects.filter(kind=SecurityEventKind.SIGN_OUT).get()
    assert event.detail == "Session ended: idle timeout"


def test_a_session_ends_at_its_maximum_lifetime_however_busy(world: World, settings) -> None:  # type: ignore[no-untyped-def]
    client = _signed_in(world.staff_a)
    lifetime = settings.LINKER_SESSION_MAX_HOURS * 3600
    _set_clock(client, signed_in=lifetime + 5, seen=1)
    response = client.get(reverse("account_settings"))
    assert _sent_to_login(response)
    page = client.get(response["Location"]).content.decode()
    assert "reached its maximum length" in page


def test_using_a_session_keeps_it_alive(world: World, settings) -> None:  # type: ignore[no-untyped-def]
    client = _signed_in(world.staff_a)
    idle = settings.LINKER_SESSION_IDLE_MINUTES * 60
    _set_clock(client, seen=idle - 5)
    assert client.get(reverse("home")).status_code == 200
    assert time.time() - client.session[SEEN_AT] < 5  # the request counted as use
    _set_clock(client, seen=idle - 5)
    assert client.get(reverse("home")).status_code == 200


def test_the_limits_come_from_the_settings(world: World, settings) -> None:  # type: ignore[no-untyped-def]
    client = _signed_in(world.staff_a)
    _set_clock(client, seen=90)
    assert client.get(reverse("home")).status_code == 200
    settings.LINKER_SESSION_IDLE_MINUTES = 1
    _set_clock(client, seen=90)
    assert _sent_to_login(client.get(reverse("home")))


def test_sign_out_everywhere_ends_every_session_this_one_included(world: World) -> None:
    laptop, phone = _signed_in(world.staff_a), _signed_in(world.staff_a, "198.51.100.3")
    colleague = _signed_in(world.staff_b)
    response = laptop.post(reverse("sign_out_everywhere"))
    assert response.status_code == 303
    assert response["Location"] == reverse("login")
    assert "signed out on every device" in laptop.get(response["Location"]).content.decode()
    ended = [_sent_to_login(c.get(reverse("home"))) for c in (laptop, phone)]
    print(f"sessions: sign out everywhere, 2 sessions: {sum(ended)} ended; a colleague's kept")
    assert ended == [True, True]
    assert colleague.get(reverse("home")).status_code == 200
    kinds = list(
        SecurityEvent.objects.filter(user=world.staff_a)
        .exclude(kind=SecurityEventKind.SIGN_IN)
        .values_list("kind", flat=True)
    )
    assert kinds == [SecurityEventKind.SIGN_OUT_EVERYWHERE]
    # Signing in again works.
    assert _signed_in(world.staff_a).get(reverse("home")).status_code == 200


def test_sign_out_everywhere_is_a_post(world: World) -> None:
    client = _signed_in(world.staff_a)
    assert client.get(reverse("sign_out_everywhere")).status_code == 405
    assert client.get(reverse("home")).status_code == 200


def test_the_settings_page_offers_sign_out_everywhere(world: World) -> None:
    page = _signed_in(world.staff_a).get(reverse("account_settings")).content.decode()
    assert f'action="{reverse("sign_out_everywhere")}"' in page


def test_sessions_from_before_the_generation_field_stay_valid(db: None) -> None:
    """At generation 0 the session hash is Django's own: deploying this signs nobody out."""
    user = make_user()
    assert user.session_generation == 0
    assert user.get_session_auth_hash() == AbstractBaseUser.get_session_auth_hash(user)


def test_a_member_removed_from_an_agency_is_signed_out_at_once(world: World) -> None:
    """Case 43: removal from an agency ends the member's sessions on every device."""
    laptop, phone = _signed_in(world.staff_a), _signed_in(world.staff_a, "198.51.100.3")
    assert laptop.get(reverse("home")).status_code == 200
    membership_remove(user=world.staff_a, agency=world.agency_a)
    still_in = [c for c in (laptop, phone) if not _sent_to_login(c.get(reverse("home")))]
    print(f"case 43: member removed from the agency; sessions still working: {len(still_in)} of 2")
    assert still_in == []
    event = SecurityEvent.objects.get(kind=SecurityEventKind.MEMBER_REMOVED)
    assert event.agency == world.agency_a
    assert world.staff_a.email in event.detail


def test_a_member_removed_from_a_tenant_is_signed_out_at_once(world: World) -> None:
    """Case 43, for a tenant role."""
    client = _signed_in(world.tenant_admin_a1)
    tenant_page = reverse("tenant_detail", kwargs={"tenant_id": world.tenant_a1.pk})
    assert client.get(tenant_page).status_code == 200
    membership_remove(user=world.tenant_admin_a1, tenant=world.tenant_a1)
    response = client.get(tenant_page)
    print(f"case 43: member removed from a tenant; their next request: {response.status_code}")
    assert _sent_to_login(response)


def test_the_remove_member_command_ends_the_sessions(world: World) -> None:
    client = _signed_in(world.staff_a)
    out = StringIO()
    call_command("remove_member", world.staff_a.email, "--agency", world.agency_a.slug, stdout=out)
    assert "their sessions ended" in out.getvalue()
    assert _sent_to_login(client.get(reverse("home")))


def test_deleting_a_membership_in_the_admin_ends_the_sessions(world: World) -> None:
    client = _signed_in(world.staff_a)
    admin = Client()
    admin.force_login(make_user(is_staff=True, is_superuser=True))
    membership = world.staff_a.memberships.get()
    response = admin.post(
        reverse("admin:accounts_membership_delete", args=[membership.pk]), {"post": "yes"}
    )
    assert response.status_code == 302
    assert not world.staff_a.memberships.exists()
    assert _sent_to_login(client.get(reverse("home")))


def test_a_role_change_keeps_the_sessions(world: World) -> None:
    client = _signed_in(world.staff_a)
    membership_add(user=world.staff_a, role=Role.AGENCY_ADMIN, agency=world.agency_a)
    assert client.get(reverse("home")).status_code == 200
