"""People and members (issue 14): who may give which role, the agency's last admin, invitations
sent, sent again and revoked, all through the services the pages and the commands share."""

from __future__ import annotations

import re
import threading
import time
from io import StringIO

import pytest
from django.contrib.auth.tokens import default_token_generator
from django.core import mail
from django.core.exceptions import PermissionDenied
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.utils import timezone

from accounts.models import Membership, Role, SecurityEvent, SecurityEventKind, User
from accounts.services import (
    LastAdminError,
    membership_add,
    membership_grant_check,
    membership_remove,
    membership_role_change,
)
from linker.linking.invitations import invitation_resend, member_invite
from linker.platform.errors import InvalidInputError
from tests.conftest import World
from tests.factories import make_member, make_user

BASE = "https://linker.example.com/"
_SET_PASSWORD = re.compile(r"https://linker\.example\.com/invite/(?P<uid>[^/]+)/(?P<token>[^/]+)/")


def _membership(user: User) -> Membership:
    return Membership.objects.get(user=user)


# ----------------------------------------------------------------------------- invitations


def test_an_agency_admin_invites_a_new_person_who_gets_a_set_password_link(world: World) -> None:
    invitation = member_invite(
        actor=world.agency_admin_a,
        email="New.Staff@Example.com",
        role=Role.AGENCY_STAFF,
        agency=world.agency_a,
        base_url=BASE,
    )
    user = User.objects.get(email="new.staff@example.com")
    assert invitation.new_user
    assert invitation.emailed_to == user.email
    assert not user.has_usable_password()
    assert _membership(user).role == Role.AGENCY_STAFF
    (message,) = mail.outbox
    assert message.to == [user.email]
    assert "Agency A" in message.subject
    assert "as Agency staff" in message.body
    found = _SET_PASSWORD.search(message.body)
    assert found, message.body
    assert default_token_generator.check_token(user, found["token"])
    logged = SecurityEvent.objects.get(kind=SecurityEventKind.MEMBER_ADDED, agency=world.agency_a)
    assert logged.user == world.agency_admin_a
    assert user.email in logged.detail


def test_someone_with_a_password_is_told_to_sign_in_not_sent_a_set_password_link(
    world: World,
) -> None:
    existing = make_user(email="known@example.com")
    member_invite(
        actor=world.staff_a,
        email="known@example.com",
        role=Role.TENANT_VIEWER,
        tenant=world.tenant_a2,
        base_url=BASE,
    )
    (message,) = mail.outbox
    assert "Alpha Cars (Agency A)" in message.body
    assert "https://linker.example.com/accounts/login/" in message.body
    assert not _SET_PASSWORD.search(message.body)
    assert Membership.objects.get(user=existing, tenant=world.tenant_a2).role == Role.TENANT_VIEWER


def test_an_invitation_to_a_member_already_there_is_refused_on_the_email_field(
    world: World,
) -> None:
    with pytest.raises(InvalidInputError) as refused:
        member_invite(
            actor=world.agency_admin_a,
            email=world.staff_a.email,
            role=Role.AGENCY_ADMIN,
            agency=world.agency_a,
            base_url=BASE,
        )
    assert "already" in refused.value.field_errors["email"][0]
    assert _membership(world.staff_a).role == Role.AGENCY_STAFF  # not promoted by the back door
    with pytest.raises(InvalidInputError) as through:
        member_invite(
            actor=world.agency_admin_a,
            email=world.staff_a.email,
            role=Role.TENANT_VIEWER,
            tenant=world.tenant_a1,
            base_url=BASE,
        )
    assert "sees this tenant already" in through.value.field_errors["email"][0]
    assert not mail.outbox


def test_a_bad_email_is_refused_and_no_user_is_left_behind(world: World) -> None:
    users = User.objects.count()
    with pytest.raises(InvalidInputError) as refused:
        member_invite(
            actor=world.agency_admin_a,
            email="not an email",
            role=Role.AGENCY_STAFF,
            agency=world.agency_a,
            base_url=BASE,
        )
    assert "email" in refused.value.field_errors
    assert User.objects.count() == users


# ------------------------------------------------------------------------------ who may grant


@pytest.mark.parametrize(
    ("actor", "role", "scope", "allowed"),
    [
        ("agency_admin_a", Role.AGENCY_ADMIN, "agency_a", True),
        ("agency_admin_a", Role.TENANT_ADMIN, "tenant_a1", True),
        ("staff_a", Role.AGENCY_STAFF, "agency_a", False),
        ("staff_a", Role.AGENCY_ADMIN, "agency_a", False),
        ("staff_a", Role.TENANT_ADMIN, "tenant_a1", True),
        ("tenant_admin_a1", Role.TENANT_ADMIN, "tenant_a1", True),
        ("tenant_admin_a1", Role.TENANT_VIEWER, "tenant_a1", True),
        ("tenant_admin_a1", Role.AGENCY_STAFF, "agency_a", False),
        ("tenant_admin_a1", Role.TENANT_VIEWER, "tenant_a2", False),
        ("viewer_a1", Role.TENANT_VIEWER, "tenant_a1", False),
        ("staff_b", Role.TENANT_VIEWER, "tenant_a1", False),
        ("outsider", Role.TENANT_VIEWER, "tenant_a1", False),
    ],
)
def test_who_may_grant_which_role(
    world: World, actor: str, role: Role, scope: str, allowed: bool
) -> None:
    where = getattr(world, scope)
    kwargs = {"agency": where} if scope.startswith("agency") else {"tenant": where}
    if allowed:
        membership_grant_check(actor=getattr(world, actor), role=role, **kwargs)
    else:
        with pytest.raises(PermissionDenied):
            membership_grant_check(actor=getattr(world, actor), role=role, **kwargs)


def test_agency_staff_cannot_make_themselves_admin(world: World) -> None:
    own = _membership(world.staff_a)
    with pytest.raises(PermissionDenied):
        membership_role_change(actor=world.staff_a, membership=own, role=Role.AGENCY_ADMIN)
    with pytest.raises(PermissionDenied):
        membership_add(
            user=world.staff_a, role=Role.AGENCY_ADMIN, agency=world.agency_a, actor=world.staff_a
        )
    assert _membership(world.staff_a).role == Role.AGENCY_STAFF
    assert not SecurityEvent.objects.filter(kind=SecurityEventKind.MEMBER_ROLE_CHANGED).exists()


def test_a_tenant_admin_cannot_invite_anyone_into_the_agency(world: World) -> None:
    with pytest.raises(PermissionDenied):
        member_invite(
            actor=world.tenant_admin_a1,
            email="friend@example.com",
            role=Role.AGENCY_STAFF,
            agency=world.agency_a,
            base_url=BASE,
        )
    # Nor through a tenant scope with an agency role (the service checks the pair).
    with pytest.raises(PermissionDenied):
        member_invite(
            actor=world.tenant_admin_a1,
            email="friend@example.com",
            role=Role.AGENCY_ADMIN,
            tenant=world.tenant_a1,
            base_url=BASE,
        )
    assert not User.objects.filter(email="friend@example.com").exists()
    assert not mail.outbox


def test_a_tenant_admin_invites_changes_and_removes_people_of_their_own_tenant(
    world: World,
) -> None:
    member_invite(
        actor=world.tenant_admin_a1,
        email="colleague@alpha.example",
        role=Role.TENANT_VIEWER,
        tenant=world.tenant_a1,
        base_url=BASE,
    )
    colleague = User.objects.get(email="colleague@alpha.example")
    membership = _membership(colleague)
    membership_role_change(actor=world.tenant_admin_a1, membership=membership, role="tenant_admin")
    assert _membership(colleague).role == Role.TENANT_ADMIN
    assert membership_remove(user=colleague, tenant=world.tenant_a1, actor=world.tenant_admin_a1)
    assert not Membership.objects.filter(user=colleague).exists()


def test_a_tenant_viewer_changes_nobody(world: World) -> None:
    admin_membership = Membership.objects.get(user=world.tenant_admin_a1)
    with pytest.raises(PermissionDenied):
        membership_role_change(
            actor=world.viewer_a1, membership=admin_membership, role=Role.TENANT_VIEWER
        )
    with pytest.raises(PermissionDenied):
        membership_remove(user=world.tenant_admin_a1, tenant=world.tenant_a1, actor=world.viewer_a1)
    assert Membership.objects.get(user=world.tenant_admin_a1).role == Role.TENANT_ADMIN


def test_agency_staff_cannot_remove_an_agency_member(world: World) -> None:
    with pytest.raises(PermissionDenied):
        membership_remove(user=world.agency_admin_a, agency=world.agency_a, actor=world.staff_a)
    assert Membership.objects.filter(user=world.agency_admin_a).exists()


# ----------------------------------------------------------------------------- the last admin


def test_the_last_admin_can_neither_be_removed_nor_demoted(world: World) -> None:
    admin = world.agency_admin_a
    with pytest.raises(LastAdminError, match="last admin of Agency A"):
        membership_remove(user=admin, agency=world.agency_a, actor=admin)
    with pytest.raises(LastAdminError):
        membership_role_change(actor=admin, membership=_membership(admin), role=Role.AGENCY_STAFF)
    assert _membership(admin).role == Role.AGENCY_ADMIN
    assert not SecurityEvent.objects.filter(kind=SecurityEventKind.MEMBER_REMOVED).exists()


def test_with_a_second_admin_the_first_may_step_down(world: World) -> None:
    admin = world.agency_admin_a
    membership_role_change(
        actor=admin, membership=_membership(world.staff_a), role=Role.AGENCY_ADMIN
    )
    membership_role_change(actor=admin, membership=_membership(admin), role=Role.AGENCY_STAFF)
    assert _membership(admin).role == Role.AGENCY_STAFF
    # Now the other one is the last admin.
    with pytest.raises(LastAdminError):
        membership_remove(user=world.staff_a, agency=world.agency_a, actor=world.staff_a)


def test_the_commands_keep_the_last_admin_too(world: World) -> None:
    """The same rule as the pages: remove_member and add_member refuse, with the reason."""
    admin = world.agency_admin_a
    with pytest.raises(CommandError, match="last admin"):
        call_command("remove_member", admin.email, "--agency", world.agency_a.slug)
    with pytest.raises(CommandError, match="last admin"):
        call_command(
            "add_member", admin.email, "--role", "agency_staff", "--agency", world.agency_a.slug
        )
    assert _membership(admin).role == Role.AGENCY_ADMIN
    out = StringIO()
    call_command("remove_member", world.staff_a.email, "--agency", world.agency_a.slug, stdout=out)
    assert "Removed" in out.getvalue()


# ------------------------------------------------------------------- resend and revoke


def test_an_invitation_is_sent_again_and_logged(world: World) -> None:
    member_invite(
        actor=world.agency_admin_a,
        email="late@example.com",
        role=Role.AGENCY_STAFF,
        agency=world.agency_a,
        base_url=BASE,
    )
    user = User.objects.get(email="late@example.com")
    assert invitation_resend(
        actor=world.agency_admin_a, membership=_membership(user), base_url=BASE
    ) == ("late@example.com")
    assert len(mail.outbox) == 2
    assert _SET_PASSWORD.search(mail.outbox[1].body)
    assert SecurityEvent.objects.filter(
        kind=SecurityEventKind.INVITATION_RESENT, agency=world.agency_a, user=world.agency_admin_a
    ).exists()


def test_nothing_is_sent_again_to_someone_who_signed_in(world: World) -> None:
    User.objects.filter(pk=world.staff_a.pk).update(last_login=timezone.now())
    world.staff_a.refresh_from_db()
    with pytest.raises(InvalidInputError, match="signed in already"):
        invitation_resend(
            actor=world.agency_admin_a, membership=_membership(world.staff_a), base_url=BASE
        )
    assert not mail.outbox


def test_staff_cannot_resend_an_agency_invitation(world: World) -> None:
    newcomer = make_member(role=Role.AGENCY_STAFF, agency=world.agency_a)
    with pytest.raises(PermissionDenied):
        invitation_resend(actor=world.staff_a, membership=_membership(newcomer), base_url=BASE)
    assert not mail.outbox


def test_revoking_an_invitation_makes_its_emailed_link_useless(world: World) -> None:
    member_invite(
        actor=world.agency_admin_a,
        email="revoked@example.com",
        role=Role.AGENCY_STAFF,
        agency=world.agency_a,
        base_url=BASE,
    )
    found = _SET_PASSWORD.search(mail.outbox[0].body)
    assert found
    user = User.objects.get(email="revoked@example.com")
    assert default_token_generator.check_token(user, found["token"])
    membership_remove(user=user, agency=world.agency_a, actor=world.agency_admin_a)
    user.refresh_from_db()
    assert not default_token_generator.check_token(user, found["token"])
    assert SecurityEvent.objects.filter(
        kind=SecurityEventKind.MEMBER_REMOVED, agency=world.agency_a
    ).exists()


def test_revoking_one_of_two_invitations_keeps_the_link_for_the_other(world: World) -> None:
    for tenant in (world.tenant_a1, world.tenant_a2):
        member_invite(
            actor=world.staff_a,
            email="two@example.com",
            role=Role.TENANT_VIEWER,
            tenant=tenant,
            base_url=BASE,
        )
    found = _SET_PASSWORD.search(mail.outbox[-1].body)
    assert found
    user = User.objects.get(email="two@example.com")
    membership_remove(user=user, tenant=world.tenant_a1, actor=world.staff_a)
    user.refresh_from_db()
    assert default_token_generator.check_token(user, found["token"])


@pytest.mark.django_db(transaction=True)
def test_two_admins_demoting_each_other_at_once_leave_one_admin(world: World) -> None:
    """The second change waits for the first (the agency row is locked) and then sees that no
    other admin is left: the agency never ends up without one."""
    second = make_member(role=Role.AGENCY_ADMIN, agency=world.agency_a)
    first = world.agency_admin_a
    first_holds = threading.Event()
    first_may_commit = threading.Event()
    outcomes: dict[str, str] = {}

    def demote(actor: User, *, hold: bool) -> None:
        try:
            with transaction.atomic():
                membership_role_change(
                    actor=actor, membership=_membership(actor), role=Role.AGENCY_STAFF
                )
                if hold:
                    first_holds.set()
                    first_may_commit.wait(timeout=30)
            outcomes[actor.email] = "demoted"
        except LastAdminError:
            outcomes[actor.email] = "refused"
        finally:
            connection.close()

    one = threading.Thread(target=demote, args=(first,), kwargs={"hold": True})
    one.start()
    assert first_holds.wait(timeout=30)
    two = threading.Thread(target=demote, args=(second,), kwargs={"hold": False})
    two.start()
    # Wait until the second change is blocked on a lock (polling PostgreSQL, not a guess).
    deadline = time.monotonic() + 10
    waited = False
    with connection.cursor() as cursor:
        while time.monotonic() < deadline and not waited:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            waited = cursor.fetchone()[0] > 0
            if not waited:
                time.sleep(0.01)
    first_may_commit.set()
    one.join(timeout=30)
    two.join(timeout=30)
    admins = Membership.objects.filter(agency=world.agency_a, role=Role.AGENCY_ADMIN).count()
    print(f"last admin, concurrent demotions: {outcomes}; the second waited: {waited}")
    assert outcomes == {first.email: "demoted", second.email: "refused"}
    assert waited
    assert admins == 1
