"""The mirror as the API shows it: databases, collections, profiles and subprofiles, each by
its Copernica id."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, tzinfo
from typing import Any

from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from linker.api.serializers.common import FieldValuesField
from linker.models.mirror import FieldsMixin


def _moment(value: datetime | None, zone: tzinfo) -> str | None:
    """As DRF's ``DateTimeField`` writes it: ISO 8601 in the current time zone, UTC as Z."""
    if value is None:
        return None
    text = value.astimezone(zone).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


class FieldDescriptionSerializer(serializers.Serializer):
    name = serializers.CharField()
    type = serializers.CharField(help_text="Copernica's field type (text, integer, date...).")


def _fields_of(schema: FieldsMixin) -> list[dict[str, Any]]:
    types = schema.field_types()
    return [{"name": name, "type": types.get(name.lower(), "text")} for name in schema.field_names]


class _SchemaSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="copernica_id", read_only=True)
    name = serializers.CharField(read_only=True)
    # Not ``get_fields``: that name is the serializer's own method.
    fields = serializers.SerializerMethodField(method_name="field_descriptions")
    synced_at = serializers.DateTimeField(read_only=True, allow_null=True)
    remote_count = serializers.IntegerField(
        read_only=True, allow_null=True, help_text="How many Copernica listed at the last full run."
    )
    local_count = serializers.IntegerField(
        read_only=True, allow_null=True, help_text="How many the mirror held after it."
    )

    @extend_schema_field(FieldDescriptionSerializer(many=True))
    def field_descriptions(self, schema: FieldsMixin) -> list[dict[str, Any]]:
        return _fields_of(schema)


class DatabaseSerializer(_SchemaSerializer):
    interests = serializers.SerializerMethodField()

    def get_interests(self, database: Any) -> list[str]:
        return list(database.interest_names)


class CollectionSerializer(_SchemaSerializer):
    database = serializers.IntegerField(source="database.copernica_id", read_only=True)


class ProfileSerializer(serializers.Serializer):
    """A profile. Pages of them are the API's hottest path: the representation is built
    directly (the declared fields give the schema), ``database`` from the context when the
    page is of one database, so that no row needs its database joined."""

    id = serializers.IntegerField(source="copernica_id", read_only=True)
    database = serializers.IntegerField(source="database.copernica_id", read_only=True)
    fields = FieldValuesField(read_only=True)
    interests = serializers.ListField(child=serializers.CharField(), read_only=True)
    created = serializers.DateTimeField(read_only=True, allow_null=True)
    modified = serializers.DateTimeField(read_only=True, allow_null=True)

    def to_representation(self, profile: Any) -> dict[str, Any]:
        if isinstance(profile, Mapping):
            return profile_row_representation(profile, self.context)
        database = self.context.get("database_id")
        zone = self.context.get("zone") or timezone.get_current_timezone()
        return {
            "id": profile.copernica_id,
            "database": database if database is not None else profile.database.copernica_id,
            "fields": profile.fields if isinstance(profile.fields, dict) else {},
            "interests": profile.interests if isinstance(profile.interests, list) else [],
            "created": _moment(profile.created, zone),
            "modified": _moment(profile.modified, zone),
        }


#: The columns a page of profiles reads (``QuerySet.values``): no model is built per row.
PROFILE_ROW = ("copernica_id", "fields", "interests", "created", "modified")


def profile_row_representation(
    row: Mapping[str, Any], context: Mapping[str, Any]
) -> dict[str, Any]:
    """A profile read as :data:`PROFILE_ROW` values, as :class:`ProfileSerializer` shows it;
    ``context`` holds the page's ``database_id`` and ``zone`` (looked up once a page, not once
    a row)."""
    fields, interests = row["fields"], row["interests"]
    zone = context.get("zone") or timezone.get_current_timezone()
    return {
        "id": row["copernica_id"],
        "database": context["database_id"],
        "fields": fields if isinstance(fields, dict) else {},
        "interests": interests if isinstance(interests, list) else [],
        "created": _moment(row["created"], zone),
        "modified": _moment(row["modified"], zone),
    }


class SubprofileSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="copernica_id", read_only=True)
    collection = serializers.IntegerField(source="collection.copernica_id", read_only=True)
    profile = serializers.IntegerField(source="profile_copernica_id", read_only=True)
    fields = FieldValuesField(read_only=True)
    created = serializers.DateTimeField(read_only=True, allow_null=True)
    modified = serializers.DateTimeField(read_only=True, allow_null=True)
