"""Polling as the gap check: what each incremental run found that no webhook had brought.

The sync engine is not touched: after a run, the rows it changed carry it as ``last_run`` (a
run changes no row that already matches Copernica). While the link's webhooks are healthy,
such a row changed at Copernica after ``healthy_since`` was either missed by the webhooks
(dropped, refused, never sent) or still on its way. A delivery on its way reaches the inbox
eventually, so the tally (beat, every few minutes, after the run) counts a row as missed
only when no inbox event for that (sub)profile states a ``modified`` at least as new, and it
counts each run once (``tallied_run_id``).
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from linker.models import (
    InboundEvent,
    InboundLink,
    RemoteProfile,
    RemoteSubprofile,
    SyncMode,
    SyncRun,
    SyncState,
)


def inbound_gaps_count(*, run: SyncRun, since: object) -> int:
    """Rows ``run`` changed, modified at Copernica after ``since``, that no webhook brought."""
    counted = 0
    for model, kind in ((RemoteProfile, "profile"), (RemoteSubprofile, "subprofile")):
        brought = InboundEvent.objects.filter(
            link_id=run.link_id,
            kind=kind,
            copernica_id=OuterRef("copernica_id"),
            modified__gte=OuterRef("modified"),
        )
        counted += (
            model.objects.filter(link_id=run.link_id, last_run=run, modified__gte=since)
            .exclude(Exists(brought))
            .count()
        )
    return counted


def inbound_gaps_tally() -> int:
    """Count the misses of every incremental run finished since the last tally; beat."""
    total = 0
    today = timezone.localdate()
    for inbound_id in InboundLink.objects.values_list("pk", flat=True):
        with transaction.atomic():
            inbound = InboundLink.objects.select_for_update().get(pk=inbound_id)
            runs = list(
                SyncRun.objects.filter(
                    link_id=inbound.link_id,
                    state=SyncState.SUCCEEDED,
                    pk__gt=inbound.tallied_run_id,
                ).order_by("pk")
            )
            if not runs:
                continue
            missed = 0
            if inbound.healthy_since is not None:
                missed = sum(
                    inbound_gaps_count(run=run, since=inbound.healthy_since)
                    for run in runs
                    if run.mode == SyncMode.INCREMENTAL
                )
            if inbound.missed_date != today:
                inbound.missed_date, inbound.missed_count = today, 0
            inbound.missed_count += missed
            inbound.missed_total += missed
            inbound.tallied_run_id = runs[-1].pk
            inbound.save(
                update_fields=["missed_date", "missed_count", "missed_total", "tallied_run_id"]
            )
            total += missed
    return total
