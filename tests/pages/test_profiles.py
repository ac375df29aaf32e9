"""The profile browser and editor: search, sort, page, validated changes through the outbox."""

from __future__ import annotations

import csv
import io

from django.urls import reverse
from django.utils import timezone

from accounts.services import membership_remove
from linker.models import ProfileChange, RemoteProfile
from linker.profiles.batch_sending import profile_change_send
from tests.factories import link_tenant
from tests.pages.conftest import Mirror
from tests.web.routes import FOREIGN_EMAIL, FOREIGN_PROFILE_ID, _profile_b


def _list(mirror: Mirror, **params: str) -> str:
    url = reverse("profile_list", kwargs={"tenant_id": mirror.world.tenant_a1.pk})
    return mirror.staff.get(url, params).content.decode()


def _edit(profile, **changes: str) -> dict[str, object]:  # type: ignore[no-untyped-def]
    """What the browser posts: the values shown (twice, as shown and as hidden initial)."""
    shown = {f"f_{k}": v for k, v in profile.fields.items()}
    data: dict[str, object] = {**shown, **{f"initial-{k}": v for k, v in shown.items()}}
    data["interests"] = list(profile.interests)
    data["initial-interests"] = list(profile.interests)
    data.update(changes)
    return data


def _detail_url(mirror: Mirror, profile_id: int) -> str:
    return reverse(
        "profile_detail", kwargs={"tenant_id": mirror.world.tenant_a1.pk, "profile_id": profile_id}
    )


def test_browser_pages_through_the_mirror(mirror: Mirror) -> None:
    page = _list(mirror)
    assert "120 profiles in Customers" in page
    assert page.count("rider") >= 50
    assert "Page 1 of 3" in page
    assert "rider119@alpha.example" in _list(mirror, page="3")


def test_search_by_email_and_by_one_field(mirror: Mirror) -> None:
    page = _list(mirror, q="rider7@alpha")
    assert "1 profile in Customers" in page
    assert "rider7@alpha.example" in page
    assert "60 profiles" in _list(mirror, q="utrecht", field="city")
    assert "0 profiles" in _list(mirror, q="utrecht", field="email")
    assert "1 profile in" in _list(mirror, q="1005")  # a profile id


def test_sort_by_a_field_descending(mirror: Mirror) -> None:
    page = _list(mirror, sort="-f:email")
    body = page.split("<tbody>")[1]
    assert body.index("rider99@") < body.index("rider89@") < body.index("rider79@")
    assert "rider0@" not in body  # the smallest email sorts last, on page 3


def test_search_and_export_never_reach_another_tenant(mirror: Mirror) -> None:
    _profile_b(mirror.world)
    assert FOREIGN_EMAIL not in _list(mirror, q="beta-foods")
    assert "0 profiles" in _list(mirror, q=str(FOREIGN_PROFILE_ID))
    url = reverse("profile_export", kwargs={"tenant_id": mirror.world.tenant_a1.pk})
    body = b"".join(mirror.staff.get(url).streaming_content).decode()
    rows = list(csv.reader(io.StringIO(body)))
    assert rows[0][:3] == ["id", "email", "firstname"]
    assert len(rows) == 121
    assert FOREIGN_EMAIL not in body


def test_foreign_profile_under_own_tenant_url_is_404(mirror: Mirror) -> None:
    _profile_b(mirror.world)
    url = _detail_url(mirror, FOREIGN_PROFILE_ID)
    assert mirror.staff.get(url).status_code == 404
    assert mirror.staff.post(url, {"f_email": "x@example.com", "f_age": "3"}).status_code == 404
    delete = reverse(
        "profile_delete",
        kwargs={"tenant_id": mirror.world.tenant_a1.pk, "profile_id": FOREIGN_PROFILE_ID},
    )
    assert mirror.staff.post(delete).status_code == 404
    assert not ProfileChange.objects.exists()


def test_create_naming_a_foreign_database_is_refused(mirror: Mirror) -> None:
    _profile_b(mirror.world)  # agency B's database has copernica id 77
    url = reverse("profile_create", kwargs={"tenant_id": mirror.world.tenant_a1.pk})
    response = mirror.staff.post(url, {"db": "77", "f_email": "x@example.com", "f_age": "3"})
    assert response.status_code == 404
    assert not ProfileChange.objects.exists()


def test_change_states_endpoint_only_answers_for_own_changes(mirror: Mirror) -> None:
    _profile_b(mirror.world)
    from linker.models import Link, RemoteDatabase

    foreign_link = Link.objects.get(tenant=mirror.world.tenant_b1)
    foreign = ProfileChange.objects.create(
        link=foreign_link,
        database=RemoteDatabase.objects.get(link=foreign_link),
        kind="update",
        copernica_profile_id=FOREIGN_PROFILE_ID,
        fields={"email": "x"},
    )
    url = reverse("profile_change_states", kwargs={"tenant_id": mirror.world.tenant_a1.pk})
    assert mirror.staff.get(url, {"ids": str(foreign.pk)}).json() == {"changes": []}


def test_profile_page_shows_fields_and_interests(mirror: Mirror) -> None:
    page = mirror.staff.get(_detail_url(mirror, 1003)).content.decode()
    assert "rider3@alpha.example" in page
    assert "<dd>cycling</dd>" in page
    assert 'type="email"' in page
    assert 'type="number"' in page


def test_edit_queues_only_the_changed_fields(mirror: Mirror) -> None:
    profile = mirror.profile(1003)
    response = mirror.staff.post(
        _detail_url(mirror, 1003), _edit(profile, f_city="Zwolle", interests=[]), follow=True
    )
    assert "Change queued for Copernica" in response.content.decode()
    change = ProfileChange.objects.get()
    assert (change.kind, change.copernica_profile_id, change.fields) == (
        "update",
        1003,
        {"city": "Zwolle"},
    )
    assert change.interests == {"cycling": 0}  # unticked
    assert 'data-pending="1"' in response.content.decode()


def test_the_editor_sends_back_the_version_it_showed(mirror: Mirror) -> None:
    profile = mirror.profile(1003)
    page = mirror.staff.get(_detail_url(mirror, 1003)).content.decode()
    assert f'name="base_modified" value="{profile.modified.isoformat()}"' in page
    # The mirror moves on (a sync) before the user saves: the base stays what they saw.
    RemoteProfile.objects.filter(pk=profile.pk).update(modified=timezone.now())
    data = {**_edit(profile, f_city="Zwolle"), "base_modified": profile.modified.isoformat()}

    mirror.staff.post(_detail_url(mirror, 1003), data)

    assert ProfileChange.objects.get().base_modified == profile.modified


def test_a_stale_form_sends_only_what_the_user_changed(mirror: Mirror) -> None:
    profile = mirror.profile(1003)
    stale = _edit(profile, f_firstname="Renamed")
    # Meanwhile another change landed in the mirror (city); the stale form still shows the old.
    RemoteProfile.objects.filter(pk=profile.pk).update(fields={**profile.fields, "city": "Delft"})
    mirror.staff.post(_detail_url(mirror, 1003), stale)
    change = ProfileChange.objects.get()
    assert change.fields == {"firstname": "Renamed"}
    assert change.interests is None


def test_wrong_types_are_refused_before_anything_is_queued(mirror: Mirror) -> None:
    profile = mirror.profile(1003)
    response = mirror.staff.post(
        _detail_url(mirror, 1003), _edit(profile, f_age="old", f_email="nope")
    )
    page = response.content.decode()
    assert response.status_code == 200
    assert "Enter a whole number." in page
    assert "Enter a valid email address." in page
    assert not ProfileChange.objects.exists()


def test_create_requires_typed_fields_and_queues_a_create(mirror: Mirror) -> None:
    url = reverse("profile_create", kwargs={"tenant_id": mirror.world.tenant_a1.pk})
    missing = mirror.staff.post(url, {"f_email": "new@alpha.example"})
    assert "This field is required." in missing.content.decode()
    assert not ProfileChange.objects.exists()
    done = mirror.staff.post(
        url, {"f_email": "new@alpha.example", "f_age": "33", "interests": ["running"]}, follow=True
    )
    assert "New profile queued for Copernica" in done.content.decode()
    change = ProfileChange.objects.get()
    assert change.kind == "create"
    assert change.fields == {"email": "new@alpha.example", "age": "33"}
    assert change.interests == ["running"]


def test_delete_queues_a_delete(mirror: Mirror) -> None:
    url = reverse(
        "profile_delete", kwargs={"tenant_id": mirror.world.tenant_a1.pk, "profile_id": 1004}
    )
    response = mirror.staff.post(url, follow=True)
    assert "Deletion of profile 1004 queued" in response.content.decode()
    assert ProfileChange.objects.get().kind == "delete"


def test_viewer_cannot_edit_create_or_delete(mirror: Mirror) -> None:
    detail = mirror.viewer.get(_detail_url(mirror, 1003)).content.decode()
    assert "Save to Copernica" not in detail
    assert mirror.viewer.post(_detail_url(mirror, 1003), {"f_city": "X"}).status_code == 403
    create = reverse("profile_create", kwargs={"tenant_id": mirror.world.tenant_a1.pk})
    assert mirror.viewer.post(create, {"f_email": "a@b.example", "f_age": "1"}).status_code == 403
    delete = reverse(
        "profile_delete", kwargs={"tenant_id": mirror.world.tenant_a1.pk, "profile_id": 1003}
    )
    assert mirror.viewer.post(delete).status_code == 403
    assert not ProfileChange.objects.exists()


def test_unlinked_tenant_profile_pages_are_404_and_unsynced_say_what_to_do(mirror: Mirror) -> None:
    url = reverse("profile_list", kwargs={"tenant_id": mirror.world.tenant_a2.pk})
    assert mirror.staff.get(url).status_code == 404
    link_tenant(mirror.world.tenant_a2)
    assert "Nothing mirrored yet" in mirror.staff.get(url).content.decode()


def test_changes_of_a_removed_staff_member_are_cancelled_and_shown(mirror: Mirror) -> None:
    """reliability.md case 36 at page level: queued by staff who then left the agency."""
    profile = mirror.profile(1003)
    mirror.staff.post(_detail_url(mirror, 1003), _edit(profile, f_city="Zwolle"))
    change = ProfileChange.objects.get()
    membership_remove(user=mirror.world.staff_a, agency=mirror.world.agency_a)
    profile_change_send(change_id=change.pk)
    change.refresh_from_db()
    assert change.state == "cancelled"
    assert mirror.profile(1003).fields["city"] != "Zwolle"
    page = mirror.viewer.get(_detail_url(mirror, 1003)).content.decode()
    assert "Cancelled: its author lost access." in page
