from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from accounts.selectors import (
    agency_list,
    can_link_tenant,
    can_manage_tenant,
    tenant_get,
    tenant_list,
)
from linker.applications import consent_origin
from linker.connect_links import connect_link_list
from linker.forms import ApiTokenForm
from linker.links import link_get_for_tenant


@require_GET
@login_required
def tenant_list_view(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "").strip()
    tenants = tenant_list(user=request.user).select_related("agency").order_by("name", "id")
    if query:
        tenants = tenants.filter(name__icontains=query)
    page = Paginator(tenants, 50).get_page(request.GET.get("page"))
    return render(
        request,
        "tenants/list.html",
        {"page": page, "query": query, "agencies": agency_list(user=request.user)},
    )


@require_GET
@login_required
def tenant_detail_view(request: HttpRequest, tenant_id: int) -> HttpResponse:
    tenant = tenant_get(user=request.user, id=tenant_id)
    link = link_get_for_tenant(tenant=tenant)
    can_manage = can_manage_tenant(user=request.user, tenant=tenant)
    response = render(
        request,
        "tenants/detail.html",
        {
            "tenant": tenant,
            "link": link,
            "events": link.events.select_related("actor")[:50] if link else [],
            "can_link": can_link_tenant(user=request.user, tenant=tenant),
            "can_manage": can_manage,
            "connect_links": connect_link_list(tenant=tenant)[:10] if can_manage else [],
            "token_form": ApiTokenForm(),
            "now": timezone.now(),
        },
    )
    response.csp_form_action = consent_origin(agency=tenant.agency)  # type: ignore[attr-defined]
    return response
