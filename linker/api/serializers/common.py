"""Fields shared by the API's serializers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

BIGINT_MAX = 2**63 - 1
MAX_FIELDS = 1000
_SCALAR = (str, int, float, bool)


def storable(text: str) -> bool:
    """Whether ``text`` can be stored: no NUL (PostgreSQL refuses it in text and JSON) and no
    lone surrogate (not encodable as UTF-8)."""
    return "\x00" not in text and not any("\ud800" <= ch <= "\udfff" for ch in text)


def copernica_id_field(**kwargs: Any) -> serializers.IntegerField:
    """A Copernica id (a database, collection, profile or subprofile): a positive integer."""
    return serializers.IntegerField(min_value=1, max_value=BIGINT_MAX, **kwargs)


@extend_schema_field(
    {
        "type": "object",
        "additionalProperties": {"type": ["string", "number", "boolean", "null"]},
        "maxProperties": MAX_FIELDS,
        "description": "Field name → value, as Copernica's database or collection names them.",
    }
)
class FieldValuesField(serializers.Field):
    """``{"name": value}``: values are strings, numbers, booleans or null (as empty).

    Which names and values are valid is the services' business (the mirrored fields and their
    types); this only checks the shape.
    """

    default_error_messages = {
        "shape": "An object of field name to value.",
        "value": "A string, number, boolean or null.",
        "size": f"At most {MAX_FIELDS} fields.",
        "text": "No NUL characters or lone surrogates.",
    }

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        if not isinstance(data, Mapping):
            self.fail("shape")
        if len(data) > MAX_FIELDS:
            self.fail("size")
        for name, value in data.items():
            if value is not None and not isinstance(value, _SCALAR):
                self.fail("value")
            if not storable(str(name)) or (isinstance(value, str) and not storable(value)):
                self.fail("text")
        return {str(name): value for name, value in data.items()}

    def to_representation(self, value: Any) -> Any:
        return value if isinstance(value, Mapping) else {}


@extend_schema_field(
    {
        "oneOf": [
            {
                "type": "array",
                "items": {"type": "string"},
                "description": "Every interest the profile has (the others are taken away).",
            },
            {
                "type": "object",
                "additionalProperties": {"type": "boolean"},
                "description": "Interest name → whether the profile has it (others unchanged).",
            },
        ]
    }
)
class InterestsField(serializers.Field):
    """A profile's interests: the whole set (a list), or changes (name → true/false)."""

    default_error_messages = {
        "shape": "A list of interest names, or an object of interest name to true/false.",
        "text": "No NUL characters or lone surrogates.",
    }

    def to_internal_value(self, data: Any) -> list[str] | dict[str, bool]:
        names = list(data) if isinstance(data, list | Mapping) else []
        if not all(storable(str(name)) for name in names):
            self.fail("text")
        if isinstance(data, list) and all(isinstance(item, str) for item in data):
            return list(data)
        if isinstance(data, Mapping) and all(isinstance(v, bool) for v in data.values()):
            return {str(name): on for name, on in data.items()}
        self.fail("shape")
        raise AssertionError  # fail() raises

    def to_representation(self, value: Any) -> Any:
        return value


def email_of(user: Any) -> str | None:
    """Who did something, as the API names them (their email), or None."""
    return getattr(user, "email", None) or None
