"""When links sync: the beat's due check, and the schedule agency staff can override.

A link's first full run counts as the day's full run, whoever started it (the beat on first
sight of the link, *Sync now*, the demo): from then on full runs follow the schedule's hour.

The beat's tick costs the same few queries however many links there are: links seen for the
first time get their schedule (looked for among the newest link rows only, every link once an
hour), then the due schedules come in batches of :data:`DUE_BATCH`, each with its link locked
and its active run's mode in the same query; a batch's new runs are one INSERT and its new due
times one UPDATE. A link still busy with a run is not tried again every minute: its due time
moves on. (Finding the due rows still reads the whole schedule table: an index on the two due
times would make that proportional to the due rows too.)
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, connection, transaction
from django.db.models import Exists, Max, OuterRef, Q, Subquery
from django.utils import timezone

from accounts.models import Tenant
from accounts.selectors import AnyUser, can_manage_tenant
from linker.linking.links import link_get
from linker.models import (
    ACTIVE_SYNC_STATES,
    InboundLink,
    Link,
    SyncMode,
    SyncRun,
    SyncSchedule,
    SyncState,
    WebhookHealth,
)
from linker.platform.delivery import Task
from linker.platform.delivery import enqueue as enqueue_task
from linker.platform.errors import InvalidInputError
from linker.sync.runs import sync_run_request

#: Full runs start at a random moment within this much after their hour, so that links with
#: the same hour don't all start together.
FULL_RUN_SPREAD = timedelta(minutes=30)
#: Due schedules per transaction of the tick: one SELECT, one INSERT of runs and one UPDATE of
#: schedules for up to this many.
DUE_BATCH = 1_000
#: A full run that falls due while an incremental run of the link is still going is tried again
#: after this long (an incremental run due meanwhile simply waits for its next interval).
BUSY_RETRY = timedelta(minutes=5)
#: Link rows below the newest one with a schedule that the tick still checks for a missing
#: schedule (their transaction may have committed after a newer link's).
NEW_LINKS_MARGIN = 200
#: Seconds between two ticks that check every link for a missing schedule.
FULL_SCAN_EVERY = 3600
_FULL_SCAN_KEY = "linker:sync-schedule:full-scan"
_TRIGGER = "schedule"


def next_full_at(*, full_hour: int, now: datetime, spread: bool = True) -> datetime:
    """The next ``full_hour`` o'clock (in the current time zone) after ``now``."""
    local = timezone.localtime(now)
    candidate = local.replace(hour=full_hour, minute=0, second=0, microsecond=0)
    if candidate <= local:
        candidate += timedelta(days=1)
    if spread:
        candidate += timedelta(seconds=random.uniform(0, FULL_RUN_SPREAD.total_seconds()))
    return candidate


def _next_incremental_at(schedule: SyncSchedule, now: datetime) -> datetime:
    minutes = schedule.incremental_minutes
    if getattr(schedule, "webhooks_healthy", False):
        # Copernica's webhooks keep the mirror current: incremental runs only check for gaps
        # (linker.inbound). Unhealthy webhooks pull the due time back to now themselves.
        minutes = max(minutes, settings.LINKER_WEBHOOK_GAP_CHECK_MINUTES)
    return now + timedelta(minutes=minutes, seconds=random.uniform(0, 60))


def _usable_links() -> Q:
    # An archived tenant keeps its data but starts no syncs.
    return Link.usable_q("link__") & Q(link__tenant__archived_at__isnull=True)


def _full_scan_due() -> bool:
    """Whether this tick looks at every link for a missing schedule (once an hour per cache)."""
    try:
        return bool(cache.add(_FULL_SCAN_KEY, "1", timeout=FULL_SCAN_EVERY))
    except Exception:  # the cache is down: the full scan is the safe choice
        return True


def _schedules_add(now: datetime) -> int:
    """Give every link without a schedule one (due at once: a usable link's first full run).

    Every link row gets one whatever its state, so that a link is never without one once the
    tick has seen it: a pending link confirmed weeks later is then simply due. So only link
    rows newer than the newest link with a schedule (less :data:`NEW_LINKS_MARGIN`, for rows
    whose transaction committed late) need looking at: one index range, however many links
    there are. Once an hour the tick looks at every link, in case some path left one out.
    """
    links = Link.objects.filter(~Exists(SyncSchedule.objects.filter(link_id=OuterRef("pk"))))
    if not _full_scan_due():
        # A value, not a subquery: given a parameter the planner cannot tell that the range is
        # small, and hashes every schedule for the anti-join.
        newest = SyncSchedule.objects.aggregate(newest=Max("link_id"))["newest"] or 0
        links = links.filter(pk__gt=newest - NEW_LINKS_MARGIN)
    missing = list(links.values_list("pk", flat=True))
    if missing:
        SyncSchedule.objects.bulk_create(
            [
                SyncSchedule(
                    link_id=link_id,
                    # Jitter the first run so links linked together don't sync in lockstep.
                    next_incremental_at=now + timedelta(seconds=random.uniform(0, 60)),
                    next_full_at=None,
                )
                for link_id in missing
            ],
            ignore_conflicts=True,  # another beat or a finished run made it meanwhile
        )
    return len(missing)


def _due_batch(now: datetime, size: int) -> list[SyncSchedule]:
    """Up to ``size`` due schedules of usable links, locked with their links (SKIP LOCKED: two
    beats split the work, and a link someone is requesting a run for right now is left to
    them), each with ``active_mode`` (its queued or running run's mode, else ``None``) and
    ``full_held`` (whether it ever had, or is having, a full run)."""
    due = Q(next_incremental_at__lte=now) | Q(next_full_at__lte=now) | Q(next_full_at=None)
    runs = SyncRun.objects.filter(link_id=OuterRef("link_id"))
    return list(
        SyncSchedule.objects.filter(due, _usable_links(), enabled=True)
        .annotate(
            active_mode=Subquery(runs.filter(state__in=ACTIVE_SYNC_STATES).values("mode")[:1]),
            full_held=Exists(
                runs.filter(
                    mode=SyncMode.FULL, state__in=[*ACTIVE_SYNC_STATES, SyncState.SUCCEEDED]
                )
            ),
            webhooks_healthy=Exists(
                InboundLink.objects.filter(link_id=OuterRef("link_id"), state=WebhookHealth.HEALTHY)
            ),
        )
        .select_related("link")
        .only(
            "link_id",
            "incremental_minutes",
            "full_hour",
            "next_incremental_at",
            "next_full_at",
            "last_full_at",
            "link__id",
        )
        .select_for_update(skip_locked=True, of=("self", "link"))
        .order_by("pk")[:size]
    )


@dataclass
class _Plan:
    schedule: SyncSchedule
    mode: str


def _plan(schedule: SyncSchedule, now: datetime) -> _Plan | None:
    """Decide one due schedule: a run to start (its due times set as if it started), or
    ``None`` with its due times moved on. Either way nothing of it is due any more."""
    if schedule.next_full_at is None and (
        schedule.last_full_at is not None or schedule.full_held  # type: ignore[attr-defined]
    ):
        # The link's first full run already happened (or is happening): it was the day's.
        schedule.next_full_at = next_full_at(full_hour=schedule.full_hour, now=now)
    full_due = schedule.next_full_at is None or schedule.next_full_at <= now
    incremental_due = schedule.next_incremental_at is None or schedule.next_incremental_at <= now
    busy_with = schedule.active_mode  # type: ignore[attr-defined]
    if busy_with is not None:
        # Not tried again every minute: the run going covers an incremental one; a full run
        # going is the day's full run; behind an incremental one, the full run waits a little.
        if full_due:
            schedule.next_full_at = (
                next_full_at(full_hour=schedule.full_hour, now=now)
                if busy_with == SyncMode.FULL
                else now + BUSY_RETRY
            )
        if incremental_due:
            schedule.next_incremental_at = _next_incremental_at(schedule, now)
        return None
    if not (full_due or incremental_due):
        return None
    if full_due:
        # Due, or first sight of the link: a full run now, then nightly.
        schedule.next_full_at = next_full_at(full_hour=schedule.full_hour, now=now)
    schedule.next_incremental_at = _next_incremental_at(schedule, now)
    return _Plan(schedule, SyncMode.FULL if full_due else SyncMode.INCREMENTAL)


def _runs_start(plans: list[_Plan], now: datetime) -> list[int]:
    """Create the planned runs in one INSERT and publish each after the commit.

    The batch holds its links' locks, which :func:`sync_run_request` takes too, so no run can
    appear in between, except one committed after this batch's snapshot was read: then the
    INSERT breaks the one-active-run index and the batch asks link by link instead.
    """
    try:
        with transaction.atomic():
            runs = SyncRun.objects.bulk_create(
                [
                    SyncRun(
                        link_id=plan.schedule.link_id,
                        mode=plan.mode,
                        trigger=_TRIGGER,
                        checkpoint={"phase": "schema"},
                    )
                    for plan in plans
                ]
            )
    except IntegrityError:
        created = []
        for plan in plans:
            run, new = sync_run_request(link=plan.schedule.link, mode=plan.mode, trigger=_TRIGGER)
            if new and run.is_active:
                created.append(run.pk)
            elif plan.mode == SyncMode.FULL and run.mode != SyncMode.FULL:
                plan.schedule.next_full_at = now + BUSY_RETRY  # busy after all, as in _plan
        return created
    for run in runs:
        enqueue_task(Task.SYNC_RUN_STEP, run.pk)
    return [run.pk for run in runs]


def _due_times_save(schedules: list[SyncSchedule]) -> None:
    """Store the batch's new due times in one UPDATE."""
    if connection.vendor != "postgresql":
        SyncSchedule.objects.bulk_update(schedules, ["next_full_at", "next_incremental_at"])
        return
    # bulk_update builds a CASE of two branches per row per field: ~0.7 ms a row in Python
    # at a batch of a thousand, against a VALUES list PostgreSQL joins on.
    table = connection.ops.quote_name(SyncSchedule._meta.db_table)
    values = ", ".join(["(%s, %s::timestamptz, %s::timestamptz)"] * len(schedules))
    params = [v for s in schedules for v in (s.pk, s.next_full_at, s.next_incremental_at)]
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} AS s SET next_full_at = v.full_at, "  # noqa: S608 - placeholders
            f"next_incremental_at = v.incremental_at FROM (VALUES {values}) "
            "AS v(id, full_at, incremental_at) WHERE s.id = v.id",
            params,
        )


def sync_schedule_due(*, now: datetime | None = None, batch: int = DUE_BATCH) -> list[int]:
    """Queue the runs that are due (beat, every minute); returns the ids of new runs.

    A constant number of queries per batch of ``batch`` due schedules, however many links
    there are (see the module's docstring).
    """
    now = now or timezone.now()
    _schedules_add(now)
    created: list[int] = []
    while True:
        with transaction.atomic():
            schedules = _due_batch(now, batch)
            if not schedules:
                break
            plans = [plan for schedule in schedules if (plan := _plan(schedule, now))]
            if plans:
                created += _runs_start(plans, now)
            _due_times_save(schedules)
        if len(schedules) < batch:
            break
    return created


def sync_schedule_get(*, link: Link) -> SyncSchedule | None:
    return SyncSchedule.objects.filter(link=link).first()


def sync_schedule_set(
    *,
    user: AnyUser,
    tenant: Tenant,
    enabled: bool,
    incremental_minutes: int,
    full_hour: int,
) -> SyncSchedule:
    """Override when the tenant's link syncs (agency staff only)."""
    if not can_manage_tenant(user=user, tenant=tenant):
        raise PermissionDenied("Only agency staff can change the sync schedule.")
    if not 5 <= incremental_minutes <= 24 * 60:
        raise InvalidInputError("Between 5 minutes and 24 hours.", field="incremental_minutes")
    if not 0 <= full_hour <= 23:
        raise InvalidInputError("An hour from 0 to 23.", field="full_hour")
    link = link_get(tenant=tenant)
    if link is None:
        raise InvalidInputError("This tenant is not linked.")
    now = timezone.now()
    with transaction.atomic():
        schedule, _ = SyncSchedule.objects.select_for_update().get_or_create(link=link)
        changed_hour = schedule.full_hour != full_hour
        schedule.enabled = enabled
        schedule.incremental_minutes = incremental_minutes
        schedule.full_hour = full_hour
        schedule.next_incremental_at = now + timedelta(minutes=incremental_minutes)
        if changed_hour and schedule.next_full_at is not None:
            schedule.next_full_at = next_full_at(full_hour=full_hour, now=now, spread=False)
        schedule.save()
    return schedule
