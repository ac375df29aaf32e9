"""The local mirror of linked accounts: databases and collections, profiles and subprofiles.

The mirror is keyed by Copernica's own ids (unique per database or collection), so writing a
page twice is a no-op. Subprofiles keep their profile's Copernica id rather than a foreign key:
pages of them are COPYed in as they come, before or after their profile's page.
"""

from __future__ import annotations

from django.db import models

from linker.models.links import Link


def _described(items: object) -> list[dict[str, object]]:
    """Copernica's own descriptions (dicts with ``name``, ``type``...) of fields or interests,
    untrusted: only the well-formed ones."""
    if not isinstance(items, list):
        return []
    return [item for item in items if isinstance(item, dict) and item.get("name")]


class FieldsMixin:
    """Readers of a ``fields`` description list (a database's or a collection's)."""

    fields: object

    @property
    def field_names(self) -> list[str]:
        """The names of the fields, in Copernica's order."""
        return [str(item["name"]) for item in _described(self.fields)]

    def field_types(self) -> dict[str, str]:
        """Field name (lower case) → Copernica field type (``text`` when unsaid)."""
        return {
            str(item["name"]).lower(): str(item.get("type") or "text")
            for item in _described(self.fields)
        }

    def field_lengths(self) -> dict[str, int]:
        """Field name (lower case) → the most characters Copernica keeps (its ``length``), for
        the fields that say; ``0``, absent or not a number means no limit stated."""
        lengths: dict[str, int] = {}
        for item in _described(self.fields):
            raw = str(item.get("length") or "").strip()
            if raw.isascii() and raw.isdigit() and int(raw) > 0:
                lengths[str(item["name"]).lower()] = int(raw)
        return lengths

    def field_defaults(self) -> dict[str, str]:
        """Field name → the default value Copernica gives a new (sub)profile."""
        return {str(item["name"]): str(item.get("value") or "") for item in _described(self.fields)}


class MirroredSchema(FieldsMixin, models.Model):
    """What a mirrored database and a mirrored collection both are: a Copernica id, a name,
    field descriptions, and the counts of the last full run."""

    copernica_id = models.BigIntegerField()
    name = models.CharField(max_length=300)
    fields = models.JSONField(default=list)
    synced_at = models.DateTimeField(null=True, blank=True)
    removed_at = models.DateTimeField(null=True, blank=True)
    # After the last full run: rows Copernica listed, live rows we hold ("in sync n / n").
    remote_count = models.PositiveIntegerField(null=True, blank=True)
    local_count = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return f"{self.name} ({self.copernica_id})"


class RemoteDatabase(MirroredSchema):
    """A database of a linked Copernica account, with its fields, interests and collections."""

    link = models.ForeignKey(Link, on_delete=models.CASCADE, related_name="remote_databases")
    interests = models.JSONField(default=list)
    collections = models.JSONField(default=list)

    class Meta:
        ordering = ("link", "copernica_id")
        constraints = [
            models.UniqueConstraint(
                fields=["link", "copernica_id"], name="remote_database_unique_per_link"
            )
        ]

    @property
    def interest_names(self) -> list[str]:
        """The names of the database's interests, in Copernica's order."""
        return [str(item["name"]) for item in _described(self.interests)]


class RemoteCollection(MirroredSchema):
    """A collection of a mirrored database (orders, bookings...), with its fields."""

    link = models.ForeignKey(Link, on_delete=models.CASCADE, related_name="remote_collections")
    database = models.ForeignKey(
        "RemoteDatabase", on_delete=models.CASCADE, related_name="remote_collections"
    )

    class Meta:
        ordering = ("database", "copernica_id")
        constraints = [
            models.UniqueConstraint(
                fields=["link", "copernica_id"], name="remote_collection_unique_per_link"
            )
        ]


class RemoteProfile(models.Model):
    """One profile as Copernica last showed it. Upserted by (database, copernica_id)."""

    # Both parents are checked per statement by triggers of migration 0019, not by foreign-key
    # constraints, whose check per row cost the sync's COPY more than all indexes but one.
    link = models.ForeignKey(
        Link, on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False
    )
    # No index of its own: the unique (database, copernica_id) key serves every lookup by
    # database, and each index on this table is paid for by the sync's COPY.
    database = models.ForeignKey(
        RemoteDatabase,
        on_delete=models.CASCADE,
        related_name="profiles",
        db_index=False,
        db_constraint=False,
    )
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
    # The profile's values as the browser's trigram index reads them (linker.profiles.search),
    # written after the fact by linker.profiles.search_fill: NULL while unfilled. Writes leave
    # it NULL (a trigger of migration 0018 resets it when ``fields`` change), so the sync's
    # COPY never pays for the trigram index. NULL means "not filled yet", which no text (not
    # even "") could say.
    search_text = models.TextField(null=True, blank=True, editable=False)  # noqa: DJ001

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["database", "copernica_id"], name="remote_profile_unique_per_database"
            )
        ]
        indexes = [
            models.Index(fields=["database", "modified"], name="remote_profile_db_modified"),
        ]

    def __str__(self) -> str:
        return f"Profile {self.copernica_id}"


class RemoteSubprofile(models.Model):
    """One subprofile as Copernica last showed it. Upserted by (collection, copernica_id)."""

    # Both parents are checked per statement by triggers of migration 0020, as the profile's
    # are by 0019: a foreign-key constraint checked each row of the sync's COPY at commit.
    link = models.ForeignKey(
        Link, on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False
    )
    # No index of its own: the unique (collection, copernica_id) key serves every lookup by
    # collection, and each index on this table is paid for by the sync's COPY.
    collection = models.ForeignKey(
        RemoteCollection,
        on_delete=models.CASCADE,
        related_name="subprofiles",
        db_index=False,
        db_constraint=False,
    )
    copernica_id = models.BigIntegerField()
    # The Copernica id of the profile it belongs to (see the module docstring).
    profile_copernica_id = models.BigIntegerField()
    fields = models.JSONField(default=dict)
    created = models.DateTimeField(null=True, blank=True)
    modified = models.DateTimeField(null=True, blank=True)
    removed_at = models.DateTimeField(null=True, blank=True)
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
                fields=["collection", "copernica_id"],
                name="remote_subprofile_unique_per_collection",
            )
        ]
        indexes = [
            models.Index(fields=["link", "profile_copernica_id"], name="remote_subprofile_profile"),
            models.Index(fields=["collection", "modified"], name="remote_subprofile_modified"),
        ]

    def __str__(self) -> str:
        return f"Subprofile {self.copernica_id}"
