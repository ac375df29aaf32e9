"""``/tenants/{id}/changes``: profile and subprofile changes, queued for Copernica through the
outbox exactly as the editor queues them, and their states.

A create, update or delete sent with an ``Idempotency-Key`` header is stored once: a retry
with the same key returns the first answer and queues nothing (``linker.api.idempotency``).
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics
from rest_framework.request import Request
from rest_framework.response import Response

from linker.api.base import ApiView, api_input
from linker.api.idempotency import HEADER, Answer, idempotent
from linker.api.pagination import keyset
from linker.api.params import choice_query, int_query
from linker.api.selectors import change_list
from linker.api.serializers.changes import (
    ProfileChangeCreateSerializer,
    ProfileChangeSerializer,
    SubprofileChangeCreateSerializer,
)
from linker.api.serializers.common import BIGINT_MAX
from linker.models import ProfileChange
from linker.profiles.change_selectors import profile_change_get
from linker.profiles.changes import profile_change_submit, subprofile_change_submit

REPLAYED_HEADER = "Idempotent-Replayed"

_IDEMPOTENCY_KEY = OpenApiParameter(
    HEADER,
    {"type": "string", "minLength": 1, "maxLength": 255},
    location=OpenApiParameter.HEADER,
    description="Any unique value per change (a UUID): a retry with the same key returns the "
    "first answer and queues nothing. Kept 24 hours.",
)
_CREATED = OpenApiResponse(
    ProfileChangeSerializer,
    description="Queued (or waiting for a reconnect). With a repeated Idempotency-Key: the "
    f"first answer again, with `{REPLAYED_HEADER}: true`.",
)


def _respond(answer: Answer) -> Response:
    headers = {REPLAYED_HEADER: "true"} if answer.replayed else {}
    return Response(answer.body, status=answer.status, headers=headers)


def _changed(change: ProfileChange) -> Answer:
    change = ProfileChange.objects.select_related("database", "collection", "created_by").get(
        pk=change.pk
    )
    return Answer(201, dict(ProfileChangeSerializer(change).data))


class ChangeListView(ApiView, generics.ListAPIView):
    serializer_class = ProfileChangeSerializer
    pagination_class = keyset("-id")

    def get_queryset(self) -> QuerySet[ProfileChange]:
        link = self.link()
        return change_list(
            link=link,
            state=choice_query(self.request, "state", ProfileChange.State.values),
            profile_id=int_query(self.request, "profile"),
        )

    @extend_schema(
        summary="Profile and subprofile changes, newest first",
        parameters=[
            OpenApiParameter("state", str, enum=ProfileChange.State.values),
            OpenApiParameter(
                "profile",
                {"type": "integer", "minimum": 1, "maximum": BIGINT_MAX},
                description="Only this profile's changes (its subprofiles' included).",
            ),
        ],
        tags=["changes"],
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class ChangeDetailView(ApiView):
    @extend_schema(
        summary="A change and its state", responses=ProfileChangeSerializer, tags=["changes"]
    )
    def get(self, request: Request, tenant_id: int, change_id: int) -> Response:
        change = profile_change_get(tenant=self.tenant(), change_id=change_id)
        return Response(_changed(change).body)


class ProfileChangeCreateView(ApiView):
    @extend_schema(
        summary="Create, update or delete a profile at Copernica",
        description="Checked and queued as the profile editor does: fields against the "
        "mirrored database, nothing on a disconnected (read-only) mirror, *waiting* while the "
        "link needs reconnecting. Follow it with GET /changes/{id}.",
        parameters=[_IDEMPOTENCY_KEY],
        request=ProfileChangeCreateSerializer,
        responses={201: _CREATED},
        tags=["changes"],
    )
    def post(self, request: Request, tenant_id: int) -> Response:
        tenant = self.tenant()

        def submit() -> Answer:
            data = api_input(ProfileChangeCreateSerializer, request.data)
            return _changed(
                profile_change_submit(
                    user=request.user,
                    tenant=tenant,
                    kind=data["kind"],
                    database=data.get("database"),
                    profile=data.get("profile"),
                    fields=data.get("fields"),
                    interests=data.get("interests"),
                    base_modified=data.get("base_modified"),
                )
            )

        return _respond(idempotent(request, key=self.key, run=submit))


class SubprofileChangeCreateView(ApiView):
    @extend_schema(
        summary="Create, update or delete a subprofile at Copernica",
        description="A create names the collection and the profile it belongs to; an update "
        "or delete names the subprofile. Checked and queued as the subprofile editor does.",
        parameters=[_IDEMPOTENCY_KEY],
        request=SubprofileChangeCreateSerializer,
        responses={201: _CREATED},
        tags=["changes"],
    )
    def post(self, request: Request, tenant_id: int) -> Response:
        tenant = self.tenant()

        def submit() -> Answer:
            data = api_input(SubprofileChangeCreateSerializer, request.data)
            return _changed(
                subprofile_change_submit(
                    user=request.user,
                    tenant=tenant,
                    kind=data["kind"],
                    collection=data.get("collection"),
                    profile=data.get("profile"),
                    subprofile=data.get("subprofile"),
                    fields=data.get("fields"),
                    base_modified=data.get("base_modified"),
                )
            )

        return _respond(idempotent(request, key=self.key, run=submit))
