"""After *Disconnect* the mirror is read-only, and agency staff may delete it (issue 12, 11)."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from linker.linking.links import link_disconnect
from linker.models import (
    LinkEvent,
    ProfileChange,
    RemoteCollection,
    RemoteProfile,
    RemoteSubprofile,
)
from tests.pages.conftest import Mirror

READ_ONLY = "its mirrored profiles are read-only"


@pytest.fixture
def disconnected(mirror: Mirror) -> Mirror:
    orders = RemoteCollection.objects.create(
        link=mirror.link,
        database=mirror.database,
        copernica_id=7,
        name="Orders",
        fields=[{"name": "product", "type": "text"}],
    )
    RemoteSubprofile.objects.create(
        link=mirror.link,
        collection=orders,
        copernica_id=70,
        profile_copernica_id=1000,
        fields={"product": "bike"},
    )
    link_disconnect(link=mirror.link, user=mirror.world.staff_a)
    return mirror


def _tenant(m: Mirror) -> dict[str, int]:
    return {"tenant_id": m.world.tenant_a1.pk}


def _profile(m: Mirror) -> dict[str, int]:
    return {**_tenant(m), "profile_id": 1000}


def _subprofile(m: Mirror) -> dict[str, int]:
    return {**_profile(m), "subprofile_id": 70}


def test_profile_pages_of_a_disconnected_tenant_show_a_banner_and_no_edit_buttons(
    disconnected: Mirror,
) -> None:
    m = disconnected
    pages = [
        reverse("profile_list", kwargs=_tenant(m)),
        reverse("profile_detail", kwargs=_profile(m)),
        reverse("subprofile_detail", kwargs=_subprofile(m)),
    ]
    for url in pages:
        page = m.staff.get(url).content.decode()
        assert 'data-testid="read-only"' in page, url
        assert "rider0@alpha.example" in page or "bike" in page or "Rider" in page
        for button in ("New profile", "Save to Copernica", "Delete profile", "New subprofile"):
            assert button not in page, (url, button)
        assert "Delete subprofile" not in page


@pytest.mark.parametrize(
    ("name", "kwargs", "data"),
    [
        ("profile_detail", _profile, {"f_email": "new@alpha.example"}),
        ("profile_create", _tenant, {"f_email": "new@alpha.example"}),
        ("profile_delete", _profile, {}),
        ("subprofile_detail", _subprofile, {"f_product": "car"}),
        ("subprofile_create", lambda m: {**_profile(m), "collection_id": 7}, {"f_product": "car"}),
        ("subprofile_delete", _subprofile, {}),
    ],
)
def test_changes_to_a_disconnected_mirror_are_refused_with_a_message(
    disconnected: Mirror,
    name: str,
    kwargs,
    data: dict[str, str],  # type: ignore[no-untyped-def]
) -> None:
    m = disconnected
    response = m.staff.post(reverse(name, kwargs=kwargs(m)), data, follow=True)
    assert response.status_code == 200
    assert READ_ONLY in response.content.decode()
    assert not ProfileChange.objects.exists()


def test_profile_pages_of_a_linked_tenant_have_no_read_only_banner(mirror: Mirror) -> None:
    page = mirror.staff.get(reverse("profile_list", kwargs=_tenant(mirror))).content.decode()
    assert 'data-testid="read-only"' not in page
    assert "New profile" in page


def test_agency_staff_delete_the_mirror_of_a_disconnected_tenant(disconnected: Mirror) -> None:
    m = disconnected
    tenant_page = reverse("tenant_detail", kwargs=_tenant(m))
    page = m.staff.get(tenant_page).content.decode()
    assert "Delete mirrored data" in page
    assert "data-confirm=" in page.split("Delete mirrored data")[0].rsplit("<form", 1)[1]
    response = m.staff.post(reverse("mirror_delete", kwargs=_tenant(m)), follow=True)
    page = response.content.decode()
    assert "Mirrored data deleted: 120 profiles and 1 subprofiles" in page
    assert "Mirrored data deleted" in page  # the link history
    assert "Delete mirrored data" not in page
    assert not RemoteProfile.objects.filter(link=m.link).exists()
    assert m.link.events.filter(kind=LinkEvent.Kind.MIRROR_DELETED).count() == 1


def test_tenant_admin_sees_no_delete_and_cannot_post_it(disconnected: Mirror) -> None:
    m = disconnected
    admin = Client()
    admin.force_login(m.world.tenant_admin_a1)
    page = admin.get(reverse("tenant_detail", kwargs=_tenant(m))).content.decode()
    assert "Delete mirrored data" not in page
    assert admin.post(reverse("mirror_delete", kwargs=_tenant(m))).status_code == 403
    assert RemoteProfile.objects.filter(link=m.link).count() == 120


def test_delete_mirrored_data_of_a_linked_tenant_is_refused_with_a_message(
    mirror: Mirror,
) -> None:
    response = mirror.staff.post(reverse("mirror_delete", kwargs=_tenant(mirror)), follow=True)
    assert "Disconnect it first" in response.content.decode()
    assert RemoteProfile.objects.filter(link=mirror.link).count() == 120
