"""What an operator of thousands of tenants watches, in Prometheus' text format (``/metrics``).

A collector reads the database at scrape time in a fixed number of queries however many links,
runs or changes there are (one per family below, each served by an index or a join over the
links), and asks the broker for its queue lengths:

- ``linker_links{state}``: links by state.
- ``linker_sync_runs{state, mode}``: runs queued or running; ``linker_sync_runs_finished_1h``:
  runs that ended in the last hour, by outcome and mode (every run ever is no gauge: the table
  grows by every link's every run).
- ``linker_sync_lag_seconds``: a histogram over the usable links of the time since each one's
  last successful sync; ``linker_links_never_synced``: usable links without one yet.
- ``linker_celery_queue_length{queue}``: messages waiting in each queue no worker has fetched
  yet (Redis: ``LLEN`` of the queue's lists; the filesystem broker of the demo: the message
  files in its folder). Messages a worker holds (running, or waiting for their countdown) are
  not counted. ``linker_celery_broker_up`` is 0 when the broker did not answer.
- ``linker_outbox_changes{state}`` and ``linker_outbox_oldest_age_seconds{state}``: profile
  changes not finished (queued, sending, waiting for a reconnect, in conflict) and the age of
  the oldest of each.
- ``linker_copernica_requests_today{account}``, ``..._rate_limited_today``, ``..._errors_today``:
  the request ledger's counts of the current (local) day per Copernica account; the last two
  only for accounts that had any (absent means 0).

Webhook deliveries have no family: the project sends no webhooks yet.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta

from celery import current_app
from django.conf import settings
from django.db.models import Count, F, Min, Q, Sum
from django.utils import timezone
from kombu.exceptions import ChannelError
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from linker.models import (
    ACTIVE_SYNC_STATES,
    Link,
    LinkState,
    ProfileChange,
    RequestLedger,
    SyncMode,
    SyncRun,
    SyncState,
)

logger = logging.getLogger(__name__)

#: Upper bounds (seconds) of the sync lag histogram: 5 and 15 minutes (the incremental
#: interval), 30 minutes, 1, 2, 6 and 12 hours, a day (the nightly full run), 2 days, a week.
LAG_BUCKETS = (300, 900, 1800, 3600, 7200, 21600, 43200, 86400, 172800, 604800)
#: The window of ``linker_sync_runs_finished_1h``.
FINISHED_WINDOW = timedelta(hours=1)
_FINISHED = [s for s in SyncState if s not in ACTIVE_SYNC_STATES]
_UNFINISHED_CHANGES = (
    ProfileChange.State.QUEUED,
    ProfileChange.State.SENDING,
    ProfileChange.State.WAITING,
    ProfileChange.State.CONFLICT,
)


def _links() -> Metric:
    family = GaugeMetricFamily("linker_links", "Links by state.", labels=["state"])
    counts = dict(Link.objects.values_list("state").annotate(n=Count("pk")).order_by())
    for state in LinkState:
        family.add_metric([state.value], counts.get(state.value, 0))
    return family


def _runs_by(runs: Iterable[tuple[str, str, int]]) -> dict[tuple[str, str], int]:
    return {(state, mode): n for state, mode, n in runs}


def _sync_runs(now: datetime) -> Iterator[Metric]:
    live = GaugeMetricFamily(
        "linker_sync_runs", "Sync runs queued or running, by mode.", labels=["state", "mode"]
    )
    counts = _runs_by(
        SyncRun.objects.filter(state__in=ACTIVE_SYNC_STATES)
        .values_list("state", "mode")
        .annotate(n=Count("pk"))
        .order_by()
    )
    for state in ACTIVE_SYNC_STATES:
        for mode in SyncMode:
            live.add_metric([state.value, mode.value], counts.get((state.value, mode.value), 0))
    yield live

    finished = GaugeMetricFamily(
        "linker_sync_runs_finished_1h",
        "Sync runs that ended in the last hour, by outcome and mode.",
        labels=["state", "mode"],
    )
    cutoff = now - FINISHED_WINDOW
    counts = _runs_by(
        # An index range of (state, finished_at), not the whole table.
        SyncRun.objects.filter(state__in=_FINISHED, finished_at__gte=cutoff)
        .values_list("state", "mode")
        .annotate(n=Count("pk"))
        .order_by()
    )
    for state in _FINISHED:
        for mode in SyncMode:
            finished.add_metric([state.value, mode.value], counts.get((state.value, mode.value), 0))
    yield finished


def _sync_lag(now: datetime) -> Iterator[Metric]:
    last = "sync_schedule__last_success_at"
    buckets = {
        f"le_{bound}": Count("pk", filter=Q(**{f"{last}__gte": now - timedelta(seconds=bound)}))
        for bound in LAG_BUCKETS
    }
    row = (
        Link.objects.filter(Link.usable_q())
        .annotate(lag=now - F(last))
        .aggregate(
            synced=Count("pk", filter=Q(**{f"{last}__isnull": False})),
            never=Count("pk", filter=Q(**{f"{last}__isnull": True})),
            total=Sum("lag"),
            **buckets,
        )
    )
    total: timedelta = row["total"] or timedelta(0)
    histogram = HistogramMetricFamily(
        "linker_sync_lag_seconds",
        "Time since each usable link's last successful sync.",
        buckets=[(str(float(b)), row[f"le_{b}"]) for b in LAG_BUCKETS] + [("+Inf", row["synced"])],
        sum_value=total.total_seconds(),
    )
    yield histogram
    never = GaugeMetricFamily(
        "linker_links_never_synced", "Usable links without a successful sync yet."
    )
    never.add_metric([], row["never"])
    yield never


def _queues() -> Iterator[Metric]:
    length = GaugeMetricFamily(
        "linker_celery_queue_length",
        "Messages waiting in a Celery queue that no worker has fetched yet.",
        labels=["queue"],
    )
    up = GaugeMetricFamily("linker_celery_broker_up", "Whether the broker answered the scrape.")
    try:
        with current_app.connection_for_read() as connection:
            connection.ensure_connection(max_retries=1, interval_start=0, timeout=2)
            channel = connection.default_channel
            sizes = {
                queue: _queue_length(channel, queue) for queue in settings.LINKER_CELERY_QUEUES
            }
    except Exception as error:  # the scrape still serves the database's families
        logger.warning("Metrics: the broker did not answer (%s)", type(error).__name__)
        up.add_metric([], 0)
        yield up
        return
    for queue, size in sizes.items():
        length.add_metric([queue], size)
    up.add_metric([], 1)
    yield up
    yield length


def _queue_length(channel: object, queue: str) -> int:
    try:
        # Passive: never creates a queue; Redis reports a queue with no message as missing.
        declared = channel.queue_declare(queue=queue, passive=True)  # type: ignore[attr-defined]
    except ChannelError:
        return 0
    return int(declared.message_count)


def _outbox(now: datetime) -> Iterator[Metric]:
    depth = GaugeMetricFamily(
        "linker_outbox_changes", "Profile changes not finished, by state.", labels=["state"]
    )
    oldest = GaugeMetricFamily(
        "linker_outbox_oldest_age_seconds",
        "Age of the oldest profile change not finished, by state (0 when there is none).",
        labels=["state"],
    )
    rows = {
        state: (n, first)
        for state, n, first in ProfileChange.objects.filter(state__in=_UNFINISHED_CHANGES)
        .values_list("state")
        .annotate(n=Count("pk"), first=Min("created_at"))
        .order_by()
        .values_list("state", "n", "first")
    }
    for state in _UNFINISHED_CHANGES:
        n, first = rows.get(state.value, (0, None))
        depth.add_metric([state.value], n)
        oldest.add_metric([state.value], (now - first).total_seconds() if first else 0.0)
    yield depth
    yield oldest


def _ledger() -> Iterator[Metric]:
    families = {
        "requests": GaugeMetricFamily(
            "linker_copernica_requests_today",
            "Requests to Copernica today (local day), per account.",
            labels=["account"],
        ),
        "rate_limited": GaugeMetricFamily(
            "linker_copernica_rate_limited_today",
            "Requests Copernica answered 429 today (local day), per account.",
            labels=["account"],
        ),
        "errors": GaugeMetricFamily(
            "linker_copernica_errors_today",
            "Requests that failed (no answer or 5xx) today (local day), per account.",
            labels=["account"],
        ),
    }
    rows = (
        # Reached through the links, so each link's row of the day comes from the (link, day)
        # index instead of a read of every day ever recorded.
        RequestLedger.objects.filter(
            day=timezone.localdate(), link_id__in=Link.objects.values("pk")
        )
        .values_list("account_key")
        .annotate(requests=Sum("requests"), rate_limited=Sum("rate_limited"), errors=Sum("errors"))
        .order_by()
        .values_list("account_key", "requests", "rate_limited", "errors")
    )
    for account, requests, rate_limited, errors in rows:
        families["requests"].add_metric([account], requests)
        # Only the accounts that had any: at 10,000 accounts every series costs scrape time.
        if rate_limited:
            families["rate_limited"].add_metric([account], rate_limited)
        if errors:
            families["errors"].add_metric([account], errors)
    yield from families.values()


class LinkerCollector(Collector):
    """The families of the module's docstring, read afresh at every scrape."""

    def collect(self) -> Iterator[Metric]:
        now = timezone.now()
        yield _links()
        yield from _sync_runs(now)
        yield from _sync_lag(now)
        yield from _queues()
        yield from _outbox(now)
        yield from _ledger()


def metrics_render() -> bytes:
    """The current metrics in Prometheus' text exposition format."""
    # A registry of its own: the process collectors of the default one would describe one web
    # worker, not the deployment.
    registry = CollectorRegistry(auto_describe=False)
    registry.register(LinkerCollector())
    return generate_latest(registry)
