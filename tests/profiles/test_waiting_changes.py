"""Changes wait while the link needs reconnecting, and go out in order after the reconnect
(issue 12, problem 2); *Retry* and *Cancel* on the change list."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied
from django.test import Client
from django.urls import reverse

from accounts.models import Role
from linker.linking.client import link_mark_needs_reconnect
from linker.linking.identity import Endpoints, Identity
from linker.linking.links import link_disconnect, link_store_token
from linker.models import Link, LinkState, ProfileChange
from linker.platform.errors import InvalidInputError
from linker.profiles.changes import profile_change_submit
from linker.profiles.interventions import profile_change_cancel, profile_change_retry
from linker.profiles.relay import profile_changes_relay, profile_changes_release
from tests.factories import make_member
from tests.profiles.conftest import Shop, send

pytestmark = pytest.mark.django_db(transaction=True)

State = ProfileChange.State


def break_link(shop: Shop) -> None:
    link = Link.objects.get(pk=shop.linked.link.pk)
    assert link_mark_needs_reconnect(link=link, reason="Copernica rejected the stored token.")


def reconnect(shop: Shop, *, account=None) -> Link:  # type: ignore[no-untyped-def]
    """What the OAuth callback does after a successful consent."""
    account = account or shop.linked.account
    sandbox = shop.linked.sandbox
    return link_store_token(
        tenant=shop.tenant,
        api_token=account.api_token,
        identity=Identity(account_id=account.account_id, name="Shop", company=""),
        endpoints=Endpoints(
            auth_url=sandbox.auth_url, api_url=sandbox.api_url, rest_url=sandbox.rest_url
        ),
        application=None,
        user=shop.editor,
        how="through Copernica's consent page",
    )


def update(shop: Shop, city: str, n: int = 0) -> ProfileChange:
    return profile_change_submit(
        user=shop.editor,
        tenant=shop.tenant,
        kind="update",
        profile=shop.profile(n),
        fields={"city": city},
    )


def remote_city(shop: Shop, n: int = 0) -> str:
    fields, _interests, _modified = shop.linked.remote()[shop.profile(n).copernica_id]
    return fields["city"]


def test_a_change_saved_while_the_link_needs_reconnecting_waits(shop: Shop) -> None:
    break_link(shop)

    change = send(update(shop, "Waitville"))

    assert change.state == State.WAITING
    assert "sent once someone reconnects" in change.error_message
    assert change.attempts == 0


def test_a_queued_change_waits_instead_of_being_cancelled_when_the_link_broke(
    shop: Shop,
) -> None:
    change = update(shop, "Queuedville")
    break_link(shop)

    change = send(change)

    assert change.state == State.WAITING
    assert change.finished_at is None


def test_after_reconnect_waiting_changes_reach_copernica_once_in_order(shop: Shop) -> None:
    break_link(shop)
    first, second = update(shop, "First"), update(shop, "Second")

    reconnect(shop)
    released = profile_changes_release(link_id=shop.linked.link.pk)  # the task after the commit

    assert released == [first.pk, second.pk]
    assert send(second).state == State.QUEUED  # behind the first: it waits its turn
    assert send(first).state == State.DONE
    assert send(second).state == State.DONE
    assert send(first).state == State.DONE  # a duplicate delivery does nothing
    assert remote_city(shop) == "Second"


def test_the_relay_releases_waiting_changes_whose_release_message_was_lost(shop: Shop) -> None:
    break_link(shop)
    change = update(shop, "Relayed")
    # Reconnected while Redis was down: the link is usable, no release message arrived.
    Link.objects.filter(pk=shop.linked.link.pk).update(state=LinkState.ACTIVE)

    profile_changes_relay()

    change.refresh_from_db()
    assert change.state == State.QUEUED
    assert send(change).state == State.DONE
    assert remote_city(shop) == "Relayed"


def test_waiting_changes_are_cancelled_when_the_tenant_is_linked_to_another_account(
    shop: Shop,
) -> None:
    break_link(shop)
    change = update(shop, "Elsewhere")
    other = shop.linked.sandbox.create_account("Other shop", 3)

    reconnect(shop, account=other)
    profile_changes_release(link_id=shop.linked.link.pk)

    change.refresh_from_db()
    assert change.state == State.CANCELLED
    with pytest.raises(InvalidInputError, match="no longer in the linked"):
        profile_change_retry(user=shop.editor, tenant=shop.tenant, change=change)


def test_a_disconnected_link_refuses_new_changes_and_says_so(shop: Shop) -> None:
    link_disconnect(link=shop.linked.link, user=None)

    with pytest.raises(InvalidInputError, match="disconnected"):
        update(shop, "Nowhere")
    assert not ProfileChange.objects.exists()


def test_disconnecting_cancels_the_changes_that_waited_so_a_later_reconnect_sends_nothing(
    shop: Shop,
) -> None:
    break_link(shop)
    waiting = update(shop, "Never sent")
    assert waiting.state == ProfileChange.State.WAITING

    link_disconnect(link=shop.linked.link, user=None)
    reconnect(shop)
    profile_changes_relay()

    waiting.refresh_from_db()
    assert waiting.state == ProfileChange.State.CANCELLED
    assert "disconnected" in waiting.error_message
    assert remote_city(shop) != "Never sent"


def test_retry_sends_a_failed_change_again(shop: Shop) -> None:
    change = update(shop, "Again")
    ProfileChange.objects.filter(pk=change.pk).update(
        state=State.FAILED, attempts=8, error_message="Gave up after 8 attempts."
    )

    retried = profile_change_retry(user=shop.editor, tenant=shop.tenant, change=change)

    assert retried.state == State.QUEUED
    assert retried.attempts == 0
    assert send(retried).state == State.DONE
    assert remote_city(shop) == "Again"


def test_retry_while_the_link_needs_reconnecting_waits_for_it(shop: Shop) -> None:
    change = update(shop, "Later")
    ProfileChange.objects.filter(pk=change.pk).update(state=State.CANCELLED)
    break_link(shop)

    retried = profile_change_retry(user=shop.editor, tenant=shop.tenant, change=change)

    assert retried.state == State.WAITING


def test_a_cancelled_waiting_change_is_never_sent(shop: Shop) -> None:
    break_link(shop)
    change = update(shop, "Never")
    before = remote_city(shop)

    profile_change_cancel(user=shop.editor, tenant=shop.tenant, change=change)
    reconnect(shop)
    assert profile_changes_release(link_id=shop.linked.link.pk) == []

    change.refresh_from_db()
    assert change.state == State.CANCELLED
    assert send(change).state == State.CANCELLED
    assert remote_city(shop) == before


def test_only_failed_or_cancelled_changes_are_retried_and_only_unsent_ones_cancelled(
    shop: Shop,
) -> None:
    done = send(update(shop, "Done"))
    assert done.state == State.DONE

    with pytest.raises(InvalidInputError, match="only a failed or cancelled"):
        profile_change_retry(user=shop.editor, tenant=shop.tenant, change=done)
    with pytest.raises(InvalidInputError, match="only a waiting or queued"):
        profile_change_cancel(user=shop.editor, tenant=shop.tenant, change=done)


def test_a_viewer_may_neither_retry_nor_cancel(shop: Shop) -> None:
    viewer = make_member(role=Role.TENANT_VIEWER, tenant=shop.tenant)
    change = update(shop, "Viewer")

    with pytest.raises(PermissionDenied):
        profile_change_cancel(user=viewer, tenant=shop.tenant, change=change)
    client = Client()
    client.force_login(viewer)
    url = reverse("profile_change_cancel", args=[shop.tenant.pk, change.pk])
    assert client.post(url).status_code == 403
    change.refresh_from_db()
    assert change.state == State.QUEUED


def test_the_editor_says_the_change_is_sent_after_reconnecting(shop: Shop) -> None:
    break_link(shop)
    client = Client()
    client.force_login(shop.editor)
    url = reverse("profile_detail", args=[shop.tenant.pk, shop.profile().copernica_id])

    page = client.get(url).content.decode()
    assert "sent to Copernica after someone reconnects" in page
    profile = shop.profile()
    shown = {f"f_{k}": v for k, v in profile.fields.items()}
    data: dict[str, object] = {**shown, **{f"initial-{k}": v for k, v in shown.items()}}
    data["interests"] = data["initial-interests"] = list(profile.interests)
    response = client.post(url, {**data, "f_city": "Pagetown"}, follow=True)

    page = response.content.decode()
    assert "will be sent after someone reconnects the link" in page
    assert "Waiting for reconnect" in page
    assert ProfileChange.objects.get().state == State.WAITING


def test_the_change_list_offers_cancel_and_retry_to_editors(shop: Shop) -> None:
    break_link(shop)
    waiting = update(shop, "Listed")
    failed = update(shop, "Failed", n=1)
    ProfileChange.objects.filter(pk=failed.pk).update(state=State.FAILED)
    client = Client()
    client.force_login(shop.editor)

    page = client.get(reverse("profile_list", args=[shop.tenant.pk])).content.decode()
    assert reverse("profile_change_cancel", args=[shop.tenant.pk, waiting.pk]) in page
    assert reverse("profile_change_retry", args=[shop.tenant.pk, failed.pk]) in page

    response = client.post(reverse("profile_change_cancel", args=[shop.tenant.pk, waiting.pk]))
    assert response.status_code == 303
    waiting.refresh_from_db()
    assert waiting.state == State.CANCELLED
