"""Notifications for agency admins: one row (and one email) per cause."""

from __future__ import annotations

from django.db import models

from accounts.models import Agency, Tenant
from linker.models.links import Link


class Notification(models.Model):
    """Something an agency must act on. ``cause_key`` is unique: a cause is announced once."""

    class Kind(models.TextChoices):
        NEEDS_RECONNECT = "needs_reconnect", "Needs reconnect"
        SYNC_FAILING = "sync_failing", "Sync failing"

    agency = models.ForeignKey(
        Agency, on_delete=models.CASCADE, null=True, blank=True, related_name="notifications"
    )
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="notifications")
    link = models.ForeignKey(Link, on_delete=models.CASCADE, related_name="notifications")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    # e.g. "needs_reconnect:12:2025-01-01T10:00:00" -- the link and the moment the cause began.
    cause_key = models.CharField(max_length=200, unique=True)
    message = models.CharField(max_length=500)
    created_at = models.DateTimeField(auto_now_add=True)
    emailed_at = models.DateTimeField(null=True, blank=True)
    emailed_to = models.PositiveIntegerField(default=0)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-created_at", "-id")
        indexes = [models.Index(fields=["agency", "resolved_at"], name="notification_open")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.tenant}"
