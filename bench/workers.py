"""A real Celery worker process for the benches (``worker_bench``, ``writeback_bench``): on the
bench's database, its output appended to a log under ``var/`` rather than the bench's table.

Imported by benches that have put the project's root on ``sys.path``; the project's own modules
are imported inside the function, once Django is set up.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@contextmanager
def celery_worker(
    *,
    log: str,
    concurrency: int,
    queues: str = "default,writes",
    niceness: int = 0,
    **settings: str,
) -> Iterator[None]:
    """A real ``celery -A linker worker`` on the bench database, its output in ``var/<log>``
    and ``settings`` in its environment; yields once it has answered a ping on its first queue,
    and stops it with a warm shutdown (a kill if that takes over a minute)."""
    from django.core.cache import cache

    from linker.platform.tasks import worker_ping
    from tests.workers import wait_for, worker_env

    output = (ROOT / "var" / log).open("ab")
    nice = ["nice", "-n", str(niceness)] if niceness else []
    proc = subprocess.Popen(
        [
            *nice, sys.executable, "-m", "celery", "-A", "linker", "worker", "-Q", queues,
            "-c", str(concurrency), "-n", f"bench-{uuid.uuid4().hex[:8]}@%h",
            "--without-mingle", "--without-gossip", "--loglevel", "WARNING",
        ],
        cwd=ROOT,
        env=worker_env(**settings),
        stdout=output,
        stderr=output,
    )  # fmt: skip
    try:
        nonce = uuid.uuid4().hex
        worker_ping.apply_async(args=[nonce], queue=queues.split(",")[0])
        wait_for(lambda: cache.get(f"worker-ping:{nonce}") == "pong", timeout=60)
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        output.close()
