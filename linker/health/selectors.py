"""The agency dashboard: every tenant the user may see, with its health, in a fixed number of
queries however many tenants there are, each costing about the same per tenant.

Everything a row shows is a column of the tenant, its link or its schedule (the link's latest
run state and counts are kept there by triggers, migration 0012) or today's request count, so a
page is: one grouped count for the filter chips (which is also the paginator's count), one
sorted ``SELECT`` of the page's tenant ids and one ``SELECT`` of those tenants' rows. Filtering
and sorting happen in the database; no plan carries a subquery per tenant (which once made
PostgreSQL's planner pay for JIT compilation on every page).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from django.core.paginator import Page, Paginator
from django.db.models import (
    BooleanField,
    Case,
    Count,
    ExpressionWrapper,
    F,
    FilteredRelation,
    IntegerField,
    Q,
    QuerySet,
    When,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts.models import Tenant
from accounts.selectors import AnyUser, tenant_list
from linker.models import LinkState, SyncState

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


# The status, as a rank, from columns of the tenant's link (kept by triggers, migration 0012):
# one CASE, no subquery, so a sort or a count over every tenant reads each row once. The
# status's name is derived from the rank in Python rather than by a second CASE.
_RANK = {rank: status for status, rank in _STATUS_RANK.items()}


def _status_rank() -> Case:
    not_linked = _STATUS_RANK[Status.NOT_LINKED]
    return Case(
        When(Q(link__isnull=True) | Q(link__state=LinkState.DISCONNECTED), then=not_linked),
        When(link__access_token_encrypted="", then=not_linked),
        When(link__state=LinkState.NEEDS_RECONNECT, then=_STATUS_RANK[Status.NEEDS_RECONNECT]),
        When(link__state=LinkState.PENDING, then=_STATUS_RANK[Status.PENDING]),
        # Skipped and cancelled runs say nothing about the account's health: the trigger
        # leaves them out of the latest run.
        When(
            link__latest_run_state__in=[SyncState.QUEUED, SyncState.RUNNING],
            then=_STATUS_RANK[Status.SYNCING],
        ),
        When(link__latest_run_state=SyncState.FAILED, then=_STATUS_RANK[Status.FAILING]),
        default=_STATUS_RANK[Status.ACTIVE],
        output_field=IntegerField(),
    )


def _ranks(statuses: tuple[str, ...]) -> list[int]:
    return [_STATUS_RANK[status] for status in statuses]


def tenant_health_list(*, user: AnyUser) -> QuerySet[Tenant]:
    """The user's tenants, each annotated with what the dashboard shows about it.

    Every figure but today's requests is a column of the tenant's link (or its schedule), so
    sorting, filtering and counting cost the same per row however many runs and profiles there
    are. Rows get their ``status`` from :func:`with_status`.
    """
    # Today's ledger row (one per link and day) as a join, not a subquery per tenant: a sort by
    # it reads today's rows once (by their index), and PostgreSQL drops the join where unused.
    ledger = Q(link__request_ledgers__day=timezone.localdate())
    return (
        tenant_list(user=user)
        .alias(ledger_today=FilteredRelation("link__request_ledgers", condition=ledger))
        .select_related("agency", "link")
        # Only what a row shows: the link's token, URLs and reasons would widen every row read.
        .only(*_ROW_FIELDS)
        .annotate(
            status_rank=_status_rank(),
            profiles_mirrored=Coalesce(F("link__profiles_mirrored"), 0),
            copernica_count=F("link__copernica_count"),
            last_success_at=F("link__sync_schedule__last_success_at"),
            requests_today=Coalesce(F("ledger_today__requests"), 0),
        )
    )


_ROW_FIELDS = (
    "name",
    "agency_id",
    "archived_at",
    "agency__name",
    "link__copernica_account_id",
    "link__copernica_account_name",
)


def status_of(rank: int) -> str:
    """The status (a ``Status``) of a ``status_rank``."""
    return _RANK[rank]


def with_status(tenants: Iterable[Tenant]) -> Iterator[Tenant]:
    """The tenants of :func:`tenant_health_list`, each with its ``status`` (a ``Status``)."""
    for tenant in tenants:
        tenant.status = _RANK[tenant.status_rank]  # type: ignore[attr-defined]
        yield tenant


def dashboard_rows(
    *, user: AnyUser, query: str = "", filter: str = "", sort: str = "name"
) -> QuerySet[Tenant]:
    """Every tenant the dashboard lists for this search, filter and sort (all pages)."""
    filter = filter if filter in FILTERS else ""
    sort = sort if sort in SORTS else "name"
    tenants = _searched(tenant_health_list(user=user), query=query.strip()[:200])
    tenants = tenants.filter(archived_at__isnull=filter != ARCHIVED)
    statuses = FILTERS[filter][1]
    if statuses is not None:
        tenants = tenants.filter(status_rank__in=_ranks(statuses))  # type: ignore[misc]
    return tenants.order_by(*SORTS[sort], "id")


def _searched(tenants: QuerySet[Tenant], *, query: str) -> QuerySet[Tenant]:
    if not query:
        return tenants
    return tenants.filter(
        Q(name__icontains=query)
        | Q(link__copernica_account_name__icontains=query)
        | Q(link__copernica_account_id=query)
    )


def dashboard_get(
    *, user: AnyUser, query: str = "", filter: str = "", sort: str = "name", page: Any = 1
) -> Dashboard:
    """One page of the dashboard: search, filter, sort and paginate in the database."""
    query = query.strip()[:200]
    filter = filter if filter in FILTERS else ""
    sort = sort if sort in SORTS else "name"
    # The chip counts follow the search but not the filter, so every chip stays meaningful;
    # archived tenants count only for their own chip. One grouped query over link columns.
    counts: dict[str, int] = {}
    archived = 0
    chips = (
        _searched(tenant_list(user=user), query=query)
        .order_by()
        .annotate(
            status_rank=_status_rank(),
            is_archived=ExpressionWrapper(
                Q(archived_at__isnull=False), output_field=BooleanField()
            ),
        )
        .values("status_rank", "is_archived")
        .annotate(n=Count("pk"))
    )
    for row in chips:
        if row["is_archived"]:
            archived += row["n"]
        else:
            status = _RANK[row["status_rank"]]
            counts[status] = counts.get(status, 0) + row["n"]
    statuses = FILTERS[filter][1]
    if filter == ARCHIVED:
        count = archived
    elif statuses is None:
        count = sum(counts.values())
    else:
        count = sum(counts.get(status, 0) for status in statuses)
    # The page in two steps: the ids of its tenants, sorted on narrow rows (a deep page sorts
    # and skips only ids and sort keys), then those tenants with everything a row shows. The
    # paginator's count comes from the chips, which counted the same search.
    tenants = dashboard_rows(user=user, query=query, filter=filter, sort=sort)
    result = _CountedPaginator(
        tenants.values_list("pk", flat=True), PAGE_SIZE, count=count
    ).get_page(page)
    ids = list(result.object_list)
    rows = {tenant.pk: tenant for tenant in tenant_health_list(user=user).filter(pk__in=ids)}
    result.object_list = list(with_status(rows[pk] for pk in ids if pk in rows))
    return Dashboard(
        page=result,
        counts=counts,
        query=query,
        filter=filter,
        sort=sort,
        archived=archived,
    )


class _CountedPaginator(Paginator):
    """A paginator told its count (already known) instead of running a ``COUNT``."""

    def __init__(self, object_list: Any, per_page: int, *, count: int) -> None:
        super().__init__(object_list, per_page)
        self._count = count

    @property
    def count(self) -> int:
        return self._count


def status_label(status: str) -> str:
    return Status.LABELS.get(status, status)
