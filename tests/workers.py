"""A real Celery worker process for the tests that need asynchronous behaviour."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.core.cache import cache
from django.db import connection

ROOT = Path(__file__).resolve().parents[1]


def wait_for(predicate, *, timeout: float = 30.0, interval: float = 0.05, what: str = "") -> None:  # type: ignore[no-untyped-def]
    """Poll ``predicate`` until it is true; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}")


def worker_env(**extra: str) -> dict[str, str]:
    """The environment of a worker that sees the test database and the test Redis."""
    settings = connection.settings_dict
    db_url = (
        f"postgres://{settings['USER']}@{settings['HOST']}:{settings['PORT']}/{settings['NAME']}"
    )
    return {**os.environ, "DATABASE_URL": db_url, "DJANGO_ENV": "test", **extra}


@contextmanager
def celery_worker(
    *,
    queues: str = "default,writes,notifications",
    concurrency: int = 1,
    env: dict[str, str] | None = None,
) -> Iterator[subprocess.Popen[bytes]]:
    """Start ``celery -A linker worker`` and yield once it has executed a ping task."""
    name = f"test-{uuid.uuid4().hex[:8]}@%h"
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "celery", "-A", "linker", "worker",
            "-Q", queues, "-c", str(concurrency), "-n", name,
            "--without-mingle", "--without-gossip", "--loglevel", "WARNING",
        ],
        cwd=ROOT,
        env=env or worker_env(),
        start_new_session=True,
    )  # fmt: skip
    try:
        from linker.platform.tasks import worker_ping

        nonce = uuid.uuid4().hex
        worker_ping.apply_async(args=[nonce], queue=queues.split(",")[0])
        wait_for(lambda: cache.get(f"worker-ping:{nonce}") == "pong", what="the worker to start")
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
