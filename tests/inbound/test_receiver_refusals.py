"""Case 50: a forged or altered delivery gets 401, and nothing is stored or applied.

The sandbox signs real deliveries to a capturing receiver whose URL has our handler's path; the
test then replays each, genuine or altered, to the receiver view with the very headers and
body the sandbox sent (``LINKER_BASE_URL`` is the capturing receiver's, so the signed ``Host``
is ours). The genuine one is accepted once; every alteration is refused, counted, never stored.
"""

from __future__ import annotations

import base64
import os
import re
import time
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from api_client.sandbox.control import SandboxControl
from api_client.webhooks import body_digest
from linker.inbound import receiver as receiver_module
from linker.models import InboundEvent, InboundLink, RemoteProfile
from tests.api_client.webhook_receiver import Received, Receiver, receiver_fixture  # noqa: F401
from tests.inbound.conftest import Hooked


def _replay(call: Received, *, body: bytes | None = None, **changed: str) -> Any:
    """POST ``call`` again to the receiver view, with some headers or the body changed."""
    headers = {name: value for name, value in call.headers.items() if name != "content-length"}
    headers.update({name.replace("_", "-"): value for name, value in changed.items()})
    content_type = headers.pop("content-type", "application/x-www-form-urlencoded")
    return Client().generic(
        "POST",
        call.target,
        data=call.body if body is None else body,
        content_type=content_type,
        headers=headers,
    )


def _with_parameter(signature: str, name: str, value: str) -> str:
    return re.sub(rf'{name}="[^"]*"', f'{name}="{value}"', signature)


@pytest.fixture
def captured(
    hooked: Callable[..., Hooked],
    sandbox: SandboxControl,
    receiver: Receiver,
    settings: Any,
) -> tuple[Hooked, Callable[[str], Received]]:
    """An account whose update webhook calls the capturing receiver at our handler's path."""
    account = hooked(profiles=5, register=False)
    settings.LINKER_BASE_URL = receiver.url
    path = f"/inbound/copernica/{account.inbound.handler_id}"
    with account.linked.client() as client:
        client.webhook_create(receiver.url + path, "update")
    profile_id = RemoteProfile.objects.filter(link=account.linked.link).first().copernica_id

    def deliver(city: str) -> Received:
        sandbox.update_profile(profile_id, {"city": city})
        return receiver.next()

    return account, deliver


def test_case_50_forged_and_altered_deliveries_are_refused_and_nothing_is_stored(
    captured: tuple[Hooked, Callable[[str], Received]],
    sandbox: SandboxControl,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Case 50: forged signature, unknown key, key on a foreign host, stale Date, body changed
    after signing, wrong account id, too few signed headers, a replay outside the window:
    each 401, counted on the link, no inbox row, nothing applied."""
    account, deliver = captured
    genuine = deliver("Zwolle")
    signature = genuine.headers["signature"]
    sandbox.set_webhook_faults(bad_signature=1)
    forged_by_sandbox = deliver("Forged")
    sandbox.set_webhook_faults(stale_date=1, stale_seconds=900)
    stale_by_sandbox = deliver("Stale")
    tampered = genuine.body.replace(b"Zwolle", b"Forged")
    assert tampered != genuine.body
    random_signature = base64.b64encode(os.urandom(256)).decode()

    assert _replay(genuine).status_code == 200
    assert account.events() == 1
    # The same delivery again inside the window: answered, stored once.
    assert _replay(genuine).status_code == 200
    assert account.events() == 1

    refusals = {
        "forged signature (sandbox fault)": lambda: _replay(forged_by_sandbox),
        "forged signature": lambda: _replay(
            genuine, signature=_with_parameter(signature, "signature", random_signature)
        ),
        "unknown key": lambda: _replay(
            genuine,
            signature=_with_parameter(
                signature, "keyId", f"{sandbox.base_url}/__keys__/nobody-published-this"
            ),
        ),
        "key on a foreign host": lambda: _replay(
            genuine,
            signature=_with_parameter(signature, "keyId", "https://keys.attacker.example/k"),
        ),
        "stale Date (sandbox fault)": lambda: _replay(stale_by_sandbox),
        "body changed after signing": lambda: _replay(genuine, body=tampered),
        "body and Digest changed": lambda: _replay(
            genuine, body=tampered, digest=body_digest(tampered)
        ),
        "wrong account id header": lambda: _replay(genuine, x_copernica_id="account_999999"),
        "too few signed headers": lambda: _replay(
            genuine, signature=_with_parameter(signature, "headers", "date digest")
        ),
    }
    statuses = {name: send().status_code for name, send in refusals.items()}
    # The genuine delivery replayed ten minutes later: outside the window.
    monkeypatch.setattr(receiver_module, "clock", lambda: time.time() + 600)
    statuses["replay outside the window"] = _replay(genuine).status_code
    monkeypatch.undo()
    # The link now belongs to another Copernica account: the genuine call is not for it.
    link = account.linked.link
    link.copernica_account_id = "999999"
    link.save(update_fields=["copernica_account_id"])
    statuses["wrong account id (link)"] = _replay(genuine).status_code

    print(f"case 50: {len(statuses)} forged or altered deliveries → {statuses}")
    assert set(statuses.values()) == {401}, statuses
    assert InboundEvent.objects.filter(link=link).count() == 1
    assert InboundLink.objects.get(pk=account.inbound.pk).refused_count == len(statuses)
    account.apply()
    cities = {row.fields.get("city") for row in RemoteProfile.objects.filter(link=link)}
    assert "Zwolle" in cities
    assert not cities & {"Forged", "Stale"}


def test_a_delivery_to_an_unknown_handler_is_refused(client: Client, db: None) -> None:
    response = client.post(
        "/inbound/copernica/" + "x" * 43, data=b"action=update", content_type="text/plain"
    )
    assert response.status_code == 401
    assert InboundEvent.objects.count() == 0


def test_the_receiver_answers_post_only(client: Client, db: None) -> None:
    assert client.get("/inbound/copernica/" + "x" * 43).status_code == 405
