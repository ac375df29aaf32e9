from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from accounts.selectors import agency_list, can_link_tenant, tenant_get, tenant_list


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
    return render(
        request,
        "tenants/detail.html",
        {"tenant": tenant, "can_link": can_link_tenant(user=request.user, tenant=tenant)},
    )
