"""The Members, People and tenant Settings pages (issue 14): role-aware controls, errors next to
the control that asked, input kept, and what a removal does (reliability.md cases 36 and 43)."""

from __future__ import annotations

import re

from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import Membership, Role, Tenant, User
from linker.models import ProfileChange
from linker.profiles.batch_sending import profile_change_send
from tests.conftest import World
from tests.factories import PASSWORD, make_member
from tests.pages.conftest import Mirror


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _members(world: World) -> str:
    return reverse("agency_members", kwargs={"agency_id": world.agency_a.pk})


def _people(tenant: Tenant) -> str:
    return reverse("tenant_people", kwargs={"tenant_id": tenant.pk})


def _membership_url(name: str, scope_id: int, membership: Membership) -> str:
    key = "agency_id" if name.startswith("agency") else "tenant_id"
    return reverse(name, kwargs={key: scope_id, "membership_id": membership.pk})


# ----------------------------------------------------------------------------- members page


def test_the_members_page_lists_roles_two_factor_and_sign_ins_for_admins_only(
    world: World,
) -> None:
    admin = _client(world.agency_admin_a)  # signs in: no longer pending
    page = admin.get(_members(world)).content.decode()
    assert world.agency_admin_a.email in page
    assert "Agency admin" in page
    assert "Off" in page
    # Never signed in: listed as a pending invitation, with resend and revoke.
    pending = page.split('data-testid="pending"')[1]
    assert world.staff_a.email in pending
    assert "Resend invitation" in pending
    assert "Revoke" in pending
    assert world.staff_b.email not in page
    # Staff of the agency get the same 404 as another agency's admin and a missing agency.
    assert _client(world.staff_a).get(_members(world)).status_code == 404
    missing = reverse("agency_members", kwargs={"agency_id": 999999})
    assert admin.get(missing).status_code == 404
    nav = admin.get(reverse("home")).content.decode()
    assert f'href="{_members(world)}"' in nav
    assert _members(world) not in _client(world.staff_a).get(reverse("home")).content.decode()


def test_an_invitation_with_a_bad_email_keeps_the_input_and_says_why_next_to_it(
    world: World,
) -> None:
    admin = _client(world.agency_admin_a)
    response = admin.post(_members(world), {"email": "ann@", "role": "agency_staff"})
    assert response.status_code == 400
    page = response.content.decode()
    assert re.search(r'name="email"[^>]*value="ann@"', page)
    assert re.search(r'id="id_email"[^>]*>\s*<p class="error" role="alert">Enter a valid', page)
    response = admin.post(_members(world), {"email": world.staff_a.email, "role": "agency_admin"})
    assert response.status_code == 400
    assert "already; change their role in the list instead." in response.content.decode()
    assert not mail.outbox


def test_an_admin_invites_staff_from_the_page(world: World) -> None:
    admin = _client(world.agency_admin_a)
    response = admin.post(_members(world), {"email": "new@alpha.example", "role": "agency_staff"})
    assert response.status_code == 303
    assert Membership.objects.get(user__email="new@alpha.example").role == Role.AGENCY_STAFF
    (message,) = mail.outbox
    assert message.to == ["new@alpha.example"]
    page = admin.get(_members(world)).content.decode()
    assert "Invited new@alpha.example as Agency staff" in page


def test_demoting_the_last_admin_shows_the_reason_next_to_that_person(world: World) -> None:
    admin = _client(world.agency_admin_a)
    own = Membership.objects.get(user=world.agency_admin_a)
    response = admin.post(
        _membership_url("agency_member_role", world.agency_a.pk, own), {"role": "agency_staff"}
    )
    assert response.status_code == 400
    page = response.content.decode()
    row = page.split(f'data-testid="person-{world.agency_admin_a.email}"')[1]
    assert re.match(r"(?s).*?</tr>\s*<tr class=\"row-error\">.*last admin of Agency A", row)
    response = admin.post(_membership_url("agency_member_remove", world.agency_a.pk, own))
    assert response.status_code == 400
    assert "make someone else an admin first" in response.content.decode()
    assert Membership.objects.get(user=world.agency_admin_a).role == Role.AGENCY_ADMIN


def test_a_crafted_post_cannot_make_staff_an_admin(world: World) -> None:
    """Staff reach no control of the Members page: a POST to one is the same 404."""
    staff = _client(world.staff_a)
    own = Membership.objects.get(user=world.staff_a)
    url = _membership_url("agency_member_role", world.agency_a.pk, own)
    assert staff.post(url, {"role": "agency_admin"}).status_code == 404
    assert Membership.objects.get(user=world.staff_a).role == Role.AGENCY_STAFF


def test_removing_a_member_ends_their_session_and_cancels_their_queued_changes(
    mirror: Mirror,
) -> None:
    """Cases 43 and 36 from the page: the staff member's next request goes to the login page,
    and the change they queued is cancelled when its turn comes, not sent."""
    world = mirror.world
    profile = mirror.profile(1003)
    detail = reverse("profile_detail", kwargs={"tenant_id": world.tenant_a1.pk, "profile_id": 1003})
    fields = {f"f_{k}": v for k, v in profile.fields.items()}
    initial = {f"initial-f_{k}": v for k, v in profile.fields.items()}
    staff = Client()
    assert staff.post(reverse("login"), {"username": world.staff_a.email, "password": PASSWORD})
    staff.post(detail, {**fields, **initial, "f_city": "Zwolle"})
    change = ProfileChange.objects.get()
    admin = _client(world.agency_admin_a)
    membership = Membership.objects.get(user=world.staff_a)
    response = admin.post(_membership_url("agency_member_remove", world.agency_a.pk, membership))
    assert response.status_code == 303
    assert f"{world.staff_a.email} removed" in admin.get(_members(world)).content.decode()
    after = staff.get(reverse("tenant_detail", kwargs={"tenant_id": world.tenant_a1.pk}))
    print(f"case 43: removed from the Members page; their next request: {after.status_code}")
    assert after.status_code == 302
    assert after["Location"].startswith(reverse("login"))
    profile_change_send(change_id=change.pk)
    change.refresh_from_db()
    print(f"case 36: their queued change after the removal: {change.state}")
    assert change.state == "cancelled"
    assert mirror.profile(1003).fields["city"] != "Zwolle"


# ------------------------------------------------------------------------------ people page


def test_the_people_page_shows_who_sees_the_tenant_through_the_agency(world: World) -> None:
    page = _client(world.staff_a).get(_people(world.tenant_a1)).content.decode()
    through = page.split('data-testid="through-agency"')[1]
    assert world.agency_admin_a.email in through
    assert world.staff_a.email in through
    assert "through the agency" in through
    assert world.tenant_admin_a1.email in page
    assert world.viewer_a1.email in page
    assert 'data-testid="invite-form"' in page
    assert world.staff_b.email not in page


def test_a_tenant_admin_is_offered_only_tenant_roles(world: World) -> None:
    page = _client(world.tenant_admin_a1).get(_people(world.tenant_a1)).content.decode()
    form = page.split('data-testid="invite-form"')[1].split("</form>")[0]
    assert 'value="tenant_admin"' in form
    assert 'value="tenant_viewer"' in form
    assert "agency_" not in form
    response = _client(world.tenant_admin_a1).post(
        _people(world.tenant_a1), {"email": "boss@example.com", "role": "agency_admin"}
    )
    assert response.status_code == 400  # not a choice on this form
    assert not User.objects.filter(email="boss@example.com").exists()


def test_a_viewer_sees_the_people_and_no_control(world: World) -> None:
    User.objects.filter(pk=world.tenant_admin_a1.pk).update(last_login=timezone.now())
    viewer = _client(world.viewer_a1)
    page = viewer.get(_people(world.tenant_a1)).content.decode()
    assert world.tenant_admin_a1.email in page
    for control in ('data-testid="invite-form"', "Change role", "Remove", "Resend invitation"):
        assert control not in page
    response = viewer.post(_people(world.tenant_a1), {"email": "x@example.com", "role": "x"})
    assert response.status_code == 403
    admin_membership = Membership.objects.get(user=world.tenant_admin_a1)
    url = _membership_url("tenant_person_remove", world.tenant_a1.pk, admin_membership)
    assert viewer.post(url).status_code == 404
    assert Membership.objects.filter(pk=admin_membership.pk).exists()


def test_a_membership_of_another_tenant_is_a_404_from_this_one(world: World) -> None:
    other = make_member(role=Role.TENANT_VIEWER, tenant=world.tenant_a2)
    membership = Membership.objects.get(user=other)
    url = _membership_url("tenant_person_remove", world.tenant_a1.pk, membership)
    assert _client(world.staff_a).post(url).status_code == 404
    assert Membership.objects.filter(pk=membership.pk).exists()


def test_a_signed_in_person_is_listed_with_their_last_sign_in(world: World) -> None:
    User.objects.filter(pk=world.viewer_a1.pk).update(last_login=timezone.now())
    page = _client(world.staff_a).get(_people(world.tenant_a1)).content.decode()
    members = page.split('data-testid="members"')[1].split("</table>")[0]
    assert world.viewer_a1.email in members
    assert "now" in members
    pending = page.split('data-testid="pending"')[1].split("</table>")[0]
    assert world.tenant_admin_a1.email in pending
    assert world.viewer_a1.email not in pending


# ---------------------------------------------------------------------------- settings page


def _settings(tenant: Tenant) -> str:
    return reverse("tenant_settings", kwargs={"tenant_id": tenant.pk})


def test_a_bad_name_is_shown_next_to_the_field_with_the_input_kept(world: World) -> None:
    response = _client(world.staff_a).post(_settings(world.tenant_a1), {"name": "x" * 201})
    assert response.status_code == 400
    page = response.content.decode()
    assert re.search(r'name="name"[^>]*value="x{201}"', page)
    assert re.search(r'id="id_name"[^>]*>\s*<p class="error" role="alert">', page)
    assert Tenant.objects.get(pk=world.tenant_a1.pk).name == "Alpha Bikes"


def test_staff_see_rename_and_archive_but_not_delete(world: World) -> None:
    page = _client(world.staff_a).get(_settings(world.tenant_a1)).content.decode()
    assert "Rename" in page
    assert "Archive tenant" in page
    assert "Delete tenant" not in page
    admin_page = _client(world.agency_admin_a).get(_settings(world.tenant_a1)).content.decode()
    assert "Delete tenant" in admin_page
    assert _client(world.tenant_admin_a1).get(_settings(world.tenant_a1)).status_code == 403
    tenant_page = reverse("tenant_detail", kwargs={"tenant_id": world.tenant_a1.pk})
    assert _settings(world.tenant_a1) in _client(world.staff_a).get(tenant_page).content.decode()
    assert (
        _settings(world.tenant_a1)
        not in _client(world.tenant_admin_a1).get(tenant_page).content.decode()
    )


def test_deleting_with_a_wrong_name_says_so_next_to_the_field(world: World) -> None:
    url = reverse("tenant_delete", kwargs={"tenant_id": world.tenant_a1.pk})
    response = _client(world.agency_admin_a).post(url, {"confirm_name": "Alpha"})
    assert response.status_code == 400
    page = response.content.decode()
    assert re.search(r'id="id_confirm_name"[^>]*>\s*<p class="error" role="alert">Type', page)
    assert Tenant.objects.filter(pk=world.tenant_a1.pk).exists()
    response = _client(world.agency_admin_a).post(url, {"confirm_name": "Alpha Bikes"})
    assert response.status_code == 303
    assert response["Location"] == reverse("home")
    assert not Tenant.objects.filter(pk=world.tenant_a1.pk).exists()


def test_archive_and_restore_from_the_pages(world: World) -> None:
    staff = _client(world.staff_a)
    archive = reverse("tenant_archive", kwargs={"tenant_id": world.tenant_a1.pk})
    assert staff.post(archive).status_code == 303
    home = staff.get(reverse("home")).content.decode()
    assert "Alpha Bikes is archived" in home  # the message, once
    table = home.split('data-testid="dashboard"')[1]
    assert "Alpha Cars" in table
    assert "Alpha Bikes" not in table
    chip = home.split('data-testid="filter-archived"')[1].split("</a>")[0]
    assert '<span class="count">1</span>' in chip
    archived = staff.get(reverse("home"), {"filter": "archived"}).content.decode()
    table = archived.split('data-testid="dashboard"')[1]
    assert "Alpha Bikes" in table
    assert "Alpha Cars" not in table
    assert 'data-testid="archived-badge"' in table
    tenant_page = reverse("tenant_detail", kwargs={"tenant_id": world.tenant_a1.pk})
    assert 'data-testid="archived"' in staff.get(tenant_page).content.decode()
    restore = reverse("tenant_restore", kwargs={"tenant_id": world.tenant_a1.pk})
    assert staff.post(restore).status_code == 303
    home = staff.get(reverse("home")).content.decode()
    assert "Alpha Bikes" in home.split('data-testid="dashboard"')[1]
