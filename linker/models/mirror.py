"""The local mirror of linked accounts, sync runs and schedules, the write-back outbox and the
request ledger.

The mirror is keyed by Copernica's own ids (unique per database), so writing a page twice is a
no-op; a run and its checkpoint live in one row that is updated in the same transaction as the
page it describes, which is what makes a killed worker resume at the page it was on.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from linker.models.links import Link


class RemoteDatabase(models.Model):
    """A database of a linked Copernica account, with its fields, interests and collections."""

    link = models.ForeignKey(Link, on_delete=models.CASCADE, related_name="remote_databases")
    copernica_id = models.BigIntegerField()
    name = models.CharField(max_length=300)
    fields = models.JSONField(default=list)
    interests = models.JSONField(default=list)
    collections = models.JSONField(default=list)
    synced_at = models.DateTimeField(null=True, blank=True)
    removed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("link", "copernica_id")
        constraints = [
            models.UniqueConstraint(
                fields=["link", "copernica_id"], name="remote_database_unique_per_link"
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.copernica_id})"

    # ``fields`` and ``interests`` hold Copernica's own descriptions (dicts with ``name``,
    # ``type``, ``value``...): untrusted, so every reader goes through these.

    def _described(self, items: object) -> list[dict[str, object]]:
        if not isinstance(items, list):
            return []
        return [item for item in items if isinstance(item, dict) and item.get("name")]

    @property
    def field_names(self) -> list[str]:
        """The names of the database's fields, in Copernica's order."""
        return [str(item["name"]) for item in self._described(self.fields)]

    @property
    def interest_names(self) -> list[str]:
        """The names of the database's interests, in Copernica's order."""
        return [str(item["name"]) for item in self._described(self.interests)]

    def field_types(self) -> dict[str, str]:
        """Field name (lower case) → Copernica field type (``text`` when unsaid)."""
        return {
            str(item["name"]).lower(): str(item.get("type") or "text")
            for item in self._described(self.fields)
        }

    def field_defaults(self) -> dict[str, str]:
        """Field name → the default value Copernica gives a new profile."""
        return {
            str(item["name"]): str(item.get("value") or "") for item in self._described(self.fields)
        }


class RemoteProfile(models.Model):
    """One profile as Copernica last showed it. Upserted by (database, copernica_id)."""

    link = models.ForeignKey(Link, on_delete=models.CASCADE, related_name="+", db_index=False)
    database = models.ForeignKey(RemoteDatabase, on_delete=models.CASCADE, related_name="profiles")
    copernica_id = models.BigIntegerField()
    fields = models.JSONField(default=dict)
    interests = models.JSONField(default=list)
    created = models.DateTimeField(null=True, blank=True)
    modified = models.DateTimeField(null=True, blank=True)
    removed_at = models.DateTimeField(null=True, blank=True)
    # The run that last changed this row (a run that finds nothing new changes no row at all).
    last_run = models.ForeignKey(
        "SyncRun",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_constraint=False,
        db_index=False,
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["database", "copernica_id"], name="remote_profile_unique_per_database"
            )
        ]
        indexes = [
            models.Index(fields=["link", "-modified"], name="remote_profile_link_modified"),
            models.Index(fields=["database", "modified"], name="remote_profile_db_modified"),
        ]

    def __str__(self) -> str:
        return f"Profile {self.copernica_id}"


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
    # {"phase": "schema" | "profiles" | "reconcile", "databases": [...], "db_index": n,
    #  "after_id": id, "watermarks": {...}}: where the next chunk starts.
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
        indexes = [models.Index(fields=["state", "heartbeat_at"], name="sync_run_state_heartbeat")]

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
    # set of missing ids has the same fingerprint.
    pending_removal_fingerprint = models.CharField(max_length=64, blank=True)
    pending_removal_count = models.PositiveIntegerField(default=0)
    pending_removal_run = models.ForeignKey(
        SyncRun, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    def __str__(self) -> str:
        return f"Sync schedule of link {self.link_id}"


class ProfileChange(models.Model):
    """A profile create, update or delete waiting for (or done by) Copernica: the outbox."""

    class Kind(models.TextChoices):
        CREATE = "create", "Create"
        UPDATE = "update", "Update"
        DELETE = "delete", "Delete"

    class State(models.TextChoices):
        QUEUED = "queued", "Queued"
        SENDING = "sending", "Sending"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    link = models.ForeignKey(Link, on_delete=models.CASCADE, related_name="profile_changes")
    database = models.ForeignKey(RemoteDatabase, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    # The profile an update or delete is for; a create's new id once Copernica made it.
    copernica_profile_id = models.BigIntegerField(null=True, blank=True)
    fields = models.JSONField(default=dict, blank=True)
    interests = models.JSONField(null=True, blank=True)
    state = models.CharField(max_length=10, choices=State.choices, default=State.QUEUED)
    attempts = models.PositiveIntegerField(default=0)
    # A create whose earlier attempt may have reached Copernica: look it up before re-creating.
    in_doubt = models.BooleanField(default=False)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    sending_since = models.DateTimeField(null=True, blank=True)
    attempt_log = models.JSONField(default=list, blank=True)
    error_message = models.CharField(max_length=500, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("id",)
        indexes = [
            models.Index(fields=["state", "next_attempt_at"], name="profile_change_due"),
            models.Index(
                fields=["link", "copernica_profile_id", "id"], name="profile_change_order"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} of profile {self.copernica_profile_id or '(new)'}"

    @property
    def is_finished(self) -> bool:
        return self.state in (self.State.DONE, self.State.FAILED, self.State.CANCELLED)


class RequestLedger(models.Model):
    """Requests made to Copernica per account and day (flushed in batches, not per request)."""

    link = models.ForeignKey(Link, on_delete=models.CASCADE, related_name="+")
    account_key = models.CharField(max_length=64)
    day = models.DateField()
    requests = models.PositiveBigIntegerField(default=0)
    errors = models.PositiveBigIntegerField(default=0)
    rate_limited = models.PositiveBigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["link", "day"], name="request_ledger_link_day")
        ]

    def __str__(self) -> str:
        return f"{self.account_key} on {self.day}: {self.requests} requests"
