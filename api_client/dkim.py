"""Webhook signing keys as Copernica publishes them: DKIM-style records, and finding them.

A ``keyId`` names a record ``v=DKIM1; k=rsa; p=<base64 DER SubjectPublicKeyInfo>``
(``callbacks-security.md``; the reference verifier reads it from DNS TXT). A
:class:`KeyLookup` turns a ``keyId`` into that text: DNS for real Copernica (the linker's
job), :class:`HttpKeyLookup` for the sandbox's ``/__keys__/<selector>`` URLs.
"""

from __future__ import annotations

import base64
import binascii
from typing import Protocol

import httpx
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from .errors import WebhookRefusal, WebhookVerificationError


class KeyLookup(Protocol):
    """Finds the key a ``keyId`` names.

    Returns the DKIM-style record text (``v=DKIM1; k=rsa; p=<base64 DER>``), or ``None``
    when no key is published there. It may raise
    :class:`~api_client.errors.WebhookVerificationError` (``unknown_key``) when the lookup
    itself fails. Real Copernica: a DNS TXT query for the name; the sandbox:
    :class:`HttpKeyLookup`.
    """

    def __call__(self, key_id: str) -> str | None: ...


class HttpKeyLookup:
    """A :class:`KeyLookup` for ``keyId`` URLs (the sandbox's ``/__keys__/<selector>``).

    A 404 is "no such key"; another failure raises ``unknown_key``. Redirects are not
    followed, and nothing else is fetched: the verifier calls it only for allowed hosts.
    """

    def __init__(self, *, timeout: float = 5.0, transport: httpx.BaseTransport | None = None):
        self._http = httpx.Client(
            timeout=timeout, transport=transport, trust_env=False, follow_redirects=False
        )

    def __call__(self, key_id: str) -> str | None:
        if not key_id.startswith(("http://", "https://")):
            return None
        try:
            response = self._http.get(key_id)
        except httpx.HTTPError as exc:
            raise _refuse(
                WebhookRefusal.UNKNOWN_KEY,
                f"The signing key could not be fetched ({type(exc).__name__})",
            ) from None
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise _refuse(
                WebhookRefusal.UNKNOWN_KEY,
                f"The key URL answered HTTP {response.status_code}",
            )
        return response.text

    def close(self) -> None:
        self._http.close()


def dkim_public_key(record: str) -> rsa.RSAPublicKey:
    """The RSA key of a DKIM-style record (``v=DKIM1; k=rsa; p=<base64 DER>``).

    An empty ``p`` (a revoked key), another key type or a key that does not load is
    ``unknown_key``.
    """
    tags: dict[str, str] = {}
    for part in record.split(";"):
        name, _, value = part.partition("=")
        if name.strip():
            tags.setdefault(name.strip().lower(), "".join(value.split()))
    if tags.get("v", "DKIM1") != "DKIM1" or tags.get("k", "rsa").lower() != "rsa":
        raise _refuse(WebhookRefusal.UNKNOWN_KEY, "The published key is not a DKIM1 RSA key")
    try:
        key = serialization.load_der_public_key(base64.b64decode(tags.get("p", ""), validate=True))
    except (binascii.Error, ValueError, UnsupportedAlgorithm):
        raise _refuse(WebhookRefusal.UNKNOWN_KEY, "The published key does not load") from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise _refuse(WebhookRefusal.UNKNOWN_KEY, "The published key is not an RSA key")
    return key


def dkim_record(public_key: rsa.RSAPublicKey) -> str:
    """The DKIM-style record text publishing ``public_key``."""
    der = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return f"v=DKIM1; k=rsa; p={base64.b64encode(der).decode('ascii')}"


def _refuse(reason: WebhookRefusal, message: str) -> WebhookVerificationError:
    return WebhookVerificationError(reason, message)
