"""API keys of the JSON API (``/api/v1/``), the log of the requests made with them, and the
answers kept for ``Idempotency-Key`` retries."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from accounts.models import Agency


class ApiKeyScope(models.TextChoices):
    READ = "read", "Read"
    WRITE = "write", "Write"
    ADMIN = "admin", "Admin"


class ApiKey(models.Model):
    """A secret an agency's systems send as ``Authorization: Bearer <key>``.

    Only the SHA-256 of the key is stored (``key_hash``); ``prefix`` is its first characters,
    shown in lists so that people can tell keys apart. A key acts with the rights of the agency
    admin who created it, within its agency and its scopes; it stops working when revoked or
    when that person leaves the agency.
    """

    agency = models.ForeignKey(Agency, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, unique=True)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    # A subset of ApiKeyScope's values.
    scopes = models.JSONField(default=list)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    # Updated at most once a minute per key (linker.platform.api_keys.LAST_USED_EVERY).
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_reason = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ("-created_at", "-id")
        indexes = [models.Index(fields=["agency", "-created_at"], name="api_key_agency_created")]

    def __str__(self) -> str:
        return f"API key {self.prefix}… ({self.name})"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    def has_scope(self, scope: str) -> bool:
        return scope in (self.scopes or [])


class ApiRequestLog(models.Model):
    """One request to the JSON API: the API section of the agency's security log.

    ``agency`` and ``key`` are empty for a request with no key or an unknown one (kept for
    the operator; no agency sees them).
    """

    agency = models.ForeignKey(
        Agency, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    key = models.ForeignKey(
        ApiKey, on_delete=models.SET_NULL, null=True, blank=True, related_name="requests"
    )
    method = models.CharField(max_length=10)
    # The path and query string, with secret-looking values masked.
    path = models.CharField(max_length=500)
    status = models.PositiveSmallIntegerField()
    duration_ms = models.PositiveIntegerField()
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ("-at", "-id")
        indexes = [models.Index(fields=["agency", "-at"], name="api_request_agency_at")]

    def __str__(self) -> str:
        return f"{self.method} {self.path} → {self.status}"


class ApiIdempotentRequest(models.Model):
    """The first answer to a write sent with an ``Idempotency-Key``, per agency.

    A retry with the same key and the same request (``fingerprint``) gets this answer again
    and changes nothing; the same key with another request is refused.
    """

    agency = models.ForeignKey(Agency, on_delete=models.CASCADE, related_name="+")
    idempotency_key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64)
    status = models.PositiveSmallIntegerField()
    response = models.JSONField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["agency", "idempotency_key"], name="api_idempotency_key_per_agency"
            ),
        ]
        indexes = [
            models.Index(fields=["created_at"], name="api_idempotency_created"),
        ]

    def __str__(self) -> str:
        return f"Idempotency-Key {self.idempotency_key!r}"
