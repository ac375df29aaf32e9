"""The agency dashboard: every tenant the user may see, with its health, in a fixed number of
queries however many tenants there are, each costing about the same per tenant.

Everything a row shows is a column of the tenant, its link or its schedule (the link's latest
run state, counts and status rank are kept there by triggers, migrations 0012 and 0016) or
today's request count, so a page is: one grouped count for the filter chips (which is also the
page's count), one sorted ``SELECT`` of the page's tenant ids and sort keys and one ``SELECT``
of those tenants' rows. Filtering and sorting happen in the database; no plan carries a
subquery per tenant (which once made PostgreSQL's planner pay for JIT compilation on every
page). A status filter reads its links by the rank's index; pages after the first continue
from a cursor (keyset, :mod:`linker.health.keyset`) rather than an offset.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from django.db.models import (
    F,
    FilteredRelation,
    IntegerField,
    Q,
    QuerySet,
    Value,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts.models import Tenant
from accounts.selectors import AnyUser, tenant_list
from linker.health.keyset import (
    INT,
    TEXT,
    TIME,
    Column,
    DashboardPage,
    beyond,
    cursor_decode,
    cursor_encode,
    order_by,
)
from linker.health.rows import (
    keyed_rows,
    reach_get,
    searched,
    shown_rows,
    status_counts,
    tenants_shown,
)
from linker.models import NEVER_SYNCED, DashboardRow

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

_NAME, _ID = Column("name", TEXT), Column("pk", INT)


def _by(name: str, kind: str, *, descending: bool = False) -> tuple[Column, ...]:
    return (Column(name, kind, descending), _NAME, _ID)


# The sort keys a user may choose, and the columns they order by: ties are broken by name,
# then id, so every row has one place and a cursor can continue after any of them.
SORTS: dict[str, tuple[Column, ...]] = {
    "name": (_NAME, _ID),
    "-name": (Column("name", TEXT, descending=True), _ID),
    "status": _by("status_rank", INT),
    "-status": _by("status_rank", INT, descending=True),
    "profiles": _by("profiles_mirrored", INT),
    "-profiles": _by("profiles_mirrored", INT, descending=True),
    # Never synced sorts first (before the oldest success), and last in reverse.
    "last_sync": _by("last_sync_key", TIME),
    "-last_sync": _by("last_sync_key", TIME, descending=True),
    "requests": _by("requests_today", INT),
    "-requests": _by("requests_today", INT, descending=True),
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
    page: DashboardPage
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


_RANK = {rank: status for status, rank in _STATUS_RANK.items()}


def _status_rank() -> Coalesce:
    """The status, as a rank: stored on the link (by a trigger, migration 0016, with the same
    order as ``_STATUS_RANK``); a tenant without a link is not linked."""
    return Coalesce(
        F("link__status_rank"),
        Value(_STATUS_RANK[Status.NOT_LINKED]),
        output_field=IntegerField(),
    )


def _status_filter(statuses: tuple[str, ...]) -> Q:
    """The tenants with one of ``statuses``, as a condition on the link's indexed rank (the
    "needs me" filter reads its few links by the index rather than ranking every tenant)."""
    condition = Q(link__status_rank__in=_ranks(statuses))
    if Status.NOT_LINKED in statuses:
        condition |= Q(link__isnull=True)
    return condition


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
            last_sync_key=Coalesce(F("link__sync_schedule__last_success_at"), Value(NEVER_SYNCED)),
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
        tenants = tenants.filter(_status_filter(statuses))
    return tenants.order_by(*order_by(SORTS[sort], backwards=False))


def _searched(tenants: QuerySet[Tenant], *, query: str) -> QuerySet[Tenant]:
    if not query:
        return tenants
    return tenants.filter(
        Q(name__icontains=query)
        | Q(link__copernica_account_name__icontains=query)
        | Q(link__copernica_account_id=query)
    )


def dashboard_get(
    *,
    user: AnyUser,
    query: str = "",
    filter: str = "",
    sort: str = "name",
    page: int = 1,
    after: str = "",
    before: str = "",
) -> Dashboard:
    """One page of the dashboard: search, filter, sort and paginate in the database.

    The page is the one after the cursor ``after``, or before ``before``, or else page number
    ``page`` (an offset: kept for old links, it reads every row before the page)."""
    query = query.strip()[:200]
    filter = filter if filter in FILTERS else ""
    sort = sort if sort in SORTS else "name"
    reach = reach_get(user=user)
    # The chip counts follow the search but not the filter, so every chip stays meaningful;
    # archived tenants count only for their own chip. Kept counts, or the search's rows.
    counts: dict[str, int] = {}
    archived = 0
    for rank, is_archived, n in status_counts(reach=reach, query=query):
        if is_archived:
            archived += n
        else:
            status = _RANK[rank]
            counts[status] = counts.get(status, 0) + n
    statuses = FILTERS[filter][1]
    if filter == ARCHIVED:
        count = archived
    elif statuses is None:
        count = sum(counts.values())
    else:
        count = sum(counts.get(status, 0) for status in statuses)
    # The page: its rows in the sort's order, with everything a row shows, in one query.
    rows = searched(keyed_rows(reach=reach, day=timezone.localdate()), query=query)
    rows = rows.filter(archived=filter == ARCHIVED)
    if statuses is not None:
        rows = rows.filter(status_rank__in=_ranks(statuses))
    found, result = _page(rows, sort=sort, count=count, page=page, after=after, before=before)
    result.object_list = tenants_shown(found, statuses=_RANK)
    return Dashboard(
        page=result,
        counts=counts,
        query=query,
        filter=filter,
        sort=sort,
        archived=archived,
    )


def _page(
    rows: QuerySet[DashboardRow],
    *,
    sort: str,
    count: int,
    page: int,
    after: str,
    before: str,
) -> tuple[list[DashboardRow], DashboardPage]:
    """One page's rows, and the page (its tenants yet to be set) with the cursors around it:
    one query, which reads one row past the page to know whether another follows.

    The page's keys are chosen on the narrow rows alone (an index range, or for today's
    requests a top-N of the agency's rows) in a subquery; only those rows are joined to their
    tenants, links and agencies."""
    columns = SORTS[sort]
    cursor = cursor_decode(before or after, sort=sort, columns=columns)
    backwards = bool(before) and cursor is not None
    order = order_by(columns, backwards=backwards)
    if cursor is not None:
        chosen = rows.filter(beyond(columns, cursor.values, backwards=backwards)).order_by(*order)
        start = cursor.position
        chosen = chosen[: PAGE_SIZE + 1]
    else:
        # A page number, as older links carry: an offset, clamped to the last page.
        last = max(1, -(-count // PAGE_SIZE))
        start = (min(page, last) - 1) * PAGE_SIZE
        chosen = rows.order_by(*order)[start : start + PAGE_SIZE + 1]
    found = list(shown_rows(rows, chosen=chosen).order_by(*order))
    more = len(found) > PAGE_SIZE
    found = found[:PAGE_SIZE]
    if cursor is None:
        has_previous, has_next = start > 0, more
    elif backwards:
        found.reverse()
        # Fewer rows than a page before the cursor: they are the first ones.
        start = max(cursor.position - len(found), 0) if more else 0
        has_previous, has_next = more, True
    else:
        has_previous, has_next = True, more

    def keys(row: DashboardRow) -> tuple[object, ...]:
        return tuple(getattr(row, column.name) for column in columns)

    end = start + len(found)
    return found, DashboardPage(
        object_list=[],
        count=count,
        size=PAGE_SIZE,
        start=start,
        after=cursor_encode(sort, keys(found[-1]), end) if found and has_next else "",
        before=cursor_encode(sort, keys(found[0]), start) if found and has_previous else "",
    )


def status_label(status: str) -> str:
    return Status.LABELS.get(status, status)
