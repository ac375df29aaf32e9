"""``/webhooks``: the agency's outbound webhook endpoints (made, listed, changed, enabled or
disabled, their secret rotated, deleted) and each one's deliveries with *Replay*. All of it
takes the admin scope and a key made by an agency admin, as the *Webhooks* page does."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.models import Tenant
from accounts.selectors import is_agency_admin
from linker.api.access import api_tenant_get
from linker.api.base import ApiView, api_input, no_input
from linker.api.errors import INVALID_INPUT, ApiProblem
from linker.api.pagination import keyset
from linker.api.serializers.webhooks import (
    WebhookDeliverySerializer,
    WebhookEndpointCreatedSerializer,
    WebhookEndpointCreateSerializer,
    WebhookEndpointSerializer,
    WebhookEndpointUpdateSerializer,
    endpoint_created_data,
)
from linker.models import ApiKeyScope, WebhookDelivery, WebhookEndpoint
from linker.outbound.endpoints import (
    webhook_delivery_get,
    webhook_delivery_list,
    webhook_endpoint_create,
    webhook_endpoint_delete,
    webhook_endpoint_enable,
    webhook_endpoint_get,
    webhook_endpoint_list,
    webhook_endpoint_rotate_secret,
    webhook_endpoint_update,
)
from linker.outbound.sending import webhook_delivery_replay

TAGS = ["webhooks"]


class _WebhookAdminView(ApiView):
    scopes = {
        "GET": ApiKeyScope.ADMIN,
        "POST": ApiKeyScope.ADMIN,
        "PATCH": ApiKeyScope.ADMIN,
        "DELETE": ApiKeyScope.ADMIN,
    }

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        if not is_agency_admin(user=request.user, agency=self.key.agency):
            raise PermissionDenied("Only an agency admin's key manages webhooks.")

    def endpoint(self) -> WebhookEndpoint:
        return webhook_endpoint_get(agency=self.key.agency, id=self.kwargs["endpoint_id"])

    def tenant_of(self, tenant_id: int | None) -> Tenant | None:
        if tenant_id is None:
            return None
        try:
            return api_tenant_get(user=self.request.user, key=self.key, id=tenant_id)
        except Exception:
            message = "No such tenant in this agency."
            raise ApiProblem(INVALID_INPUT, message, errors={"tenant_id": [message]}) from None


class WebhookEndpointListView(_WebhookAdminView, generics.ListAPIView):
    serializer_class = WebhookEndpointSerializer
    pagination_class = keyset("-id")

    def get_queryset(self) -> QuerySet[WebhookEndpoint]:
        return webhook_endpoint_list(agency=self.key.agency)

    @extend_schema(summary="The agency's webhook endpoints (admin scope)", tags=TAGS)
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        summary="Add a webhook endpoint (admin scope)",
        description="The answer holds the signing secret, shown only this once.",
        request=WebhookEndpointCreateSerializer,
        responses={201: WebhookEndpointCreatedSerializer},
        tags=TAGS,
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = api_input(WebhookEndpointCreateSerializer, request.data)
        made = webhook_endpoint_create(
            agency=self.key.agency,
            user=request.user,
            url=data["url"],
            description=data.get("description", ""),
            event_types=data["event_types"],
            tenant=self.tenant_of(data.get("tenant_id")),
        )
        body = endpoint_created_data(made.endpoint, made.secret)
        return Response(body, status=status.HTTP_201_CREATED)


class WebhookEndpointDetailView(_WebhookAdminView):
    serializer_class = WebhookEndpointSerializer

    @extend_schema(summary="Get a webhook endpoint (admin scope)", tags=TAGS)
    def get(self, request: Request, endpoint_id: int) -> Response:
        return Response(WebhookEndpointSerializer(self.endpoint()).data)

    @extend_schema(
        summary="Change a webhook endpoint (admin scope)",
        description="`enabled: true` sends the waiting events again, in order.",
        request=WebhookEndpointUpdateSerializer,
        responses=WebhookEndpointSerializer,
        tags=TAGS,
    )
    def patch(self, request: Request, endpoint_id: int) -> Response:
        endpoint = self.endpoint()
        data = api_input(WebhookEndpointUpdateSerializer, request.data)
        tenant: Tenant | bool | None = False
        if "tenant_id" in data:
            tenant = self.tenant_of(data["tenant_id"])
        webhook_endpoint_update(
            endpoint=endpoint,
            user=request.user,
            url=data.get("url"),
            description=data.get("description"),
            event_types=data.get("event_types"),
            tenant=tenant,
        )
        if "enabled" in data:
            webhook_endpoint_enable(endpoint=endpoint, user=request.user, enabled=data["enabled"])
        endpoint.refresh_from_db()
        return Response(WebhookEndpointSerializer(endpoint).data)

    @extend_schema(
        summary="Delete a webhook endpoint and its deliveries (admin scope)",
        request=None,
        responses={204: None},
        tags=TAGS,
    )
    def delete(self, request: Request, endpoint_id: int) -> Response:
        endpoint = self.endpoint()
        webhook_endpoint_delete(endpoint=endpoint, user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class WebhookRotateSecretView(_WebhookAdminView):
    @extend_schema(
        summary="Rotate an endpoint's signing secret (admin scope)",
        description="The new secret is in the answer, only this once; the old one stops "
        "signing at once.",
        request=None,
        responses=WebhookEndpointCreatedSerializer,
        tags=TAGS,
    )
    def post(self, request: Request, endpoint_id: int) -> Response:
        endpoint = self.endpoint()
        no_input(request)
        made = webhook_endpoint_rotate_secret(endpoint=endpoint, user=request.user)
        return Response(endpoint_created_data(made.endpoint, made.secret))


class WebhookDeliveryListView(_WebhookAdminView, generics.ListAPIView):
    serializer_class = WebhookDeliverySerializer
    pagination_class = keyset("-id")

    def get_queryset(self) -> QuerySet[WebhookDelivery]:
        return webhook_delivery_list(endpoint=self.endpoint())

    @extend_schema(summary="An endpoint's deliveries, newest first (admin scope)", tags=TAGS)
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class WebhookReplayView(_WebhookAdminView):
    @extend_schema(
        summary="Send a delivery's event again (admin scope)",
        description="Same `webhook-id` and body, a fresh 24 h of retries.",
        request=None,
        responses={202: WebhookDeliverySerializer},
        tags=TAGS,
    )
    def post(self, request: Request, endpoint_id: int, delivery_id: int) -> Response:
        delivery = webhook_delivery_get(endpoint=self.endpoint(), id=delivery_id)
        no_input(request)
        webhook_delivery_replay(delivery=delivery, user=request.user)
        return Response(WebhookDeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)
