"""Celery tasks of the link lifecycle: the daily identity probe."""

from __future__ import annotations

import logging

from celery import shared_task

from api_client import CopernicaError
from linker.links import link_verify
from linker.models import Link, LinkState

logger = logging.getLogger(__name__)


@shared_task(name="linker.link_verify_due")
def link_verify_due() -> int:
    """Beat, daily: queue one identity probe per active link."""
    ids = list(Link.objects.filter(state=LinkState.ACTIVE).values_list("pk", flat=True))
    for link_id in ids:
        link_verify_task.delay(link_id)
    return len(ids)


@shared_task(name="linker.link_verify")
def link_verify_task(link_id: int) -> None:
    """Probe one link's identity; records *last verified* or moves it to *needs reconnect*."""
    link = Link.objects.select_related("tenant").filter(pk=link_id).first()
    if link is None or link.state != LinkState.ACTIVE:
        return
    try:
        link_verify(link=link)
    except CopernicaError as exc:
        # A transient failure: tomorrow's probe tries again; the link stays as it is.
        logger.warning("Identity probe of link %s failed: %s", link_id, type(exc).__name__)
