"""Tenants: read, created (with an optional partner admin to invite) and renamed."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.models import Tenant
from linker.models import LinkState

TENANT_NAME_MAX = Tenant._meta.get_field("name").max_length or 200


class TenantSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    name = serializers.CharField(read_only=True)
    created_at = serializers.DateTimeField(read_only=True)
    archived_at = serializers.DateTimeField(
        read_only=True,
        allow_null=True,
        help_text="Set while archived: kept, but no syncs start (POST …/restore to undo).",
    )
    link_state = serializers.SerializerMethodField()

    @extend_schema_field(
        {
            "type": ["string", "null"],
            "enum": [*LinkState.values, None],
            "description": "The link's state; null for a tenant never linked.",
        }
    )
    def get_link_state(self, tenant: Tenant) -> str | None:
        link = getattr(tenant, "link", None)
        return link.state if link is not None else None


class TenantCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=TENANT_NAME_MAX)
    admin_email = serializers.EmailField(
        required=False,
        allow_blank=True,
        default="",
        help_text="The client's admin: made tenant admin and emailed a connect link.",
    )


class TenantCreatedSerializer(TenantSerializer):
    connect_url = serializers.CharField(
        read_only=True, help_text="A single-use, 7-day connect link for the client (shown once)."
    )
    emailed_to = serializers.ListField(child=serializers.EmailField(), read_only=True)

    def to_representation(self, instance: Any) -> dict[str, Any]:
        data = super().to_representation(instance.tenant)
        data["connect_url"] = instance.connect_url
        data["emailed_to"] = list(instance.emailed_to)
        return data


class TenantUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=TENANT_NAME_MAX)
