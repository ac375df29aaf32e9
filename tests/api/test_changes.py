"""Profile and subprofile changes through the API, against the sandbox over HTTP: queued by the
same services as the editor, idempotent with an ``Idempotency-Key`` (case 53), refused as the
pages refuse them."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection, connections
from django.db.models.signals import post_save

from accounts.models import Tenant
from linker.linking.client import link_mark_needs_reconnect
from linker.linking.links import link_disconnect
from linker.models import ApiIdempotentRequest, Link, ProfileChange
from tests.api.conftest import Api, make_key, problem
from tests.conftest import World
from tests.linked_accounts import Linked
from tests.profiles.conftest import Shop, requests, send, synced_shop

pytestmark = pytest.mark.django_db(transaction=True)

PROFILE_CREATE = "POST /v4/database/{id}/profiles"


def _queued(shop: Shop) -> list[ProfileChange]:
    return list(ProfileChange.objects.filter(link=shop.linked.link).order_by("id"))


def _send_all(shop: Shop) -> list[str]:
    """Run the outbox on every queued change, as the writes worker would."""
    return [send(change).state for change in _queued(shop) if change.state == "queued"]


@pytest.fixture
def shop_api(linked: Callable[..., Linked], sandbox, world: World) -> tuple[Shop, Api]:  # type: ignore[no-untyped-def]
    shop = synced_shop(linked)
    Tenant.objects.filter(pk=shop.tenant.pk).update(agency=world.agency_a)
    shop.tenant.refresh_from_db()
    return shop, Api(make_key(agency=world.agency_a, user=world.agency_admin_a).secret)


def _path(shop: Shop, what: str = "profile-changes") -> str:
    return f"tenants/{shop.tenant.pk}/{what}"


def test_a_create_sent_twice_with_one_key_is_queued_and_made_once(
    shop_api: tuple[Shop, Api], sandbox
) -> None:  # type: ignore[no-untyped-def]
    """Case 53: the same create retried with the same Idempotency-Key: the first answer twice,
    one change, one profile made at Copernica (counted by the sandbox)."""
    shop, api = shop_api
    body = {"kind": "create", "fields": {"firstname": "Ada", "city": "Leiden"}}
    first = api.post(_path(shop), body, headers={"Idempotency-Key": "crm-order-4711"})
    again = api.post(_path(shop), body, headers={"Idempotency-Key": "crm-order-4711"})
    states = _send_all(shop)
    made = sandbox.stats()["profiles_created"]
    print(
        f"case 53: same Idempotency-Key twice: {len(_queued(shop))} change queued, "
        f"{made} profile made at Copernica"
    )
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first
    assert len(_queued(shop)) == 1
    assert states == ["done"]
    assert made == 1
    assert requests(sandbox, PROFILE_CREATE) == 1
    assert api.get(f"tenants/{shop.tenant.pk}/changes/{first.json()['id']}").json()["state"] == (
        "done"
    )


def test_without_a_key_a_retry_queues_a_second_change(shop_api: tuple[Shop, Api]) -> None:
    shop, api = shop_api
    profile = shop.profile(0)
    body = {"kind": "update", "profile": profile.copernica_id, "fields": {"city": "Delft"}}
    api.post(_path(shop), body)
    api.post(_path(shop), body)
    assert len(_queued(shop)) == 2


def test_one_key_for_another_request_is_refused_with_422(shop_api: tuple[Shop, Api]) -> None:
    shop, api = shop_api
    profile = shop.profile(0)
    body = {"kind": "update", "profile": profile.copernica_id, "fields": {"city": "Delft"}}
    first = api.post(_path(shop), body, headers={"Idempotency-Key": "k-1"})
    other = api.post(
        _path(shop),
        {**body, "fields": {"city": "Gouda"}},
        headers={"Idempotency-Key": "k-1"},
    )
    elsewhere = api.post(
        _path(shop, "subprofile-changes"),
        {"kind": "delete", "subprofile": shop.subprofile(0).copernica_id},
        headers={"Idempotency-Key": "k-1"},
    )
    assert first.status_code == 201
    assert (other.status_code, elsewhere.status_code) == (422, 422)
    assert problem(other)["type"] == "/api/v1/problems/idempotency-key-reused"
    assert [c.fields for c in _queued(shop)] == [{"city": "Delft"}]


def test_a_refused_change_stores_no_answer_and_queues_nothing(shop_api: tuple[Shop, Api]) -> None:
    shop, api = shop_api
    profile = shop.profile(0)
    bad = {"kind": "update", "profile": profile.copernica_id, "fields": {"shoesize": "42"}}
    first = api.post(_path(shop), bad, headers={"Idempotency-Key": "k-2"})
    again = api.post(_path(shop), bad, headers={"Idempotency-Key": "k-2"})
    body = problem(first)
    assert (first.status_code, again.status_code) == (400, 400)
    assert body["type"] == "/api/v1/problems/invalid-input"
    assert "shoesize" in body["errors"]
    assert not _queued(shop)
    assert not ApiIdempotentRequest.objects.exists()


def test_concurrent_requests_with_one_key_queue_one_change(
    shop_api: tuple[Shop, Api], sandbox
) -> None:  # type: ignore[no-untyped-def]
    """Case 53 under a race: the second request starts while the first has not committed; it
    waits, undoes its own work and answers with the first answer."""
    shop, api = shop_api
    profile = shop.profile(0)
    body = {"kind": "update", "profile": profile.copernica_id, "fields": {"city": "Zwolle"}}
    first_parked, release_first = threading.Event(), threading.Event()
    answers: dict[str, Any] = {}

    def park_first(sender: Any, instance: Any, created: bool, **kwargs: Any) -> None:
        # The first request has stored its change and answer but not committed them.
        if threading.current_thread().name == "first":
            first_parked.set()
            release_first.wait(timeout=30)

    def call(name: str) -> None:
        try:
            answers[name] = Api(api.secret).post(
                _path(shop), body, headers={"Idempotency-Key": "race-1"}
            )
        finally:
            connections.close_all()

    post_save.connect(park_first, sender=ApiIdempotentRequest, dispatch_uid="test-park")
    try:
        first = threading.Thread(target=call, args=("first",), name="first")
        second = threading.Thread(target=call, args=("second",), name="second")
        first.start()
        assert first_parked.wait(timeout=30)
        second.start()
        # The second request is inside its transaction, waiting for the first's locks.
        deadline = time.monotonic() + 30
        while not _backends_waiting_for_a_lock() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert _backends_waiting_for_a_lock()
        release_first.set()
        first.join(timeout=30)
        second.join(timeout=30)
    finally:
        release_first.set()
        post_save.disconnect(dispatch_uid="test-park", sender=ApiIdempotentRequest)

    one, two = answers["first"], answers["second"]
    print(f"case 53 (race): {len(_queued(shop))} change for two concurrent requests")
    assert (one.status_code, two.status_code) == (201, 201)
    assert one.json() == two.json()
    assert two["Idempotent-Replayed"] == "true"
    assert len(_queued(shop)) == 1
    assert _send_all(shop) == ["done"]
    assert sandbox.stats()["profiles_updated"] == 1


def _backends_waiting_for_a_lock() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return bool(cursor.fetchone()[0])


def test_a_disconnected_mirror_takes_no_change(shop_api: tuple[Shop, Api], world: World) -> None:
    shop, api = shop_api
    link_disconnect(link=Link.objects.get(pk=shop.linked.link.pk), user=world.agency_admin_a)
    profile = shop.profile(0)
    link = api.get(f"tenants/{shop.tenant.pk}/link").json()
    refused = api.post(
        _path(shop), {"kind": "update", "profile": profile.copernica_id, "fields": {"city": "X"}}
    )
    assert link["read_only"] is True
    assert refused.status_code == 400
    assert "disconnected" in problem(refused)["detail"]
    assert not _queued(shop)
    # The mirror is still there to read.
    assert api.get(f"tenants/{shop.tenant.pk}/profiles/{profile.copernica_id}").status_code == 200


def test_a_change_waits_while_the_link_needs_reconnecting(shop_api: tuple[Shop, Api]) -> None:
    shop, api = shop_api
    assert link_mark_needs_reconnect(
        link=Link.objects.get(pk=shop.linked.link.pk), reason="Token rejected."
    )
    answer = api.post(
        _path(shop),
        {"kind": "update", "profile": shop.profile(0).copernica_id, "fields": {"city": "Ede"}},
    )
    assert answer.status_code == 201
    assert answer.json()["state"] == "waiting"


def test_subprofile_changes_reach_copernica(shop_api: tuple[Shop, Api], sandbox) -> None:  # type: ignore[no-untyped-def]
    shop, api = shop_api
    profile, target = shop.profile(0), shop.subprofile(0)
    made = api.post(
        _path(shop, "subprofile-changes"),
        {
            "kind": "create",
            "collection": shop.collection.copernica_id,
            "profile": profile.copernica_id,
            "fields": {"product": "Tandem", "quantity": 2},
        },
    )
    changed = api.post(
        _path(shop, "subprofile-changes"),
        {"kind": "update", "subprofile": target.copernica_id, "fields": {"status": "shipped"}},
    )
    assert (made.status_code, changed.status_code) == (201, 201)
    assert made.json()["target"] == "subprofile"
    assert _send_all(shop) == ["done", "done"]
    stats = sandbox.stats()
    assert (stats["subprofiles_created"], stats["subprofiles_updated"]) == (1, 1)
    listed = api.get(f"tenants/{shop.tenant.pk}/changes", state="done").json()["results"]
    assert {c["id"] for c in listed} == {made.json()["id"], changed.json()["id"]}
