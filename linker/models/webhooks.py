"""Outbound webhooks: an agency's endpoints, the events written for them (the outbox), one
delivery per event and endpoint, and every attempt at it (the delivery log)."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from accounts.models import Agency, Tenant


class WebhookEventType(models.TextChoices):
    LINK_CONNECTED = "link.connected", "Link connected"
    LINK_NEEDS_RECONNECT = "link.needs_reconnect", "Link needs reconnect"
    LINK_DISCONNECTED = "link.disconnected", "Link disconnected"
    SYNC_SUCCEEDED = "sync.succeeded", "Sync succeeded"
    SYNC_FAILED = "sync.failed", "Sync failed"
    PROFILE_CHANGE_DONE = "profile_change.done", "Profile change done"
    PROFILE_CHANGE_FAILED = "profile_change.failed", "Profile change failed"
    PROFILE_CHANGE_CONFLICT = "profile_change.conflict", "Profile change in conflict"


class WebhookEndpoint(models.Model):
    """A URL of an agency's that is sent the events it subscribed to, signed with its secret.

    The secret (``whsec_…``) is encrypted through the vault, bound to ``uid`` and this field.
    ``failing_since`` is the first failed attempt since the last success: 24 h of failures
    disable the endpoint.
    """

    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    agency = models.ForeignKey(Agency, on_delete=models.CASCADE, related_name="webhook_endpoints")
    url = models.CharField(max_length=500)
    description = models.CharField(max_length=200, blank=True)
    # A subset of WebhookEventType's values.
    event_types = models.JSONField(default=list)
    # Only this tenant's events; all of the agency's when empty.
    tenant = models.ForeignKey(
        Tenant, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    secret_encrypted = models.TextField(editable=False)
    enabled = models.BooleanField(default=True)
    disabled_reason = models.CharField(max_length=300, blank=True)
    failing_since = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ("-created_at", "-id")
        indexes = [models.Index(fields=["agency", "enabled"], name="webhook_endpoint_agency")]

    def __str__(self) -> str:
        return f"Webhook endpoint {self.url}"


class WebhookEvent(models.Model):
    """One event, written in the transaction of its cause. ``body`` is the exact JSON sent,
    so every attempt and every replay sends the same bytes."""

    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    agency = models.ForeignKey(Agency, on_delete=models.CASCADE, related_name="+")
    tenant = models.ForeignKey(
        Tenant, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    type = models.CharField(max_length=40, choices=WebhookEventType.choices)
    body = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.type} ({self.msg_id})"

    @property
    def msg_id(self) -> str:
        """The ``webhook-id`` header: the same for every attempt and replay of the event."""
        return f"msg_{self.uid.hex}"


class WebhookDelivery(models.Model):
    """An event on its way to one endpoint. Deliveries of one endpoint and tenant go out in
    ``id`` order: one waits while an earlier one is pending or sending."""

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"
        SUCCEEDED = "succeeded", "Delivered"
        FAILED = "failed", "Failed"

    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries"
    )
    event = models.ForeignKey(WebhookEvent, on_delete=models.CASCADE, related_name="deliveries")
    # The event's tenant, copied: the ordering key is (endpoint, tenant).
    tenant = models.ForeignKey(
        Tenant, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    sending_since = models.DateTimeField(null=True, blank=True)
    # Retries stop 24 h after this (a replay starts it again).
    first_attempt_at = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_duration_ms = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-id",)
        constraints = [
            models.UniqueConstraint(fields=["endpoint", "event"], name="webhook_delivery_once"),
        ]
        indexes = [
            models.Index(
                fields=["endpoint", "tenant", "id"],
                name="webhook_delivery_queue",
                condition=models.Q(state__in=["pending", "sending"]),
            ),
            models.Index(
                fields=["next_attempt_at"],
                name="webhook_delivery_due",
                condition=models.Q(state__in=["pending", "sending"]),
            ),
        ]

    def __str__(self) -> str:
        return f"Delivery {self.pk} of {self.event_id} to {self.endpoint_id}: {self.state}"


class WebhookAttempt(models.Model):
    """One POST of a delivery: the delivery log's row."""

    delivery = models.ForeignKey(
        WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log"
    )
    number = models.PositiveIntegerField()
    at = models.DateTimeField(default=timezone.now)
    succeeded = models.BooleanField(default=False)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
    error = models.CharField(max_length=300, blank=True)
    # The first bytes of the answer only (a receiver's page could be anything).
    response_excerpt = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ("-at", "-id")

    def __str__(self) -> str:
        return f"Attempt {self.number} of delivery {self.delivery_id}"
