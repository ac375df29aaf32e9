"""The one way the API reaches a tenant: through ``accounts.selectors`` as the key's maker, and
only within the key's agency.

A key's maker may work for more than one agency (or be a superuser); the key still sees only
its own agency's tenants. Another agency's tenant is the same ``Http404`` as a missing one,
and every object below a tenant is found through that tenant (the profiles' selectors filter
by its link), so a foreign id of any kind is "not found".
"""

from __future__ import annotations

from django.db.models import OuterRef, QuerySet, Subquery
from django.http import Http404

from accounts.models import Tenant, User
from accounts.selectors import AnyUser, tenant_get, tenant_list
from linker.api.compiled import compiled, instances
from linker.models import ApiKey, Link, RemoteDatabase


def api_tenant_list(*, user: AnyUser, key: ApiKey) -> QuerySet[Tenant]:
    """The tenants the key may see: its maker's, of the key's agency."""
    return tenant_list(user=user).filter(agency_id=key.agency_id)


def _link_query(user_id: int, agency_id: int, tenant_id: int, superuser: bool) -> QuerySet[Link]:
    """The link of a tenant with its tenant, if the (active) key maker may see the tenant and
    it is of the key's agency; built from ``accounts.selectors.tenant_list``.

    ``tenant_list`` shapes its query for an active user only by whether they are a superuser,
    and otherwise uses only their id, so the query is compiled once per kind of user
    (:mod:`linker.api.compiled`).
    """
    maker = User(pk=user_id, is_active=True, is_superuser=superuser)
    # The lists' default database comes along: a page of profiles needs no query for it.
    default = RemoteDatabase.objects.filter(link=OuterRef("pk"), removed_at=None).order_by(
        "copernica_id"
    )
    return (
        Link.objects.select_related("tenant")
        .filter(tenant__in=tenant_list(user=maker).filter(agency_id=agency_id), tenant_id=tenant_id)
        .annotate(
            default_database_pk=Subquery(default.values("pk")[:1]),
            default_database_copernica_id=Subquery(default.values("copernica_id")[:1]),
        )
        .order_by("pk")
    )


def api_link_get(*, user: AnyUser, key: ApiKey, id: int | str) -> Link | None:
    """The link of tenant ``id`` with its tenant, in one query, if the key may see the tenant
    and it was ever linked; ``None`` otherwise (the caller tells the two apart)."""
    try:
        pk = int(id)
    except (TypeError, ValueError):
        return None
    if not isinstance(user, User) or not user.is_active:
        return None  # sees no tenant at all
    superuser = bool(user.is_superuser)
    # A superuser's tenant_list does not name them: their id is not among the parameters.
    query = compiled(_link_query, 3, superuser, frozenset({0}) if superuser else frozenset())
    if query is None:  # the selectors changed shape: the ORM builds it every time
        return _link_query(user.pk, key.agency_id, pk, superuser).first()
    row = query.first_row(user.pk, key.agency_id, pk)
    if row is None:
        return None
    link, link.tenant = instances(query, row, Link, Tenant)
    for name in ("default_database_pk", "default_database_copernica_id"):
        setattr(link, name, row[query.annotation_columns[name]])
    return link


def api_tenant_get(*, user: AnyUser, key: ApiKey, id: int | str) -> Tenant:
    """The tenant ``id`` if the key may see it; otherwise ``Http404``, missing or foreign."""
    tenant = tenant_get(user=user, id=id)
    if tenant.agency_id != key.agency_id:
        raise Http404("No such tenant.")
    return tenant
