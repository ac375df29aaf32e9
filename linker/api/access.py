"""The one way the API reaches a tenant: through ``accounts.selectors`` as the key's maker, and
only within the key's agency.

A key's maker may work for more than one agency (or be a superuser); the key still sees only
its own agency's tenants. Another agency's tenant is the same ``Http404`` as a missing one,
and every object below a tenant is found through that tenant (the profiles' selectors filter
by its link), so a foreign id of any kind is "not found".
"""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import Http404

from accounts.models import Tenant
from accounts.selectors import AnyUser, tenant_get, tenant_list
from linker.models import ApiKey, Link


def api_tenant_list(*, user: AnyUser, key: ApiKey) -> QuerySet[Tenant]:
    """The tenants the key may see: its maker's, of the key's agency."""
    return tenant_list(user=user).filter(agency_id=key.agency_id)


def api_link_get(*, user: AnyUser, key: ApiKey, id: int | str) -> Link | None:
    """The link of tenant ``id`` with its tenant, in one query, if the key may see the tenant
    and it was ever linked; ``None`` otherwise (the caller tells the two apart)."""
    try:
        pk = int(id)
    except (TypeError, ValueError):
        return None
    return (
        Link.objects.select_related("tenant")
        .filter(tenant__in=api_tenant_list(user=user, key=key), tenant_id=pk)
        .first()
    )


def api_tenant_get(*, user: AnyUser, key: ApiKey, id: int | str) -> Tenant:
    """The tenant ``id`` if the key may see it; otherwise ``Http404``, missing or foreign."""
    tenant = tenant_get(user=user, id=id)
    if tenant.agency_id != key.agency_id:
        raise Http404("No such tenant.")
    return tenant
