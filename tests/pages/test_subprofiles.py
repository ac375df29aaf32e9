"""Subprofile pages: listed per collection on the profile page, created, edited and deleted
through the outbox; conflicts shown with Copernica's values and decided by an editor."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from linker.models import Link, ProfileChange, RemoteCollection, RemoteDatabase, RemoteSubprofile
from linker.profiles import change_selectors
from linker.views import profiles as profile_views
from linker.views import subprofiles as subprofile_views
from tests.pages.conftest import Mirror
from tests.web.routes import _profile_b

ORDER_FIELDS = [
    {"name": "order_number", "type": "integer"},
    {"name": "product", "type": "text"},
    {"name": "amount", "type": "float"},
    {"name": "status", "type": "text"},
    {"name": "delivered", "type": "empty_date"},
]
HOSTILE = "<script>alert('owned')</script>"


@dataclass
class Orders:
    mirror: Mirror
    collection: RemoteCollection
    sub: RemoteSubprofile  # of profile 1003

    @property
    def tenant_id(self) -> int:
        return self.mirror.world.tenant_a1.pk

    def url(self, name: str, **kwargs: int) -> str:
        return reverse(name, kwargs={"tenant_id": self.tenant_id, **kwargs})

    def sub_url(self, name: str = "subprofile_detail", sub: int | None = None) -> str:
        return self.url(name, profile_id=1003, subprofile_id=sub or self.sub.copernica_id)


@pytest.fixture
def orders(mirror: Mirror) -> Orders:
    """An ``orders`` collection in Alpha Bikes' database; profile 1003 has three orders, one of
    them with a value that is HTML, 1004 one."""
    collection = RemoteCollection.objects.create(
        link=mirror.link,
        database=mirror.database,
        copernica_id=31,
        name="orders",
        fields=ORDER_FIELDS,
    )
    modified = timezone.now().replace(microsecond=0) - timedelta(days=3)
    rows = [
        (5001, 1003, {"order_number": "1", "product": "Bakfiets", "amount": "999.95"}),
        (5002, 1003, {"order_number": "2", "product": HOSTILE, "amount": "1.95"}),
        (5003, 1003, {"order_number": "3", "product": "Slot", "amount": "24.95"}),
        (5004, 1004, {"order_number": "4", "product": "Helm", "amount": "49.95"}),
    ]
    RemoteSubprofile.objects.bulk_create(
        RemoteSubprofile(
            link=mirror.link,
            collection=collection,
            copernica_id=sub_id,
            profile_copernica_id=profile_id,
            fields={**values, "status": "paid", "delivered": ""},
            modified=modified,
        )
        for sub_id, profile_id, values in rows
    )
    return Orders(mirror, collection, RemoteSubprofile.objects.get(copernica_id=5001))


def _edit(sub: RemoteSubprofile, page: str, **changes: str) -> dict[str, str]:
    """What the browser posts: the values shown (as shown and as hidden initial), the version."""
    shown = {f"f_{k}": v for k, v in sub.fields.items()}
    version = page.split('name="base_modified" value="')[1].split('"')[0]
    return {
        **shown,
        **{f"initial-{k}": v for k, v in shown.items()},
        "base_modified": version,
        **changes,
    }


def _conflict(orders: Orders) -> ProfileChange:
    """An update of order 5001 the outbox stopped: Copernica changed it after the edit."""
    return ProfileChange.objects.create(
        link=orders.mirror.link,
        database=orders.mirror.database,
        collection=orders.collection,
        kind="update",
        copernica_profile_id=1003,
        copernica_subprofile_id=5001,
        fields={"status": "shipped"},
        base_modified=orders.sub.modified,
        state="conflict",
        conflict={
            "modified": timezone.now().isoformat(),
            "fields": {"status": "returned <b>late</b>", "product": "Bakfiets"},
        },
        error_message="Changed at Copernica after it was edited here; nothing was sent.",
        created_by=orders.mirror.world.staff_a,
    )


def test_profile_page_lists_subprofiles_per_collection_escaped(orders: Orders) -> None:
    page = orders.mirror.staff.get(orders.url("profile_detail", profile_id=1003)).content.decode()
    table = page.split('data-testid="subprofiles-31"')[1].split("</table>")[0]

    assert "orders" in page
    assert "(3 subprofiles)" in page
    for column in ("order_number", "product", "amount", "status"):
        assert f'<th scope="col">{column}</th>' in table
    assert "Bakfiets" in table
    assert "Slot" in table
    assert "Helm" not in table  # another profile's order
    assert HOSTILE not in page
    assert "&lt;script&gt;alert(&#x27;owned&#x27;)&lt;/script&gt;" in table
    assert orders.url("subprofile_create", profile_id=1003, collection_id=31) in page
    assert orders.sub_url() in table


def test_subprofile_page_types_the_inputs_and_carries_the_version(orders: Orders) -> None:
    page = orders.mirror.staff.get(orders.sub_url()).content.decode()

    assert 'name="f_order_number"' in page
    assert 'type="number"' in page
    assert 'step="any"' in page
    assert 'type="date"' in page
    assert f'name="base_modified" value="{orders.sub.modified.isoformat()}"' in page
    assert "Delete subprofile" in page


def test_editing_a_subprofile_queues_only_the_changed_field_with_its_base(orders: Orders) -> None:
    staff = orders.mirror.staff
    page = staff.get(orders.sub_url()).content.decode()

    response = staff.post(
        orders.sub_url(), _edit(orders.sub, page, f_status="shipped"), follow=True
    )

    change = ProfileChange.objects.get()
    assert "Change queued for Copernica" in response.content.decode()
    assert (change.kind, change.collection_id, change.copernica_subprofile_id) == (
        "update",
        orders.collection.pk,
        5001,
    )
    assert change.copernica_profile_id == 1003
    assert change.fields == {"status": "shipped"}
    assert change.base_modified == orders.sub.modified


def test_wrong_types_show_next_to_the_field_and_keep_the_input(orders: Orders) -> None:
    staff = orders.mirror.staff
    page = staff.get(orders.sub_url()).content.decode()
    data = _edit(orders.sub, page, f_order_number="", f_amount="lots", f_delivered="soon")

    response = staff.post(orders.sub_url(), data)
    page = response.content.decode()

    assert response.status_code == 200
    assert "This field is required." in page
    assert 'value="lots"' in page
    assert "Enter a date as YYYY-MM-DD." in page
    assert 'value="soon"' in page
    assert not ProfileChange.objects.exists()


def test_a_tampered_version_is_ignored_not_an_error(orders: Orders) -> None:
    staff = orders.mirror.staff
    page = staff.get(orders.sub_url()).content.decode()
    data = {**_edit(orders.sub, page, f_status="shipped"), "base_modified": "yesterday"}

    assert staff.post(orders.sub_url(), data).status_code == 303
    assert ProfileChange.objects.get().base_modified == orders.sub.modified


def test_new_subprofile_requires_typed_fields_and_queues_a_create(orders: Orders) -> None:
    url = orders.url("subprofile_create", profile_id=1003, collection_id=31)
    staff = orders.mirror.staff
    assert "New subprofile in orders" in staff.get(url).content.decode()

    missing = staff.post(url, {"f_product": "Tandem"})
    assert "This field is required." in missing.content.decode()
    assert 'value="Tandem"' in missing.content.decode()
    done = staff.post(
        url, {"f_product": "Tandem", "f_order_number": "77", "f_amount": "1999.5"}, follow=True
    )

    assert "New subprofile in orders queued for Copernica" in done.content.decode()
    change = ProfileChange.objects.get()
    assert (change.kind, change.collection_id, change.copernica_profile_id) == (
        "create",
        orders.collection.pk,
        1003,
    )
    assert change.fields == {"product": "Tandem", "order_number": "77", "amount": "1999.5"}


def test_delete_queues_a_subprofile_delete(orders: Orders) -> None:
    response = orders.mirror.staff.post(orders.sub_url("subprofile_delete"), follow=True)
    assert "Deletion of subprofile 5001 queued" in response.content.decode()
    change = ProfileChange.objects.get()
    assert (change.kind, change.copernica_subprofile_id) == ("delete", 5001)


def test_changes_lists_show_subprofile_changes(orders: Orders) -> None:
    _conflict(orders)
    listing = orders.mirror.staff.get(orders.url("profile_list")).content.decode()
    profile_page = orders.mirror.staff.get(
        orders.url("profile_detail", profile_id=1003)
    ).content.decode()
    for page in (listing, profile_page):
        assert "subprofile 5001</a> in orders of" in page
        assert "Conflict" in page


def test_a_conflict_shows_copernicas_values_beside_the_edit_with_buttons(orders: Orders) -> None:
    change = _conflict(orders)
    page = orders.mirror.staff.get(orders.sub_url()).content.decode()
    panel = page.split(f'data-testid="conflict-{change.pk}"')[1].split("</div>")[0]

    assert "<td>shipped</td>" in panel
    assert "<td>returned &lt;b&gt;late&lt;/b&gt;</td>" in panel
    assert "Send anyway" in panel
    assert "Discard" in panel
    assert 'name="csrfmiddlewaretoken"' in panel
    # No polling for a change that waits for a person.
    assert f'data-change-id="{change.pk}" data-pending' not in page


def test_send_anyway_queues_the_change_forced_and_returns_to_the_page(orders: Orders) -> None:
    change = _conflict(orders)
    url = orders.url("profile_change_resolve", change_id=change.pk)

    response = orders.mirror.staff.post(url, {"action": "send", "next": orders.sub_url()})
    change.refresh_from_db()

    assert response.status_code == 303
    assert response["Location"] == orders.sub_url()
    assert (change.state, change.force) == ("queued", True)


def test_discard_cancels_the_change_and_says_so(orders: Orders) -> None:
    change = _conflict(orders)
    url = orders.url("profile_change_resolve", change_id=change.pk)

    page = orders.mirror.staff.post(
        url, {"action": "discard", "next": "https://evil.example/"}, follow=True
    )
    change.refresh_from_db()

    assert change.state == "cancelled"
    assert f"Change #{change.pk} discarded" in page.content.decode()
    assert page.redirect_chain[-1][0] == orders.url("profile_detail", profile_id=1003)


def test_bad_decisions_are_messages_not_errors(orders: Orders) -> None:
    change = _conflict(orders)
    url = orders.url("profile_change_resolve", change_id=change.pk)
    staff = orders.mirror.staff

    nothing = staff.post(url, {}, follow=True)
    bogus = staff.post(url, {"action": "bogus"}, follow=True)
    staff.post(url, {"action": "discard"})
    twice = staff.post(url, {"action": "send"}, follow=True)

    assert "Choose Send anyway or Discard." in nothing.content.decode()
    assert "Choose Send anyway or Discard." in bogus.content.decode()
    assert "no longer waiting for a decision" in twice.content.decode()
    change.refresh_from_db()
    assert (change.state, change.force) == ("cancelled", False)


def test_a_viewer_sees_no_buttons_and_is_refused_every_change(orders: Orders) -> None:
    change = _conflict(orders)
    viewer = orders.mirror.viewer
    detail = viewer.get(orders.sub_url()).content.decode()
    profile_page = viewer.get(orders.url("profile_detail", profile_id=1003)).content.decode()

    assert "returned &lt;b&gt;late&lt;/b&gt;" in detail  # the conflict shows
    assert "Send anyway" not in detail
    assert "Save to Copernica" not in detail
    assert "Delete subprofile" not in detail
    assert "New subprofile" not in profile_page
    posts = [
        (orders.sub_url(), {"f_status": "x"}),
        (orders.sub_url("subprofile_delete"), {}),
        (orders.url("subprofile_create", profile_id=1003, collection_id=31), {"f_product": "x"}),
        (orders.url("profile_change_resolve", change_id=change.pk), {"action": "send"}),
    ]
    create = orders.url("subprofile_create", profile_id=1003, collection_id=31)

    assert [viewer.post(url, data).status_code for url, data in posts] == [403] * 4
    assert viewer.get(create).status_code == 403
    change.refresh_from_db()
    assert change.state == "conflict"
    assert ProfileChange.objects.count() == 1


def _foreign_subprofile(orders: Orders) -> tuple[RemoteCollection, RemoteSubprofile]:
    """Agency B's mirror holds collection 31 and subprofile 9001 of its profile 990001."""
    _profile_b(orders.mirror.world)
    link = Link.objects.get(tenant=orders.mirror.world.tenant_b1)
    collection = RemoteCollection.objects.create(
        link=link,
        database=RemoteDatabase.objects.get(link=link),
        copernica_id=32,
        name="beta orders",
        fields=ORDER_FIELDS,
    )
    sub = RemoteSubprofile.objects.create(
        link=link,
        collection=collection,
        copernica_id=9001,
        profile_copernica_id=990001,
        fields={"product": "Beta secret"},
    )
    return collection, sub


def test_foreign_and_missing_ids_are_the_same_404(orders: Orders) -> None:
    collection, sub = _foreign_subprofile(orders)
    staff = orders.mirror.staff
    foreign_change = ProfileChange.objects.create(
        link=sub.link,
        database=collection.database,
        collection=collection,
        kind="update",
        copernica_profile_id=990001,
        copernica_subprofile_id=9001,
        fields={"status": "x"},
        state="conflict",
    )
    urls = [
        # Another tenant's subprofile under our own profile, and under its own profile id.
        orders.sub_url(sub=9001),
        orders.url("subprofile_detail", profile_id=990001, subprofile_id=9001),
        # Our subprofile under the wrong profile of our own tenant.
        orders.url("subprofile_detail", profile_id=1004, subprofile_id=5001),
        orders.url("subprofile_detail", profile_id=1003, subprofile_id=424242),
        orders.url("subprofile_create", profile_id=1003, collection_id=32),
        orders.url("subprofile_create", profile_id=1003, collection_id=424242),
    ]
    for url in urls:
        assert staff.get(url).status_code == 404, url
        assert staff.post(url, {"f_product": "planted", "f_order_number": "1"}).status_code == 404
    delete = orders.url("subprofile_delete", profile_id=1003, subprofile_id=9001)
    resolve = orders.url("profile_change_resolve", change_id=foreign_change.pk)
    assert staff.post(delete).status_code == 404
    assert staff.post(resolve, {"action": "send"}).status_code == 404
    assert ProfileChange.objects.count() == 1
    foreign_change.refresh_from_db()
    assert foreign_change.state == "conflict"


def test_subprofiles_of_a_removed_profile_are_not_reachable(orders: Orders) -> None:
    RemoteSubprofile.objects.filter(copernica_id=5001).update(removed_at=timezone.now())
    assert orders.mirror.staff.get(orders.sub_url()).status_code == 404
    page = orders.mirror.staff.get(orders.url("profile_detail", profile_id=1003)).content.decode()
    assert "(2 subprofiles)" in page


@pytest.mark.parametrize("page", ["subprofile", "profile"])
def test_a_change_done_while_the_page_is_read_is_shown_with_the_values_it_wrote(
    orders: Orders, monkeypatch: pytest.MonkeyPatch, page: str
) -> None:
    """The browser test's flake: the worker finished a sent-anyway change between the page's
    two reads, and the page showed Done beside the mirror's values from before it (with
    nothing pending, it never reloaded). The worker's write is made here inside the first read.
    """
    change = _conflict(orders)
    real = change_selectors.profile_change_list

    def worker_finishes_meanwhile(**kwargs):  # type: ignore[no-untyped-def]
        RemoteSubprofile.objects.filter(pk=orders.sub.pk).update(
            fields={**orders.sub.fields, "status": "shipped"}
        )
        ProfileChange.objects.filter(pk=change.pk).update(state="done", conflict=None)
        return real(**kwargs)

    for module in (profile_views, subprofile_views):
        monkeypatch.setattr(module, "profile_change_list", worker_finishes_meanwhile)
    url, facts_start, facts_end = {
        "subprofile": (orders.sub_url(), 'data-testid="subprofile-fields"', "</dl>"),
        "profile": (
            orders.url("profile_detail", profile_id=1003),
            'data-testid="subprofiles-31"',
            "</table>",
        ),
    }[page]
    shown = orders.mirror.staff.get(url).content.decode()

    changes = shown.split('data-testid="changes"')[1].split("</table>")[0]
    assert "data-pending" not in changes
    assert "shipped" in shown.split(facts_start)[1].split(facts_end)[0]
