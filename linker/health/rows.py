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
from datetime import date
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

from accounts.models import AGENCY_ROLES, Membership, Tenant
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
) -> QuerySet[DashboardRow]:
    """The ``chosen`` ones of ``rows`` (of :func:`keyed_rows`) with their tenant, agency and
    link, as a page shows them."""
    picked = _AnyOf(F("pk"), Subquery(chosen.values("pk")))
    return rows.filter(picked).select_related("tenant__agency", "tenant__link").only(*_ROW_FIELDS)


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


_ROW_FIELDS = (
    "name",  # a sort key, which the page's cursors carry
    "status_rank",
    "profiles_mirrored",
    "last_sync_key",
    "tenant__name",
    "tenant__agency_id",
    "tenant__archived_at",
    "tenant__agency__name",
    "tenant__link__copernica_account_id",
    "tenant__link__copernica_account_name",
    "tenant__link__copernica_count",
)


def tenants_shown(rows: Iterable[DashboardRow], *, statuses: dict[int, str]) -> list[Tenant]:
    """The page's tenants with what a row of the dashboard shows, as the template reads it."""
    tenants = []
    for row in rows:
        tenant = row.tenant
        link = getattr(tenant, "link", None)
        tenant.status_rank = row.status_rank  # type: ignore[attr-defined]
        tenant.status = statuses[row.status_rank]  # type: ignore[attr-defined]
        tenant.profiles_mirrored = row.profiles_mirrored  # type: ignore[attr-defined]
        tenant.copernica_count = link.copernica_count if link else None  # type: ignore[attr-defined]
        tenant.last_sync_key = row.last_sync_key  # type: ignore[attr-defined]
        synced = row.last_sync_key != NEVER_SYNCED
        tenant.last_success_at = row.last_sync_key if synced else None  # type: ignore[attr-defined]
        tenant.requests_today = row.requests_today  # type: ignore[attr-defined]
        tenants.append(tenant)
    return tenants
