"""Celery tasks of the inbound domain: each loads its row by id and calls one service."""

from __future__ import annotations

from celery import shared_task

from linker.inbound.applying import (
    inbound_events_apply,
    inbound_events_prune,
    inbound_events_relay,
)
from linker.inbound.gaps import inbound_gaps_tally
from linker.inbound.registration import inbound_webhooks_check_due, inbound_webhooks_register
from linker.models import Link
from linker.platform.delivery import LOW_PRIORITY, Task, enqueue


@shared_task(name=Task.INBOUND_WEBHOOKS_REGISTER.value)
def inbound_webhooks_register_task(link_id: int) -> None:
    link = Link.objects.filter(pk=link_id).first()
    if link is not None:
        inbound_webhooks_register(link=link)


@shared_task(name=Task.INBOUND_WEBHOOKS_CHECK_DUE.value)
def inbound_webhooks_check_due_task() -> None:
    inbound_webhooks_check_due()


@shared_task(name=Task.INBOUND_EVENTS_APPLY.value)
def inbound_events_apply_task(link_id: int) -> None:
    if inbound_events_apply(link_id=link_id):
        # The profiles it wrote wait for their search text (linker.profiles.search_fill).
        enqueue(Task.PROFILE_SEARCH_FILL, link_id, priority=LOW_PRIORITY)


@shared_task(name=Task.INBOUND_EVENTS_RELAY.value)
def inbound_events_relay_task() -> None:
    inbound_events_relay()


@shared_task(name=Task.INBOUND_GAPS_TALLY.value)
def inbound_gaps_tally_task() -> None:
    inbound_gaps_tally()


@shared_task(name=Task.INBOUND_EVENTS_PRUNE.value)
def inbound_events_prune_task() -> None:
    inbound_events_prune()
