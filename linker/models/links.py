"""API applications, links between tenants and Copernica accounts, and the handshake's state."""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q

from accounts.models import Agency, Tenant


class ApiApplication(models.Model):
    """A Copernica API application: what the OAuth handshake identifies itself as."""

    # Bound into the ciphertext as associated data: a secret copied to another row won't decrypt.
    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    agency = models.ForeignKey(
        Agency, on_delete=models.CASCADE, null=True, blank=True, related_name="applications"
    )
    name = models.CharField(max_length=200)
    client_id = models.CharField(max_length=200)
    client_secret_encrypted = models.TextField(editable=False)
    client_secret_fingerprint = models.CharField(max_length=20, editable=False)
    redirect_uri = models.URLField(max_length=500)
    authorize_url = models.URLField(max_length=500)
    token_url = models.URLField(max_length=500)
    auth_url = models.URLField(max_length=500)
    api_url = models.URLField(max_length=500)
    rest_url = models.URLField(max_length=500)
    is_default = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # A retired application starts no new handshake; links made with it keep it (PROTECT), so
    # it is retired rather than deleted.
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("name", "id")
        constraints = [
            models.UniqueConstraint(
                fields=["agency"], condition=Q(is_default=True), name="one_default_application"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class LinkState(models.TextChoices):
    PENDING = "pending", "Pending"
    ACTIVE = "active", "Active"
    NEEDS_RECONNECT = "needs_reconnect", "Needs reconnect"
    DISCONNECTED = "disconnected", "Disconnected"


#: ``Link`` columns written only by the database (triggers, migrations 0012 and 0016) and by
#: ``.update()``.
DATABASE_OWNED = frozenset(
    {"latest_run_state", "copernica_count", "profiles_mirrored", "status_rank"}
)


class Link(models.Model):
    """A tenant's link to one Copernica account. One per tenant; reconnecting reuses it."""

    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    tenant = models.OneToOneField(Tenant, on_delete=models.CASCADE, related_name="link")
    application = models.ForeignKey(
        ApiApplication, on_delete=models.PROTECT, null=True, blank=True, related_name="links"
    )
    state = models.CharField(max_length=20, choices=LinkState.choices, default=LinkState.PENDING)
    state_changed_at = models.DateTimeField(null=True, blank=True)
    state_reason = models.CharField(max_length=300, blank=True)
    # The Copernica API token (OAuth access token or a pasted one), encrypted by the vault
    # (linker.platform.vault).
    access_token_encrypted = models.TextField(blank=True, editable=False)
    token_fingerprint = models.CharField(max_length=20, blank=True, editable=False)
    # Which hosts this link talks to: copied from the application (or settings) at link time.
    auth_url = models.URLField(max_length=500, blank=True)
    api_url = models.URLField(max_length=500, blank=True)
    rest_url = models.URLField(max_length=500, blank=True)
    copernica_account_id = models.CharField(max_length=50, blank=True, db_index=True)
    copernica_account_name = models.CharField(max_length=300, blank=True)
    copernica_company = models.CharField(max_length=300, blank=True)
    linked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    linked_at = models.DateTimeField(null=True, blank=True)
    last_verified_at = models.DateTimeField(null=True, blank=True)
    # Bumped on every token change: queued work compares it and stops when the token changed.
    token_version = models.PositiveIntegerField(default=0)
    # What the agency dashboard shows, kept on this row so that its page reads columns, not one
    # subquery per tenant (issue 16). Written by database triggers on the runs table
    # (migration 0012): the state of the latest run that says something about the account's
    # health (skipped and cancelled ones don't), and the counts of the latest successful run.
    # ``profiles_mirrored`` is the live count as of that run (mirror writes between runs show
    # at the next run's end; deleting the mirror resets it).
    latest_run_state = models.CharField(max_length=10, blank=True, default="", editable=False)
    copernica_count = models.PositiveIntegerField(null=True, blank=True, editable=False)
    profiles_mirrored = models.PositiveIntegerField(default=0, editable=False)
    # The dashboard's status as its sort rank (linker.health.selectors), from this row's state,
    # token and ``latest_run_state``, written by a trigger on this table (migration 0016) so
    # that a status filter or chip is read by its index. Never NULL once the row is written.
    status_rank = models.PositiveSmallIntegerField(null=True, editable=False)

    class Meta:
        indexes = [
            models.Index(fields=["state"]),
            models.Index(fields=["status_rank"], name="link_status_rank"),
        ]

    def __str__(self) -> str:
        return f"{self.tenant} → {self.copernica_account_name or 'not linked'}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        # The columns the triggers keep are never written back from a copy read earlier: a
        # plain save() of an existing link updates every other field.
        if not self._state.adding and kwargs.get("update_fields") is None:
            kwargs["update_fields"] = [
                field.name
                for field in self._meta.concrete_fields
                if not field.primary_key and field.name not in DATABASE_OWNED
            ]
        super().save(*args, **kwargs)

    @property
    def is_usable(self) -> bool:
        return self.state == LinkState.ACTIVE and bool(self.access_token_encrypted)

    @staticmethod
    def usable_q(via: str = "") -> models.Q:
        """:attr:`is_usable` as a filter: of links, or of rows ``via`` their link (``"link__"``)."""
        return models.Q(**{f"{via}state": LinkState.ACTIVE}) & ~models.Q(
            **{f"{via}access_token_encrypted": ""}
        )

    @property
    def holds_mirror(self) -> bool:
        """Whether any database is still mirrored (one query; for the tenant page)."""
        return self.remote_databases.filter(removed_at=None).exists()


class LinkEvent(models.Model):
    """The timeline of a link: what changed, when, by whom and why."""

    class Kind(models.TextChoices):
        CONNECT_STARTED = "connect_started", "Connect started"
        LINKED = "linked", "Linked"
        RELINKED = "relinked", "Reconnected"
        LINK_FAILED = "link_failed", "Linking failed"
        ACCESS_DENIED = "access_denied", "Access denied at Copernica"
        TOKEN_REJECTED = "token_rejected", "Token rejected by Copernica"
        VERIFIED = "verified", "Verified"
        DISCONNECTED = "disconnected", "Disconnected"
        MIRROR_DELETED = "mirror_deleted", "Mirrored data deleted"

    link = models.ForeignKey(Link, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=30, choices=Kind.choices)
    message = models.CharField(max_length=500, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ("-created_at", "-id")

    def __str__(self) -> str:
        return f"{self.get_kind_display()} at {self.created_at:%Y-%m-%d %H:%M}"


class OAuthState(models.Model):
    """One started handshake. Only the state's hash is stored; it is consumed exactly once."""

    state_hash = models.CharField(max_length=64, unique=True)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    application = models.ForeignKey(ApiApplication, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    # Binds the flow to the browser that started it (hash of the session key).
    session_hash = models.CharField(max_length=64)
    connect_link = models.ForeignKey(
        "ConnectLink", on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    consumed_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"Handshake for {self.tenant} started {self.created_at:%Y-%m-%d %H:%M}"


class ConnectLink(models.Model):
    """A single-use invitation for a client's admin without a login to link one tenant."""

    token_hash = models.CharField(max_length=64, unique=True)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="connect_links")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    # The first time the client opened it (the agency sees whether it arrived).
    opened_at = models.DateTimeField(null=True, blank=True)
    used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-created_at",)

    def __str__(self) -> str:
        return f"Connect link for {self.tenant}"
