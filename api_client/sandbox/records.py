"""The data model of a sandbox database: fields, interests, (sub)profiles, and their JSON."""

from __future__ import annotations

import json
from dataclasses import dataclass

from .names import INTERESTS


def compact_json(document: object) -> str:
    """``document`` as Copernica's compact JSON (no spaces, UTF-8 kept as is)."""
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True)
class FieldDef:
    """A database field."""

    id: int
    name: str
    type: str
    default: str

    def as_json(self) -> dict[str, object]:
        return {
            "ID": str(self.id),
            "name": self.name,
            "type": self.type,
            "value": self.default,
            "displayed": True,
            "ordered": False,
            "length": "255" if self.type in ("text", "email") else "0",
            "textlines": "1",
            "hidden": False,
            "index": self.name == "email",
        }


@dataclass(frozen=True)
class InterestDef:
    """A database interest."""

    id: int
    name: str
    group: str

    def as_json(self) -> dict[str, object]:
        return {"ID": str(self.id), "name": self.name, "group": self.group}


@dataclass
class ProfileRecord:
    """A materialised profile: generated and then changed, or created through the API."""

    fields: dict[str, str]
    interests: list[str]
    secret: str
    created: str
    modified: str
    removed: str | None = None

    def copy(self) -> ProfileRecord:
        return ProfileRecord(
            dict(self.fields),
            list(self.interests),
            self.secret,
            self.created,
            self.modified,
            self.removed,
        )


@dataclass
class SubprofileRecord:
    """A materialised subprofile: generated and then changed, or created through the API."""

    fields: dict[str, str]
    secret: str
    created: str
    modified: str
    profile: int
    removed: str | None = None


def envelope(items: list, *, start: int = 0, limit: int = 100) -> dict[str, object]:
    """A complete list envelope for a small embedded list."""
    return {"start": start, "limit": limit, "count": len(items), "data": items, "total": len(items)}


def default_fields(first_id: int) -> list[FieldDef]:
    """The fields of every sandbox database."""
    return [
        FieldDef(first_id, "email", "email", ""),
        FieldDef(first_id + 1, "firstname", "text", ""),
        FieldDef(first_id + 2, "lastname", "text", ""),
        FieldDef(first_id + 3, "city", "text", ""),
        FieldDef(first_id + 4, "age", "integer", "0"),
    ]


def default_interests(first_id: int) -> list[InterestDef]:
    """The interests of every sandbox database."""
    return [
        InterestDef(first_id + offset, name, group)
        for offset, (name, group) in enumerate(INTERESTS)
    ]
