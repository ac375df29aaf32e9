"""The agency dashboard: every tenant the user may see, with its health, in a fixed number of
queries however many tenants there are, each costing about the same per tenant.

Everything a row shows and sorts by is kept on the tenant's narrow ``DashboardRow`` by triggers
(migration 0017; status rank 0016, run figures 0012), and the chips are the agency's
``DashboardCount`` rows (:mod:`linker.health.rows`), so a page is three queries: the user's
reach, the chips (which also give the page's count) and the page's rows, chosen by one index
range of the sort's order and read as plain values. Pages after the first continue from a
cursor (keyset, :mod:`linker.health.keyset`) rather than an offset. The export and the bulk
actions on every page read the same rows (:func:`dashboard_rows`).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import QuerySet
from django.utils import timezone

from accounts.selectors import AnyUser
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
    Reach,
    TenantShown,
    keyed_rows,
    reach_get,
    searched,
    shown_rows,
    status_counts,
    tenants_shown,
)
from linker.models import DashboardRow

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


def _ranks(statuses: tuple[str, ...]) -> list[int]:
    return [_STATUS_RANK[status] for status in statuses]


def status_of(rank: int) -> str:
    """The status (a ``Status``) of a ``status_rank``."""
    return _RANK[rank]


def _listed(reach: Reach, *, query: str, filter: str) -> QuerySet[DashboardRow]:
    """The kept rows the dashboard lists for this search and filter (every page), with every
    sort key."""
    rows = searched(keyed_rows(reach=reach, day=timezone.localdate()), query=query)
    rows = rows.filter(archived=filter == ARCHIVED)
    statuses = FILTERS[filter][1]
    if statuses is not None:
        rows = rows.filter(status_rank__in=_ranks(statuses))
    return rows


def dashboard_rows(
    *, user: AnyUser, query: str = "", filter: str = "", sort: str = "name"
) -> QuerySet[DashboardRow]:
    """Every tenant the dashboard lists for this search, filter and sort (all pages), as its
    kept row (the export, the bulk actions on every page): the same rows as the pages, read
    from the same narrow table in one query after the user's reach."""
    filter = filter if filter in FILTERS else ""
    sort = sort if sort in SORTS else "name"
    rows = _listed(reach_get(user=user), query=query.strip()[:200], filter=filter)
    return rows.order_by(*order_by(SORTS[sort], backwards=False))


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
    rows = _listed(reach, query=query, filter=filter)
    result = _page(rows, sort=sort, count=count, page=page, after=after, before=before)
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
) -> DashboardPage:
    """One page's tenants with the cursors around it: one query, which reads one row past the
    page to know whether another follows.

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
    found = tenants_shown(shown_rows(rows, chosen=chosen).order_by(*order), statuses=_RANK)
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

    def keys(row: TenantShown) -> tuple[object, ...]:
        return tuple(getattr(row, column.name) for column in columns)

    end = start + len(found)
    return DashboardPage(
        object_list=found,
        count=count,
        size=PAGE_SIZE,
        start=start,
        after=cursor_encode(sort, keys(found[-1]), end) if found and has_next else "",
        before=cursor_encode(sort, keys(found[0]), start) if found and has_previous else "",
    )


def status_label(status: str) -> str:
    return Status.LABELS.get(status, status)
