"""A sandbox database: lazily generated profiles plus an overlay of the changed ones.

A database of N generated profiles holds no per-profile data: profile ``base + i`` is derived
on demand from ``(seed, database, i)`` (:mod:`~api_client.sandbox.generation`). Profiles that
were changed, created or removed live in ``overlay``. Live IDs are the generated range minus
``removed_generated`` plus ``created_ids`` (always above the range, as IDs are handed out in
increasing order), so ranking and slicing by ID cost O(log n) plus the page, whatever the size
of the database.
"""

from __future__ import annotations

import calendar
import re
import time
from array import array
from bisect import bisect_left
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from .generation import ProfileGenerator
from .json_cache import ProfileCache, profile_keys
from .live_ids import LiveIdRange
from .records import FieldDef, InterestDef, ProfileRecord, compact_json, envelope
from .subprofiles import Collection

_TIMESTAMP = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}")
#: Amsterdam's wall clock runs at most this far ahead of UTC (summer time).
_MOST_AHEAD = 7200


@dataclass
class Database(LiveIdRange):
    """One database of a sandbox account, with its profiles and collections."""

    id: int
    name: str
    account_id: int
    seed: int
    base: int
    size: int
    created: str
    fields: list[FieldDef]
    interests: list[InterestDef]
    collections: list[Collection] = field(default_factory=list)
    removed_generated: list[int] = field(default_factory=list)
    created_ids: list[int] = field(default_factory=list)
    overlay: dict[int, ProfileRecord] = field(default_factory=dict)
    cache: ProfileCache = field(default_factory=ProfileCache, repr=False, compare=False)
    # (generated indices ordered by their ``modified``, those ``modified``): see
    # modified_candidates. Built on first use; the generated part never changes.
    _by_modified: tuple[array[int], array[int]] | None = field(
        default=None, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        self._generator = ProfileGenerator(
            seed=self.seed,
            database_id=self.id,
            base=self.base,
            interests=tuple(item.name for item in self.interests),
        )
        self._field_index = {item.name.lower(): item for item in self.fields}
        self._interest_index = {item.name.lower(): item for item in self.interests}
        # The generated JSON can be built from tables only for the default schema.
        self._fast_json = [(item.name, item.type) for item in self.fields] == [
            ("email", "email"),
            ("firstname", "text"),
            ("lastname", "text"),
            ("city", "text"),
            ("age", "integer"),
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
        return self._generator.record(index)

    def materialise(self, profile_id: int) -> ProfileRecord:
        """The overlay record of a profile, creating it from the generated one if needed."""
        record = self.overlay.get(profile_id)
        if record is None:
            record = self.generate(profile_id - self.base)
            self.overlay[profile_id] = record
            self.cache.discard(profile_id)
        return record

    def add(self, profile_id: int, record: ProfileRecord) -> None:
        self.overlay[profile_id] = record
        self.created_ids.append(profile_id)
        self.cache.discard(profile_id)

    def remove(self, profile_id: int, when: str) -> None:
        """Remove a live profile, and its subprofiles with it."""
        record = self.materialise(profile_id)
        record.removed = when
        self.forget(profile_id)
        for collection in self.collections:
            collection.remove_of_profile(profile_id, when)

    def modified_candidates(self, value: str) -> list[int] | None:
        """The live IDs, ascending, whose ``modified`` may be at or after the wall-clock
        timestamp ``value``: a superset of the profiles a ``modified>=value`` (or ``>``,
        ``==``) filter selects, which the caller checks one by one. ``None`` when ``value``
        is not a timestamp (then only a scan of every profile will do).

        Like a real database's index on ``modified``, so that an incremental sync's "changed
        since" query reads the changed profiles and not the whole account: the generated
        ``modified`` of every profile is computed once, sorted, and searched; changed, created
        and removed profiles are in the overlay.
        """
        if not _TIMESTAMP.fullmatch(value):
            return None
        try:
            wall = calendar.timegm(time.strptime(value, "%Y-%m-%d %H:%M:%S"))
        except ValueError:
            return None
        order, instants = self.modified_index_build()
        # A wall-clock text at or after ``value`` is an instant at most _MOST_AHEAD before
        # it read as UTC (the repeated autumn hour included).
        position = bisect_left(instants, wall - _MOST_AHEAD - 1)
        overlay, removed, base = self.overlay, self.removed_generated, self.base
        found = [
            item_id
            for item_id in (base + index for index in order[position:])
            if item_id not in overlay and not _sorted_contains(removed, item_id)
        ]
        found.extend(item_id for item_id, record in overlay.items() if not record.removed)
        found.sort()
        return found

    def modified_index_build(self) -> tuple[array[int], array[int]]:
        """(generated indices ordered by their ``modified``, those ``modified``): built when
        the database is created, or on first use after a restart (~1 s a million profiles;
        the generated part never changes)."""
        index = self._by_modified
        if index is None:
            # Two requests may build it at once: both build the same, either one is kept.
            instants = self._generator.modified_instants(self.size)
            order = sorted(range(self.size), key=instants.__getitem__)
            index = (array("q", order), array("q", [instants[i] for i in order]))
            self._by_modified = index
        return index

    def collection_named(self, ident: str) -> Collection | None:
        """A collection of this database by ID or (case-insensitive) name."""
        for collection in self.collections:
            if ident == str(collection.id) or ident.lower() == collection.name.lower():
                return collection
        return None

    # ------------------------------------------------------------------ JSON

    def profiles_json(self, ids: Sequence[int], dataonly: bool) -> list[bytes]:
        """The JSON (UTF-8) of each profile of ``ids`` in this database, as in a list answer.

        Profiles as generated come from the cache (or are built from tables and cached);
        changed, removed and created ones are serialized from their overlay record. IDs
        that are not in this database are skipped.
        """
        if not ids:
            return []
        base = self.base
        if (
            (self.overlay and not self.overlay.keys().isdisjoint(ids))
            or min(ids) < base
            or max(ids) >= base + self.size
        ):
            return self._mixed_profiles_json(ids, dataonly)
        # The common case, every profile as generated.
        return self.cache.served(
            profile_keys(ids, dataonly), ids, base, dataonly, self._generated_json
        )

    entries_json = profiles_json

    def _mixed_profiles_json(self, ids: Iterable[int], dataonly: bool) -> list[bytes]:
        """:meth:`profiles_json` when some of ``ids`` are in the overlay or not generated."""
        overlay = self.overlay
        cache = self.cache
        items = cache.items
        get = items.get
        touch = items.move_to_end
        base = self.base
        end = base + self.size
        variant = 1 if dataonly else 0
        result: list[bytes] = []
        append = result.append
        # Positions in ``result`` still to fill with generated profiles, and their indices.
        missing: list[int] = []
        indices: list[int] = []
        for profile_id in ids:
            record = overlay.get(profile_id)
            if record is not None:
                append(compact_json(self.profile_json(profile_id, record, dataonly)).encode())
                continue
            if not base <= profile_id < end:
                continue
            key = 2 * profile_id + variant
            text = get(key)
            if text is not None:
                touch(key)
                append(text)
                continue
            missing.append(len(result))
            indices.append(profile_id - base)
            append(b"")
        if indices:
            texts = self._generated_json(indices, dataonly)
            for position, index, text in zip(missing, indices, texts, strict=True):
                result[position] = text
                if cache.capacity:
                    items[2 * (base + index) + variant] = text
            for _ in range(len(items) - cache.capacity):
                items.popitem(last=False)
        cache.misses += len(indices)
        cache.hits += len(result) - len(indices)
        return result

    def _generated_json(self, indices: Sequence[int], dataonly: bool) -> list[bytes]:
        if self._fast_json:
            return self.generated_json(indices, dataonly)
        return [
            compact_json(
                self.profile_json(self.base + index, self.generate(index), dataonly)
            ).encode()
            for index in indices
        ]

    def generated_json(self, indices: Sequence[int], dataonly: bool) -> list[bytes]:
        """``profile_json`` of the profiles ``base + index`` as generated, serialized: the
        same bytes as ``json.dumps(..., separators=(",", ":"), ensure_ascii=False)``, built
        from precomputed fragments instead of a :class:`ProfileRecord` and ``json.dumps``.
        The values are those of :meth:`generate` (the same hashes, tables and ranges)."""
        return self._generator.serialized(indices, dataonly)

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
            "collections": envelope([item.as_json() for item in self.collections], limit=1000),
            "intentions": {"email": False, "sms": False, "fax": False, "pdf": False},
        }


def _sorted_contains(values: list[int], value: int) -> bool:
    position = bisect_left(values, value)
    return position < len(values) and values[position] == value
