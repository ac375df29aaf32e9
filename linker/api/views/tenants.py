"""``/tenants``: list, create, get, rename, archive and restore the key's agency's tenants
(creating, archiving and restoring take the admin scope), through ``accounts.services`` as the
tenant's *Settings* page does."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, status
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.models import Tenant
from accounts.services import AccountsError, tenant_archive, tenant_rename, tenant_restore
from linker.api.access import api_tenant_list
from linker.api.base import ApiView, api_input, no_input
from linker.api.errors import INVALID_INPUT, STATE_CONFLICT, ApiProblem
from linker.api.pagination import keyset
from linker.api.params import choice_query
from linker.api.serializers.tenants import (
    TenantCreatedSerializer,
    TenantCreateSerializer,
    TenantSerializer,
    TenantUpdateSerializer,
)
from linker.linking.invitations import tenant_create_and_invite
from linker.models import ApiKeyScope


class TenantListView(ApiView, generics.ListAPIView):
    scopes = {"GET": ApiKeyScope.READ, "POST": ApiKeyScope.ADMIN}
    serializer_class = TenantSerializer
    pagination_class = keyset("id")

    def get_queryset(self) -> QuerySet[Tenant]:
        tenants = api_tenant_list(user=self.request.user, key=self.key).select_related("link")
        archived = choice_query(self.request, "archived", ("true", "false"))
        if archived:
            tenants = tenants.filter(archived_at__isnull=archived == "false")
        return tenants

    @extend_schema(
        summary="List the agency's tenants",
        parameters=[
            OpenApiParameter(
                "archived",
                str,
                enum=["true", "false"],
                description="Only archived tenants (true) or only the others (false).",
            )
        ],
        tags=["tenants"],
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        summary="Create a tenant (admin scope)",
        description="Optionally makes `admin_email` the tenant's admin and emails them a "
        "connect link, as *New tenant* on the dashboard does.",
        request=TenantCreateSerializer,
        responses={201: TenantCreatedSerializer},
        tags=["tenants"],
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = api_input(TenantCreateSerializer, request.data)
        invitation = tenant_create_and_invite(
            user=request.user,
            agency=self.key.agency,
            name=data["name"],
            admin_email=data["admin_email"],
            base_url=request.build_absolute_uri("/"),
        )
        return Response(TenantCreatedSerializer(invitation).data, status=status.HTTP_201_CREATED)


class TenantDetailView(ApiView):
    serializer_class = TenantSerializer

    @extend_schema(summary="Get a tenant", responses=TenantSerializer, tags=["tenants"])
    def get(self, request: Request, tenant_id: int) -> Response:
        return Response(TenantSerializer(self.tenant()).data)

    @extend_schema(
        summary="Rename a tenant",
        request=TenantUpdateSerializer,
        responses=TenantSerializer,
        tags=["tenants"],
    )
    def patch(self, request: Request, tenant_id: int) -> Response:
        tenant = self.tenant()
        data = api_input(TenantUpdateSerializer, request.data)
        try:
            renamed = tenant_rename(actor=request.user, tenant=tenant, name=data["name"])
        except AccountsError as exc:
            raise ApiProblem(INVALID_INPUT, str(exc), errors={"name": [str(exc)]}) from None
        return Response(TenantSerializer(renamed).data)


class TenantArchiveView(ApiView):
    scopes = {"POST": ApiKeyScope.ADMIN}

    @extend_schema(
        summary="Archive a tenant (admin scope)",
        description="Off the dashboard's default list and no syncs started; everything it "
        "holds is kept.",
        request=None,
        responses=TenantSerializer,
        tags=["tenants"],
    )
    def post(self, request: Request, tenant_id: int) -> Response:
        tenant = self.tenant()
        no_input(request)
        try:
            archived = tenant_archive(actor=request.user, tenant=tenant)
        except AccountsError as exc:
            raise ApiProblem(STATE_CONFLICT, str(exc)) from None
        return Response(TenantSerializer(archived).data)


class TenantRestoreView(ApiView):
    scopes = {"POST": ApiKeyScope.ADMIN}

    @extend_schema(
        summary="Restore an archived tenant (admin scope)",
        request=None,
        responses=TenantSerializer,
        tags=["tenants"],
    )
    def post(self, request: Request, tenant_id: int) -> Response:
        tenant = self.tenant()
        no_input(request)
        try:
            restored = tenant_restore(actor=request.user, tenant=tenant)
        except AccountsError as exc:
            raise ApiProblem(STATE_CONFLICT, str(exc)) from None
        return Response(TenantSerializer(restored).data)
