"""The sandbox's webhook REST routes, the client's webhook methods, and the signing keys."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from api_client import CopernicaClient, NotFoundError
from api_client.errors import BadRequestError
from api_client.sandbox.control import SandboxAccount, SandboxControl
from api_client.webhooks import dkim_public_key
from tests.api_client.test_sandbox_persistence import sandbox_process
from tests.api_client.webhook_receiver import (  # noqa: F401 - fixtures
    Receiver,
    api_client_fixture,
    raw_jwt_client,
    receiver_fixture,
    sandbox_verifier,
    verify,
)

Clients = Callable[[SandboxAccount], CopernicaClient]


def test_client_registers_reads_lists_updates_and_deletes_a_webhook(
    sandbox: SandboxControl, api_client: Clients
) -> None:
    account = sandbox.create_account("Acme", 5, collections=1, subprofiles=5)
    client = api_client(account)
    collection = account.collection_ids[account.database_id][0]
    first = client.webhook_create("https://hooks.example.com/a", "create", callers=["publisher"])
    second = client.webhook_create(
        "https://hooks.example.com/b",
        "update",
        database_id=account.database_id,
        collection_id=collection,
    )
    assert client.webhook_get(first) == {
        "ID": first,
        "handler": "https://hooks.example.com/a",
        "trigger": "create",
        "callers": ["publisher"],
    }
    assert client.webhook_get(second)["database"] == account.database_id
    assert client.webhook_get(second)["collection"] == collection
    assert [item["ID"] for item in client.webhook_list()] == [first, second]

    client.webhook_update(first, trigger="delete", callers=["rest", "publisher"])
    changed = client.webhook_get(first)
    assert (changed["trigger"], changed["callers"]) == ("delete", ["rest", "publisher"])
    assert changed["handler"] == "https://hooks.example.com/a"

    client.webhook_delete(first)
    assert [item["ID"] for item in client.webhook_list()] == [second]
    with pytest.raises(NotFoundError):
        client.webhook_get(first)
    with pytest.raises(NotFoundError):
        client.webhook_delete(first)


def test_post_webhooks_answers_201_with_the_new_id_in_headers_and_body(
    sandbox: SandboxControl,
) -> None:
    account = sandbox.create_account("Acme", 1)
    with raw_jwt_client(sandbox, account) as http:
        # A form body works as well as JSON, as for the other writes.
        response = http.post(
            "/v4/webhooks",
            data={"handler": "http://127.0.0.1:9/h", "trigger": "update", "callers[]": "rest"},
        )
        assert response.status_code == 201
        assert response.json() == {"ID": response.headers["X-Created"]}
        location = response.headers["X-location"]
        assert location.endswith(f"/v4/webhook/{response.headers['X-Created']}")
        assert http.get(location).json()["callers"] == ["rest"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"trigger": "create"}, "Invalid handler"),
        ({"handler": "ftp://example.com/x", "trigger": "create"}, "Invalid handler"),
        ({"handler": "https:///nohost", "trigger": "create"}, "Invalid handler"),
        ({"handler": "https://example.com:99999/", "trigger": "create"}, "Invalid handler"),
        ({"handler": "https://ex\u00e4mple.com/", "trigger": "create"}, "Invalid handler"),
        ({"handler": "https://example.com/", "trigger": "everything"}, "Invalid trigger"),
        ({"handler": "https://example.com/"}, "Invalid trigger"),
        (
            {"handler": "https://x.nl/", "trigger": "create", "callers": ["anyone"]},
            "Invalid caller",
        ),
        ({"handler": "https://x.nl/", "trigger": "create", "callers": 7}, "Invalid caller"),
        ({"handler": "https://x.nl/", "trigger": "create", "database": 1}, "No database"),
        ({"handler": "https://x.nl/", "trigger": "create", "collection": "x"}, "No collection"),
    ],
)
def test_webhook_registration_refuses_bad_input_with_a_400(
    sandbox: SandboxControl, body: dict[str, object], message: str
) -> None:
    account = sandbox.create_account("Acme", 1)
    with raw_jwt_client(sandbox, account) as http:
        response = http.post("/v4/webhooks", json=body)
        assert response.status_code == 400
        assert response.json()["error"]["message"].startswith(message)
        assert http.get("/v4/webhooks").json()["data"] == []


def test_a_collection_limit_must_lie_in_the_database_limit(
    sandbox: SandboxControl, api_client: Clients
) -> None:
    account = sandbox.create_account("Acme", 2, databases=2, collections=1, subprofiles=2)
    first, other = account.database_ids
    client = api_client(account)
    with pytest.raises(BadRequestError, match="No collection with given ID"):
        client.webhook_create(
            "https://x.nl/",
            "update",
            database_id=first,
            collection_id=account.collection_ids[other][0],
        )


def test_another_accounts_webhook_answers_as_a_missing_one(
    sandbox: SandboxControl, api_client: Clients
) -> None:
    owner = sandbox.create_account("Owner", 1)
    stranger = sandbox.create_account("Stranger", 1)
    hook = api_client(owner).webhook_create("https://x.nl/", "create")
    client = api_client(stranger)
    for call in (
        lambda: client.webhook_get(hook),
        lambda: client.webhook_update(hook, trigger="update"),
        lambda: client.webhook_delete(hook),
    ):
        with pytest.raises(NotFoundError, match="No webhook with supplied ID"):
            call()
    assert client.webhook_list() == []
    assert api_client(owner).webhook_get(hook)["trigger"] == "create"


def test_put_refuses_a_bad_trigger_and_keeps_the_webhook(
    sandbox: SandboxControl, api_client: Clients
) -> None:
    client = api_client(sandbox.create_account("Acme", 1))
    hook = client.webhook_create("https://x.nl/", "create")
    with pytest.raises(BadRequestError, match="Invalid trigger"):
        client.webhook_update(hook, trigger="sometimes")
    assert client.webhook_get(hook)["trigger"] == "create"


def test_the_public_key_is_published_where_the_key_id_points(sandbox: SandboxControl) -> None:
    keys = sandbox.webhook_keys()
    assert [key["signing"] for key in keys][-1] is True
    key_id = keys[-1]["key_id"]
    assert key_id.startswith(f"{sandbox.base_url}/__keys__/")
    answer = httpx.get(key_id, timeout=10)
    assert answer.status_code == 200
    assert answer.text.startswith("v=DKIM1; k=rsa; p=")
    assert dkim_public_key(answer.text).key_size == 2048
    assert httpx.get(f"{sandbox.base_url}/__keys__/nope", timeout=10).status_code == 404
    # Key fetches are neither counted as API calls nor faulted.
    assert sandbox.stats()["requests"] == {}


def test_a_rotation_signs_with_the_new_key_and_keeps_the_old_one_published(
    sandbox: SandboxControl, api_client: Clients, receiver: Receiver
) -> None:
    old_key_id = sandbox.webhook_keys()[-1]["key_id"]
    account = sandbox.create_account("Acme", 3)
    client = api_client(account)
    client.webhook_create(receiver.url, "update")
    profile = client.profile_ids(account.database_id)[0]
    client.update_profile(profile, {"city": "Gouda"})
    before = receiver.next()

    new_key_id = sandbox.rotate_webhook_key(keep_old_seconds=3600)
    client.update_profile(profile, {"city": "Breda"})
    after = receiver.next()
    verifier = sandbox_verifier(sandbox)
    assert verify(verifier, before, account).key_id == old_key_id
    assert verify(verifier, after, account).key_id == new_key_id != old_key_id
    assert httpx.get(old_key_id, timeout=10).status_code == 200

    sandbox.rotate_webhook_key(keep_old_seconds=0)
    assert httpx.get(old_key_id, timeout=10).status_code == 404
    assert httpx.get(new_key_id, timeout=10).status_code == 404
    assert sandbox.webhook_keys()[-1]["published"] is True


def test_webhooks_and_the_signing_key_survive_a_restart(tmp_path: Path) -> None:
    state = tmp_path / "sandbox.json"
    receiver = Receiver()
    try:
        with sandbox_process(state) as control:
            account = control.create_account("Acme", 3)
            with raw_jwt_client(control, account) as http:
                body = {"handler": receiver.url, "trigger": "update"}
                hook = http.post("/v4/webhooks", json=body)
            key_id = control.webhook_keys()[-1]["key_id"]
        with sandbox_process(state) as control:
            with raw_jwt_client(control, account) as http:
                shown = http.get(f"/v4/webhook/{hook.headers['X-Created']}").json()
                assert shown["handler"] == receiver.url
                profile = http.get(f"/v4/database/{account.database_id}/profileids").json()[0]
                answer = http.put(f"/v4/profile/{profile}", json={"fields": {"city": "Ede"}})
                assert answer.status_code == 204
            call = receiver.next()
            # The restarted sandbox listens on another port: trust the one it has now.
            verified = verify(sandbox_verifier(control), call, account)
            assert verified.key_id.rsplit("/", 1)[1] == key_id.rsplit("/", 1)[1]
    finally:
        receiver.close()


def test_control_calls_refuse_bad_webhook_input(sandbox: SandboxControl) -> None:
    with pytest.raises(RuntimeError, match="Unknown delivery faults: explode"):
        sandbox.set_webhook_faults(explode=1)
    with pytest.raises(RuntimeError, match="drop must be at least 0"):
        sandbox.set_webhook_faults(drop=-1)
    with pytest.raises(RuntimeError, match="retry_delays_ms"):
        sandbox.set_webhook_options(retry_delays_ms="soon")
    with pytest.raises(RuntimeError, match="keep_old_seconds"):
        sandbox.rotate_webhook_key(keep_old_seconds=-5)
    with pytest.raises(RuntimeError, match="No profile 42"):
        sandbox.update_profile(42, {"city": "Ede"})
    account = sandbox.create_account("Acme", 1)
    answer = httpx.post(
        f"{sandbox.base_url}/__sandbox__/profiles",
        json={"database_id": account.database_id, "fields": ["city"]},
        timeout=10,
    )
    assert answer.status_code == 400
    assert answer.json()["error"]["message"].startswith("fields must be an object")
    assert sandbox.webhook_faults()["drop"] == 0
