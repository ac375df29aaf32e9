"""Sync runs and schedules, and the request ledger.

A run and its checkpoint live in one row that is updated in the same transaction as the page it
describes, which is what makes a killed worker resume at the page it was on.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from linker.models.links import Link


class SyncMode(models.TextChoices):
    FULL = "full", "Full"
    INCREMENTAL = "incremental", "Incremental"


class SyncState(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"
    SKIPPED = "skipped", "Skipped"


ACTIVE_SYNC_STATES = (SyncState.QUEUED, SyncState.RUNNING)


class SyncRun(models.Model):
    """One sync of one link: its progress, checkpoint, counts and outcome."""

    link = models.ForeignKey(Link, on_delete=models.CASCADE, related_name="sync_runs")
    mode = models.CharField(max_length=12, choices=SyncMode.choices)
    state = models.CharField(max_length=10, choices=SyncState.choices, default=SyncState.QUEUED)
    trigger = models.CharField(max_length=20, default="manual")
    # {"phase": "schema" | "profiles" | "reconcile" | "done", "sources": ["profiles:<pk>",
    #  "subprofiles:<pk>", ...], "copernica_ids": {...}, "source_index": n, "after_id": id,
    #  "since": {source: "modified>= bound"}, "reconcile": {...}}: where the next chunk starts
    #  (linker.sync.engine; the reconcile phase's part: linker.sync.reconcile).
    checkpoint = models.JSONField(default=dict)
    fetched = models.PositiveIntegerField(default=0)
    created_count = models.PositiveIntegerField(default=0)
    updated_count = models.PositiveIntegerField(default=0)
    removed_count = models.PositiveIntegerField(default=0)
    pages = models.PositiveIntegerField(default=0)
    requests = models.PositiveIntegerField(default=0)
    chunks = models.PositiveIntegerField(default=0)
    # Every claim by a worker; ``failures`` counts claims in a row that made no progress (a
    # crash or an error) and ends a poison run at ``LINKER_SYNC_MAX_ATTEMPTS``.
    attempts = models.PositiveIntegerField(default=0)
    failures = models.PositiveIntegerField(default=0)
    claim = models.CharField(max_length=32, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    not_before = models.DateTimeField(null=True, blank=True)
    queued_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    error_class = models.CharField(max_length=100, blank=True)
    error_message = models.CharField(max_length=500, blank=True)
    # After a full run: how many profiles Copernica lists, and how many live ones we hold.
    remote_count = models.PositiveIntegerField(null=True, blank=True)
    local_count = models.PositiveIntegerField(null=True, blank=True)
    pending_removals = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ("-queued_at", "-id")
        constraints = [
            models.UniqueConstraint(
                fields=["link"],
                condition=Q(state__in=["queued", "running"]),
                name="one_active_sync_run_per_link",
            )
        ]
        indexes = [
            # Runs that ended lately, by state (the metrics). Not the heartbeat: every page
            # of a run moves it, and an indexed column changed makes each of those updates
            # write an entry in every index of the table instead of a HOT update (migration
            # 0023). The reconciler's active runs are few, found by the partial unique index.
            models.Index(fields=["state", "finished_at"], name="sync_run_state_finished"),
            # The latest run of a link, as the trigger that keeps ``Link.latest_run_state``
            # looks it up on every change of a run's state (migration 0012).
            models.Index(fields=["link", "-queued_at", "-id"], name="sync_run_link_latest"),
        ]

    def __str__(self) -> str:
        return f"{self.get_mode_display()} sync of link {self.link_id}: {self.state}"

    @property
    def is_active(self) -> bool:
        return self.state in ACTIVE_SYNC_STATES

    @property
    def in_sync_label(self) -> str:
        if self.remote_count is None or self.local_count is None:
            return ""
        return f"in sync: {self.local_count} / {self.remote_count}"


class SyncSchedule(models.Model):
    """When a link syncs, plus what the sync engine remembers between runs."""

    link = models.OneToOneField(Link, on_delete=models.CASCADE, related_name="sync_schedule")
    enabled = models.BooleanField(default=True)
    incremental_minutes = models.PositiveIntegerField(default=15)
    full_hour = models.PositiveSmallIntegerField(default=2, help_text="Hour of the nightly run.")
    next_incremental_at = models.DateTimeField(null=True, blank=True)
    next_full_at = models.DateTimeField(null=True, blank=True)
    last_full_at = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    # The mass-delete guard: a removal above the threshold waits for a second full run whose
    # set of missing ids has the same fingerprint. Per source (``{"profiles:12":
    # {"fingerprint": ..., "count": n}}``); ``pending_removal_fingerprint`` is the digest of
    # that map, so clearing it (as relinking does) voids the map.
    pending_removal_sources = models.JSONField(default=dict, blank=True)
    pending_removal_fingerprint = models.CharField(max_length=64, blank=True)
    pending_removal_count = models.PositiveIntegerField(default=0)
    pending_removal_run = models.ForeignKey(
        SyncRun, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    def __str__(self) -> str:
        return f"Sync schedule of link {self.link_id}"


class SyncRemoteId(models.Model):
    """One entry of a full run's copy of Copernica's id list of one source, for the removal
    check (:mod:`linker.sync.removals`); ``missing`` rows are the live mirror rows the list
    lacks, as decided before any of them is marked removed.

    ``source`` is the source's position in the run's checkpoint and ``ordinal`` the entry's
    offset in the list (so a list can be loaded again from any offset without duplicates).
    UNLOGGED on PostgreSQL (a copy of Copernica's answer is cheap to fetch again: a crash
    empties it and the run reloads what it misses). The rows of a run go when its reconcile
    ends; those of runs that stopped earlier go when any full run reaches its reconcile.
    """

    pk = models.CompositePrimaryKey("run_id", "source", "missing", "ordinal")
    run_id = models.BigIntegerField()
    source = models.PositiveIntegerField()
    missing = models.BooleanField(default=False)
    ordinal = models.PositiveIntegerField()
    copernica_id = models.BigIntegerField()

    def __str__(self) -> str:
        return f"Id {self.copernica_id} of source {self.source} of run {self.run_id}"


class RequestLedger(models.Model):
    """Requests made to Copernica per account and day (flushed in batches, not per request)."""

    link = models.ForeignKey(Link, on_delete=models.CASCADE, related_name="request_ledgers")
    account_key = models.CharField(max_length=64)
    day = models.DateField()
    requests = models.PositiveBigIntegerField(default=0)
    errors = models.PositiveBigIntegerField(default=0)
    rate_limited = models.PositiveBigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["link", "day"], name="request_ledger_link_day")
        ]
        # Today's rows of every link, as the dashboard joins them (one row per link).
        indexes = [models.Index(fields=["day", "link"], name="request_ledger_day_link")]

    def __str__(self) -> str:
        return f"{self.account_key} on {self.day}: {self.requests} requests"
