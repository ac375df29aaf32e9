"""JWT caching: the :class:`TokenCache` protocol, its in-memory default, and JWT decoding.

Copernica's JWTs live 24 hours. A client exchanges its API token once, caches the JWT until
shortly before its ``exp`` and shares it with every other client of the same account through
the cache. The Django side implements :class:`TokenCache` on Redis; the protocol is shaped so
that a refresh is single-flight: the client takes :meth:`TokenCache.lock`, looks in the cache
again, and only then exchanges.
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class CachedJwt:
    """A JWT and the Unix time (seconds) at which it expires. ``repr`` hides the token."""

    token: str = field(repr=False)
    expires_at: float

    def is_fresh(self, now: float, margin: float) -> bool:
        """Whether the JWT is still good for at least ``margin`` seconds after ``now``."""
        return self.expires_at - margin > now


@runtime_checkable
class TokenCache(Protocol):
    """Where clients keep JWTs, keyed by an opaque string (never the API token itself)."""

    def get(self, key: str) -> CachedJwt | None:
        """The cached JWT for ``key``, or ``None``."""
        ...

    def set(self, key: str, jwt: CachedJwt) -> None:
        """Store ``jwt`` under ``key``; an implementation may expire it at ``jwt.expires_at``."""
        ...

    def discard(self, key: str, token: str) -> None:
        """Drop the JWT under ``key``, but only if it is still ``token``.

        Another client may already have stored a fresh JWT; that one must survive.
        """
        ...

    def lock(self, key: str) -> AbstractContextManager[object]:
        """A lock held while one client exchanges for ``key`` (single flight)."""
        ...


class MemoryTokenCache:
    """A thread-safe in-process :class:`TokenCache` with one lock per key."""

    def __init__(self) -> None:
        self._entries: dict[str, CachedJwt] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def get(self, key: str) -> CachedJwt | None:
        with self._guard:
            return self._entries.get(key)

    def set(self, key: str, jwt: CachedJwt) -> None:
        with self._guard:
            self._entries[key] = jwt

    def discard(self, key: str, token: str) -> None:
        with self._guard:
            current = self._entries.get(key)
            if current is not None and current.token == token:
                del self._entries[key]

    def lock(self, key: str) -> AbstractContextManager[object]:
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        return _hold(lock)

    def __repr__(self) -> str:
        return f"MemoryTokenCache(keys={len(self._entries)})"


@contextmanager
def _hold(lock: threading.Lock) -> Iterator[threading.Lock]:
    with lock:
        yield lock


def jwt_claims(token: str) -> dict[str, object] | None:
    """The payload of a compact JWT, decoded without checking the signature.

    ``None`` when ``token`` is not a JWT with a JSON object payload.
    """
    parts = token.split(".")
    if len(parts) != 3:
        return None
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload.encode("ascii")))
    except (ValueError, binascii.Error, UnicodeError):
        return None
    return claims if isinstance(claims, dict) else None


def clean_jwt_body(body: str) -> str:
    """The JWT in an auth-service answer: the bare token, a JSON string, or a JSON object.

    Copernica documents only "the response contains a JWT string", so accept the shapes seen
    in public clients: strip whitespace and quotes, and look inside ``{"token": ...}``-style
    objects.
    """
    text = body.strip()
    if text.startswith("{"):
        try:
            document = json.loads(text)
        except ValueError:
            return ""
        if isinstance(document, dict):
            for key in ("token", "access_token", "jwt"):
                value = document.get(key)
                if isinstance(value, str):
                    return value.strip()
        return ""
    return text.strip("\"' \t\r\n")
