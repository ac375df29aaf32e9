"""Celery tasks of the link lifecycle: the daily identity probe and request log pruning."""

from __future__ import annotations

import logging

from celery import shared_task

from api_client import CopernicaError
from linker.linking.links import link_verify
from linker.linking.request_log import request_log_prune
from linker.models import Link, LinkState
from linker.platform.delivery import Task, enqueue
from linker.platform.errors import LinkerError

logger = logging.getLogger(__name__)


@shared_task(name=Task.LINK_VERIFY_DUE.value)
def link_verify_due() -> int:
    """Beat, daily: queue one identity probe per active link."""
    ids = list(Link.objects.filter(state=LinkState.ACTIVE).values_list("pk", flat=True))
    for link_id in ids:
        enqueue(Task.LINK_VERIFY, link_id)
    return len(ids)


@shared_task(name=Task.LINK_VERIFY.value)
def link_verify_task(link_id: int) -> None:
    """Probe one link's identity; records *last verified* or moves it to *needs reconnect*."""
    link = Link.objects.select_related("tenant").filter(pk=link_id).first()
    if link is None or link.state != LinkState.ACTIVE:
        return
    try:
        link_verify(link=link)
    except (CopernicaError, LinkerError) as exc:
        # A transient failure (or the account's budget is spent): tomorrow's probe tries again;
        # the link stays as it is.
        logger.warning("Identity probe of link %s failed: %s", link_id, type(exc).__name__)


@shared_task(name=Task.REQUEST_LOG_PRUNE.value)
def request_log_prune_task() -> int:
    """Beat, daily: delete request log entries older than 14 days."""
    return request_log_prune().deleted
