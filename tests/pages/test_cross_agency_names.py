"""No page names a tenant of another agency (reliability.md case 41): the duplicate-account
warning says the account is linked elsewhere, and names the other tenant only to a viewer who
may see it."""

from __future__ import annotations

from django.test import Client
from django.urls import reverse

from accounts.models import Role, User
from linker.linking.identity import Endpoints, Identity
from linker.linking.links import link_duplicate_warning, link_store_token
from linker.models import Link, LinkEvent, LinkState
from tests.conftest import World
from tests.factories import link_tenant, make_member, make_tenant

SHARED = Identity(account_id="acc-shared", name="Shared Copernica", company="Shared BV")
ENDPOINTS = Endpoints(
    auth_url="http://127.0.0.1:9/auth", api_url="http://127.0.0.1:9/v4", rest_url=""
)


def _hold(tenant_link: Link) -> Link:
    """Make ``tenant_link`` hold the shared account."""
    tenant_link.copernica_account_id = SHARED.account_id
    tenant_link.copernica_account_name = SHARED.name
    tenant_link.save()
    return tenant_link


def _link_shared(world: World, tenant_attr: str, user: User) -> Link:
    return link_store_token(
        tenant=getattr(world, tenant_attr),
        api_token="t" * 32,
        identity=SHARED,
        endpoints=ENDPOINTS,
        application=None,
        user=user,
        how="with a pasted API token",
    )


def _tenant_page(user: User, tenant_id: int) -> str:
    client = Client()
    client.force_login(user)
    response = client.get(reverse("tenant_detail", kwargs={"tenant_id": tenant_id}))
    assert response.status_code == 200
    return response.content.decode()


def _warning(page: str) -> str:
    return page.split('data-testid="duplicate-warning">')[1].split("</p>")[0]


def test_account_held_by_another_agencys_tenant_is_linked_elsewhere(world: World) -> None:
    """Case 41: agency A links the Copernica account agency B's "Beta Foods" holds."""
    _hold(link_tenant(world.tenant_b1))
    link = _link_shared(world, "tenant_a1", world.staff_a)
    assert link.state == LinkState.PENDING
    assert world.tenant_b1.name not in link.state_reason
    assert world.tenant_b1.name not in " ".join(e.message for e in LinkEvent.objects.all())
    viewers = [
        world.staff_a,
        world.agency_admin_a,
        world.tenant_admin_a1,
        world.viewer_a1,
    ]
    for viewer in viewers:
        page = _tenant_page(viewer, world.tenant_a1.pk)
        assert _warning(page) == (
            "Copernica account Shared Copernica is already linked elsewhere. "
            "Confirm to link it here too."
        )
        assert world.tenant_b1.name not in page, viewer.email
    print(f"\ncase 41: {len(viewers)} viewers of agency A, 0 pages naming agency B's tenant")


def test_the_other_tenant_is_named_to_agency_staff_who_see_it(world: World) -> None:
    _hold(link_tenant(world.tenant_a1))
    _link_shared(world, "tenant_a2", world.staff_a)
    page = _tenant_page(world.staff_a, world.tenant_a2.pk)
    assert _warning(page) == (
        "Copernica account Shared Copernica is already linked to Alpha Bikes. "
        "Confirm to link it here too."
    )


def test_a_tenant_admin_never_sees_a_sibling_tenants_name(world: World) -> None:
    admin_a2 = make_member(role=Role.TENANT_ADMIN, tenant=world.tenant_a2)
    _hold(link_tenant(world.tenant_a1))
    _link_shared(world, "tenant_a2", world.staff_a)
    page = _tenant_page(admin_a2, world.tenant_a2.pk)
    assert "already linked elsewhere" in _warning(page)
    assert world.tenant_a1.name not in page


def test_visible_holders_are_named_and_hidden_ones_are_elsewhere(world: World) -> None:
    _hold(link_tenant(world.tenant_b1))
    _hold(link_tenant(world.tenant_a1))
    # Another agency's tenant with the very same name as agency A's: still hidden.
    _hold(link_tenant(make_tenant(agency=world.agency_b, name="Alpha Bikes")))
    link = _link_shared(world, "tenant_a2", world.staff_a)
    assert link_duplicate_warning(link=link, user=world.staff_a) == (
        "Copernica account Shared Copernica is already linked to Alpha Bikes and elsewhere. "
        "Confirm to link it here too."
    )
    assert "Beta Foods" not in link_duplicate_warning(link=link, user=world.staff_a)
    assert "Beta Foods" in link_duplicate_warning(link=link, user=world.staff_b)


def test_a_holder_since_disconnected_is_not_claimed_to_hold_it(world: World) -> None:
    holder = _hold(link_tenant(world.tenant_b1))
    link = _link_shared(world, "tenant_a1", world.staff_a)
    holder.state = LinkState.DISCONNECTED
    holder.save()
    assert link_duplicate_warning(link=link, user=world.staff_a) == (
        "Copernica account Shared Copernica was linked elsewhere when this link was made. "
        "Confirm to link it here too."
    )


def test_an_old_stored_reason_naming_another_tenant_is_no_longer_shown(world: World) -> None:
    """Links made before the fix kept the other tenant's name in ``state_reason``."""
    _hold(link_tenant(world.tenant_b1))
    link = _link_shared(world, "tenant_a1", world.staff_a)
    link.state_reason = "Copernica account Shared Copernica is already linked to Beta Foods."
    link.save()
    page = _tenant_page(world.staff_a, world.tenant_a1.pk)
    assert "Beta Foods" not in page


def test_connect_link_guest_is_told_the_account_is_linked_elsewhere(world: World) -> None:
    """The client's admin who used a connect link sees no other tenant, nor whose it is."""
    guest = Client()
    session = guest.session
    session["connect_result"] = {"tenant": "Alpha Cars", "ok": True, "pending": True, "error": ""}
    session.save()
    page = guest.get(reverse("connect_done")).content.decode()
    assert "already linked elsewhere" in page
    assert "of your agency" not in page
