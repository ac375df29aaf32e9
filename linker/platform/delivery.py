"""Handing work to the Celery workers: by task name, after the commit, failing fast.

Services never import task modules: they name a :class:`Task` and call :func:`enqueue`, and
each domain's ``tasks.py`` imports its services at the top. So no import cycle hides behind a
function-level import, and a test checks that every name here is a registered task.

The rows are the truth (a ``SyncRun``, a ``ProfileChange``); a message only says "look at row
N". A message that cannot be published (Redis down) is logged and dropped: the beat's reconciler
or relay finds the row again and enqueues it later.
"""

from __future__ import annotations

import logging
import random
from enum import StrEnum

from celery import current_app
from django.conf import settings
from django.db import transaction

logger = logging.getLogger(__name__)

#: Publishing from a request or a task: one reconnect (a pooled connection may be stale after
#: a Redis restart), then give up at once. (``retry=False`` alone still waits ~6 s on a refused
#: broker: kombu retries the connection for ``broker_connection_timeout``.)
FAIL_FAST_PUBLISH = {"max_retries": 1, "interval_start": 0, "interval_step": 0, "interval_max": 0}
#: The priority of background work that may wait for everything else on its queue (the Redis
#: transport serves 0, the default, first and 9 last; the demo's file broker ignores it).
LOW_PRIORITY = 9


class Task(StrEnum):
    """Every Celery task of the project, by its registered name.

    The names are stable: messages already queued and the beat schedule in the settings name
    them, so a task keeps its name when its code moves.
    """

    WORKER_PING = "linker.worker_ping"
    LINK_VERIFY_DUE = "linker.link_verify_due"
    LINK_VERIFY = "linker.link_verify"
    REQUEST_LOG_PRUNE = "linker.request_log_prune"
    SYNC_RUN_STEP = "linker.sync_run_step"
    SYNC_SCHEDULE_DUE = "linker.sync_schedule_due"
    SYNC_RUNS_RECONCILE = "linker.sync_runs_reconcile"
    PROFILE_CHANGE_SEND = "linker.profile_change_send"
    PROFILE_CHANGES_RELAY = "linker.profile_changes_relay"
    PROFILE_CHANGES_RELEASE = "linker.profile_changes_release"
    NOTIFICATIONS_SCAN = "linker.notifications_scan"
    NOTIFICATIONS_DIGEST = "linker.notifications_digest"
    INBOUND_WEBHOOKS_REGISTER = "linker.inbound_webhooks_register"
    INBOUND_WEBHOOKS_CHECK_DUE = "linker.inbound_webhooks_check_due"
    INBOUND_EVENTS_APPLY = "linker.inbound_events_apply"
    INBOUND_EVENTS_RELAY = "linker.inbound_events_relay"
    INBOUND_GAPS_TALLY = "linker.inbound_gaps_tally"
    INBOUND_EVENTS_PRUNE = "linker.inbound_events_prune"
    WEBHOOK_DELIVERY_SEND = "linker.webhook_delivery_send"
    WEBHOOK_DELIVERIES_RELAY = "linker.webhook_deliveries_relay"
    PROFILE_SEARCH_FILL = "linker.profile_search_fill"
    SYNC_MIRRORS_ANALYZE = "linker.sync_mirrors_analyze"


def publish(task: Task, *args: object, countdown: float = 0.0, priority: int | None = None) -> bool:
    """Send ``task`` now; ``False`` (and a warning) if the broker would not take it.

    ``priority``: Redis's 0 (the default, first served) to 9 (last)."""
    try:
        # The project's app (``linker/__init__`` creates it before any module of the package
        # runs): named through Celery, so the platform does not import the app's module, whose
        # worker hook imports the platform.
        current_app.send_task(
            task.value,
            args=args,
            countdown=countdown or None,
            priority=priority,
            retry=True,
            retry_policy=FAIL_FAST_PUBLISH,
        )
    except Exception:
        # The broker is down: the row stays as it is and the beat finds it again.
        logger.warning("Could not enqueue %s%s; the beat will find it again", task.value, args)
        return False
    return True


def enqueue(task: Task, *args: object, countdown: float = 0.0, priority: int | None = None) -> None:
    """Send ``task`` once the caller's transaction commits (at once outside a transaction).

    A worker must never receive the id of a row it cannot see yet.
    """
    transaction.on_commit(lambda: publish(task, *args, countdown=countdown, priority=priority))


def retry_delay(failures: int) -> float:
    """Exponential backoff with jitter: between half and all of ``base * 2**(n-1)``."""
    ceiling = min(300.0, settings.LINKER_RETRY_BASE_SECONDS * 2 ** max(failures - 1, 0))
    return ceiling / 2 + random.uniform(0, ceiling / 2)
