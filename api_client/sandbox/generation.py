"""Generated profiles: a pure function of (seed, database, index).

A profile as generated is never stored: :class:`ProfileGenerator` derives it on demand from
three SplitMix64 steps over ``(seed, database, index)``, either as a
:class:`~api_client.sandbox.records.ProfileRecord` or, for list answers, straight as JSON
built from precomputed fragments (the same bytes, several times faster).
"""

from __future__ import annotations

import calendar
import json
import re
import sys
import time
import unicodedata
from array import array
from bisect import bisect_right
from collections.abc import Sequence
from functools import lru_cache

from .clock import MINUTES, SECONDS, offset_table, timestamp
from .names import CITIES, EMAIL_DOMAINS, FIRST_NAMES, LAST_NAMES
from .records import ProfileRecord, compact_json

_MASK = (1 << 64) - 1
CREATED_START = calendar.timegm((2016, 1, 1, 0, 0, 0, 0, 0, 0))
CREATED_SPAN = calendar.timegm((2023, 12, 31, 0, 0, 0, 0, 0, 0)) - CREATED_START
MODIFIED_END = calendar.timegm((2024, 12, 31, 23, 0, 0, 0, 0, 0))


def splitmix64(value: int) -> int:
    """A fast, well-mixed 64-bit hash step (SplitMix64)."""
    value = (value + 0x9E3779B97F4A7C15) & _MASK
    value = ((value ^ (value >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    value = ((value ^ (value >> 27)) * 0x94D049BB133111EB) & _MASK
    return value ^ (value >> 31)


#: No generated profile was modified after this; later ``modified`` values come from changes.
LATEST_GENERATED_MODIFIED = timestamp(MODIFIED_END)


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
def generated_days() -> tuple[str, ...]:
    """``YYYY-MM-DD`` of every day a generated ``created`` or ``modified`` can fall on, on
    Amsterdam's clock (a day past the last UTC one, for the offset)."""
    return tuple(
        time.strftime("%Y-%m-%d", time.gmtime(day * 86_400))
        for day in range(CREATED_START // 86_400, MODIFIED_END // 86_400 + 2)
    )


@lru_cache(maxsize=32)
def _lane_constants(count: int) -> tuple[int, int]:
    """The 64-bit mask and the SplitMix64 increment repeated in ``count`` 128-bit lanes."""
    mask = array("Q", [_MASK, 0] * count).tobytes()
    gamma = array("Q", [_GAMMA, 0] * count).tobytes()
    return int.from_bytes(mask, "little"), int.from_bytes(gamma, "little")


def splitmix_chains(key: int, indices: Sequence[int]) -> tuple[Sequence[int], ...]:
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
        encoded.get(chosen) or encoded.setdefault(chosen, compact_json(list(chosen)))
        for chosen in sets
    )
    return sets, lists


class ProfileGenerator:
    """The profiles of one database as generated, before any change.

    Profile ``base + index`` is derived from ``(seed, database_id, index)`` alone; the
    interest names are those of the database, in its order.
    """

    def __init__(
        self, *, seed: int, database_id: int, base: int, interests: tuple[str, ...]
    ) -> None:
        self.key = splitmix64((seed * 1_000_003 + database_id) & _MASK)
        self.database_id = database_id
        self.base = base
        self.interest_sets, self.interest_json = _interest_tables(interests)

    def record(self, index: int) -> ProfileRecord:
        """Profile ``base + index`` as generated."""
        h1 = splitmix64(self.key ^ index)
        h2 = splitmix64(h1)
        h3 = splitmix64(h2)
        first = h1 % len(FIRST_NAMES)
        last = (h1 >> 8) % len(LAST_NAMES)
        domain = EMAIL_DOMAINS[(h1 >> 32) % len(EMAIL_DOMAINS)]
        bits = h3 >> 40
        created = CREATED_START + h2 % CREATED_SPAN
        modified = created + (h3 % (MODIFIED_END - created))
        return ProfileRecord(
            fields={
                "email": f"{_FIRST_SLUGS[first]}.{_LAST_SLUGS[last]}{index}@{domain}",
                "firstname": FIRST_NAMES[first],
                "lastname": LAST_NAMES[last],
                "city": CITIES[(h1 >> 16) % len(CITIES)],
                "age": str(18 + (h1 >> 24) % 63),
            },
            interests=list(self.interest_sets[bits & 0x7FFF]),
            secret=f"{h2:016x}{h3:016x}"[:28],
            created=timestamp(created),
            modified=timestamp(modified),
        )

    def modified_instants(self, count: int) -> list[int]:
        """The ``modified`` of profiles ``base + 0 .. base + count - 1`` as generated, as Unix
        times (the values :meth:`record` formats), without building the profiles."""
        created_start, created_span, modified_end = CREATED_START, CREATED_SPAN, MODIFIED_END
        instants: list[int] = []
        for start in range(0, count, 10_000):
            _, h2s, h3s = splitmix_chains(self.key, range(start, min(start + 10_000, count)))
            for h2, h3 in zip(h2s, h3s, strict=True):
                created = created_start + h2 % created_span
                instants.append(created + h3 % (modified_end - created))
        return instants

    def serialized(self, indices: Sequence[int], dataonly: bool) -> list[bytes]:
        """The serialized profiles ``base + index``: the same bytes as ``compact_json`` of
        their list-answer shape, built from precomputed fragments instead of a
        :class:`ProfileRecord` and ``json.dumps``. The values are those of :meth:`record`
        (the same hashes, tables and ranges)."""
        h1s, h2s, h3s = splitmix_chains(self.key, indices)
        days = generated_days()
        first_day = CREATED_START // 86_400
        minutes = MINUTES
        seconds = SECONDS
        instants, offsets = offset_table()
        email_heads = _EMAIL_HEADS
        domain_names = _DOMAIN_NAMES
        city_ages = _CITY_AGES
        interests = self.interest_json
        base = self.base
        n_first, n_last, n_pairs, n_domains = _N_FIRST, _N_LAST, _N_FIRST * _N_LAST, _N_DOMAINS
        created_start, created_span, modified_end = CREATED_START, CREATED_SPAN, MODIFIED_END
        database = f',"database":"{self.database_id}","secret":"'
        result: list[bytes] = []
        append = result.append
        for index, h1, h2, h3 in zip(indices, h1s, h2s, h3s, strict=True):
            pair = (h1 % n_first) * n_last + (h1 >> 8) % n_last
            created = created_start + h2 % created_span
            modified = created + h3 % (modified_end - created)
            # Amsterdam's wall clock: the UTC offset in force at that instant.
            day, rest = divmod(modified + offsets[bisect_right(instants, modified)], 86_400)
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
            created_day, created_rest = divmod(
                created + offsets[bisect_right(instants, created)], 86_400
            )
            append(
                f"{head}{database}{(h2 << 48) | (h3 >> 16):028x}"
                f'","created":"{days[created_day - first_day]}'
                f"{minutes[created_rest // 60]}{seconds[created_rest % 60]}"
                f'","modified":"{days[day - first_day]}'
                f'{minutes[rest // 60]}{seconds[rest % 60]}","removed":false}}'.encode()
            )
        return result
