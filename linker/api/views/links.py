"""``/tenants/{id}/link``: the link's state and history, *Disconnect*; and its connect links."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404
from django.urls import reverse
from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.selectors import can_manage_tenant
from linker.api.base import ApiView, no_input
from linker.api.errors import STATE_CONFLICT, ApiProblem
from linker.api.pagination import keyset
from linker.api.serializers.links import (
    ConnectLinkCreatedSerializer,
    ConnectLinkSerializer,
    LinkEventSerializer,
    LinkSerializer,
)
from linker.linking.connect_links import (
    connect_link_create,
    connect_link_get,
    connect_link_list,
    connect_link_revoke,
)
from linker.linking.links import link_disconnect
from linker.models import ConnectLink, LinkEvent


class LinkView(ApiView):
    @extend_schema(summary="The tenant's link", responses=LinkSerializer, tags=["links"])
    def get(self, request: Request, tenant_id: int) -> Response:
        return Response(LinkSerializer(self.link()).data)


class LinkHistoryView(ApiView, generics.ListAPIView):
    serializer_class = LinkEventSerializer
    pagination_class = keyset("-id")

    def get_queryset(self) -> QuerySet[LinkEvent]:
        return LinkEvent.objects.filter(link=self.link()).select_related("actor")

    @extend_schema(summary="The link's history, newest first", tags=["links"])
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class LinkDisconnectView(ApiView):
    @extend_schema(
        summary="Disconnect the link",
        description="Deletes the token; the mirror stays, read-only, and unsent changes are "
        "cancelled, as *Disconnect* on the tenant page does.",
        request=None,
        responses=LinkSerializer,
        tags=["links"],
    )
    def post(self, request: Request, tenant_id: int) -> Response:
        link = self.link()
        no_input(request)
        if not link.access_token_encrypted:
            raise ApiProblem(STATE_CONFLICT, "This tenant is not linked.")
        return Response(LinkSerializer(link_disconnect(link=link, user=request.user)).data)


class ConnectLinkListView(ApiView, generics.ListAPIView):
    serializer_class = ConnectLinkSerializer
    pagination_class = keyset("-id")

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        # The tenant page shows connect links only to agency staff: the same here.
        if not can_manage_tenant(user=request.user, tenant=self.tenant()):
            raise PermissionDenied("Only agency staff see and make connect links.")

    def get_queryset(self) -> QuerySet[ConnectLink]:
        return connect_link_list(tenant=self.tenant())

    @extend_schema(summary="The tenant's connect links, newest first", tags=["connect links"])
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        summary="Make a connect link",
        description="A single-use, 7-day link for the client's admin to link the tenant "
        "without a login. Its URL is in this answer only.",
        request=None,
        responses={201: ConnectLinkCreatedSerializer},
        tags=["connect links"],
    )
    def post(self, request: Request, tenant_id: int) -> Response:
        no_input(request)
        connect_link, token = connect_link_create(tenant=self.tenant(), user=request.user)
        url = request.build_absolute_uri(reverse("connect_link_open", kwargs={"token": token}))
        return Response(
            ConnectLinkCreatedSerializer(connect_link, context={"url": url}).data,
            status=status.HTTP_201_CREATED,
        )


class ConnectLinkRevokeView(ApiView):
    @extend_schema(
        summary="Revoke a connect link",
        request=None,
        responses=ConnectLinkSerializer,
        tags=["connect links"],
    )
    def post(self, request: Request, tenant_id: int, connect_link_id: int) -> Response:
        connect_link = connect_link_get(tenant=self.tenant(), id=connect_link_id)
        if connect_link is None:
            raise Http404("No such connect link.")
        no_input(request)
        connect_link_revoke(connect_link=connect_link, user=request.user)
        connect_link.refresh_from_db()
        return Response(ConnectLinkSerializer(connect_link).data)
