"""``/tenants/{id}/sync-runs``, ``/schedule`` and ``/requests``: syncing and its costs."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, status
from rest_framework.request import Request
from rest_framework.response import Response

from linker.api.base import ApiView, api_input
from linker.api.pagination import keyset
from linker.api.params import int_query
from linker.api.serializers.syncs import (
    LedgerDaySerializer,
    ScheduleSerializer,
    SyncRunDetailSerializer,
    SyncRunSerializer,
    SyncStartSerializer,
)
from linker.models import SyncMode, SyncRun
from linker.sync.activity import request_ledger_days, sync_progress
from linker.sync.controls import sync_now
from linker.sync.schedule import sync_schedule_get, sync_schedule_set

# What a link without a schedule row syncs on (SyncSchedule's defaults).
_DEFAULT_SCHEDULE = {
    "enabled": True,
    "incremental_minutes": 15,
    "full_hour": 2,
    "next_incremental_at": None,
    "next_full_at": None,
    "last_success_at": None,
}
LEDGER_MAX_DAYS = 90


def _run_detail(run: SyncRun) -> dict[str, Any]:
    progress = sync_progress(link=run.link, run_id=run.pk)
    return SyncRunDetailSerializer(run, context={"progress": progress}).data


class SyncRunListView(ApiView, generics.ListAPIView):
    serializer_class = SyncRunSerializer
    pagination_class = keyset("-id")

    def get_queryset(self) -> QuerySet[SyncRun]:
        return SyncRun.objects.filter(link=self.link())

    @extend_schema(summary="The link's sync runs, newest first", tags=["syncing"])
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        summary="Start a sync",
        description="As *Sync now*: 201 with the new run, or 200 with the run already queued "
        "or running (one at a time per link).",
        request=SyncStartSerializer,
        responses={201: SyncRunDetailSerializer, 200: SyncRunDetailSerializer},
        tags=["syncing"],
    )
    def post(self, request: Request, tenant_id: int) -> Response:
        tenant = self.tenant()
        data = api_input(SyncStartSerializer, request.data)
        run, created = sync_now(
            user=request.user, tenant=tenant, full=data["mode"] == SyncMode.FULL
        )
        return Response(
            _run_detail(run), status=status.HTTP_201_CREATED if created else status.HTTP_200_OK
        )


class SyncRunDetailView(ApiView):
    @extend_schema(
        summary="A sync run, with its progress", responses=SyncRunDetailSerializer, tags=["syncing"]
    )
    def get(self, request: Request, tenant_id: int, run_id: int) -> Response:
        run = SyncRun.objects.filter(link=self.link(), pk=run_id).select_related("link").first()
        if run is None:
            raise Http404("No such sync run.")
        return Response(_run_detail(run))


class ScheduleView(ApiView):
    @extend_schema(summary="When the link syncs", responses=ScheduleSerializer, tags=["syncing"])
    def get(self, request: Request, tenant_id: int) -> Response:
        schedule = sync_schedule_get(link=self.link())
        return Response(ScheduleSerializer(schedule or _DEFAULT_SCHEDULE).data)

    @extend_schema(
        summary="Set when the link syncs",
        request=ScheduleSerializer,
        responses=ScheduleSerializer,
        tags=["syncing"],
    )
    def put(self, request: Request, tenant_id: int) -> Response:
        tenant = self.tenant()
        self.link()
        data = api_input(ScheduleSerializer, request.data)
        schedule = sync_schedule_set(user=request.user, tenant=tenant, **data)
        return Response(ScheduleSerializer(schedule).data)


class RequestLedgerView(ApiView):
    @extend_schema(
        summary="Requests made to Copernica per day",
        description="Newest day first; days without requests show as 0.",
        parameters=[
            OpenApiParameter(
                "days",
                {"type": "integer", "minimum": 1, "maximum": LEDGER_MAX_DAYS},
                description=f"How many days, 1 to {LEDGER_MAX_DAYS} (default 14).",
            )
        ],
        responses=LedgerDaySerializer(many=True),
        tags=["syncing"],
    )
    def get(self, request: Request, tenant_id: int) -> Response:
        link = self.link()
        days = int_query(request, "days", low=1, high=LEDGER_MAX_DAYS) or 14
        rows = request_ledger_days(link=link, days=days)
        return Response(LedgerDaySerializer(rows, many=True).data)
