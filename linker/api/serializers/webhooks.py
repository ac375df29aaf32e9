"""Webhook endpoints and their deliveries, as the API shows them (a secret only when made or
rotated)."""

from __future__ import annotations

from rest_framework import serializers

from linker.models import WebhookDelivery, WebhookEndpoint, WebhookEventType


class WebhookEndpointSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    url = serializers.CharField(read_only=True)
    description = serializers.CharField(read_only=True)
    event_types = serializers.ListField(
        child=serializers.ChoiceField(choices=WebhookEventType.choices), read_only=True
    )
    tenant_id = serializers.IntegerField(
        read_only=True, allow_null=True, help_text="Only this tenant's events; null: all."
    )
    enabled = serializers.BooleanField(read_only=True)
    disabled_reason = serializers.CharField(read_only=True)
    failing_since = serializers.DateTimeField(read_only=True, allow_null=True)
    created_at = serializers.DateTimeField(read_only=True)


class WebhookEndpointCreatedSerializer(WebhookEndpointSerializer):
    secret = serializers.CharField(
        read_only=True, help_text="The signing secret (whsec_…): shown only in this answer."
    )


class WebhookEndpointCreateSerializer(serializers.Serializer):
    url = serializers.CharField(max_length=500)
    description = serializers.CharField(max_length=200, required=False, allow_blank=True)
    event_types = serializers.ListField(
        child=serializers.ChoiceField(choices=WebhookEventType.choices),
        allow_empty=False,
        max_length=len(WebhookEventType.values),
    )
    tenant_id = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, max_value=2**31 - 1
    )


class WebhookEndpointUpdateSerializer(serializers.Serializer):
    url = serializers.CharField(max_length=500, required=False)
    description = serializers.CharField(max_length=200, required=False, allow_blank=True)
    event_types = serializers.ListField(
        child=serializers.ChoiceField(choices=WebhookEventType.choices),
        allow_empty=False,
        required=False,
        max_length=len(WebhookEventType.values),
    )
    tenant_id = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, max_value=2**31 - 1
    )
    enabled = serializers.BooleanField(required=False)


class WebhookDeliverySerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    webhook_id = serializers.CharField(
        source="event.msg_id", read_only=True, help_text="The webhook-id header."
    )
    event_type = serializers.ChoiceField(
        source="event.type", choices=WebhookEventType.choices, read_only=True
    )
    tenant_id = serializers.IntegerField(read_only=True, allow_null=True)
    state = serializers.ChoiceField(choices=WebhookDelivery.State.choices, read_only=True)
    attempts = serializers.IntegerField(read_only=True)
    next_attempt_at = serializers.DateTimeField(read_only=True)
    last_attempt_at = serializers.DateTimeField(read_only=True, allow_null=True)
    last_status_code = serializers.IntegerField(read_only=True, allow_null=True)
    last_duration_ms = serializers.IntegerField(read_only=True, allow_null=True)
    last_error = serializers.CharField(read_only=True)
    created_at = serializers.DateTimeField(read_only=True)
    finished_at = serializers.DateTimeField(read_only=True, allow_null=True)


def endpoint_created_data(endpoint: WebhookEndpoint, secret: str) -> dict[str, object]:
    data = dict(WebhookEndpointSerializer(endpoint).data)
    data["secret"] = secret
    return data
