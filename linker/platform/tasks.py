"""Celery task of the platform: the worker liveness probe."""

from __future__ import annotations

from celery import shared_task
from django.core.cache import cache

from linker.platform.delivery import Task


@shared_task(name=Task.WORKER_PING.value, acks_late=False, ignore_result=True)
def worker_ping(nonce: str) -> None:
    """Answer a liveness probe through the cache: proves the broker -> worker path works."""
    cache.set(f"worker-ping:{nonce}", "pong", timeout=300)
