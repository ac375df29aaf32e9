"""The write-back outbox: profile and subprofile changes waiting for (or done by) Copernica."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from linker.models.links import Link
from linker.models.mirror import RemoteCollection, RemoteDatabase


class ProfileChange(models.Model):
    """A profile or subprofile create, update or delete waiting for (or done by) Copernica.

    A subprofile change has ``collection`` set; its ``copernica_profile_id`` is the profile the
    subprofile belongs to, so a profile's changes and its subprofiles' changes go out in the
    order they were made.
    """

    class Kind(models.TextChoices):
        CREATE = "create", "Create"
        UPDATE = "update", "Update"
        DELETE = "delete", "Delete"

    class State(models.TextChoices):
        QUEUED = "queued", "Queued"
        # The link needs reconnecting: kept, and sent in order once someone reconnects.
        WAITING = "waiting", "Waiting for reconnect"
        SENDING = "sending", "Sending"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"
        # Copernica changed the (sub)profile after the copy the user edited: nothing was sent;
        # someone decides (send anyway, or discard).
        CONFLICT = "conflict", "Conflict"

    link = models.ForeignKey(Link, on_delete=models.CASCADE, related_name="profile_changes")
    database = models.ForeignKey(RemoteDatabase, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    # The profile an update or delete is for; a create's new id once Copernica made it. For a
    # subprofile change: the profile the subprofile belongs to.
    copernica_profile_id = models.BigIntegerField(null=True, blank=True)
    collection = models.ForeignKey(
        RemoteCollection, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    # The subprofile an update or delete is for; a create's new id once Copernica made it.
    copernica_subprofile_id = models.BigIntegerField(null=True, blank=True)
    # ``modified`` of the mirror copy the user edited (updates): Copernica's newer one is a
    # conflict, unless ``force`` (the user chose to send anyway).
    base_modified = models.DateTimeField(null=True, blank=True)
    force = models.BooleanField(default=False)
    # Copernica's values and ``modified`` when the conflict was found, shown beside the edit.
    conflict = models.JSONField(null=True, blank=True)
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
        if self.collection_id is not None:
            return (
                f"{self.get_kind_display()} of subprofile {self.copernica_subprofile_id or '(new)'}"
            )
        return f"{self.get_kind_display()} of profile {self.copernica_profile_id or '(new)'}"

    @property
    def is_subprofile(self) -> bool:
        return self.collection_id is not None

    @property
    def is_finished(self) -> bool:
        return self.state in (self.State.DONE, self.State.FAILED, self.State.CANCELLED)
