"""Locks shared by every process: Redis when configured, the Django cache otherwise."""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings
from django.core.cache import cache
from redis.exceptions import LockError

from linker.platform.errors import LinkerError


class LockTimeoutError(LinkerError):
    """Another process held the lock for longer than we were willing to wait."""


def redis_client():
    """The raw redis-py client behind the Django cache, or ``None`` without Redis."""
    if not settings.REDIS_URL:
        return None
    return cache._cache.get_client(write=True)  # type: ignore[attr-defined]


@contextmanager
def shared_lock(name: str, *, ttl: float = 30.0, wait: float = 30.0) -> Iterator[None]:
    """Hold ``name`` across every process; give up with ``LockTimeoutError`` after ``wait``.

    ``ttl`` bounds how long a crashed holder keeps the lock.
    """
    client = redis_client()
    if client is not None:
        lock = client.lock(f"lock:{name}", timeout=ttl, blocking_timeout=wait, sleep=0.02)
        if not lock.acquire():
            raise LockTimeoutError(f"Timed out waiting for {name}.")
        try:
            yield
        finally:
            # Expired meanwhile: someone else may hold it now, and that is theirs to release.
            with contextlib.suppress(LockError):
                lock.release()
        return
    key, owner = f"lock:{name}", uuid.uuid4().hex
    deadline = time.monotonic() + wait
    while not cache.add(key, owner, timeout=int(ttl) + 1):
        if time.monotonic() > deadline:
            raise LockTimeoutError(f"Timed out waiting for {name}.")
        time.sleep(0.02)
    try:
        yield
    finally:
        if cache.get(key) == owner:
            cache.delete(key)
