"""The mirror: ``/databases``, ``/collections``, ``/profiles`` and ``/subprofiles`` of a tenant,
each addressed by its Copernica id."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics
from rest_framework.request import Request
from rest_framework.response import Response

from linker.api.base import ApiView
from linker.api.errors import INVALID_INPUT, ApiProblem
from linker.api.pagination import keyset
from linker.api.params import datetime_query, int_query, text_query
from linker.api.selectors import (
    collection_by_id,
    collection_list,
    database_by_id,
    database_default,
    profile_list,
    subprofile_by_id,
    subprofile_list,
)
from linker.api.serializers.common import BIGINT_MAX
from linker.api.serializers.mirror import (
    PROFILE_ROW,
    CollectionSerializer,
    DatabaseSerializer,
    ProfileSerializer,
    SubprofileSerializer,
    profile_row_representation,
)
from linker.models import RemoteProfile, RemoteSubprofile
from linker.profiles.selectors import database_list, profile_get

_ID = {"type": "integer", "minimum": 1, "maximum": BIGINT_MAX}


def _id_parameter(name: str, description: str) -> OpenApiParameter:
    return OpenApiParameter(name, _ID, description=description)


_MODIFIED_SINCE = OpenApiParameter(
    "modified_since",
    {"type": "string", "format": "date-time"},
    description="Only those Copernica changed at or after this instant (ISO 8601).",
)


class DatabaseListView(ApiView):
    @extend_schema(
        summary="The mirrored databases",
        responses=DatabaseSerializer(many=True),
        tags=["mirror"],
    )
    def get(self, request: Request, tenant_id: int) -> Response:
        return Response(DatabaseSerializer(database_list(link=self.link()), many=True).data)


class DatabaseDetailView(ApiView):
    @extend_schema(summary="A mirrored database", responses=DatabaseSerializer, tags=["mirror"])
    def get(self, request: Request, tenant_id: int, database_id: int) -> Response:
        database = database_by_id(link=self.link(), copernica_id=database_id)
        return Response(DatabaseSerializer(database).data)


class CollectionListView(ApiView):
    @extend_schema(
        summary="The mirrored collections",
        parameters=[_id_parameter("database", "Only this database's collections.")],
        responses=CollectionSerializer(many=True),
        tags=["mirror"],
    )
    def get(self, request: Request, tenant_id: int) -> Response:
        link = self.link()
        database_id = int_query(request, "database")
        database = database_by_id(link=link, copernica_id=database_id) if database_id else None
        rows = collection_list(link=link, database=database)
        return Response(CollectionSerializer(rows, many=True).data)


class CollectionDetailView(ApiView):
    @extend_schema(summary="A mirrored collection", responses=CollectionSerializer, tags=["mirror"])
    def get(self, request: Request, tenant_id: int, collection_id: int) -> Response:
        collection = collection_by_id(link=self.link(), copernica_id=collection_id)
        return Response(CollectionSerializer(collection).data)


class ProfileListView(ApiView, generics.ListAPIView):
    serializer_class = ProfileSerializer
    pagination_class = keyset("copernica_id")
    _database_id: int | None = None

    def get_serializer_context(self) -> dict[str, Any]:
        return {
            **super().get_serializer_context(),
            "database_id": self._database_id,
            "zone": timezone.get_current_timezone(),
        }

    def get_queryset(self) -> QuerySet[RemoteProfile, dict[str, Any]]:
        link = self.link()
        request = self.request
        database_id = int_query(request, "database")
        if database_id is not None:
            database = database_by_id(link=link, copernica_id=database_id)
        else:
            default = database_default(link=link)
            if default is None:
                return RemoteProfile.objects.none().values(*PROFILE_ROW)
            database = default
        field = text_query(request, "field") or ""
        value = text_query(request, "value")
        if field and field not in database.field_names:
            message = f"{database.name} has no field named {field!r}."
            raise ApiProblem(INVALID_INPUT, f"field: {message}", errors={"field": [message]})
        if (value is not None) != bool(field):
            message = "Give field and value together."
            raise ApiProblem(INVALID_INPUT, message, errors={"value": [message]})
        self._database_id = database.copernica_id
        return profile_list(
            link=link,
            database=database,
            modified_since=datetime_query(request, "modified_since"),
            field=field,
            value=value,
        ).values(*PROFILE_ROW)  # a page of rows, not of models: the serializer reads values

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        # The hottest list of the API: each row made into its item directly, as
        # ProfileSerializer would (the serializer still gives the schema), without a
        # serializer built around the page.
        rows = self.paginate_queryset(self.get_queryset()) or []
        context = self.get_serializer_context()
        return self.get_paginated_response([profile_row_representation(r, context) for r in rows])

    @extend_schema(
        summary="Mirrored profiles of one database, by id",
        parameters=[
            _id_parameter("database", "The database (default: the first mirrored one)."),
            _MODIFIED_SINCE,
            OpenApiParameter("field", str, description="With value: a field to match exactly."),
            OpenApiParameter("value", str, description="With field: the value it must have."),
        ],
        tags=["mirror"],
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class ProfileDetailView(ApiView):
    @extend_schema(summary="A mirrored profile", responses=ProfileSerializer, tags=["mirror"])
    def get(self, request: Request, tenant_id: int, profile_id: int) -> Response:
        return Response(
            ProfileSerializer(profile_get(tenant=self.tenant(), copernica_id=profile_id)).data
        )


class SubprofileListView(ApiView, generics.ListAPIView):
    serializer_class = SubprofileSerializer
    pagination_class = keyset("copernica_id")

    def get_queryset(self) -> QuerySet[RemoteSubprofile]:
        link = self.link()
        request = self.request
        collection_id = int_query(request, "collection")
        profile_id = int_query(request, "profile")
        if collection_id is not None:
            collection = collection_by_id(link=link, copernica_id=collection_id)
        elif profile_id is None:
            collections = collection_list(link=link)
            if not collections:
                return RemoteSubprofile.objects.none()
            collection = collections[0]
        else:
            collection = None
        return subprofile_list(
            link=link,
            collection=collection,
            profile_id=profile_id,
            modified_since=datetime_query(request, "modified_since"),
        )

    @extend_schema(
        summary="Mirrored subprofiles, by id",
        description="Of one collection, of one profile, or both; with neither, of the first "
        "mirrored collection.",
        parameters=[
            _id_parameter("collection", "The collection."),
            _id_parameter("profile", "Only this profile's subprofiles."),
            _MODIFIED_SINCE,
        ],
        tags=["mirror"],
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class SubprofileDetailView(ApiView):
    @extend_schema(summary="A mirrored subprofile", responses=SubprofileSerializer, tags=["mirror"])
    def get(self, request: Request, tenant_id: int, subprofile_id: int) -> Response:
        subprofile = subprofile_by_id(link=self.link(), copernica_id=subprofile_id)
        return Response(SubprofileSerializer(subprofile).data)
