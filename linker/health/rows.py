"""The dashboard's reads of its kept rows (``DashboardRow``, ``DashboardCount``, migration
0017): whose tenants a user sees, the chip counts and one page of rows as the template wants
them, each a single query whose cost does not grow with the agency.

The user's reach is read first (their memberships, one query) so that the page's condition is
``agency_id = <the agency>`` for an agency member rather than a subquery: then the page is one
range of the partial index of its sort order, and the chips are read from the agency's few count
rows. A user who also holds tenant memberships, or a superuser, gets the same results by a plain
filter, sorted without the index.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from django.db.models import (
    BigIntegerField,
    BooleanField,
    Case,
    Count,
    F,
    Func,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)

from accounts.models import AGENCY_ROLES, Membership
from accounts.selectors import AnyUser
from linker.models import NEVER_SYNCED, DashboardCount, DashboardRow


@dataclass(frozen=True)
class Reach:
    """The tenants a user may see, as ``accounts.selectors.tenant_list`` defines them: every
    tenant (a superuser), or those of some agencies and some single tenants."""

    everything: bool = False
    agencies: tuple[int, ...] = ()
    tenants: tuple[int, ...] = ()

    def rows(self) -> Q:
        """The condition on ``DashboardRow`` for these tenants."""
        if self.everything:
            return Q()
        condition = Q(agency_id__in=self.agencies) if self.agencies else Q(pk__in=[])
        if self.tenants:
            condition |= Q(pk__in=self.tenants)
        return condition


def reach_get(*, user: AnyUser) -> Reach:
    """The user's reach: one query of their memberships (none for a superuser or a stranger).

    The same rule as ``tenant_list``: an agency role reaches the agency's tenants, any tenant
    membership its tenant; an inactive or anonymous user reaches nothing."""
    if not user.is_authenticated or not user.is_active:
        return Reach()
    if user.is_superuser:
        return Reach(everything=True)
    agencies, tenants = set(), set()
    for role, agency_id, tenant_id in Membership.objects.filter(user=user).values_list(
        "role", "agency_id", "tenant_id"
    ):
        if role in AGENCY_ROLES and agency_id is not None:
            agencies.add(agency_id)
        if tenant_id is not None:
            tenants.add(tenant_id)
    return Reach(agencies=tuple(sorted(agencies)), tenants=tuple(sorted(tenants)))


def searched(rows: QuerySet[DashboardRow], *, query: str) -> QuerySet[DashboardRow]:
    if not query:
        return rows
    # The folded text, as ``search_text`` folds it (SQLite's lower() folds ASCII only, as its
    # LIKE did for icontains).
    return rows.filter(Q(search_text__contains=query.lower()) | Q(account_id=query))


def status_counts(*, reach: Reach, query: str) -> list[tuple[int, bool, int]]:
    """(status rank, archived, how many) of the reachable tenants matching ``query``: from the
    kept counts of the reach's agencies when there is no search, plus the tenants they do not
    cover (of no agency, or reached one by one), counted from their rows; one query."""
    grouped = ("status_rank", "archived")
    if query:
        matched = searched(DashboardRow.objects.filter(reach.rows()), query=query)
        counted = matched.order_by().values(*grouped).annotate(n=Count("pk"))
        return list(counted.values_list(*grouped, "n"))
    kept = DashboardCount.objects.exclude(n=0).order_by()
    if not reach.everything:
        kept = kept.filter(agency_id__in=reach.agencies)
    if reach.everything:
        # Counts hold agencies' tenants only: a tenant of no agency is counted by its row.
        loose = DashboardRow.objects.filter(agency_id__isnull=True)
    elif reach.tenants:
        loose = DashboardRow.objects.filter(pk__in=reach.tenants).exclude(
            agency_id__in=reach.agencies
        )
    else:
        return list(kept.values_list(*grouped, "n"))
    counted = loose.order_by().values(*grouped).annotate(n=Count("pk")).values_list(*grouped, "n")
    return list(kept.values_list(*grouped, "n").union(counted, all=True))


def keyed_rows(*, reach: Reach, day: date) -> QuerySet[DashboardRow]:
    """The reachable rows with every sort key: the kept columns, and the requests on ``day``
    (today), the ledger count the row keeps if it is that day's, else none yet."""
    today = Case(
        When(requests_day=day, then=F("requests")),
        default=Value(0),
        output_field=BigIntegerField(),
    )
    return DashboardRow.objects.filter(reach.rows()).annotate(requests_today=today)


def shown_rows(
    rows: QuerySet[DashboardRow], *, chosen: QuerySet[DashboardRow]
) -> QuerySet[DashboardRow, tuple[Any, ...]]:
    """The ``chosen`` ones of ``rows`` (of :func:`keyed_rows`) with what a page shows of their
    tenant, agency and link, as plain values (:data:`SHOWN`, in that order): a page's 51 rows
    as model instances (a row, its tenant, agency and link each) cost more than the query."""
    picked = _AnyOf(F("pk"), Subquery(chosen.values("pk")))
    return rows.filter(picked).values_list(*SHOWN)


class _AnyOf(Func):
    """``column = ANY(ARRAY(subquery))``: PostgreSQL runs the subquery once, first, and reads
    its rows by primary key. As ``IN (subquery)`` it was planned as a join, which at 10,000
    tenants hashed every tenant to join 50 rows. SQLite, without arrays, gets the ``IN``."""

    output_field = BooleanField()

    def as_sql(  # type: ignore[override]
        self, compiler: Any, connection: Any, **extra: Any
    ) -> tuple[str, tuple[Any, ...]]:
        column, rows = (compiler.compile(part) for part in self.get_source_expressions())
        params = (*column[1], *rows[1])
        if connection.vendor == "postgresql":
            return f"{column[0]} = ANY(ARRAY{rows[0]})", params
        return f"{column[0]} IN {rows[0]}", params


#: The columns of a shown row, in the order :func:`tenants_shown` reads them: the row's own
#: (its account columns are the link's, or empty without one) and the few it does not keep.
SHOWN = (
    "pk",
    "name",
    "agency_id",
    "status_rank",
    "profiles_mirrored",
    "last_sync_key",
    "requests_today",
    "account_id",
    "account_name",
    "tenant__archived_at",
    "tenant__agency__name",
    "tenant__link__id",
    "tenant__link__copernica_count",
)


@dataclass(frozen=True, slots=True)
class AgencyShown:
    name: str


@dataclass(frozen=True, slots=True)
class LinkShown:
    copernica_account_id: str
    copernica_account_name: str
    copernica_count: int | None


@dataclass(slots=True)
class TenantShown:
    """One tenant as a row of the dashboard shows it (the template reads it as a tenant)."""

    id: int
    name: str
    agency_id: int | None
    agency: AgencyShown | None
    archived_at: datetime | None
    link: LinkShown | None
    status_rank: int
    status: str
    profiles_mirrored: int
    copernica_count: int | None
    last_sync_key: datetime
    last_success_at: datetime | None
    requests_today: int

    @property
    def pk(self) -> int:
        return self.id


def tenants_shown(
    rows: Iterable[tuple[Any, ...]], *, statuses: dict[int, str]
) -> list[TenantShown]:
    """The page's tenants from :func:`shown_rows`'s values, as the template reads them."""
    agencies: dict[str, AgencyShown] = {}
    tenants = []
    for (
        pk,
        name,
        agency_id,
        rank,
        profiles,
        sync_key,
        requests,
        account_id,
        account_name,
        archived_at,
        agency_name,
        link_id,
        copernica_count,
    ) in rows:
        agency = None
        if agency_name is not None:
            agency = agencies.setdefault(agency_name, AgencyShown(agency_name))
        link = None
        if link_id is not None:
            link = LinkShown(account_id, account_name, copernica_count)
        tenants.append(
            TenantShown(
                id=pk,
                name=name,
                agency_id=agency_id,
                agency=agency,
                archived_at=archived_at,
                link=link,
                status_rank=rank,
                status=statuses[rank],
                profiles_mirrored=profiles,
                copernica_count=copernica_count,
                last_sync_key=sync_key,
                last_success_at=sync_key if sync_key != NEVER_SYNCED else None,
                requests_today=requests,
            )
        )
    return tenants
