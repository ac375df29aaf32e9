"""Copernica's webhooks into the mirror: each link's registration, and the inbox of deliveries.

An :class:`InboundLink` holds the unguessable handler id in the URL Copernica calls, the
webhooks registered there and their health; an :class:`InboundEvent` is one accepted (verified)
delivery, stored before it is answered and applied by a worker later (``linker.inbound``).
"""

from __future__ import annotations

import secrets
from datetime import date

from django.db import models
from django.utils import timezone

from linker.models.links import Link


def new_handler_id() -> str:
    """256 bits, URL-safe: the handler URL is the only thing that names the link."""
    return secrets.token_urlsafe(32)


class WebhookHealth(models.TextChoices):
    # Every expected webhook is registered at Copernica (checked at link time and daily).
    HEALTHY = "healthy", "Healthy"
    # Not (all) registered yet, or found missing and not repaired yet.
    MISSING = "missing", "Missing"
    # Registering or checking them failed; the normal polling interval applies.
    FAILING = "failing", "Failing"


class InboundLink(models.Model):
    """A link's webhooks at Copernica and what came of them."""

    link = models.OneToOneField(Link, on_delete=models.CASCADE, related_name="inbound")
    handler_id = models.CharField(max_length=64, unique=True, default=new_handler_id)
    state = models.CharField(
        max_length=10, choices=WebhookHealth.choices, default=WebhookHealth.MISSING
    )
    state_reason = models.CharField(max_length=300, blank=True)
    checked_at = models.DateTimeField(null=True, blank=True)
    # Since when the current set is complete: changes before it cannot be "missed" by webhooks.
    healthy_since = models.DateTimeField(null=True, blank=True)
    # Deliveries refused (401): forged, stale, for another account...; never stored.
    refused_count = models.PositiveIntegerField(default=0)
    refused_last_at = models.DateTimeField(null=True, blank=True)
    refused_last_reason = models.CharField(max_length=40, blank=True)
    accepted_count = models.PositiveIntegerField(default=0)
    accepted_last_at = models.DateTimeField(null=True, blank=True)
    # What incremental runs (the gap check) found that no webhook had brought, per day.
    missed_date = models.DateField(null=True, blank=True)
    missed_count = models.PositiveIntegerField(default=0)
    missed_total = models.PositiveIntegerField(default=0)
    # The newest sync run already compared (runs are counted once).
    tallied_run_id = models.BigIntegerField(default=0)

    new_handler_id = staticmethod(new_handler_id)

    def __str__(self) -> str:
        return f"Webhooks of link {self.link_id} ({self.state})"

    @property
    def missed_today(self) -> int:
        today: date = timezone.localdate()
        return self.missed_count if self.missed_date == today else 0


class InboundWebhook(models.Model):
    """One webhook registered at Copernica for a link: a trigger on a database or collection."""

    inbound = models.ForeignKey(InboundLink, on_delete=models.CASCADE, related_name="webhooks")
    webhook_id = models.CharField(max_length=30)
    trigger = models.CharField(max_length=10)
    database_copernica_id = models.BigIntegerField(null=True, blank=True)
    collection_copernica_id = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["inbound", "webhook_id"], name="inbound_webhook_unique_per_link"
            )
        ]

    def __str__(self) -> str:
        return f"Webhook {self.webhook_id} ({self.trigger})"


class InboundEvent(models.Model):
    """One accepted delivery, as Copernica sent it; applied to the mirror by a worker."""

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        APPLIED = "applied", "Applied"
        # Nothing to change: a duplicate, older than the mirror, or for something not mirrored.
        SKIPPED = "skipped", "Skipped"
        FAILED = "failed", "Failed"

    # No index of its own: the unique (link, body) index below serves every lookup by link.
    link = models.ForeignKey(Link, on_delete=models.CASCADE, related_name="+", db_index=False)
    # SHA-256 of the body: the same delivery twice (a retry, a duplicate, a replay inside the
    # window, or one change fired by both a database and a collection webhook) is stored once.
    body_sha256 = models.CharField(max_length=64)
    action = models.CharField(max_length=10)
    # "profile" or "subprofile".
    kind = models.CharField(max_length=10)
    copernica_id = models.BigIntegerField()
    profile_copernica_id = models.BigIntegerField(null=True, blank=True)
    database_copernica_id = models.BigIntegerField(null=True, blank=True)
    collection_copernica_id = models.BigIntegerField(null=True, blank=True)
    # The (sub)profile's ``modified`` as the event states it (none for a delete).
    modified = models.DateTimeField(null=True, blank=True)
    # Its ``created``, read as ``modified`` is: by the receiver, not by each batch in SQL.
    created = models.DateTimeField(null=True, blank=True)
    # The variables as sent (fields, interests, created, modified, timestamp...).
    payload = models.JSONField(default=dict)
    received_at = models.DateTimeField(default=timezone.now)
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    applied_at = models.DateTimeField(null=True, blank=True)
    note = models.CharField(max_length=300, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["link", "body_sha256"], name="inbound_event_unique_delivery"
            )
        ]
        # Nothing a worker changes when it finishes an event (state, note, applied_at) is in an
        # index, and the table keeps room on each page (fillfactor, migration 0021): finishing
        # is a HOT update, a new version beside the old one and no index entry. The pending
        # ones are found through InboundPending instead of an index on ``state``.
        indexes = [
            models.Index(fields=["link", "kind", "copernica_id"], name="inbound_event_record"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.action} {self.copernica_id}"


class InboundPending(models.Model):
    """An inbox event not applied yet, in the queue the worker reads in arrival order.

    Written by a trigger on every insert of a pending :class:`InboundEvent` (migration 0021:
    events are stored by the receiver, the bench and tests alike) and deleted by the worker
    in the statement that finishes the event. A narrow table of its own, so that finishing
    changes no indexed column of the inbox row.

    Deleting an event deletes its row here by a trigger too, not by Django: a relation Django
    cascades along would make every delete of events (the daily prune) load them first.
    """

    event = models.OneToOneField(
        InboundEvent,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        primary_key=True,
        related_name="pending",
    )
    link = models.ForeignKey(Link, on_delete=models.CASCADE, related_name="+", db_index=False)

    class Meta:
        indexes = [models.Index(fields=["link", "event"], name="inbound_pending_order")]

    def __str__(self) -> str:
        return f"Pending event {self.event_id}"
