"""A sandbox database: lazily generated profiles plus an overlay of the changed ones.

A database of N generated profiles holds no per-profile data: profile ``base + i`` is derived
on demand from ``(seed, database, i)``. Profiles that were changed, created or removed live
in ``overlay``. Live IDs are the generated range minus ``removed_generated`` plus
``created_ids`` (always above the range, as IDs are handed out in increasing order), so
ranking and slicing by ID cost O(log n) plus the page, whatever the size of the database.
"""

from __future__ import annotations

import calendar
import json
import re
import sys
import time
import unicodedata
from array import array
from bisect import bisect_left, bisect_right
from collections import OrderedDict, deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from .names import CITIES, EMAIL_DOMAINS, FIRST_NAMES, INTERESTS, LAST_NAMES

_MASK = (1 << 64) - 1
_CREATED_START = calendar.timegm((2016, 1, 1, 0, 0, 0, 0, 0, 0))
_CREATED_SPAN = calendar.timegm((2023, 12, 31, 0, 0, 0, 0, 0, 0)) - _CREATED_START
_MODIFIED_END = calendar.timegm((2024, 12, 31, 23, 0, 0, 0, 0, 0))
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"

#: How many serialized generated profiles a :class:`ProfileCache` keeps by default. An entry
#: costs ~0.4 KB (a ~290-byte full profile or ~200-byte ``dataonly`` one, plus the bytes
#: object and the LRU's slot), so the default bounds the cache at roughly 100 MB whatever the
#: size of the databases: an account of 100,000 profiles fits in it in both shapes.
DEFAULT_CACHE_PROFILES = 250_000


def splitmix64(value: int) -> int:
    """A fast, well-mixed 64-bit hash step (SplitMix64)."""
    value = (value + 0x9E3779B97F4A7C15) & _MASK
    value = ((value ^ (value >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    value = ((value ^ (value >> 27)) * 0x94D049BB133111EB) & _MASK
    return value ^ (value >> 31)


_DAYS: dict[int, str] = {}
#: ``" hh:mm:"`` for each minute of a day, and ``"ss"`` for each second of a minute.
_MINUTES = tuple(f" {minute // 60:02d}:{minute % 60:02d}:" for minute in range(1440))
_SECONDS = tuple(f"{second:02d}" for second in range(60))


def _day(day: int) -> str:
    date = _DAYS[day] = time.strftime("%Y-%m-%d", time.gmtime(day * 86_400))
    return date


def timestamp(seconds: float) -> str:
    """Copernica's ``YYYY-MM-DD hh:mm:ss`` (UTC in the sandbox)."""
    day, rest = divmod(int(seconds), 86_400)
    return (_DAYS.get(day) or _day(day)) + _MINUTES[rest // 60] + _SECONDS[rest % 60]


#: No generated profile was modified after this; later ``modified`` values come from changes.
LATEST_GENERATED_MODIFIED = timestamp(_MODIFIED_END)


def now_timestamp() -> str:
    """The current time as a Copernica timestamp, second resolution."""
    return timestamp(time.time())


def _slug(name: str) -> str:
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z]", "", ascii_name.lower())


_FIRST_SLUGS = tuple(_slug(name) for name in FIRST_NAMES)
_LAST_SLUGS = tuple(_slug(name) for name in LAST_NAMES)

# The generated values as JSON string literals, for building profile JSON without json.dumps.
_N_FIRST = len(FIRST_NAMES)
_N_LAST = len(LAST_NAMES)
_N_CITIES = len(CITIES)
_N_DOMAINS = len(EMAIL_DOMAINS)
_FIRST_JSON = tuple(json.dumps(name, ensure_ascii=False) for name in FIRST_NAMES)
_LAST_JSON = tuple(json.dumps(name, ensure_ascii=False) for name in LAST_NAMES)
_CITY_JSON = tuple(json.dumps(name, ensure_ascii=False) for name in CITIES)
#: ``{"email":"first.last`` for every (first, last) pair: slugs are plain ``[a-z]``.
_EMAIL_HEADS = tuple(f'{{"email":"{first}.{last}' for first in _FIRST_SLUGS for last in _LAST_SLUGS)
#: ``","firstname":...,"lastname":...,"city":`` (closing the email) for every pair.
_NAME_PAIRS = tuple(
    f'","firstname":{first},"lastname":{last},"city":'
    for first in _FIRST_JSON
    for last in _LAST_JSON
)
_AGES = tuple(str(18 + age) for age in range(63))
#: The email's domain and closing quote, then the names, for every (domain, first, last).
_DOMAIN_NAMES = tuple(f"{domain}{names}" for domain in EMAIL_DOMAINS for names in _NAME_PAIRS)
#: The city, the age and the start of the interests, for every (city, age).
_CITY_AGES = tuple(f'{city},"age":"{age}"}},"interests":' for city in _CITY_JSON for age in _AGES)
_GAMMA = 0x9E3779B97F4A7C15


@lru_cache(maxsize=1)
def _generated_days() -> tuple[str, ...]:
    """``YYYY-MM-DD`` of every day a generated ``created`` or ``modified`` can fall on."""
    return tuple(
        time.strftime("%Y-%m-%d", time.gmtime(day * 86_400))
        for day in range(_CREATED_START // 86_400, _MODIFIED_END // 86_400 + 1)
    )


@lru_cache(maxsize=32)
def _lane_constants(count: int) -> tuple[int, int]:
    """The 64-bit mask and the SplitMix64 increment repeated in ``count`` 128-bit lanes."""
    mask = array("Q", [_MASK, 0] * count).tobytes()
    gamma = array("Q", [_GAMMA, 0] * count).tobytes()
    return int.from_bytes(mask, "little"), int.from_bytes(gamma, "little")


def _splitmix_chains(key: int, indices: Sequence[int]) -> tuple[Sequence[int], ...]:
    """``h1 = splitmix64(key ^ index)``, ``h2 = splitmix64(h1)``, ``h3 = splitmix64(h2)``
    for every index, as three sequences.

    Many at once, the values sit in 128-bit lanes of one big integer so that each step of
    the hash is a handful of big-integer operations for the whole batch (about three times
    faster than one index at a time); the lanes never overflow into each other, as every
    value is masked to 64 bits before a shift, and a 64-bit product fits in 128.
    """
    count = len(indices)
    if count < 16 or sys.byteorder != "little" or array("Q").itemsize != 8:
        h1s = [splitmix64(key ^ index) for index in indices]
        h2s = [splitmix64(value) for value in h1s]
        return h1s, h2s, [splitmix64(value) for value in h2s]
    lanes = array("Q", bytes(16 * count))
    lanes[0::2] = array("Q", [key ^ index for index in indices])
    value = int.from_bytes(lanes.tobytes(), "little")
    mask, gamma = _lane_constants(count)
    chains: list[Sequence[int]] = []
    for _ in range(3):
        value = (value + gamma) & mask
        value = ((value ^ ((value >> 30) & mask)) * 0xBF58476D1CE4E5B9) & mask
        value = ((value ^ ((value >> 27) & mask)) * 0x94D049BB133111EB) & mask
        value ^= (value >> 31) & mask
        lanes = array("Q", value.to_bytes(16 * count, "little"))
        chains.append(lanes[0::2])
    return tuple(chains)


@lru_cache(maxsize=16)
def _interest_tables(names: tuple[str, ...]) -> tuple[tuple[tuple[str, ...], ...], tuple[str, ...]]:
    """For each 15-bit pattern: the interests that are on, and the same as a JSON list.

    Interest k is on when bits 3k..3k+1 of a profile's hash are zero (one in four).
    """
    sets = tuple(
        tuple(name for bit, name in enumerate(names[:5]) if (pattern >> (bit * 3)) & 3 == 0)
        for pattern in range(1 << 15)
    )
    encoded: dict[tuple[str, ...], str] = {}
    lists = tuple(
        encoded.get(chosen) or encoded.setdefault(chosen, _json(list(chosen))) for chosen in sets
    )
    return sets, lists


def _json(document: object) -> str:
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False)


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
    cache: ProfileCache = field(default_factory=ProfileCache, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._key = splitmix64((self.seed * 1_000_003 + self.id) & _MASK)
        self._field_index = {item.name.lower(): item for item in self.fields}
        self._interest_index = {item.name.lower(): item for item in self.interests}
        self._interest_sets, self._interest_json = _interest_tables(
            tuple(item.name for item in self.interests)
        )
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
                append(_json(self.profile_json(profile_id, record, dataonly)).encode())
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
            _json(self.profile_json(self.base + index, self.generate(index), dataonly)).encode()
            for index in indices
        ]

    def generated_json(self, indices: Sequence[int], dataonly: bool) -> list[bytes]:
        """``profile_json`` of the profiles ``base + index`` as generated, serialized: the
        same bytes as ``json.dumps(..., separators=(",", ":"), ensure_ascii=False)``, built
        from precomputed fragments instead of a :class:`ProfileRecord` and ``json.dumps``.
        The values are those of :meth:`generate` (the same hashes, tables and ranges)."""
        h1s, h2s, h3s = _splitmix_chains(self._key, indices)
        days = _generated_days()
        first_day = _CREATED_START // 86_400
        minutes = _MINUTES
        seconds = _SECONDS
        email_heads = _EMAIL_HEADS
        domain_names = _DOMAIN_NAMES
        city_ages = _CITY_AGES
        interests = self._interest_json
        base = self.base
        n_first, n_last, n_pairs, n_domains = _N_FIRST, _N_LAST, _N_FIRST * _N_LAST, _N_DOMAINS
        created_start, created_span, modified_end = _CREATED_START, _CREATED_SPAN, _MODIFIED_END
        database = f',"database":"{self.id}","secret":"'
        result: list[bytes] = []
        append = result.append
        for index, h1, h2, h3 in zip(indices, h1s, h2s, h3s, strict=True):
            pair = (h1 % n_first) * n_last + (h1 >> 8) % n_last
            created = created_start + h2 % created_span
            modified = created + h3 % (modified_end - created)
            day, rest = divmod(modified, 86_400)
            head = (
                f'{{"ID":"{base + index}","fields":{email_heads[pair]}{index}@'
                f"{domain_names[(h1 >> 32) % n_domains * n_pairs + pair]}"
                f"{city_ages[(h1 >> 16) % _N_CITIES * 63 + (h1 >> 24) % 63]}"
                f"{interests[(h3 >> 40) & 0x7FFF]}"
            )
            if dataonly:
                append(
                    f'{head},"modified":"{days[day - first_day]}'
                    f'{minutes[rest // 60]}{seconds[rest % 60]}"}}'.encode()
                )
                continue
            created_day, created_rest = divmod(created, 86_400)
            append(
                f"{head}{database}{(h2 << 48) | (h3 >> 16):028x}"
                f'","created":"{days[created_day - first_day]}'
                f"{minutes[created_rest // 60]}{seconds[created_rest % 60]}"
                f'","modified":"{days[day - first_day]}'
                f'{minutes[rest // 60]}{seconds[rest % 60]}","removed":false}}'.encode()
            )
        return result

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
