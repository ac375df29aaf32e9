"""Generated subprofiles: a pure function of (seed, collection, index), like profiles.

A collection of N generated subprofiles stores nothing per subprofile: subprofile
``base + i`` is derived on demand from three SplitMix64 steps over ``(seed, collection, i)``
and belongs to profile ``profile_base + i % profile_count`` of its database, so a profile's
subprofiles are found without a scan. List answers build the JSON from precomputed
fragments (the same bytes as ``json.dumps`` of the record, without building it).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass

from .clock import MINUTES, SECONDS, offset_table, timestamp
from .generation import (
    CREATED_SPAN,
    CREATED_START,
    MODIFIED_END,
    generated_days,
    splitmix64,
    splitmix_chains,
)
from .records import SubprofileRecord, compact_json

_MASK = (1 << 64) - 1
#: Bits of the first hash given to each field's choice of value.
_FIELD_BITS = 12


@dataclass(frozen=True)
class CollectionField:
    """A field of a generated collection: one of ``values``, or ``serial + index``."""

    name: str
    type: str
    values: tuple[str, ...] = ()
    serial: int | None = None

    @property
    def default(self) -> str:
        return "0" if self.type in ("integer", "float") else ""


@dataclass(frozen=True)
class CollectionTemplate:
    """The name and fields of a generated collection."""

    name: str
    fields: tuple[CollectionField, ...]


def _numbers(start: int, stop: int, step: int = 1) -> tuple[str, ...]:
    return tuple(str(number) for number in range(start, stop, step))


#: The collections a generated database gets, in order (names get a number after a round).
TEMPLATES: tuple[CollectionTemplate, ...] = (
    CollectionTemplate(
        "orders",
        (
            CollectionField("order_number", "integer", serial=10_000),
            CollectionField(
                "product",
                "text",
                ("Stadsfiets", "Racefiets", "Bakfiets", "Fietsbel", "Zadel", "Slot", "Helm"),
            ),
            CollectionField("quantity", "integer", _numbers(1, 10)),
            CollectionField("amount", "float", tuple(f"{euros}.95" for euros in range(4, 250))),
            CollectionField("status", "text", ("new", "paid", "shipped", "delivered", "returned")),
        ),
    ),
    CollectionTemplate(
        "visits",
        (
            CollectionField("page", "text", ("/", "/shop", "/contact", "/blog/onderhoud", "/faq")),
            CollectionField("channel", "text", ("email", "search", "social", "direct")),
            CollectionField("duration", "integer", _numbers(5, 905, 5)),
            CollectionField("device", "text", ("desktop", "mobile", "tablet")),
        ),
    ),
    CollectionTemplate(
        "tickets",
        (
            CollectionField("ticket_number", "integer", serial=500),
            CollectionField(
                "subject", "text", ("Levering", "Retour", "Factuur", "Garantie", "Überweisung")
            ),
            CollectionField("priority", "integer", _numbers(1, 5)),
            CollectionField("status", "text", ("open", "pending", "solved", "closed")),
        ),
    ),
)


def template_for(number: int) -> CollectionTemplate:
    """The template of a database's ``number``-th generated collection (0-based)."""
    template = TEMPLATES[number % len(TEMPLATES)]
    round_ = number // len(TEMPLATES)
    if round_ == 0:
        return template
    return CollectionTemplate(f"{template.name} {round_ + 1}", template.fields)


class SubprofileGenerator:
    """The subprofiles of one collection as generated, before any change."""

    def __init__(
        self,
        *,
        seed: int,
        collection_id: int,
        base: int,
        profile_base: int,
        profile_count: int,
        fields: Sequence[CollectionField],
    ) -> None:
        # Mixed differently from a database's key, so a collection and a database with the
        # same number do not share values.
        self.key = splitmix64(splitmix64(seed & _MASK) ^ (collection_id * 0xC2B2AE3D27D4EB4F))
        self.collection_id = collection_id
        self.base = base
        self.profile_base = profile_base
        self.profile_count = profile_count
        self.fields = tuple(fields)
        # Per field: its JSON key and colon, the JSON of each choice, and its serial.
        self._parts = tuple(
            (
                f"{compact_json(item.name)}:",
                tuple(f"{compact_json(item.name)}:{compact_json(value)}" for value in item.values),
                item.serial,
                position * _FIELD_BITS,
            )
            for position, item in enumerate(self.fields)
        )

    def owner(self, index: int) -> int:
        """The profile that subprofile ``base + index`` belongs to."""
        return self.profile_base + index % self.profile_count

    def indices_of(self, profile_id: int, size: int) -> range:
        """The indices (below ``size``) of the generated subprofiles of ``profile_id``."""
        first = profile_id - self.profile_base
        if not 0 <= first < self.profile_count:
            return range(0)
        return range(first, size, self.profile_count)

    def record(self, index: int) -> SubprofileRecord:
        """Subprofile ``base + index`` as generated."""
        h1 = splitmix64(self.key ^ index)
        h2 = splitmix64(h1)
        h3 = splitmix64(h2)
        created = CREATED_START + h2 % CREATED_SPAN
        modified = created + h3 % (MODIFIED_END - created)
        values = {}
        for item, (_, _, _, shift) in zip(self.fields, self._parts, strict=True):
            if item.serial is not None:
                values[item.name] = str(item.serial + index)
            else:
                values[item.name] = item.values[(h1 >> shift) % len(item.values)]
        return SubprofileRecord(
            fields=values,
            secret=f"{(h2 << 48) | (h3 >> 16):028x}",
            created=timestamp(created),
            modified=timestamp(modified),
            profile=self.owner(index),
        )

    def serialized(self, indices: Sequence[int], dataonly: bool) -> list[bytes]:
        """The list-answer JSON of subprofiles ``base + index``: the same bytes as
        ``compact_json`` of their shape, with the values of :meth:`record`."""
        h1s, h2s, h3s = splitmix_chains(self.key, indices)
        days = generated_days()
        first_day = CREATED_START // 86_400
        minutes, seconds = MINUTES, SECONDS
        instants, offsets = offset_table()
        parts = self._parts
        base, profile_base, profile_count = self.base, self.profile_base, self.profile_count
        collection = f'"collection":"{self.collection_id}"'
        result: list[bytes] = []
        append = result.append
        for index, h1, h2, h3 in zip(indices, h1s, h2s, h3s, strict=True):
            fields = ",".join(
                [
                    f'{key}"{serial + index}"'
                    if serial is not None
                    else choices[(h1 >> shift) % len(choices)]
                    for key, choices, serial, shift in parts
                ]
            )
            created = CREATED_START + h2 % CREATED_SPAN
            modified = created + h3 % (MODIFIED_END - created)
            day, rest = divmod(modified + offsets[bisect_right(instants, modified)], 86_400)
            stamp = f"{days[day - first_day]}{minutes[rest // 60]}{seconds[rest % 60]}"
            owner = profile_base + index % profile_count
            if dataonly:
                append(
                    f'{{"ID":"{base + index}","fields":{{{fields}}},"profile":"{owner}",'
                    f'{collection},"modified":"{stamp}"}}'.encode()
                )
                continue
            created_day, created_rest = divmod(
                created + offsets[bisect_right(instants, created)], 86_400
            )
            append(
                f'{{"ID":"{base + index}","secret":"{(h2 << 48) | (h3 >> 16):028x}",'
                f'"fields":{{{fields}}},"profile":"{owner}",{collection},'
                f'"created":"{days[created_day - first_day]}{minutes[created_rest // 60]}'
                f'{seconds[created_rest % 60]}","modified":"{stamp}","removed":false}}'.encode()
            )
        return result
