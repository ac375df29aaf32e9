"""Encryption of secrets at rest: AES-256-GCM with a key ring.

``LINKER_ENCRYPTION_KEYS`` holds base64 keys, newest first: the first encrypts, every key
decrypts. Each value gets a fresh random 96-bit nonce, and its *context* (table, row, field) is
bound in as associated data, so a ciphertext copied to another row or column fails to decrypt.
A stored value looks like ``v1.<key id>.<base64 nonce+ciphertext>``; the key id lets rotation
find rows still on an old key with an index-friendly prefix query.

Decryption fails closed: any problem raises ``VaultError`` and never yields the ciphertext.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from linker.platform.errors import LinkerError

VERSION = "v1"
KEY_BYTES = 32
NONCE_BYTES = 12


class VaultError(LinkerError):
    """A secret could not be encrypted or decrypted; the message never holds the secret."""


class VaultConfigurationError(VaultError):
    """The key ring is missing or malformed."""


def key_generate() -> str:
    """A new random AES-256 key, base64-encoded, for ``LINKER_ENCRYPTION_KEYS``."""
    return base64.urlsafe_b64encode(secrets.token_bytes(KEY_BYTES)).decode()


def key_id(key: bytes) -> str:
    """A short public identifier of a key (not enough to recover it)."""
    return hashlib.sha256(b"copernica-linker key id\x00" + key).hexdigest()[:12]


def _decode_key(text: str, position: int) -> bytes:
    try:
        key = base64.urlsafe_b64decode(text.strip() + "=" * (-len(text.strip()) % 4))
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != KEY_BYTES:
        raise VaultConfigurationError(
            f"LINKER_ENCRYPTION_KEYS: key {position} is not a base64-encoded 32-byte key "
            "(make one with `manage.py generate_encryption_key`)."
        )
    return key


@dataclass(frozen=True)
class KeyRing:
    """Keys newest first. Immutable; build a new ring to rotate."""

    keys: tuple[bytes, ...]

    @classmethod
    def parse(cls, texts: list[str]) -> KeyRing:
        texts = [t for t in texts if t.strip()]
        if not texts:
            raise VaultConfigurationError(
                "LINKER_ENCRYPTION_KEYS is empty: no key to encrypt with."
            )
        keys = tuple(_decode_key(text, i + 1) for i, text in enumerate(texts))
        if len({key_id(k) for k in keys}) != len(keys):
            raise VaultConfigurationError("LINKER_ENCRYPTION_KEYS lists the same key twice.")
        return cls(keys)

    @property
    def current_id(self) -> str:
        return key_id(self.keys[0])

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(key_id(k) for k in self.keys)

    def current_prefix(self) -> str:
        """The prefix of every value encrypted with the current key."""
        return f"{VERSION}.{self.current_id}."

    def encrypt(self, plaintext: str, *, context: str) -> str:
        nonce = os.urandom(NONCE_BYTES)
        sealed = AESGCM(self.keys[0]).encrypt(nonce, plaintext.encode(), context.encode())
        body = base64.urlsafe_b64encode(nonce + sealed).decode()
        return f"{VERSION}.{self.current_id}.{body}"

    def decrypt(self, stored: str, *, context: str) -> str:
        try:
            version, kid, body = stored.split(".", 2)
        except (AttributeError, ValueError):
            raise VaultError("The stored secret is not in the vault's format.") from None
        if version != VERSION:
            raise VaultError(f"The stored secret has an unknown format version {version!r}.")
        key = next((k for k in self.keys if key_id(k) == kid), None)
        if key is None:
            raise VaultError(
                f"The stored secret was encrypted with key {kid}, which is not in "
                "LINKER_ENCRYPTION_KEYS."
            )
        try:
            raw = base64.urlsafe_b64decode(body)
            plain = AESGCM(key).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], context.encode())
        except (binascii.Error, ValueError, InvalidTag):
            # Wrong row, wrong field or tampered bytes: all the same to the caller.
            raise VaultError("The stored secret does not decrypt for this record.") from None
        return plain.decode()

    def fingerprint(self, plaintext: str) -> str:
        """A short keyed digest of a secret, safe to show (e.g. in the admin)."""
        digest = hmac.new(self.keys[-1], plaintext.encode(), hashlib.sha256).hexdigest()
        return f"{digest[:4]}…{digest[-4:]}"


def _key_texts() -> list[str]:
    # Imported here: the settings module imports this one to check LINKER_ENCRYPTION_KEYS.
    from django.conf import settings

    texts: list[str] = list(settings.LINKER_ENCRYPTION_KEYS)
    if texts:
        return texts
    if settings.PRODUCTION:
        raise VaultConfigurationError("LINKER_ENCRYPTION_KEYS is required in production.")
    # Demo and tests: one key generated on first use into a local file that git ignores.
    path = Path(settings.LINKER_ENCRYPTION_KEY_FILE)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(key_generate() + "\n")
    return [line for line in path.read_text().splitlines() if line.strip()]


@cache
def keyring() -> KeyRing:
    """The process's key ring, from settings (cached; ``keyring.cache_clear()`` to reload)."""
    return KeyRing.parse(_key_texts())


def encrypt(plaintext: str, *, context: str) -> str:
    return keyring().encrypt(plaintext, context=context)


def decrypt(stored: str, *, context: str) -> str:
    return keyring().decrypt(stored, context=context)


def fingerprint(plaintext: str) -> str:
    return keyring().fingerprint(plaintext)


def lookup_hash(value: str) -> str:
    """SHA-256 of a single-use secret (OAuth state, connect-link token) that is stored only
    as this hash and found again by it."""
    return hashlib.sha256(value.encode()).hexdigest()
