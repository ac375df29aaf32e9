"""What the agency dashboard sorts, filters and counts, one narrow row per tenant (issue 16).

Both tables are written only by database triggers (migration 0017): a tenant's row follows the
tenant, its link and its schedule, and the counts follow the rows. The dashboard then reads a
page by one index range of ``DashboardRow`` (agency, sort key, name, tenant) and its filter
chips from a handful of ``DashboardCount`` rows, whatever the agency's size.
"""

from __future__ import annotations

from datetime import UTC, datetime

from django.db import models
from django.db.models import Q, Value
from django.db.models.functions import Concat, Lower

from accounts.models import Tenant

#: The last-sync key of a tenant that never synced: sorts before every real time.
NEVER_SYNCED = datetime(1970, 1, 1, tzinfo=UTC)

_LISTED = Q(archived=False)


def _listed(name: str, *fields: str) -> models.Index:
    """An index of one keyset order over an agency's listed (not archived) tenants."""
    return models.Index(fields=["agency_id", *fields, "tenant"], name=name, condition=_LISTED)


class DashboardRow(models.Model):
    """One tenant as the dashboard sorts and filters it (kept by triggers, never saved)."""

    tenant = models.OneToOneField(
        Tenant, on_delete=models.CASCADE, primary_key=True, related_name="dashboard_row"
    )
    # A plain column, not a key: the tenant's agency is the one that counts, and its deletion
    # is the tenant's business (PROTECT).
    agency_id = models.BigIntegerField(null=True)
    name = models.CharField(max_length=200)
    archived = models.BooleanField(default=False)
    status_rank = models.PositiveSmallIntegerField(default=4)
    profiles_mirrored = models.PositiveIntegerField(default=0)
    last_sync_key = models.DateTimeField(default=NEVER_SYNCED)
    account_id = models.CharField(max_length=50, blank=True)
    account_name = models.CharField(max_length=300, blank=True)
    # The link's latest request ledger row: its day and requests. Today's count is ``requests``
    # while ``requests_day`` is today, else 0 (the key changes with the day, not with a write,
    # so its sort reads the agency's rows: narrow ones, with no join).
    requests_day = models.DateField(null=True)
    requests = models.PositiveBigIntegerField(default=0)
    # What the search matches, folded once when written: a plain ``LIKE`` on it costs a fifth
    # of ``icontains`` (``UPPER(name) LIKE ...``) on two columns, row for row.
    search_text = models.GeneratedField(
        expression=Concat(Lower("name"), Value("\n"), Lower("account_name")),
        output_field=models.TextField(),
        db_persist=True,
    )

    class Meta:
        indexes = [
            _listed("dash_row_name", "name"),
            _listed("dash_row_name_desc", "-name"),
            _listed("dash_row_status", "status_rank", "name"),
            _listed("dash_row_status_desc", "-status_rank", "name"),
            _listed("dash_row_profiles", "profiles_mirrored", "name"),
            _listed("dash_row_profiles_desc", "-profiles_mirrored", "name"),
            _listed("dash_row_sync", "last_sync_key", "name"),
            _listed("dash_row_sync_desc", "-last_sync_key", "name"),
        ]

    def __str__(self) -> str:
        return f"{self.name} (rank {self.status_rank})"


class DashboardCount(models.Model):
    """How many of an agency's tenants have a status (archived ones apart): the chips."""

    agency_id = models.BigIntegerField()
    archived = models.BooleanField()
    status_rank = models.PositiveSmallIntegerField()
    n = models.IntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["agency_id", "archived", "status_rank"], name="dash_count_key"
            )
        ]

    def __str__(self) -> str:
        return f"agency {self.agency_id}, rank {self.status_rank}: {self.n}"
