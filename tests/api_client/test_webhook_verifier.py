"""The webhook verifier accepts the sandbox's genuine calls and refuses every forgery.

Case 50 of reliability.md, the verifier's part: a forged signature, an unknown key, a stale
Date (a replay outside the window), a body changed after signing, a wrong account id, missing
signed headers and a keyId on a host that is not allowed are each refused with their own
reason, and the key is never looked up before the cheap checks pass.
"""

from __future__ import annotations

import base64
import email.utils
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import pytest

from api_client import CopernicaClient, WebhookRefusal, WebhookVerificationError, WebhookVerifier
from api_client.sandbox.control import SandboxAccount, SandboxControl
from api_client.sandbox.webhook_keys import new_private_key, sign_with
from api_client.webhooks import (
    body_digest,
    dkim_public_key,
    dkim_record,
    key_host_allowed,
    parse_signature,
    parse_webhook_body,
    signing_string,
)
from tests.api_client.webhook_receiver import (  # noqa: F401 - fixtures
    Received,
    Receiver,
    api_client_fixture,
    receiver_fixture,
    sandbox_verifier,
    verify,
)

Clients = Callable[[SandboxAccount], CopernicaClient]


@dataclass
class Genuine:
    """A call the sandbox really made, and what it takes to check it."""

    sandbox: SandboxControl
    account: SandboxAccount
    call: Received

    def check(self, call: Received | None = None, **options: object) -> WebhookRefusal | None:
        """``None`` when ``call`` (the genuine one by default) verifies, else the reason."""
        account_id = options.pop("account_id", self.account.account_id)
        host = options.pop("host", None)
        verifier = sandbox_verifier(self.sandbox, **options)
        target = call or self.call
        try:
            verifier.verify(
                method=target.method,
                target=target.target,
                headers=target.headers,
                body=target.body,
                account_id=account_id,  # type: ignore[arg-type]
                host=host,  # type: ignore[arg-type]
            )
        except WebhookVerificationError as refused:
            return refused.reason
        return None


@pytest.fixture
def genuine(sandbox: SandboxControl, api_client: Clients, receiver: Receiver) -> Genuine:
    account = sandbox.create_account("Acme", 2)
    client = api_client(account)
    client.webhook_create(f"{receiver.url}/hooks/acme?link=7", "update")
    client.update_profile(client.profile_ids(account.database_id)[0], {"city": "Tiel"})
    return Genuine(sandbox, account, receiver.next())


def with_headers(call: Received, **changes: str | None) -> Received:
    headers = dict(call.headers)
    for name, value in changes.items():
        key = name.replace("_", "-")
        if value is None:
            headers.pop(key, None)
        else:
            headers[key] = value
    return replace(call, headers=headers)


def with_signature_parameter(call: Received, name: str, value: str) -> Received:
    signature = re.sub(f'{name}="[^"]*"', f'{name}="{value}"', call.headers["signature"])
    return with_headers(call, signature=signature)


def refused(reason: WebhookRefusal | None, expected: WebhookRefusal, case: str) -> None:
    assert reason is expected, f"{case}: {reason}"
    print(f"case 50 (verifier): {case} refused as {reason}")


def test_a_genuine_call_verifies(genuine: Genuine) -> None:
    verifier = sandbox_verifier(genuine.sandbox)
    verified = verify(verifier, genuine.call, genuine.account)
    assert genuine.call.target == "/hooks/acme?link=7"
    assert verified.account == f"account_{genuine.account.account_id}"
    assert verified.key_id == genuine.sandbox.webhook_keys()[-1]["key_id"]
    assert {"(request-target)", "host", "date", "x-copernica-id", "digest"} <= set(
        verified.signed_headers
    )
    assert abs(verified.date.timestamp() - time.time()) < 60
    assert genuine.check(host=genuine.call.headers["host"]) is None


def test_a_forged_signature_is_refused(genuine: Genuine) -> None:
    """Case 50: forged signature."""
    noise = base64.b64encode(bytes(range(256))).decode()
    refused(
        genuine.check(with_signature_parameter(genuine.call, "signature", noise)),
        WebhookRefusal.BAD_SIGNATURE,
        "forged signature",
    )
    # Properly signed, but by a key that is not the one keyId names.
    headers = {key: value for key, value in genuine.call.headers.items()}
    names = parse_signature(headers["signature"]).headers
    text = signing_string(names, method="POST", target=genuine.call.target, headers=headers)
    other = sign_with(new_private_key(), text)
    refused(
        genuine.check(with_signature_parameter(genuine.call, "signature", other)),
        WebhookRefusal.BAD_SIGNATURE,
        "signed by another key",
    )
    refused(
        genuine.check(with_signature_parameter(genuine.call, "algorithm", "hmac-sha256")),
        WebhookRefusal.BAD_SIGNATURE,
        "another algorithm",
    )
    refused(
        genuine.check(with_headers(genuine.call, signature='keyId="x",signature=broken')),
        WebhookRefusal.BAD_SIGNATURE,
        "unparseable Signature",
    )


def test_a_body_changed_after_signing_is_refused(genuine: Genuine) -> None:
    """Case 50: body changed after signing (with and without a Digest made to match)."""
    changed = genuine.call.body.replace(b"Tiel", b"Evil")
    assert changed != genuine.call.body
    refused(
        genuine.check(replace(genuine.call, body=changed)),
        WebhookRefusal.DIGEST_MISMATCH,
        "body changed",
    )
    redigested = with_headers(replace(genuine.call, body=changed), digest=body_digest(changed))
    refused(genuine.check(redigested), WebhookRefusal.BAD_SIGNATURE, "body and Digest changed")


def test_a_call_for_another_account_is_refused(genuine: Genuine) -> None:
    """Case 50: wrong account id, as sent and as rewritten to the receiver's own."""
    refused(genuine.check(account_id="9999"), WebhookRefusal.WRONG_ACCOUNT, "wrong account")
    rewritten = with_headers(genuine.call, x_copernica_id="account_9999")
    refused(
        genuine.check(rewritten, account_id="account_9999"),
        WebhookRefusal.BAD_SIGNATURE,
        "X-Copernica-ID rewritten",
    )


def test_a_stale_or_replayed_call_is_refused(genuine: Genuine) -> None:
    """Case 50: stale Date, and the same call replayed after the 300 s window."""
    later = time.time() + 301
    refused(genuine.check(clock=lambda: later), WebhookRefusal.STALE_DATE, "replay after window")
    assert genuine.check(clock=lambda: later - 2) is None  # still inside the window
    fresh = with_headers(genuine.call, date=email.utils.formatdate(later, usegmt=True))
    refused(genuine.check(fresh, clock=lambda: later), WebhookRefusal.BAD_SIGNATURE, "Date redone")
    refused(
        genuine.check(with_headers(genuine.call, date="yesterday")),
        WebhookRefusal.STALE_DATE,
        "unreadable Date",
    )


def test_missing_signed_headers_are_refused(genuine: Genuine) -> None:
    """Case 50: the minimum set must be signed, and each signed header present."""
    listed = parse_signature(genuine.call.headers["signature"]).headers
    for left_out in ("(request-target)", "host", "date", "x-copernica-id", "digest"):
        fewer = " ".join(name for name in listed if name != left_out)
        refused(
            genuine.check(with_signature_parameter(genuine.call, "headers", fewer)),
            WebhookRefusal.MISSING_HEADERS,
            f"{left_out} not signed",
        )
    refused(
        genuine.check(with_headers(genuine.call, date=None)),
        WebhookRefusal.MISSING_HEADERS,
        "Date removed",
    )
    refused(
        genuine.check(with_headers(genuine.call, signature=None)),
        WebhookRefusal.MISSING_HEADERS,
        "unsigned",
    )


def test_a_key_on_a_host_that_is_not_allowed_is_never_fetched(genuine: Genuine) -> None:
    """Case 50: keyId host not allowed; the lookup is not even asked."""
    asked: list[str] = []

    def lookup(key_id: str) -> str | None:
        asked.append(key_id)
        return None

    verifier = WebhookVerifier(lookup)  # real Copernica only: *.copernica.com
    with pytest.raises(WebhookVerificationError) as error:
        verify(verifier, genuine.call, genuine.account)
    refused(error.value.reason, WebhookRefusal.KEY_HOST_NOT_ALLOWED, "sandbox key not allowed")
    elsewhere = with_signature_parameter(genuine.call, "keyId", "http://evil.example/__keys__/k")
    refused(genuine.check(elsewhere), WebhookRefusal.KEY_HOST_NOT_ALLOWED, "keyId elsewhere")
    assert asked == []


def test_an_unknown_or_retired_key_is_refused(genuine: Genuine) -> None:
    """Case 50: unknown key, by selector and after the key was rotated out."""
    key_id = parse_signature(genuine.call.headers["signature"]).key_id
    unknown = with_signature_parameter(genuine.call, "keyId", key_id.rsplit("/", 1)[0] + "/nope")
    refused(genuine.check(unknown), WebhookRefusal.UNKNOWN_KEY, "unknown selector")
    genuine.sandbox.rotate_webhook_key(keep_old_seconds=0)
    refused(genuine.check(), WebhookRefusal.UNKNOWN_KEY, "retired key")


def test_a_call_to_another_host_is_refused_when_the_receiver_names_its_own(
    genuine: Genuine,
) -> None:
    refused(genuine.check(host="linker.example.com"), WebhookRefusal.WRONG_HOST, "wrong host")


# ---------------------------------------------------------------------------- pieces


@pytest.mark.parametrize(
    ("key_id", "allowed"),
    [
        ("mail._domainkey.copernica.com", True),
        ("https://keys.copernica.com/dkim/x", True),
        ("copernica.com", False),
        ("mail._domainkey.copernica.com.evil.net", False),
        ("evilcopernica.com", False),
        ("http://keys.copernica.com@evil.net/k", False),
        ("http://127.0.0.1:8765/__keys__/x", True),
        ("http://127.0.0.1:8766/__keys__/x", False),
        ("http://localhost:9/__keys__/x", True),
        ("http://[::1", False),
        ("", False),
    ],
)
def test_key_hosts_match_subdomains_hosts_and_host_ports(key_id: str, allowed: bool) -> None:
    patterns = ["*.copernica.com", "127.0.0.1:8765", "localhost"]
    assert key_host_allowed(key_id, patterns) is allowed


def test_the_signing_string_follows_the_draft() -> None:
    headers = {"host": "example.com", "date": "Tue, 07 Jun 2014 20:51:35 GMT", "digest": "d"}
    text = signing_string(
        ("(request-target)", "host", "date", "digest"),
        method="POST",
        target="/foo?param=value&pet=dog",
        headers=headers,
    )
    assert text == (
        "(request-target): post /foo?param=value&pet=dog\n"
        "host: example.com\n"
        "date: Tue, 07 Jun 2014 20:51:35 GMT\n"
        "digest: d"
    )


def test_the_digest_is_rfc_3230_sha_256() -> None:
    assert body_digest(b"") == "SHA-256=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="


def test_dkim_records_round_trip_and_a_revoked_key_is_unknown() -> None:
    public_key = new_private_key().public_key()
    assert dkim_public_key(dkim_record(public_key)).public_numbers() == public_key.public_numbers()
    for record in ("v=DKIM1; k=rsa; p=", "v=DKIM2; k=rsa; p=AAAA", "k=ed25519; p=AAAA", "p=@@"):
        with pytest.raises(WebhookVerificationError) as error:
            dkim_public_key(record)
        assert error.value.reason is WebhookRefusal.UNKNOWN_KEY


def test_the_form_body_becomes_fields_interests_and_plain_values() -> None:
    body = (
        b"action=update&fields%5Bcity%5D=Ede&fields%5Bage%5D=3&interests%5B%5D=a&interests%5B%5D=b"
    )
    assert parse_webhook_body(body) == {
        "action": "update",
        "fields": {"city": "Ede", "age": "3"},
        "interests": ["a", "b"],
    }
