"""``/key``, ``/keys`` and ``/requests``: the key in use, the agency's keys and the API request
log. Listing and revoking keys takes the admin scope, and an agency admin as the key's maker."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import generics
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.selectors import is_agency_admin
from linker.api.base import ApiView, no_input
from linker.api.pagination import keyset
from linker.api.serializers.keys import ApiKeySerializer, ApiRequestSerializer
from linker.models import ApiKey, ApiKeyScope, ApiRequestLog
from linker.platform.api_keys import api_key_get, api_key_list, api_key_revoke, api_request_list


class _AgencyAdminView(ApiView):
    scopes = {"GET": ApiKeyScope.ADMIN, "POST": ApiKeyScope.ADMIN}

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        if not is_agency_admin(user=request.user, agency=self.key.agency):
            raise PermissionDenied("Only an agency admin's key manages keys.")


class CurrentKeyView(ApiView):
    @extend_schema(summary="The key in use", responses=ApiKeySerializer, tags=["keys"])
    def get(self, request: Request) -> Response:
        return Response(ApiKeySerializer(self.key).data)


class ApiKeyListView(_AgencyAdminView, generics.ListAPIView):
    serializer_class = ApiKeySerializer
    pagination_class = keyset("-id")

    def get_queryset(self) -> QuerySet[ApiKey]:
        return api_key_list(agency=self.key.agency).select_related("agency")

    @extend_schema(summary="The agency's API keys (admin scope)", tags=["keys"])
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class ApiKeyRevokeView(_AgencyAdminView):
    @extend_schema(
        summary="Revoke an API key (admin scope)",
        description="It stops working at once; this key too, if it names itself.",
        request=None,
        responses=ApiKeySerializer,
        tags=["keys"],
    )
    def post(self, request: Request, key_id: int) -> Response:
        key = api_key_get(agency=self.key.agency, id=key_id)
        no_input(request)
        api_key_revoke(key=key, user=request.user)
        key.refresh_from_db()
        return Response(ApiKeySerializer(key).data)


class ApiRequestListView(_AgencyAdminView, generics.ListAPIView):
    serializer_class = ApiRequestSerializer
    pagination_class = keyset("-id")

    def get_queryset(self) -> QuerySet[ApiRequestLog]:
        return api_request_list(agency=self.key.agency)

    @extend_schema(summary="The agency's API requests, newest first (admin scope)", tags=["keys"])
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)
