"""The agency dashboard: every tenant the user may see, with its health, in a fixed number of
queries however many tenants there are.

Everything a row shows is an annotation of one tenant query (link state, latest run, counts,
today's requests), so a page is: one ``COUNT`` for the paginator, one ``SELECT`` for the rows,
one grouped count for the filter chips. Filtering and sorting happen in the database.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.core.paginator import Page, Paginator
from django.db.models import (
    BooleanField,
    Case,
    CharField,
    Count,
    ExpressionWrapper,
    F,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts.models import Tenant
from accounts.selectors import AnyUser, tenant_list
from linker.models import LinkState, RemoteProfile, RequestLedger, SyncRun, SyncState

PAGE_SIZE = 50


class Status:
    """A tenant's health as the dashboard shows it (one badge per row)."""

    NOT_LINKED = "not_linked"
    PENDING = "pending"
    NEEDS_RECONNECT = "needs_reconnect"
    SYNCING = "syncing"
    FAILING = "failing"
    ACTIVE = "active"

    LABELS = {
        NOT_LINKED: "Not linked",
        PENDING: "Awaiting confirmation",
        NEEDS_RECONNECT: "Needs reconnect",
        SYNCING: "Syncing",
        FAILING: "Failing",
        ACTIVE: "Active",
    }
    NEEDS_ME = (NEEDS_RECONNECT, FAILING)


#: The filter that lists archived tenants, which every other filter leaves out.
ARCHIVED = "archived"

FILTERS = {
    "": ("All", None),
    "needs_me": ("Needs me", Status.NEEDS_ME),
    Status.NEEDS_RECONNECT: ("Needs reconnect", (Status.NEEDS_RECONNECT,)),
    Status.FAILING: ("Failing", (Status.FAILING,)),
    Status.SYNCING: ("Syncing", (Status.SYNCING,)),
    Status.ACTIVE: ("Active", (Status.ACTIVE,)),
    Status.NOT_LINKED: ("Not linked", (Status.NOT_LINKED, Status.PENDING)),
    ARCHIVED: ("Archived", None),
}

# The sort keys a user may choose, and what they order by (ties broken by name, then id).
SORTS = {
    "name": ("name",),
    "-name": ("-name",),
    "status": ("status_rank", "name"),
    "-status": ("-status_rank", "name"),
    "profiles": ("profiles_mirrored", "name"),
    "-profiles": ("-profiles_mirrored", "name"),
    "last_sync": (F("last_success_at").asc(nulls_first=True), "name"),
    "-last_sync": (F("last_success_at").desc(nulls_last=True), "name"),
    "requests": ("requests_today", "name"),
    "-requests": ("-requests_today", "name"),
}

_STATUS_RANK = {
    Status.NEEDS_RECONNECT: 0,
    Status.FAILING: 1,
    Status.PENDING: 2,
    Status.SYNCING: 3,
    Status.NOT_LINKED: 4,
    Status.ACTIVE: 5,
}


@dataclass
class Dashboard:
    page: Page[Tenant]
    counts: dict[str, int]
    query: str
    filter: str
    sort: str
    #: How many archived tenants match the search (not in ``counts``).
    archived: int = 0

    @property
    def needs_me(self) -> int:
        return sum(self.counts.get(status, 0) for status in Status.NEEDS_ME)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def chips(self) -> list[tuple[str, str, int]]:
        """(filter key, label, how many tenants it shows) for every filter."""
        result = []
        for key, (label, statuses) in FILTERS.items():
            if key == ARCHIVED:
                count = self.archived
            elif statuses is None:
                count = self.total
            else:
                count = sum(self.counts.get(status, 0) for status in statuses)
            result.append((key, label, count))
        return result


def _latest_run_state() -> Subquery:
    # Skipped and cancelled runs say nothing about the account's health.
    runs = (
        SyncRun.objects.filter(link_id=OuterRef("link__pk"))
        .exclude(state__in=[SyncState.SKIPPED, SyncState.CANCELLED])
        .order_by("-queued_at", "-id")
    )
    return Subquery(runs.values("state")[:1], output_field=CharField())


def _status_expression() -> Case:
    return Case(
        When(
            Q(link__isnull=True) | Q(link__state=LinkState.DISCONNECTED), then=Value("not_linked")
        ),
        When(link__access_token_encrypted="", then=Value(Status.NOT_LINKED)),
        When(link__state=LinkState.NEEDS_RECONNECT, then=Value(Status.NEEDS_RECONNECT)),
        When(link__state=LinkState.PENDING, then=Value(Status.PENDING)),
        When(latest_run_state__in=[SyncState.QUEUED, SyncState.RUNNING], then=Value("syncing")),
        When(latest_run_state=SyncState.FAILED, then=Value(Status.FAILING)),
        default=Value(Status.ACTIVE),
        output_field=CharField(),
    )


def tenant_health_list(*, user: AnyUser) -> QuerySet[Tenant]:
    """The user's tenants, each annotated with what the dashboard shows about it."""
    today = timezone.localdate()
    mirrored = (
        RemoteProfile.objects.filter(link_id=OuterRef("link__pk"), removed_at=None)
        .order_by()
        .values("link_id")
        .annotate(n=Count("pk"))
        .values("n")
    )
    copernica_count = (
        SyncRun.objects.filter(
            link_id=OuterRef("link__pk"), state=SyncState.SUCCEEDED, remote_count__isnull=False
        )
        .order_by("-finished_at", "-id")
        .values("remote_count")[:1]
    )
    requests_today = RequestLedger.objects.filter(link_id=OuterRef("link__pk"), day=today).values(
        "requests"
    )[:1]
    status = _status_expression()
    return (
        tenant_list(user=user)
        .select_related("agency", "link")
        .annotate(latest_run_state=_latest_run_state())
        .annotate(
            status=status,
            status_rank=Case(
                *[When(status=key, then=Value(rank)) for key, rank in _STATUS_RANK.items()],
                default=Value(9),
                output_field=IntegerField(),
            ),
            profiles_mirrored=Coalesce(Subquery(mirrored, output_field=IntegerField()), 0),
            copernica_count=Subquery(copernica_count, output_field=IntegerField()),
            last_success_at=F("link__sync_schedule__last_success_at"),
            requests_today=Coalesce(Subquery(requests_today, output_field=IntegerField()), 0),
        )
    )


def dashboard_get(
    *, user: AnyUser, query: str = "", filter: str = "", sort: str = "name", page: Any = 1
) -> Dashboard:
    """One page of the dashboard: search, filter, sort and paginate in the database."""
    query = query.strip()[:200]
    filter = filter if filter in FILTERS else ""
    sort = sort if sort in SORTS else "name"
    tenants = tenant_health_list(user=user)
    if query:
        tenants = tenants.filter(
            Q(name__icontains=query)
            | Q(link__copernica_account_name__icontains=query)
            | Q(link__copernica_account_id=query)
        )
    # The chip counts follow the search but not the filter, so every chip stays meaningful;
    # archived tenants count only for their own chip.
    counts: dict[str, int] = {}
    archived = 0
    for row in (
        tenants.order_by()
        .annotate(
            is_archived=ExpressionWrapper(Q(archived_at__isnull=False), output_field=BooleanField())
        )
        .values("status", "is_archived")
        .annotate(n=Count("pk", distinct=True))
    ):
        if row["is_archived"]:
            archived += row["n"]
        else:
            counts[row["status"]] = counts.get(row["status"], 0) + row["n"]
    tenants = tenants.filter(archived_at__isnull=filter != ARCHIVED)
    statuses = FILTERS[filter][1]
    if statuses is not None:
        tenants = tenants.filter(status__in=statuses)  # type: ignore[misc]
    tenants = tenants.order_by(*SORTS[sort], "id")
    return Dashboard(
        page=Paginator(tenants, PAGE_SIZE).get_page(page),
        counts=counts,
        query=query,
        filter=filter,
        sort=sort,
        archived=archived,
    )


def status_label(status: str) -> str:
    return Status.LABELS.get(status, status)
