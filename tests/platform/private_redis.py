"""A redis-server of the test's own, to stop and restart without touching the shared one."""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import redis
from django.test import override_settings

from linker.celery import app
from tests.workers import wait_for


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class PrivateRedis:
    """``redis-server`` on a free port with its files in ``directory``.

    ``persistent``: an append-only file (``--appendonly yes``), so queued messages survive a
    restart; otherwise nothing is kept (``--save "" --appendonly no``).
    """

    def __init__(self, directory: Path, *, persistent: bool) -> None:
        self.directory = directory
        self.persistent = persistent
        self.port = _free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._proc: subprocess.Popen[bytes] | None = None

    def _arguments(self) -> list[str]:
        persistence = ["--appendonly", "yes"] if self.persistent else ["--appendonly", "no"]
        return [
            "redis-server",
            "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.directory),
            "--save", "", *persistence, "--daemonize", "no", "--loglevel", "warning",
        ]  # fmt: skip

    def _ping(self) -> bool:
        try:
            return bool(redis.Redis(port=self.port, socket_timeout=0.5).ping())
        except redis.exceptions.RedisError:
            return False

    def start(self) -> None:
        self._proc = subprocess.Popen(
            self._arguments(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        wait_for(self._ping, timeout=10, what="redis-server to answer")

    def stop(self) -> None:
        """Shut the server down as a restart would (SIGTERM; the AOF is flushed if kept)."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            self._proc.wait(timeout=10)
        self._proc = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def keys(self) -> int:
        return int(redis.Redis(port=self.port).dbsize())


@contextmanager
def private_redis(directory: Path, *, persistent: bool) -> Iterator[PrivateRedis]:
    server = PrivateRedis(directory, persistent=persistent)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _reset_broker_pools() -> None:
    # Celery caches its connection and producer pools per app; dropping them makes the next
    # publish connect to whatever ``broker_url`` says now.
    app._pool = None
    app.amqp._producer_pool = None


@contextmanager
def this_process_uses(url: str) -> Iterator[None]:
    """Point this process's cache, locks, request budget and Celery producer at ``url``."""
    cache = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": url}}
    previous = app.conf.broker_url
    with override_settings(REDIS_URL=url, CACHES=cache):
        app.conf.broker_url = url
        _reset_broker_pools()
        try:
            yield
        finally:
            app.conf.broker_url = previous
            _reset_broker_pools()
