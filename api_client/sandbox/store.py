"""A sandbox database: lazily generated profiles plus an overlay of the changed ones.

A database of N generated profiles holds no per-profile data: profile ``base + i`` is derived
on demand from ``(seed, database, i)``. Profiles that were changed, created or removed live
in ``overlay``. Live IDs are the generated range minus ``removed_generated`` plus
``created_ids`` (always above the range, as IDs are handed out in increasing order), so
ranking and slicing by ID cost O(log n) plus the page, whatever the size of the database.
"""

from __future__ import annotations

import calendar
import re
import time
import unicodedata
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field

from .names import CITIES, EMAIL_DOMAINS, FIRST_NAMES, INTERESTS, LAST_NAMES

_MASK = (1 << 64) - 1
_CREATED_START = calendar.timegm((2016, 1, 1, 0, 0, 0, 0, 0, 0))
_CREATED_SPAN = calendar.timegm((2023, 12, 31, 0, 0, 0, 0, 0, 0)) - _CREATED_START
_MODIFIED_END = calendar.timegm((2024, 12, 31, 23, 0, 0, 0, 0, 0))
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


def splitmix64(value: int) -> int:
    """A fast, well-mixed 64-bit hash step (SplitMix64)."""
    value = (value + 0x9E3779B97F4A7C15) & _MASK
    value = ((value ^ (value >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    value = ((value ^ (value >> 27)) * 0x94D049BB133111EB) & _MASK
    return value ^ (value >> 31)


_DAYS: dict[int, str] = {}


def timestamp(seconds: float) -> str:
    """Copernica's ``YYYY-MM-DD hh:mm:ss`` (UTC in the sandbox)."""
    day, rest = divmod(int(seconds), 86_400)
    date = _DAYS.get(day)
    if date is None:
        date = _DAYS[day] = time.strftime("%Y-%m-%d", time.gmtime(day * 86_400))
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{date} {hours:02d}:{minutes:02d}:{secs:02d}"


def now_timestamp() -> str:
    """The current time as a Copernica timestamp, second resolution."""
    return timestamp(time.time())


def _slug(name: str) -> str:
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z]", "", ascii_name.lower())


_FIRST_SLUGS = tuple(_slug(name) for name in FIRST_NAMES)
_LAST_SLUGS = tuple(_slug(name) for name in LAST_NAMES)


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
class Database:
    """One database of a sandbox account."""

    id: int
    name: str
    account_id: int
    seed: int
    base: int
    size: int
    created: str
    fields: list[FieldDef]
    interests: list[InterestDef]
    collections: list[dict[str, object]]
    removed_generated: list[int] = field(default_factory=list)
    created_ids: list[int] = field(default_factory=list)
    overlay: dict[int, ProfileRecord] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._key = splitmix64((self.seed * 1_000_003 + self.id) & _MASK)
        self._field_index = {item.name.lower(): item for item in self.fields}
        self._interest_index = {item.name.lower(): item for item in self.interests}
        # Interest k is on when bits 3k..3k+1 of a profile's hash are zero (one in four).
        self._interest_sets = [
            tuple(
                item.name
                for bit, item in enumerate(self.interests[:5])
                if (pattern >> (bit * 3)) & 3 == 0
            )
            for pattern in range(1 << 15)
        ]

    # ------------------------------------------------------------------ schema

    def field_named(self, name: str) -> FieldDef | None:
        return self._field_index.get(name.lower())

    def interest_named(self, name: str) -> InterestDef | None:
        return self._interest_index.get(name.lower())

    def interest_order(self, names: set[str]) -> list[str]:
        """``names`` in the database's interest order."""
        return [item.name for item in self.interests if item.name in names]

    # ------------------------------------------------------------------ profiles

    def owns(self, profile_id: int) -> bool:
        return self.base <= profile_id < self.base + self.size or profile_id in self.overlay

    def record(self, profile_id: int) -> ProfileRecord | None:
        """The profile (removed ones included), or ``None`` if it is not in this database."""
        record = self.overlay.get(profile_id)
        if record is not None:
            return record
        if self.base <= profile_id < self.base + self.size:
            return self.generate(profile_id - self.base)
        return None

    def generate(self, index: int) -> ProfileRecord:
        """Profile ``base + index`` as generated, before any change."""
        h1 = splitmix64(self._key ^ index)
        h2 = splitmix64(h1)
        h3 = splitmix64(h2)
        first = h1 % len(FIRST_NAMES)
        last = (h1 >> 8) % len(LAST_NAMES)
        domain = EMAIL_DOMAINS[(h1 >> 32) % len(EMAIL_DOMAINS)]
        bits = h3 >> 40
        created = _CREATED_START + h2 % _CREATED_SPAN
        modified = created + (h3 % (_MODIFIED_END - created))
        return ProfileRecord(
            fields={
                "email": f"{_FIRST_SLUGS[first]}.{_LAST_SLUGS[last]}{index}@{domain}",
                "firstname": FIRST_NAMES[first],
                "lastname": LAST_NAMES[last],
                "city": CITIES[(h1 >> 16) % len(CITIES)],
                "age": str(18 + (h1 >> 24) % 63),
            },
            interests=list(self._interest_sets[bits & 0x7FFF]),
            secret=f"{h2:016x}{h3:016x}"[:28],
            created=timestamp(created),
            modified=timestamp(modified),
        )

    def materialise(self, profile_id: int) -> ProfileRecord:
        """The overlay record of a profile, creating it from the generated one if needed."""
        record = self.overlay.get(profile_id)
        if record is None:
            record = self.generate(profile_id - self.base)
            self.overlay[profile_id] = record
        return record

    def add(self, profile_id: int, record: ProfileRecord) -> None:
        self.overlay[profile_id] = record
        self.created_ids.append(profile_id)

    def remove(self, profile_id: int, when: str) -> None:
        record = self.materialise(profile_id)
        record.removed = when
        if profile_id < self.base + self.size:
            index = bisect_left(self.removed_generated, profile_id)
            self.removed_generated.insert(index, profile_id)
        else:
            self.created_ids.remove(profile_id)

    # ------------------------------------------------------------------ ordered live IDs

    @property
    def live_generated(self) -> int:
        return self.size - len(self.removed_generated)

    def live_count(self) -> int:
        return self.live_generated + len(self.created_ids)

    def rank(self, profile_id: int) -> int:
        """How many live profiles have an ID below ``profile_id``."""
        generated = min(max(profile_id - self.base, 0), self.size)
        removed = bisect_left(self.removed_generated, profile_id)
        return generated - removed + bisect_left(self.created_ids, profile_id)

    def at(self, position: int) -> int:
        """The ID of the live profile at ``position`` (0-based) in ID order."""
        live_generated = self.live_generated
        if position >= live_generated:
            return self.created_ids[position - live_generated]
        removed = self.removed_generated
        if not removed:
            return self.base + position
        low, high = position, min(self.size - 1, position + len(removed))
        while low < high:
            middle = (low + high) // 2
            if middle + 1 - bisect_right(removed, self.base + middle) >= position + 1:
                high = middle
            else:
                low = middle + 1
        return self.base + low

    def ids_between(self, start: int, stop: int) -> list[int]:
        """The live IDs at positions ``start`` to ``stop`` (exclusive), ascending."""
        start = max(start, 0)
        stop = min(stop, self.live_count())
        ids: list[int] = []
        if start >= stop:
            return ids
        live_generated = self.live_generated
        if start < live_generated:
            removed = self.removed_generated
            profile_id = self.at(start)
            next_removed = bisect_left(removed, profile_id)
            wanted = min(stop, live_generated) - start
            while wanted:
                if next_removed < len(removed) and removed[next_removed] == profile_id:
                    next_removed += 1
                else:
                    ids.append(profile_id)
                    wanted -= 1
                profile_id += 1
        if stop > live_generated:
            ids.extend(self.created_ids[max(start - live_generated, 0) : stop - live_generated])
        return ids

    def all_live_ids(self, chunk: int = 10_000) -> list[int]:
        """Every live ID, ascending (for scans)."""
        ids: list[int] = []
        total = self.live_count()
        for start in range(0, total, chunk):
            ids.extend(self.ids_between(start, start + chunk))
        return ids

    # ------------------------------------------------------------------ JSON

    def profile_json(self, profile_id: int, record: ProfileRecord, dataonly: bool) -> dict:
        if record.removed is not None:
            fields = dict.fromkeys(record.fields, "")
            interests: list[str] = []
        else:
            fields = record.fields
            interests = record.interests
        if dataonly:
            return {
                "ID": str(profile_id),
                "fields": fields,
                "interests": interests,
                "modified": record.modified,
            }
        return {
            "ID": str(profile_id),
            "fields": fields,
            "interests": interests,
            "database": str(self.id),
            "secret": record.secret,
            "created": record.created,
            "modified": record.modified,
            "removed": record.removed if record.removed is not None else False,
        }

    def as_json(self) -> dict[str, object]:
        return {
            "ID": str(self.id),
            "name": self.name,
            "description": "Generated by the Copernica sandbox",
            "archived": False,
            "created": self.created,
            "fields": envelope([item.as_json() for item in self.fields], limit=1000),
            "interests": envelope([item.as_json() for item in self.interests], limit=1000),
            "collections": envelope(list(self.collections), limit=1000),
            "intentions": {"email": False, "sms": False, "fax": False, "pdf": False},
        }


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
