"""The sandbox's delivery faults each do what they say; retries and counters add up.

These are the faults the linker's receiver must survive (reliability.md, cases 50 and 51):
here they are shown to reach the receiver as described, signed (or forged) as described.
"""

from __future__ import annotations

import email.utils
import socket
import time
from collections.abc import Callable

import pytest

from api_client import CopernicaClient, WebhookRefusal, WebhookVerificationError
from api_client.sandbox.control import SandboxAccount, SandboxControl
from tests.api_client.webhook_receiver import (  # noqa: F401 - fixtures
    Receiver,
    api_client_fixture,
    receiver_fixture,
    sandbox_verifier,
    verify,
)

Clients = Callable[[SandboxAccount], CopernicaClient]


class Scene:
    """An account with one ``update`` webhook on the receiver, and its profiles to change."""

    def __init__(self, sandbox: SandboxControl, clients: Clients, receiver: Receiver) -> None:
        self.sandbox = sandbox
        self.account = sandbox.create_account("Acme", 6)
        self.client = clients(self.account)
        self.hook = self.client.webhook_create(receiver.url, "update")
        self.profiles = self.client.profile_ids(self.account.database_id)

    def change(self, *cities: str) -> None:
        """Change profile n's city to ``cities[n]`` over REST, one update each."""
        for profile, city in zip(self.profiles, cities, strict=False):
            self.client.update_profile(profile, {"city": city})

    def stats(self) -> dict[str, int]:
        return self.sandbox.webhook_stats(self.hook)


@pytest.fixture
def scene(sandbox: SandboxControl, api_client: Clients, receiver: Receiver) -> Scene:
    return Scene(sandbox, api_client, receiver)


def cities(calls: list) -> list[str]:
    return [call.form["fields"]["city"] for call in calls]


def test_drop_never_sends_the_next_delivery(
    sandbox: SandboxControl, scene: Scene, receiver: Receiver
) -> None:
    sandbox.set_webhook_faults(drop=1)
    scene.change("Assen", "Borne")
    assert cities([receiver.next()]) == ["Borne"]
    assert sandbox.wait_webhooks(10)
    assert receiver.pending() == []
    assert scene.stats() == {
        "queued": 2,
        "attempted": 1,
        "succeeded": 1,
        "failed": 0,
        "dropped": 1,
    }
    assert sandbox.webhook_deliveries()[-1]["outcome"] == "dropped"


def test_duplicate_sends_the_same_signed_bytes_twice(
    sandbox: SandboxControl, scene: Scene, receiver: Receiver
) -> None:
    sandbox.set_webhook_faults(duplicate=1)
    scene.change("Assen", "Borne")
    first, second, third = receiver.take(3)
    assert (first.body, first.headers["signature"]) == (second.body, second.headers["signature"])
    assert cities([first, second, third]) == ["Assen", "Assen", "Borne"]
    verifier = sandbox_verifier(sandbox)
    # Both copies verify: telling a replay inside the window apart is the receiver's job.
    verify(verifier, first, scene.account)
    verify(verifier, second, scene.account)
    assert sandbox.wait_webhooks(10)
    assert scene.stats()["attempted"] == 3


def test_delay_lets_later_deliveries_go_ahead(
    sandbox: SandboxControl, scene: Scene, receiver: Receiver
) -> None:
    sandbox.set_webhook_faults(delay=1, delay_ms=400)
    started = time.monotonic()
    scene.change("Assen", "Borne")
    late_at = None
    calls = []
    for _ in range(2):
        calls.append(receiver.next())
        late_at = time.monotonic() - started
    assert cities(calls) == ["Borne", "Assen"]
    assert late_at is not None
    assert late_at >= 0.4
    verify(sandbox_verifier(sandbox), calls[1], scene.account)
    print(f"delayed delivery arrived after {late_at * 1000:.0f} ms (delay_ms=400)")


def test_reorder_swaps_a_delivery_with_the_next_one(
    sandbox: SandboxControl, scene: Scene, receiver: Receiver
) -> None:
    sandbox.set_webhook_faults(reorder=1)
    scene.change("Assen", "Borne", "Cuijk")
    assert cities(receiver.take(3)) == ["Borne", "Assen", "Cuijk"]


def test_a_held_delivery_goes_out_alone_when_none_follows(
    sandbox: SandboxControl, scene: Scene, receiver: Receiver
) -> None:
    sandbox.set_webhook_options(hold_ms=100)
    sandbox.set_webhook_faults(reorder=1)
    scene.change("Assen")
    assert cities([receiver.next()]) == ["Assen"]


def test_bad_signature_is_signed_with_a_key_nobody_published(
    sandbox: SandboxControl, scene: Scene, receiver: Receiver
) -> None:
    sandbox.set_webhook_faults(bad_signature=1)
    scene.change("Assen", "Borne")
    forged, genuine = receiver.take(2)
    verifier = sandbox_verifier(sandbox)
    with pytest.raises(WebhookVerificationError) as refused:
        verify(verifier, forged, scene.account)
    assert refused.value.reason is WebhookRefusal.BAD_SIGNATURE
    assert verify(verifier, genuine, scene.account).key_id in forged.headers["signature"]


def test_stale_date_is_old_but_correctly_signed(
    sandbox: SandboxControl, scene: Scene, receiver: Receiver
) -> None:
    sandbox.set_webhook_faults(stale_date=1, stale_seconds=900)
    scene.change("Assen")
    call = receiver.next()
    age = time.time() - email.utils.parsedate_to_datetime(call.headers["date"]).timestamp()
    assert 890 <= age <= 960
    with pytest.raises(WebhookVerificationError) as refused:
        verify(sandbox_verifier(sandbox), call, scene.account)
    assert refused.value.reason is WebhookRefusal.STALE_DATE
    # With a window that reaches back far enough, the very same call verifies.
    verify(sandbox_verifier(sandbox, max_age=1200), call, scene.account)


def test_faults_limited_to_one_webhook_leave_the_others_alone(
    sandbox: SandboxControl, scene: Scene, receiver: Receiver
) -> None:
    other = scene.client.webhook_create(f"{receiver.url}/other", "update")
    sandbox.set_webhook_faults(drop=5, webhook_id=int(other))
    scene.change("Assen")
    assert [call.target for call in [receiver.next()]] == ["/"]
    assert sandbox.wait_webhooks(10)
    assert receiver.pending() == []
    assert sandbox.webhook_stats(other)["dropped"] == 1
    assert sandbox.webhook_faults()["drop"] == 4


def test_a_server_error_is_retried_and_a_refusal_is_not(
    sandbox: SandboxControl, scene: Scene, receiver: Receiver
) -> None:
    sandbox.set_webhook_options(retry_delays_ms=[20, 20])
    receiver.statuses.put(503)
    scene.change("Assen")
    first, again = receiver.take(2)
    assert first.body == again.body
    verify(sandbox_verifier(sandbox), again, scene.account)  # signed afresh
    assert sandbox.wait_webhooks(10)
    assert scene.stats() == {
        "queued": 1,
        "attempted": 2,
        "succeeded": 1,
        "failed": 1,
        "dropped": 0,
    }
    sandbox.reset_stats()
    receiver.statuses.put(401)
    scene.change("Borne")
    receiver.next()
    assert sandbox.wait_webhooks(10)
    assert receiver.pending() == []
    assert scene.stats()["attempted"] == 1
    assert scene.stats()["failed"] == 1


def test_an_unreachable_handler_is_tried_as_often_as_the_retry_delays_say(
    sandbox: SandboxControl, scene: Scene
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    hook = scene.client.webhook_create(f"http://127.0.0.1:{closed_port}/gone", "update")
    sandbox.set_webhook_options(retry_delays_ms=[10, 10, 10], timeout_ms=2000)
    scene.change("Assen")
    assert sandbox.wait_webhooks(20)
    assert sandbox.webhook_stats(hook) == {
        "queued": 1,
        "attempted": 4,
        "succeeded": 0,
        "failed": 4,
        "dropped": 0,
    }
    tries = [item for item in sandbox.webhook_deliveries() if item["webhook"] == int(hook)]
    assert {item["outcome"] for item in tries} == {"ConnectError"}


def test_several_senders_deliver_everything_in_any_order(
    sandbox: SandboxControl, scene: Scene, receiver: Receiver
) -> None:
    sandbox.set_webhook_options(senders=3)
    towns = ["Assen", "Borne", "Cuijk", "Delft", "Emmen", "Goes"]
    scene.change(*towns)
    assert sorted(cities(receiver.take(6))) == towns
    assert sandbox.wait_webhooks(10)
    assert scene.stats()["succeeded"] == 6
