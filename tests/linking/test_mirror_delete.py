"""*Delete mirrored data* of a disconnected link (issue 12, 11), against PostgreSQL."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied

from linker.linking.errors import LinkingError
from linker.linking.links import link_disconnect, link_mirror_delete, link_mirror_read_only
from linker.models import (
    Link,
    LinkEvent,
    ProfileChange,
    RemoteCollection,
    RemoteDatabase,
    RemoteProfile,
    RemoteSubprofile,
)
from tests.conftest import World
from tests.factories import link_tenant

pytestmark = pytest.mark.django_db


def _mirror(link: Link) -> tuple[RemoteDatabase, RemoteDatabase, RemoteCollection]:
    edited = RemoteDatabase.objects.create(link=link, copernica_id=1, name="Customers")
    other = RemoteDatabase.objects.create(link=link, copernica_id=2, name="Leads")
    orders = RemoteCollection.objects.create(
        link=link, database=edited, copernica_id=10, name="Orders"
    )
    RemoteCollection.objects.create(link=link, database=other, copernica_id=20, name="Visits")
    for i in range(5):
        RemoteProfile.objects.create(
            link=link, database=edited, copernica_id=100 + i, fields={"email": f"p{i}@x.example"}
        )
        RemoteSubprofile.objects.create(
            link=link, collection=orders, copernica_id=500 + i, profile_copernica_id=100 + i
        )
    RemoteProfile.objects.create(link=link, database=other, copernica_id=900)
    ProfileChange.objects.create(
        link=link,
        database=edited,
        collection=orders,
        kind="update",
        copernica_profile_id=100,
        copernica_subprofile_id=500,
        fields={"product": "bike"},
        state="done",
    )
    return edited, other, orders


def test_delete_mirrored_data_removes_every_mirror_row_and_keeps_the_change_history(
    world: World,
) -> None:
    link = link_tenant(world.tenant_a1)
    edited, _, orders = _mirror(link)
    link = link_disconnect(link=link, user=world.staff_a)
    assert link_mirror_read_only(link=link)

    deleted = link_mirror_delete(link=link, user=world.staff_a)

    assert (deleted.profiles, deleted.subprofiles) == (6, 5)
    assert (deleted.collections, deleted.databases) == (1, 1)
    assert not RemoteProfile.objects.filter(link=link).exists()
    assert not RemoteSubprofile.objects.filter(link=link).exists()
    # Only what the change history points at stays, marked removed: names and fields, no data.
    assert list(RemoteDatabase.objects.filter(link=link)) == [edited]
    assert list(RemoteCollection.objects.filter(link=link)) == [orders]
    assert not RemoteDatabase.objects.filter(link=link, removed_at=None).exists()
    assert not RemoteCollection.objects.filter(link=link, removed_at=None).exists()
    assert ProfileChange.objects.filter(link=link).count() == 1
    event = link.events.get(kind=LinkEvent.Kind.MIRROR_DELETED)
    assert event.actor == world.staff_a
    assert "6 profiles, 5 subprofiles" in event.message
    assert not Link.objects.get(pk=link.pk).holds_mirror


def test_delete_mirrored_data_of_a_linked_tenant_is_refused(world: World) -> None:
    link = link_tenant(world.tenant_a1)
    _mirror(link)
    with pytest.raises(LinkingError, match="Disconnect it first"):
        link_mirror_delete(link=link, user=world.staff_a)
    assert RemoteProfile.objects.filter(link=link).count() == 6
    assert not link.events.filter(kind=LinkEvent.Kind.MIRROR_DELETED).exists()


@pytest.mark.parametrize("who", ["tenant_admin_a1", "viewer_a1", "staff_b"])
def test_only_agency_staff_delete_mirrored_data(world: World, who: str) -> None:
    link = link_tenant(world.tenant_a1)
    _mirror(link)
    link = link_disconnect(link=link, user=world.staff_a)
    with pytest.raises(PermissionDenied):
        link_mirror_delete(link=link, user=getattr(world, who))
    assert RemoteProfile.objects.filter(link=link).count() == 6
