"""API keys and the request log, as the API shows them (never a key's secret)."""

from __future__ import annotations

from rest_framework import serializers

from linker.api.serializers.common import email_of
from linker.models import ApiKey, ApiKeyScope, ApiRequestLog


class ApiKeySerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    agency = serializers.CharField(source="agency.slug", read_only=True)
    name = serializers.CharField(read_only=True)
    prefix = serializers.CharField(read_only=True, help_text="The key's first characters.")
    scopes = serializers.ListField(
        child=serializers.ChoiceField(choices=ApiKeyScope.choices), read_only=True
    )
    created_by = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField(read_only=True)
    last_used_at = serializers.DateTimeField(
        read_only=True, allow_null=True, help_text="To the minute."
    )
    revoked_at = serializers.DateTimeField(read_only=True, allow_null=True)
    revoked_reason = serializers.CharField(read_only=True)

    def get_created_by(self, key: ApiKey) -> str | None:
        return email_of(key.created_by)


class ApiRequestSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    key = serializers.SerializerMethodField(help_text="The key's prefix.")
    method = serializers.CharField(read_only=True)
    path = serializers.CharField(read_only=True)
    status = serializers.IntegerField(read_only=True)
    duration_ms = serializers.IntegerField(read_only=True)
    ip_address = serializers.CharField(read_only=True, allow_null=True)
    at = serializers.DateTimeField(read_only=True)

    def get_key(self, entry: ApiRequestLog) -> str | None:
        return entry.key.prefix if entry.key is not None else None
