"""What the sandbox delivers for (sub)profile changes made over REST and through the control
API: the documented variables, signed so that the verifier accepts them, to the webhooks the
change fires (trigger, callers, database and collection limits), never blocking the answer.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx

from api_client import CopernicaClient
from api_client.sandbox.control import SandboxAccount, SandboxControl
from tests.api_client.webhook_receiver import (  # noqa: F401 - fixtures
    Receiver,
    api_client_fixture,
    receiver_fixture,
    sandbox_verifier,
    verify,
)

Clients = Callable[[SandboxAccount], CopernicaClient]

PROFILE_KEYS = {
    "action",
    "type",
    "id",
    "profile",
    "database",
    "timestamp",
    "time",
    "created",
    "modified",
    "parameters",
    "fields",
    "interests",
}
PROFILE_DELETE_KEYS = {"action", "type", "id", "profile", "database", "timestamp", "time", "fields"}
SUBPROFILE_KEYS = PROFILE_KEYS - {"interests"} | {"subprofile", "collection"}
SUBPROFILE_DELETE_KEYS = PROFILE_DELETE_KEYS | {"subprofile", "collection"}


def register_each_trigger(
    client: CopernicaClient, receiver: Receiver, callers: list[str] | None = None
) -> None:
    """One webhook per (sub)profile trigger, each calling ``{receiver}/{trigger}``."""
    for trigger in ("create", "update", "delete"):
        client.webhook_create(f"{receiver.url}/{trigger}", trigger, callers=callers)


def assert_idle_and_nothing_more(sandbox: SandboxControl, receiver: Receiver) -> None:
    assert sandbox.wait_webhooks(10)
    assert receiver.pending() == []


def test_rest_profile_create_update_delete_deliver_the_documented_variables_signed(
    sandbox: SandboxControl, api_client: Clients, receiver: Receiver
) -> None:
    account = sandbox.create_account("Acme", 3)
    client = api_client(account)
    register_each_trigger(client, receiver)
    verifier = sandbox_verifier(sandbox)
    db = account.database_id

    profile = client.create_profile(db, {"email": "ada@example.com", "city": "Ede"}, ["sports"])
    call = receiver.next()
    stored = client.get_profile(profile)
    assert call.target == "/create"
    assert call.headers["content-type"] == "application/x-www-form-urlencoded"
    assert call.headers["x-copernica-id"] == f"account_{account.account_id}"
    form = call.form
    assert set(form) == PROFILE_KEYS
    assert (form["action"], form["type"], form["id"], form["profile"]) == (
        "create",
        "create",
        profile,
        profile,
    )
    assert form["database"] == db
    assert form["fields"] == stored["fields"]
    assert form["interests"] == ["sports"] == stored["interests"]
    assert form["created"] == form["modified"] == stored["created"] == stored["modified"]
    assert form["parameters"] == {"email": "ada@example.com", "city": "Ede"}
    assert abs(int(form["time"]) - time.time()) < 60
    verify(verifier, call, account)

    client.update_profile(profile, {"city": "Delft"})
    call = receiver.next()
    form = call.form
    assert call.target == "/update"
    assert set(form) == PROFILE_KEYS
    assert form["action"] == "update"
    assert form["fields"]["city"] == "Delft"
    assert form["parameters"] == {"city": "Delft"}
    assert form["modified"] == client.get_profile(profile)["modified"]
    verify(verifier, call, account)

    client.delete_profile(profile)
    call = receiver.next()
    form = call.form
    assert call.target == "/delete"
    assert set(form) == PROFILE_DELETE_KEYS
    assert form["action"] == "delete"
    assert form["fields"]["city"] == "Delft"  # the values it had, not the emptied ones
    assert form["timestamp"] == client.get_profile(profile)["removed"]
    verify(verifier, call, account)
    assert_idle_and_nothing_more(sandbox, receiver)


def test_rest_subprofile_create_update_delete_deliver_the_documented_variables_signed(
    sandbox: SandboxControl, api_client: Clients, receiver: Receiver
) -> None:
    account = sandbox.create_account("Acme", 3, collections=1, subprofiles=3)
    client = api_client(account)
    register_each_trigger(client, receiver)
    verifier = sandbox_verifier(sandbox)
    collection = account.collection_ids[account.database_id][0]
    profile = client.profile_ids(account.database_id)[1]

    subprofile = client.create_subprofile(profile, collection, {"product": "Zadel", "quantity": 2})
    call = receiver.next()
    form = call.form
    assert call.target == "/create"
    assert set(form) == SUBPROFILE_KEYS
    assert (form["id"], form["subprofile"], form["profile"]) == (subprofile, subprofile, profile)
    assert (form["database"], form["collection"]) == (account.database_id, collection)
    assert form["fields"] == client.get_subprofile(subprofile)["fields"]
    assert form["parameters"] == {"product": "Zadel", "quantity": "2"}
    verify(verifier, call, account)

    client.update_subprofile(subprofile, {"status": "paid"})
    call = receiver.next()
    assert call.target == "/update"
    assert call.form["fields"]["status"] == "paid"
    assert call.form["modified"] == client.get_subprofile(subprofile)["modified"]
    verify(verifier, call, account)

    client.delete_subprofile(subprofile)
    call = receiver.next()
    assert call.target == "/delete"
    assert set(call.form) == SUBPROFILE_DELETE_KEYS
    assert call.form["fields"]["status"] == "paid"
    verify(verifier, call, account)
    assert_idle_and_nothing_more(sandbox, receiver)


def test_control_api_edits_deliver_as_the_publisher_caller(
    sandbox: SandboxControl, api_client: Clients, receiver: Receiver
) -> None:
    account = sandbox.create_account("Acme", 3, collections=1, subprofiles=3)
    client = api_client(account)
    register_each_trigger(client, receiver, callers=["publisher"])
    verifier = sandbox_verifier(sandbox)
    collection = account.collection_ids[account.database_id][0]

    profile = sandbox.create_profile(account.database_id, {"city": "Ede"}, ["newsletter"])
    sandbox.update_profile(profile, {"city": "Zwolle"})
    subprofile = sandbox.create_subprofile(profile, collection, {"product": "Helm"})
    sandbox.update_subprofile(subprofile, {"status": "shipped"})
    sandbox.delete_subprofile(subprofile)
    sandbox.delete_profile(profile)
    calls = receiver.take(6)
    assert [(call.target, call.form.get("subprofile") is None) for call in calls] == [
        ("/create", True),
        ("/update", True),
        ("/create", False),
        ("/update", False),
        ("/delete", False),
        ("/delete", True),
    ]
    assert calls[0].form["interests"] == ["newsletter"]
    assert calls[1].form["fields"]["city"] == "Zwolle"
    assert calls[3].form["fields"]["status"] == "shipped"
    for call in calls:
        verify(verifier, call, account)
    # The REST API's own change is the caller "rest": these webhooks leave it out.
    client.update_profile(client.profile_ids(account.database_id)[0], {"city": "Laren"})
    assert_idle_and_nothing_more(sandbox, receiver)


def test_a_webhook_for_rest_callers_leaves_out_publisher_edits(
    sandbox: SandboxControl, api_client: Clients, receiver: Receiver
) -> None:
    account = sandbox.create_account("Acme", 3)
    client = api_client(account)
    client.webhook_create(f"{receiver.url}/rest", "update", callers=["rest"])
    client.webhook_create(f"{receiver.url}/all", "update")
    first, second = client.profile_ids(account.database_id)[:2]
    sandbox.update_profile(first, {"city": "Putten"})
    assert receiver.next().target == "/all"
    assert_idle_and_nothing_more(sandbox, receiver)
    client.update_profile(second, {"city": "Ermelo"})
    assert sorted(call.target for call in receiver.take(2)) == ["/all", "/rest"]


def test_database_and_collection_limits_choose_the_webhooks_a_change_fires(
    sandbox: SandboxControl, api_client: Clients, receiver: Receiver
) -> None:
    account = sandbox.create_account("Acme", 3, databases=2, collections=1, subprofiles=3)
    client = api_client(account)
    first, other = account.database_ids
    collection = account.collection_ids[first][0]
    client.webhook_create(f"{receiver.url}/database", "update", database_id=first)
    client.webhook_create(f"{receiver.url}/collection", "update", collection_id=collection)

    client.update_profile(client.profile_ids(other)[0], {"city": "Urk"})
    other_collection = account.collection_ids[other][0]
    client.update_subprofile(client.subprofile_ids(other_collection)[0], {"status": "new"})
    assert_idle_and_nothing_more(sandbox, receiver)

    client.update_profile(client.profile_ids(first)[0], {"city": "Urk"})
    assert receiver.next().target == "/database"
    assert_idle_and_nothing_more(sandbox, receiver)

    client.update_subprofile(client.subprofile_ids(collection)[0], {"status": "returned"})
    assert sorted(call.target for call in receiver.take(2)) == ["/collection", "/database"]
    assert_idle_and_nothing_more(sandbox, receiver)


def test_a_change_that_changes_nothing_and_other_triggers_deliver_nothing(
    sandbox: SandboxControl, api_client: Clients, receiver: Receiver
) -> None:
    account = sandbox.create_account("Acme", 3)
    client = api_client(account)
    update = client.webhook_create(receiver.url, "update")
    click = client.webhook_create(receiver.url, "click")
    profile = client.profile_ids(account.database_id)[0]
    city = client.get_profile(profile)["fields"]["city"]
    client.update_profile(profile, {"city": city})
    client.update_profile(profile, {"city": f"{city}!"})
    assert receiver.next().form["fields"]["city"] == f"{city}!"
    assert_idle_and_nothing_more(sandbox, receiver)
    assert sandbox.webhook_stats(update)["queued"] == 1
    assert sandbox.webhook_stats(click)["queued"] == 0


def test_a_slow_handler_never_holds_up_the_rest_answer(
    sandbox: SandboxControl, api_client: Clients, receiver: Receiver
) -> None:
    account = sandbox.create_account("Acme", 3)
    client = api_client(account)
    hook = client.webhook_create(receiver.url, "update")
    profile = client.profile_ids(account.database_id)[0]
    receiver.release.clear()  # the handler takes its time answering
    started = time.perf_counter()
    client.update_profile(profile, {"city": "Lelystad"})
    client.update_profile(profile, {"city": "Almere"})
    answered = time.perf_counter() - started
    first = receiver.next()  # in flight, still unanswered
    assert first.form["fields"]["city"] == "Lelystad"
    assert sandbox.webhook_stats(hook)["succeeded"] == 0
    receiver.release.set()
    assert receiver.next().form["fields"]["city"] == "Almere"
    assert sandbox.wait_webhooks(10)
    assert sandbox.webhook_stats(hook) == {
        "queued": 2,
        "attempted": 2,
        "succeeded": 2,
        "failed": 0,
        "dropped": 0,
    }
    print(f"two REST updates answered in {answered * 1000:.1f} ms while the handler was held")


def test_timestamp_and_time_follow_the_sandbox_clock_in_amsterdam_wall_time(
    sandbox: SandboxControl, api_client: Clients, receiver: Receiver
) -> None:
    account = sandbox.create_account("Acme", 3)
    client = api_client(account)
    client.webhook_create(receiver.url, "update")
    # 00:30 UTC on the autumn's change day: 02:30 in Amsterdam, the first time round.
    sandbox.set_options(clock=1_729_989_000)
    client.update_profile(client.profile_ids(account.database_id)[0], {"city": "Hoorn"})
    form = receiver.next().form
    assert (form["timestamp"], form["time"]) == ("2024-10-27 02:30:00", "1729989000")
    assert form["modified"] == "2024-10-27 02:30:00"


def test_the_console_shows_webhooks_and_deliveries_escaped_and_its_edits_deliver(
    sandbox: SandboxControl, api_client: Clients, receiver: Receiver
) -> None:
    account = sandbox.create_account("Acme", 3)
    client = api_client(account)
    client.webhook_create(f"{receiver.url}/<b>x</b>", "update", callers=["publisher"])
    profile = client.profile_ids(account.database_id)[0]
    answer = httpx.post(
        f"{sandbox.base_url}/__sandbox__/console/edit/profile/update",
        data={"profile_id": profile, "fields": "city=<i>Zwolle</i>\n"},
        timeout=10,
    )
    assert answer.status_code == 303
    call = receiver.next()
    assert call.target == "/%3Cb%3Ex%3C/b%3E"
    assert call.form["fields"]["city"] == "<i>Zwolle</i>"
    verify(sandbox_verifier(sandbox), call, account)
    assert sandbox.wait_webhooks(10)

    page = httpx.get(f"{sandbox.base_url}/", timeout=10).text
    assert "<h2>Webhooks</h2>" in page
    assert "/&lt;b&gt;x&lt;/b&gt;" in page
    assert "<b>x</b>" not in page
    assert f"profile update {profile}" in page
    assert sandbox.webhook_keys()[-1]["key_id"] in page

    refused = httpx.post(
        f"{sandbox.base_url}/__sandbox__/console/edit/profile/update",
        data={"profile_id": profile, "fields": "no equals sign"},
        timeout=10,
    )
    assert refused.status_code == 303
    assert "error=" in refused.headers["location"]


def test_delivery_lag_from_the_rest_answer_to_the_receiver(
    sandbox: SandboxControl, api_client: Clients, receiver: Receiver
) -> None:
    """The figure behind issue 17's lag goal: the sandbox's part of it, change to receiver."""
    account = sandbox.create_account("Acme", 50)
    client = api_client(account)
    client.webhook_create(receiver.url, "update")
    lags = []
    for number, profile in enumerate(client.profile_ids(account.database_id)):
        client.update_profile(profile, {"city": f"Stad {number}"})
        answered = time.monotonic()
        call = receiver.next()
        assert call.form["fields"]["city"] == f"Stad {number}"
        lags.append(call.at - answered)
    lags.sort()
    p50, p95 = lags[len(lags) // 2], lags[int(len(lags) * 0.95)]
    print(f"webhook lag after the REST answer: p50 {p50 * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms")
    assert len(lags) == 50
