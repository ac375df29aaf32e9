"""Celery tasks of the outbound webhooks, on the ``notifications`` queue (what we tell the
agencies): one delivery (and the rest of its queue behind it), and the relay (beat) that finds
what a lost message left behind."""

from __future__ import annotations

from celery import shared_task

from linker.outbound.sending import webhook_deliveries_relay as relay
from linker.outbound.sending import webhook_delivery_send as send
from linker.platform.delivery import Task


@shared_task(name=Task.WEBHOOK_DELIVERY_SEND.value, ignore_result=True)
def webhook_delivery_send(delivery_id: int) -> int:
    return send(delivery_id=delivery_id)


@shared_task(name=Task.WEBHOOK_DELIVERIES_RELAY.value, ignore_result=True, acks_late=False)
def webhook_deliveries_relay() -> int:
    """Beat, every minute."""
    return relay()
