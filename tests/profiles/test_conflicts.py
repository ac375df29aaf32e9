"""Write conflicts (reliability.md case 49): an update whose (sub)profile changed at Copernica
after the copy the user edited stops before anything is sent, until someone sends it anyway or
discards it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied

from accounts.models import Role
from linker.models import ProfileChange, RemoteProfile, RemoteSubprofile
from linker.platform.errors import InvalidInputError
from linker.profiles.change_selectors import profile_version, subprofile_version
from linker.profiles.changes import profile_change_submit, subprofile_change_submit
from linker.profiles.conflicts import profile_change_resolve
from linker.profiles.relay import profile_changes_relay
from tests.factories import make_member
from tests.profiles.conftest import Shop, requests, send, send_outcome

pytestmark = pytest.mark.django_db(transaction=True)

PROFILE_GET = "GET /v4/profile/{id}"
PROFILE_PUT = "PUT /v4/profile/{id}"
SUBPROFILE_GET = "GET /v4/subprofile/{id}"
SUBPROFILE_PUT = "PUT /v4/subprofile/{id}"


def edit_profile(shop: Shop, profile: RemoteProfile, **fields: str) -> ProfileChange:
    """An update as the editor submits it: based on the version of the copy it showed."""
    return profile_change_submit(
        user=shop.editor,
        tenant=shop.tenant,
        kind="update",
        profile=profile,
        fields=fields,
        base_modified=profile_version(profile=profile),
    )


def edit_subprofile(shop: Shop, subprofile: RemoteSubprofile, **fields: str) -> ProfileChange:
    return subprofile_change_submit(
        user=shop.editor,
        tenant=shop.tenant,
        kind="update",
        subprofile=subprofile,
        fields=fields,
        base_modified=subprofile_version(subprofile=subprofile),
    )


def test_an_update_without_conflict_is_sent_after_exactly_one_get(shop: Shop, sandbox) -> None:
    profile = shop.profile(0)
    change = edit_profile(shop, profile, city="Ede")
    gets, puts = requests(sandbox, PROFILE_GET), requests(sandbox, PROFILE_PUT)

    change = send(change)

    assert change.state == "done"
    assert requests(sandbox, PROFILE_GET) == gets + 1
    assert requests(sandbox, PROFILE_PUT) == puts + 1
    with shop.linked.client() as client:
        assert client.get_profile(profile.copernica_id)["fields"]["city"] == "Ede"


def test_a_change_without_a_base_is_sent_without_a_check(shop: Shop, sandbox) -> None:
    change = profile_change_submit(
        user=shop.editor,
        tenant=shop.tenant,
        kind="update",
        profile=shop.profile(0),
        fields={"city": "Ede"},
    )
    assert send(change).state == "done"
    assert requests(sandbox, PROFILE_GET) == 0


def test_an_update_stops_in_conflict_when_the_profile_changed_at_copernica_after_the_edit(
    shop: Shop, sandbox
) -> None:
    profile = shop.profile(0)
    change = edit_profile(shop, profile, city="Ede", firstname="Mine")
    with shop.linked.client() as client:
        client.update_profile(profile.copernica_id, {"city": "Theirs"})  # someone else, meanwhile
    puts = requests(sandbox, PROFILE_PUT)

    change = send(change)

    assert change.state == "conflict"
    assert requests(sandbox, PROFILE_PUT) == puts  # nothing sent
    assert change.conflict["fields"]["city"] == "Theirs"
    assert change.conflict["modified"] > change.base_modified.isoformat()
    assert "nothing was sent" in change.error_message
    with shop.linked.client() as client:
        assert client.get_profile(profile.copernica_id)["fields"]["city"] == "Theirs"
    assert RemoteProfile.objects.get(pk=profile.pk).fields["city"] == profile.fields["city"]


def test_a_subprofile_update_stops_in_conflict_when_it_changed_at_copernica(
    shop: Shop, sandbox
) -> None:
    target = shop.subprofile(0)
    change = edit_subprofile(shop, target, status="shipped")
    with shop.linked.client() as client:
        client.update_subprofile(target.copernica_id, {"status": "returned"})
    puts = requests(sandbox, SUBPROFILE_PUT)

    change = send(change)

    assert change.state == "conflict"
    assert requests(sandbox, SUBPROFILE_PUT) == puts
    assert change.conflict["fields"]["status"] == "returned"
    assert sandbox.stats()["subprofiles_updated"] == 1  # the other edit only


def test_send_anyway_sends_the_change_as_it_is_without_a_second_check(shop: Shop, sandbox) -> None:
    target = shop.subprofile(0)
    change = edit_subprofile(shop, target, status="shipped")
    with shop.linked.client() as client:
        client.update_subprofile(target.copernica_id, {"status": "returned", "product": "Helm"})
    send(change)
    gets = requests(sandbox, SUBPROFILE_GET)

    resolved = profile_change_resolve(
        user=shop.editor, tenant=shop.tenant, change=change, action="send"
    )
    queued = (resolved.state, resolved.force)
    change = send(change)

    assert queued == ("queued", True)
    assert change.state == "done"
    assert requests(sandbox, SUBPROFILE_GET) == gets
    with shop.linked.client() as client:
        fields = client.get_subprofile(target.copernica_id)["fields"]
    assert (fields["status"], fields["product"]) == ("shipped", "Helm")
    # The mirror shows what Copernica now holds: their other value, and ours.
    target.refresh_from_db()
    assert (target.fields["status"], target.fields["product"]) == ("shipped", "Helm")


def test_discard_cancels_the_change_and_keeps_copernicas_values(shop: Shop, sandbox) -> None:
    profile = shop.profile(0)
    change = edit_profile(shop, profile, city="Ede")
    with shop.linked.client() as client:
        client.update_profile(profile.copernica_id, {"city": "Theirs"})
    send(change)
    puts = requests(sandbox, PROFILE_PUT)

    profile_change_resolve(user=shop.editor, tenant=shop.tenant, change=change, action="discard")
    change.refresh_from_db()
    again = send_outcome(change)

    assert change.state == again.state == "cancelled"
    assert change.error_message.startswith("Discarded by")
    assert requests(sandbox, PROFILE_PUT) == puts
    with shop.linked.client() as client:
        assert client.get_profile(profile.copernica_id)["fields"]["city"] == "Theirs"


def test_a_later_change_of_the_same_profile_waits_behind_a_conflict(shop: Shop, sandbox) -> None:
    profile = shop.profile(0)
    sub = RemoteSubprofile.objects.filter(
        collection=shop.collection, profile_copernica_id=profile.copernica_id
    ).first()
    assert sub is not None
    first = edit_profile(shop, profile, city="Ede")
    with shop.linked.client() as client:
        client.update_profile(profile.copernica_id, {"city": "Theirs"})
    assert send(first).state == "conflict"
    later = subprofile_change_submit(
        user=shop.editor, tenant=shop.tenant, kind="update", subprofile=sub, fields={"status": "x"}
    )
    ProfileChange.objects.filter(pk=later.pk).update(
        created_at=later.created_at - timedelta(hours=1)
    )

    waiting = send_outcome(later)
    relayed = profile_changes_relay()
    updated_while_waiting = sandbox.stats()["subprofiles_updated"]
    profile_change_resolve(user=shop.editor, tenant=shop.tenant, change=first, action="discard")

    assert waiting.state == "queued"
    assert relayed == 0  # neither the conflict nor what waits behind it is re-sent
    assert updated_while_waiting == 0
    assert send(later).state == "done"
    assert sandbox.stats()["subprofiles_updated"] == 1


def test_the_same_modified_is_no_conflict_even_within_the_second(shop: Shop, sandbox) -> None:
    profile = shop.profile(0)
    assert profile.modified is not None
    # Copernica's modified has whole seconds; a base later within that second is the same one.
    change = profile_change_submit(
        user=shop.editor,
        tenant=shop.tenant,
        kind="update",
        profile=profile,
        fields={"city": "Ede"},
        base_modified=profile.modified + timedelta(microseconds=999_999),
    )
    assert send(change).state == "done"


def test_our_own_earlier_writes_are_no_conflict(shop: Shop, sandbox) -> None:
    profile = shop.profile(0)
    # Two saves from the same page: the second was made knowing of the first.
    first = edit_profile(shop, profile, city="Ede")
    second = edit_profile(shop, profile, firstname="Twice")
    assert [send(first).state, send(second).state] == ["done", "done"]
    # A page opened after they landed shows them: its version is past our own write.
    profile.refresh_from_db()
    third = edit_profile(shop, profile, city="Thrice")

    assert send(third).state == "done"
    assert sandbox.stats()["profiles_updated"] == 3


def test_another_users_write_after_the_page_was_opened_is_a_conflict(shop: Shop, sandbox) -> None:
    profile = shop.profile(0)
    colleague = make_member(role=Role.TENANT_ADMIN, tenant=shop.tenant)
    opened = profile_version(profile=profile)
    theirs = profile_change_submit(
        user=colleague,
        tenant=shop.tenant,
        kind="update",
        profile=profile,
        fields={"city": "Theirs"},
        base_modified=opened,
    )
    assert send(theirs).state == "done"
    mine = profile_change_submit(
        user=shop.editor,
        tenant=shop.tenant,
        kind="update",
        profile=profile,
        fields={"city": "Mine"},
        base_modified=opened,
    )
    assert send(mine).state == "conflict"


def test_a_retry_after_a_lost_answer_does_not_conflict_with_itself(shop: Shop, sandbox) -> None:
    target = shop.subprofile(0)
    sandbox.fault(path="/v4/subprofile/", method="PUT", drop="after", count=1)
    change = edit_subprofile(shop, target, status="shipped")

    first_state = send(change).state
    ProfileChange.objects.filter(pk=change.pk).update(next_attempt_at=None)
    change = send(change)

    assert first_state == "queued"
    assert (change.state, change.attempts) == ("done", 2)
    assert sandbox.stats()["subprofiles_updated"] == 1


def test_an_update_of_a_profile_removed_at_copernica_fails(shop: Shop, sandbox) -> None:
    profile = shop.profile(0)
    change = edit_profile(shop, profile, city="Ede")
    with shop.linked.client() as client:
        client.delete_profile(profile.copernica_id)
    change = send(change)
    assert (change.state, change.error_message) == (
        "failed",
        "This profile was removed at Copernica.",
    )
    assert requests(sandbox, PROFILE_PUT) == 0


def test_only_an_editor_decides_and_only_about_a_conflict(shop: Shop, sandbox) -> None:
    profile = shop.profile(0)
    change = edit_profile(shop, profile, city="Ede")
    viewer = make_member(role=Role.TENANT_VIEWER, tenant=shop.tenant)

    with pytest.raises(InvalidInputError, match="no longer waiting"):
        profile_change_resolve(user=shop.editor, tenant=shop.tenant, change=change, action="send")
    with shop.linked.client() as client:
        client.update_profile(profile.copernica_id, {"city": "Theirs"})
    send(change)
    with pytest.raises(PermissionDenied):
        profile_change_resolve(user=viewer, tenant=shop.tenant, change=change, action="send")
    with pytest.raises(InvalidInputError, match="Unknown decision"):
        profile_change_resolve(user=shop.editor, tenant=shop.tenant, change=change, action="x")
    change.refresh_from_db()

    assert (change.state, change.force) == ("conflict", False)
