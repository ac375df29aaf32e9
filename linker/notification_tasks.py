"""Celery task of the notifications: the periodic scan (beat)."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="linker.notifications_scan", ignore_result=True, acks_late=False)
def notifications_scan() -> int:
    """Beat, every minute: announce new causes once, resolve fixed ones, retry lost emails."""
    from linker import notifications

    return notifications.notifications_scan()
