"""A sandbox database: lazily generated profiles plus an overlay of the changed ones.

A database of N generated profiles holds no per-profile data: profile ``base + i`` is derived
on demand from ``(seed, database, i)`` (:mod:`~api_client.sandbox.generation`). Profiles that
were changed, created or removed live in ``overlay``. Live IDs are the generated range minus
``removed_generated`` plus ``created_ids`` (always above the range, as IDs are handed out in
increasing order), so ranking and slicing by ID cost O(log n) plus the page, whatever the size
of the database.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import OrderedDict, deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from .generation import ProfileGenerator
from .records import FieldDef, InterestDef, ProfileRecord, compact_json, envelope

#: How many serialized generated profiles a :class:`ProfileCache` keeps by default. An entry
#: costs ~0.4 KB (a ~290-byte full profile or ~200-byte ``dataonly`` one, plus the bytes
#: object and the LRU's slot), so the default bounds the cache at roughly 100 MB whatever the
#: size of the databases: an account of 100,000 profiles fits in it in both shapes.
DEFAULT_CACHE_PROFILES = 250_000


class ProfileCache:
    """A bounded LRU of the JSON of generated profiles, shared by a state's databases.

    It holds only profiles exactly as generated: a profile that is changed, removed or
    created lives in its database's overlay, is always serialized afresh, and its entries
    are dropped here when it enters the overlay (:meth:`Database.materialise`,
    :meth:`Database.add`). Profile IDs are unique within a sandbox state, so the key is
    ``2 * ID + dataonly``; the generated content is a pure function of (seed, database,
    ID), which makes "as generated" the one version an entry can have.
    """

    def __init__(self, capacity: int = DEFAULT_CACHE_PROFILES) -> None:
        self.capacity = max(0, capacity)
        self.items: OrderedDict[int, bytes] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self.items)

    def discard(self, profile_id: int) -> None:
        self.items.pop(2 * profile_id, None)
        self.items.pop(2 * profile_id + 1, None)

    def clear(self) -> None:
        self.items.clear()


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
    cache: ProfileCache = field(default_factory=ProfileCache, repr=False, compare=False)

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
            wanted = min(stop, live_generated) - start
            # Whole runs between removed IDs at a time.
            next_removed = bisect_left(removed, profile_id)
            while wanted:
                if next_removed < len(removed):
                    run = min(wanted, removed[next_removed] - profile_id)
                else:
                    run = wanted
                ids.extend(range(profile_id, profile_id + run))
                wanted -= run
                profile_id += run + 1  # past the removed ID (if any is left to read)
                next_removed += 1
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
        # The common case, every profile as generated: cache look-ups and updates in bulk.
        cache = self.cache
        items = cache.items
        variant = 1 if dataonly else 0
        keys = [2 * profile_id + variant for profile_id in ids]
        texts: list[bytes | None] = list(map(items.get, keys))
        missing = [position for position, text in enumerate(texts) if text is None]
        if len(missing) < len(keys):
            hit_keys = keys if not missing else [keys[i] for i, t in enumerate(texts) if t]
            deque(map(items.move_to_end, hit_keys), maxlen=0)
        if missing:
            indices = [ids[position] - base for position in missing]
            generated = self._generated_json(indices, dataonly)
            for position, text in zip(missing, generated, strict=True):
                texts[position] = text
            if cache.capacity:
                items.update(zip([keys[position] for position in missing], generated, strict=True))
                for _ in range(len(items) - cache.capacity):
                    items.popitem(last=False)
        cache.misses += len(missing)
        cache.hits += len(keys) - len(missing)
        return texts  # type: ignore[return-value]

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
            "collections": envelope(list(self.collections), limit=1000),
            "intentions": {"email": False, "sms": False, "fax": False, "pdf": False},
        }
