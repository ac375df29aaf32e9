"""The sandbox's webhook signing keys: RSA key pairs published as DKIM-style records.

Copernica names its public key in each signature's ``keyId`` and regenerates it monthly
(``callbacks-security.md``). The sandbox makes one 2048-bit key pair at start, signs with
the newest, and answers ``GET /__keys__/<selector>`` with ``v=DKIM1; k=rsa; p=<base64 DER>``
(the ``keyId`` is that URL). Choices the documentation leaves open, made here:

- A selector names one key for good (``sb<yyyymm>-<random>``), so a receiver may cache keys
  by ``keyId``; a sandbox started afresh never reuses a selector.
- :meth:`WebhookKeyRing.rotate` (the control API's ``rotate_webhook_key``) makes a new key
  the signing one and keeps the older ones published at most ``keep_old_seconds`` more (a
  day unless told), so calls signed just before a rotation still verify.
- The ring survives a control-API ``reset`` (like the JWT key) and is written to the state
  file with the private keys, so deliveries verify across restarts.
"""

from __future__ import annotations

import base64
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from ..webhooks import dkim_record

#: The path under which the sandbox publishes its keys.
KEYS_PREFIX = "/__keys__/"
#: How long a rotated-out key stays published unless told otherwise.
DEFAULT_KEEP_OLD_SECONDS = 86_400
_KEY_BITS = 2048


@dataclass
class SigningKey:
    """One key pair; ``unpublish_at`` (Unix time) is set once it was rotated out."""

    selector: str
    private_key: rsa.RSAPrivateKey
    created: float
    unpublish_at: float | None = None

    def published(self, now: float) -> bool:
        return self.unpublish_at is None or now < self.unpublish_at


def new_private_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65_537, key_size=_KEY_BITS)


def sign_with(private_key: rsa.RSAPrivateKey, text: str) -> str:
    """The base64 RSA-SHA256 (PKCS #1 v1.5) signature of ``text``."""
    signature = private_key.sign(text.encode(), padding.PKCS1v15(), hashes.SHA256())
    return base64.b64encode(signature).decode("ascii")


class WebhookKeyRing:
    """The signing key and the rotated-out keys still published; thread-safe."""

    def __init__(self, clock: Any = time.time) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self.keys: list[SigningKey] = [self._new_key()]

    def _new_key(self) -> SigningKey:
        now = self._clock()
        selector = f"sb{time.strftime('%Y%m', time.gmtime(now))}-{secrets.token_hex(4)}"
        return SigningKey(selector, new_private_key(), now)

    @property
    def current(self) -> SigningKey:
        with self._lock:
            return self.keys[-1]

    def rotate(self, keep_old_seconds: float = DEFAULT_KEEP_OLD_SECONDS) -> SigningKey:
        """Sign with a new key from now on; the older ones stay published at most
        ``keep_old_seconds`` more (0 unpublishes them at once)."""
        fresh = self._new_key()
        with self._lock:
            now = self._clock()
            until = now + keep_old_seconds
            for key in self.keys:
                if key.unpublish_at is None or key.unpublish_at > until:
                    key.unpublish_at = until
            self.keys = [key for key in self.keys if key.published(now)]
            self.keys.append(fresh)
        return fresh

    def record(self, selector: str) -> str | None:
        """The DKIM-style record of a published key, ``None`` for an unknown or expired one."""
        with self._lock:
            now = self._clock()
            for key in self.keys:
                if key.selector == selector and key.published(now):
                    return dkim_record(key.private_key.public_key())
        return None

    def listing(self) -> list[dict[str, Any]]:
        """Each key: selector, created, when it is unpublished, whether it signs."""
        with self._lock:
            now = self._clock()
            return [
                {
                    "selector": key.selector,
                    "created": key.created,
                    "unpublish_at": key.unpublish_at,
                    "published": key.published(now),
                    "signing": index == len(self.keys) - 1,
                }
                for index, key in enumerate(self.keys)
            ]

    # ------------------------------------------------------------------ persistence

    def as_json(self) -> list[dict[str, Any]]:
        with self._lock:
            return [
                {
                    "selector": key.selector,
                    "created": key.created,
                    "unpublish_at": key.unpublish_at,
                    "private_key": key.private_key.private_bytes(
                        serialization.Encoding.PEM,
                        serialization.PrivateFormat.PKCS8,
                        serialization.NoEncryption(),
                    ).decode("ascii"),
                }
                for key in self.keys
            ]

    def restore(self, items: list[dict[str, Any]]) -> None:
        keys = []
        for item in items:
            private_key = serialization.load_pem_private_key(
                item["private_key"].encode("ascii"), password=None
            )
            if not isinstance(private_key, rsa.RSAPrivateKey):
                raise ValueError("a webhook signing key is not an RSA key")
            keys.append(
                SigningKey(item["selector"], private_key, item["created"], item["unpublish_at"])
            )
        if not keys:
            raise ValueError("no webhook signing keys")
        with self._lock:
            self.keys = keys
