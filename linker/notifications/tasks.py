"""Celery tasks of the notifications: the periodic scan and the daily digest (beat)."""

from __future__ import annotations

from celery import shared_task

from linker.notifications.services import notifications_digest as digest
from linker.notifications.services import notifications_scan as scan
from linker.platform.delivery import Task


@shared_task(name=Task.NOTIFICATIONS_SCAN.value, ignore_result=True, acks_late=False)
def notifications_scan() -> int:
    """Beat, every minute: announce new causes once, resolve fixed ones, retry lost emails."""
    return scan()


@shared_task(name=Task.NOTIFICATIONS_DIGEST.value, ignore_result=True, acks_late=False)
def notifications_digest() -> int:
    """Beat, every hour: one daily summary per person who chose the digest."""
    return digest()
