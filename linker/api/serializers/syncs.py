"""Sync runs (with progress), starting one, the schedule, and the request ledger."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from linker.models import SyncMode, SyncRun, SyncState


class SyncProgressSerializer(serializers.Serializer):
    phase = serializers.CharField(help_text="schema, profiles, reconcile or done.")
    fetched = serializers.IntegerField()
    expected = serializers.IntegerField(
        allow_null=True, help_text="About how many a full run fetches; null when unknown."
    )
    percent = serializers.FloatField(allow_null=True)
    rate = serializers.FloatField(help_text="Profiles and subprofiles a second.")
    eta_seconds = serializers.IntegerField(allow_null=True)
    elapsed_seconds = serializers.IntegerField()


class SyncRunSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    mode = serializers.ChoiceField(choices=SyncMode.choices, read_only=True)
    state = serializers.ChoiceField(choices=SyncState.choices, read_only=True)
    trigger = serializers.CharField(read_only=True)
    queued_at = serializers.DateTimeField(read_only=True)
    started_at = serializers.DateTimeField(read_only=True, allow_null=True)
    finished_at = serializers.DateTimeField(read_only=True, allow_null=True)
    pages = serializers.IntegerField(read_only=True)
    fetched = serializers.IntegerField(read_only=True)
    created = serializers.IntegerField(source="created_count", read_only=True)
    updated = serializers.IntegerField(source="updated_count", read_only=True)
    removed = serializers.IntegerField(source="removed_count", read_only=True)
    requests = serializers.IntegerField(read_only=True)
    remote_count = serializers.IntegerField(read_only=True, allow_null=True)
    local_count = serializers.IntegerField(read_only=True, allow_null=True)
    error_message = serializers.CharField(read_only=True)


class SyncRunDetailSerializer(SyncRunSerializer):
    progress = serializers.SerializerMethodField()

    @extend_schema_field(SyncProgressSerializer)
    def get_progress(self, run: SyncRun) -> dict[str, Any]:
        data = self.context["progress"]
        return SyncProgressSerializer(
            {
                "phase": data.get("phase", ""),
                "fetched": data.get("fetched", run.fetched),
                "expected": data.get("expected"),
                "percent": data.get("percent"),
                "rate": data.get("rate", 0.0),
                "eta_seconds": data.get("eta_seconds"),
                "elapsed_seconds": data.get("elapsed_seconds", 0),
            }
        ).data


class SyncStartSerializer(serializers.Serializer):
    mode = serializers.ChoiceField(
        choices=SyncMode.choices,
        default=SyncMode.INCREMENTAL,
        help_text="A link never fully synced gets a full run whatever is asked.",
    )


class ScheduleSerializer(serializers.Serializer):
    enabled = serializers.BooleanField()
    incremental_minutes = serializers.IntegerField(
        min_value=5, max_value=24 * 60, help_text="Changed profiles every this many minutes."
    )
    full_hour = serializers.IntegerField(
        min_value=0, max_value=23, help_text="Hour of the nightly full sync (server time)."
    )
    next_incremental_at = serializers.DateTimeField(read_only=True, allow_null=True)
    next_full_at = serializers.DateTimeField(read_only=True, allow_null=True)
    last_success_at = serializers.DateTimeField(read_only=True, allow_null=True)


class LedgerDaySerializer(serializers.Serializer):
    day = serializers.DateField()
    requests = serializers.IntegerField()
    errors = serializers.IntegerField()
    rate_limited = serializers.IntegerField()
