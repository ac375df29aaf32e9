"""Celery tasks: thin wrappers that load rows by id and call one service.

Every task here is safe to run twice (acks_late redelivers after a crash), carries only ids and
plain values (JSON), and is enqueued with ``delay_on_commit`` from inside transactions.
"""

from __future__ import annotations

from celery import shared_task
from django.core.cache import cache


@shared_task(name="linker.worker_ping", acks_late=False, ignore_result=True)
def worker_ping(nonce: str) -> None:
    """Answer a liveness probe through the cache: proves the broker -> worker path works."""
    cache.set(f"worker-ping:{nonce}", "pong", timeout=300)
