"""Subprofile creates, updates and deletes through the outbox, against the sandbox over HTTP."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.core.exceptions import PermissionDenied

from accounts.models import Role
from linker.models import ProfileChange, RemoteSubprofile
from linker.platform.errors import InvalidInputError
from linker.profiles.changes import profile_change_submit, subprofile_change_submit
from tests.factories import make_member
from tests.linked_accounts import Linked
from tests.profiles.conftest import Shop, send, send_outcome, synced_shop

pytestmark = pytest.mark.django_db(transaction=True)


def test_subprofile_create_update_and_delete_each_reach_the_sandbox_once(
    shop: Shop, sandbox
) -> None:
    profile, target, doomed = shop.profile(0), shop.subprofile(0), shop.subprofile(1)
    created = subprofile_change_submit(
        user=shop.editor,
        tenant=shop.tenant,
        kind="create",
        collection=shop.collection,
        profile=profile,
        fields={"product": "Tandem", "quantity": 2, "status": "new"},
    )
    updated = subprofile_change_submit(
        user=shop.editor,
        tenant=shop.tenant,
        kind="update",
        subprofile=target.copernica_id,
        fields={"STATUS": "shipped"},
    )
    deleted = subprofile_change_submit(
        user=shop.editor, tenant=shop.tenant, kind="delete", subprofile=doomed
    )

    states = [send(change).state for change in (created, updated, deleted)]
    created.refresh_from_db()
    stats = sandbox.stats()
    with shop.linked.client() as client:
        made = client.get_subprofile(created.copernica_subprofile_id)
        changed = client.get_subprofile(target.copernica_id)
        removed = client.get_subprofile(doomed.copernica_id)

    assert states == ["done", "done", "done"]
    assert (
        stats["subprofiles_created"],
        stats["subprofiles_updated"],
        stats["subprofiles_deleted"],
    ) == (1, 1, 1)
    assert made["profile"] == str(profile.copernica_id)
    assert (made["fields"]["product"], made["fields"]["quantity"]) == ("Tandem", "2")
    assert changed["fields"]["status"] == "shipped"
    assert removed["removed"]
    # The mirror shows each at once.
    mirror = RemoteSubprofile.objects.get(
        collection=shop.collection, copernica_id=created.copernica_subprofile_id
    )
    assert (mirror.profile_copernica_id, mirror.fields["product"]) == (
        profile.copernica_id,
        "Tandem",
    )
    target.refresh_from_db()
    doomed.refresh_from_db()
    assert target.fields["status"] == "shipped"
    assert doomed.removed_at is not None


def test_a_second_delivery_of_a_done_subprofile_change_sends_nothing(shop: Shop, sandbox) -> None:
    change = subprofile_change_submit(
        user=shop.editor,
        tenant=shop.tenant,
        kind="update",
        subprofile=shop.subprofile(0),
        fields={"status": "returned"},
    )
    send(change)
    again = send_outcome(change)

    assert again.state == "done"
    assert sandbox.stats()["subprofiles_updated"] == 1


def test_subprofile_values_are_checked_against_the_collections_fields(shop: Shop) -> None:
    with pytest.raises(InvalidInputError) as refused:
        subprofile_change_submit(
            user=shop.editor,
            tenant=shop.tenant,
            kind="update",
            subprofile=shop.subprofile(0),
            fields={"quantity": "many", "amount": "cheap", "colour": "red"},
        )

    errors = refused.value.field_errors
    assert errors["quantity"] == ["Enter a whole number."]
    assert errors["amount"] == ["Enter a number."]
    assert errors["colour"] == ["orders has no field named 'colour'."]
    assert not ProfileChange.objects.exists()


def test_a_profile_field_is_not_a_subprofile_field(shop: Shop) -> None:
    with pytest.raises(InvalidInputError) as refused:
        subprofile_change_submit(
            user=shop.editor,
            tenant=shop.tenant,
            kind="create",
            collection=shop.collection.copernica_id,
            profile=shop.profile(0).copernica_id,
            fields={"email": "a@example.com"},
        )
    assert "email" in refused.value.field_errors
    assert not ProfileChange.objects.exists()


def test_an_update_that_changes_nothing_is_refused(shop: Shop) -> None:
    with pytest.raises(InvalidInputError, match="Nothing to change"):
        subprofile_change_submit(
            user=shop.editor,
            tenant=shop.tenant,
            kind="update",
            subprofile=shop.subprofile(0),
            fields={},
        )


def test_another_tenants_subprofile_collection_and_profile_are_refused(
    shop: Shop, linked: Callable[..., Linked]
) -> None:
    other = synced_shop(linked, name="Other shop")
    foreign_sub, foreign_profile = other.subprofile(0), other.profile(0)
    attempts = [
        {"kind": "update", "subprofile": foreign_sub, "fields": {"status": "x"}},
        {"kind": "update", "subprofile": foreign_sub.copernica_id, "fields": {"status": "x"}},
        {"kind": "delete", "subprofile": foreign_sub},
        {
            "kind": "create",
            "collection": other.collection,
            "profile": shop.profile(0),
            "fields": {"status": "x"},
        },
        {
            "kind": "create",
            "collection": shop.collection,
            "profile": foreign_profile,
            "fields": {"status": "x"},
        },
    ]
    messages = []
    for attempt in attempts:
        with pytest.raises(InvalidInputError) as refused:
            subprofile_change_submit(user=shop.editor, tenant=shop.tenant, **attempt)  # type: ignore[arg-type]
        messages.append(refused.value.message)

    # The same words as for a missing one: nothing tells a foreign id apart.
    assert messages == [
        "No such subprofile.",
        "No such subprofile.",
        "No such subprofile.",
        "No such collection.",
        "No such profile.",
    ]
    assert not ProfileChange.objects.exists()


def test_a_missing_or_removed_subprofile_is_refused(shop: Shop) -> None:
    gone = shop.subprofile(0)
    RemoteSubprofile.objects.filter(pk=gone.pk).update(removed_at="2024-01-01T00:00:00Z")
    for target in (gone.copernica_id, 1, None):
        with pytest.raises(InvalidInputError):
            subprofile_change_submit(
                user=shop.editor, tenant=shop.tenant, kind="delete", subprofile=target
            )
    assert not ProfileChange.objects.exists()


def test_a_viewer_may_not_change_subprofiles(shop: Shop) -> None:
    viewer = make_member(role=Role.TENANT_VIEWER, tenant=shop.tenant)
    with pytest.raises(PermissionDenied):
        subprofile_change_submit(
            user=viewer, tenant=shop.tenant, kind="delete", subprofile=shop.subprofile(0)
        )
    assert not ProfileChange.objects.exists()


def test_deleting_a_subprofile_someone_removed_at_copernica_fails_with_its_message(
    shop: Shop, sandbox
) -> None:
    target = shop.subprofile(0)
    change = subprofile_change_submit(
        user=shop.editor, tenant=shop.tenant, kind="delete", subprofile=target
    )
    with shop.linked.client() as client:
        client.delete_subprofile(target.copernica_id)

    change = send(change)

    assert (change.state, change.attempts) == ("failed", 1)
    assert change.error_message == "This subprofile has already been removed"
    assert sandbox.stats()["subprofiles_deleted"] == 1


def test_a_lost_subprofile_create_is_looked_up_not_made_twice(shop: Shop, sandbox) -> None:
    profile = shop.profile(0)
    sandbox.fault(path="/v4/profile/", method="POST", drop="after", count=1)
    change = subprofile_change_submit(
        user=shop.editor,
        tenant=shop.tenant,
        kind="create",
        collection=shop.collection,
        profile=profile,
        fields={"product": "Lost and found", "status": "new"},
    )

    first = send(change)
    after_first = (first.state, first.in_doubt)
    ProfileChange.objects.filter(pk=change.pk).update(next_attempt_at=None)  # due now
    second = send(change)
    with shop.linked.client() as client:
        found = client.find_subprofiles(shop.collection.copernica_id, {"product": "Lost and found"})

    assert after_first == ("queued", True)
    assert (second.state, second.attempts) == ("done", 2)
    assert "Found the subprofile created earlier." in second.attempt_log[-1]["outcome"]
    assert [int(item["ID"]) for item in found] == [second.copernica_subprofile_id]
    assert sandbox.stats()["subprofiles_created"] == 1


def test_subprofile_changes_go_out_after_their_profiles_earlier_change(shop: Shop, sandbox) -> None:
    profile = shop.profile(0)
    sub = RemoteSubprofile.objects.filter(
        collection=shop.collection, profile_copernica_id=profile.copernica_id
    ).first()
    assert sub is not None
    first = profile_change_submit(
        user=shop.editor,
        tenant=shop.tenant,
        kind="update",
        profile=profile,
        fields={"city": "Ede"},
    )
    second = subprofile_change_submit(
        user=shop.editor, tenant=shop.tenant, kind="update", subprofile=sub, fields={"status": "x1"}
    )

    early = send_outcome(second)  # delivered before the profile's change: waits
    updated_early = sandbox.stats()["subprofiles_updated"]
    done = send_outcome(first)  # takes the subprofile's change along, after it
    first.refresh_from_db()
    second.refresh_from_db()

    assert early.state == "queued"
    assert updated_early == 0
    assert done.state == "done"
    assert second.state == "done"
    assert first.finished_at is not None
    assert second.finished_at is not None
    assert first.finished_at < second.finished_at
    assert sandbox.stats()["subprofiles_updated"] == 1


def test_a_profile_delete_marks_its_subprofiles_removed_in_the_mirror(shop: Shop) -> None:
    profile = shop.profile(0)
    others = RemoteSubprofile.objects.exclude(profile_copernica_id=profile.copernica_id)
    live_others = others.filter(removed_at=None).count()
    change = profile_change_submit(
        user=shop.editor, tenant=shop.tenant, kind="delete", profile=profile
    )

    assert send(change).state == "done"
    assert not RemoteSubprofile.objects.filter(
        profile_copernica_id=profile.copernica_id, removed_at=None
    ).exists()
    assert others.filter(removed_at=None).count() == live_others
