from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser
from django.http import Http404

from accounts.models import Role
from accounts.selectors import (
    agency_get,
    can_edit_profiles,
    can_link_tenant,
    can_manage_tenant,
    tenant_get,
    tenant_list,
)
from tests.conftest import World
from tests.factories import make_member


def test_agency_staff_see_all_and_only_their_agencys_tenants(world: World) -> None:
    assert set(tenant_list(user=world.staff_a)) == {world.tenant_a1, world.tenant_a2}
    assert set(tenant_list(user=world.staff_b)) == {world.tenant_b1}


def test_tenant_admin_sees_only_their_tenant(world: World) -> None:
    assert list(tenant_list(user=world.tenant_admin_a1)) == [world.tenant_a1]


def test_user_without_membership_and_anonymous_see_nothing(world: World) -> None:
    assert not tenant_list(user=world.outsider).exists()
    assert not tenant_list(user=AnonymousUser()).exists()


def test_inactive_user_sees_nothing(world: World) -> None:
    world.staff_a.is_active = False
    world.staff_a.save()
    assert not tenant_list(user=world.staff_a).exists()


def test_foreign_and_missing_tenant_are_the_same_404(world: World) -> None:
    with pytest.raises(Http404) as foreign:
        tenant_get(user=world.staff_a, id=world.tenant_b1.pk)
    with pytest.raises(Http404) as missing:
        tenant_get(user=world.staff_a, id=987654)
    with pytest.raises(Http404) as garbage:
        tenant_get(user=world.staff_a, id="1 OR 1=1")
    assert str(foreign.value) == str(missing.value) == str(garbage.value)


def test_tenant_get_returns_visible_tenant(world: World) -> None:
    assert tenant_get(user=world.tenant_admin_a1, id=str(world.tenant_a1.pk)) == world.tenant_a1


def test_user_in_two_agencies_sees_both_without_duplicates(world: World) -> None:
    make_member(role=Role.AGENCY_STAFF, agency=world.agency_b, user=world.staff_a)
    make_member(role=Role.TENANT_VIEWER, tenant=world.tenant_a1, user=world.staff_a)
    tenants = list(tenant_list(user=world.staff_a))
    assert sorted(t.pk for t in tenants) == sorted(
        [world.tenant_a1.pk, world.tenant_a2.pk, world.tenant_b1.pk]
    )


def test_superuser_sees_every_tenant(world: World) -> None:
    world.outsider.is_superuser = True
    world.outsider.save()
    assert tenant_list(user=world.outsider).count() == 4


def test_roles_decide_what_a_visible_tenant_allows(world: World) -> None:
    t = world.tenant_a1
    assert can_link_tenant(user=world.tenant_admin_a1, tenant=t)
    assert can_link_tenant(user=world.staff_a, tenant=t)
    assert not can_link_tenant(user=world.viewer_a1, tenant=t)
    assert not can_link_tenant(user=world.staff_b, tenant=t)
    assert can_edit_profiles(user=world.agency_admin_a, tenant=t)
    assert not can_edit_profiles(user=world.viewer_a1, tenant=t)
    assert can_manage_tenant(user=world.staff_a, tenant=t)
    assert not can_manage_tenant(user=world.tenant_admin_a1, tenant=t)


def test_agency_get_is_404_for_an_agency_the_user_does_not_work_for(world: World) -> None:
    assert agency_get(user=world.staff_a, id=world.agency_a.pk) == world.agency_a
    with pytest.raises(Http404):
        agency_get(user=world.staff_a, id=world.agency_b.pk)
    with pytest.raises(Http404):
        agency_get(user=world.tenant_admin_a1, id=world.agency_a.pk)
