"""(Sub)profile values checked against a mirrored database or collection, in Copernica's types
and spelling.

Copernica stores every value as a string; a value of the wrong type would be turned into
something else (0, an empty date) without a word, so it is refused here, field by field.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Protocol

from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from linker.models import RemoteDatabase
from linker.platform.errors import InvalidInputError

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")


class FieldSchema(Protocol):
    """What holds Copernica fields: a ``RemoteDatabase`` or a ``RemoteCollection``."""

    name: str

    @property
    def field_names(self) -> list[str]: ...

    def field_types(self) -> dict[str, str]: ...

    def field_lengths(self) -> dict[str, int]: ...


def profile_fields_clean(*, database: FieldSchema, fields: Mapping[str, object]) -> dict[str, str]:
    """``fields`` checked against the fields of ``database`` (a database, or a collection for
    subprofiles) and turned into Copernica's strings.

    Raises ``InvalidInputError`` naming every unknown field and every value of the wrong type.
    """
    types = database.field_types()
    # Copernica cuts a text longer than its field's length without a word: refused here instead.
    lengths = database.field_lengths()
    names = {name.lower(): name for name in database.field_names}
    errors: dict[str, list[str]] = {}
    cleaned: dict[str, str] = {}
    for raw_name, value in fields.items():
        name = str(raw_name)
        kind = types.get(name.lower())
        if kind is None:
            errors.setdefault(name, []).append(f"{database.name} has no field named {name!r}.")
            continue
        text = "" if value is None else str(value).strip()
        problem = _field_problem(kind, text)
        limit = lengths.get(name.lower())
        if not problem and limit is not None and len(text) > limit:
            problem = f"At most {limit:,} characters (Copernica keeps no more in this field)."
        if problem:
            errors.setdefault(name, []).append(problem)
            continue
        cleaned[names[name.lower()]] = text
    if errors:
        raise InvalidInputError(errors)
    return cleaned


def subprofile_fields_clean(
    *, collection: FieldSchema, fields: Mapping[str, object]
) -> dict[str, str]:
    """``fields`` checked against a collection's fields (:func:`profile_fields_clean`)."""
    return profile_fields_clean(database=collection, fields=fields)


def _field_problem(kind: str, text: str) -> str:
    if kind == "integer":
        if not re.fullmatch(r"-?\d+", text):
            return "Enter a whole number."
    elif kind == "float":
        try:
            float(text)
        except ValueError:
            return "Enter a number."
    elif kind in ("date", "empty_date"):
        if not (_DATE.match(text) or (kind == "empty_date" and not text)):
            return "Enter a date as YYYY-MM-DD."
    elif kind in ("datetime", "empty_datetime"):
        if not (_DATETIME.match(text) or (kind == "empty_datetime" and not text)):
            return "Enter a date and time as YYYY-MM-DD hh:mm:ss."
    elif kind == "email" and text:
        try:
            validate_email(text)
        except ValidationError:
            return "Enter a valid email address."
    if len(text) > 10_000:
        return "This value is too long."
    return ""


def profile_interests_clean(
    *, database: RemoteDatabase, interests: Sequence[str] | Mapping[str, object] | None
) -> list[str] | dict[str, int] | None:
    """``interests`` (names to set, or ``{name: on}`` to change) checked against the database's
    interests and spelled as Copernica spells them; ``InvalidInputError`` names unknown ones."""
    if interests is None:
        return None
    known = {name.lower(): name for name in database.interest_names}
    names = list(interests.keys()) if isinstance(interests, Mapping) else list(interests)
    unknown = [str(name) for name in names if str(name).lower() not in known]
    if unknown:
        raise InvalidInputError(
            {"interests": [f"{database.name} has no interest named {name!r}." for name in unknown]}
        )
    if isinstance(interests, Mapping):
        return {known[str(name).lower()]: int(bool(on)) for name, on in interests.items()}
    return [known[str(name).lower()] for name in interests]
