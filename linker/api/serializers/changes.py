"""Profile and subprofile changes: submitted (create, update, delete) and read back."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from linker.api.serializers.common import (
    FieldValuesField,
    InterestsField,
    copernica_id_field,
    email_of,
)
from linker.models import ProfileChange

Kind = ProfileChange.Kind


class ProfileChangeCreateSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=Kind.choices)
    database = copernica_id_field(
        required=False, help_text="create: the database (default: the first mirrored one)."
    )
    profile = copernica_id_field(required=False, help_text="update, delete: the profile.")
    fields = FieldValuesField(required=False, help_text="create, update: the values to set.")
    interests = InterestsField(required=False)
    base_modified = serializers.DateTimeField(
        required=False,
        help_text="update: the `modified` of the copy you edited; a later change at Copernica "
        "stops yours in conflict instead of overwriting it.",
    )


class SubprofileChangeCreateSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=Kind.choices)
    collection = copernica_id_field(required=False, help_text="create: the collection.")
    profile = copernica_id_field(required=False, help_text="create: the profile it belongs to.")
    subprofile = copernica_id_field(required=False, help_text="update, delete: the subprofile.")
    fields = FieldValuesField(required=False, help_text="create, update: the values to set.")
    base_modified = serializers.DateTimeField(required=False)


class ProfileChangeSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    kind = serializers.ChoiceField(choices=Kind.choices, read_only=True)
    target = serializers.SerializerMethodField()
    database = serializers.IntegerField(source="database.copernica_id", read_only=True)
    collection = serializers.SerializerMethodField()
    profile = serializers.IntegerField(
        source="copernica_profile_id", read_only=True, allow_null=True
    )
    subprofile = serializers.IntegerField(
        source="copernica_subprofile_id", read_only=True, allow_null=True
    )
    fields = FieldValuesField(read_only=True)
    interests = serializers.SerializerMethodField()
    state = serializers.ChoiceField(choices=ProfileChange.State.choices, read_only=True)
    attempts = serializers.IntegerField(read_only=True)
    error_message = serializers.CharField(read_only=True)
    conflict = serializers.SerializerMethodField(
        help_text="In conflict: Copernica's values and `modified` when it was found."
    )
    created_by = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField(read_only=True)
    finished_at = serializers.DateTimeField(read_only=True, allow_null=True)

    @extend_schema_field({"type": "string", "enum": ["profile", "subprofile"]})
    def get_target(self, change: ProfileChange) -> str:
        return "subprofile" if change.is_subprofile else "profile"

    def get_collection(self, change: ProfileChange) -> int | None:
        return change.collection.copernica_id if change.collection is not None else None

    @extend_schema_field(
        {
            "oneOf": [
                {"type": "array", "items": {"type": "string"}},
                {"type": "object", "additionalProperties": {"type": "boolean"}},
                {"type": "null"},
            ]
        }
    )
    def get_interests(self, change: ProfileChange) -> Any:
        return change.interests

    @extend_schema_field({"type": ["object", "null"], "additionalProperties": True})
    def get_conflict(self, change: ProfileChange) -> dict[str, Any] | None:
        return change.conflict if isinstance(change.conflict, dict) else None

    def get_created_by(self, change: ProfileChange) -> str | None:
        return email_of(change.created_by)
