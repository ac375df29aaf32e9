"""A sandbox collection: lazily generated subprofiles plus an overlay of the changed ones.

Built like a database (:mod:`~api_client.sandbox.store`): subprofile ``base + i`` is derived
on demand (:mod:`~api_client.sandbox.subprofile_generation`); subprofiles that were changed,
created or removed live in ``overlay``; the live IDs are ranked and sliced by
:class:`~api_client.sandbox.live_ids.LiveIdRange`.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass, field

from .json_cache import ProfileCache, subprofile_keys
from .live_ids import LiveIdRange
from .records import FieldDef, SubprofileRecord, compact_json, envelope
from .subprofile_generation import SubprofileGenerator

#: Not documented for subprofiles; a profile's intentions look the same.
_INTENTIONS = {"email": False, "sms": False, "fax": False, "pdf": False}


@dataclass
class Collection(LiveIdRange):
    """One collection of a sandbox database, and its subprofiles."""

    id: int
    name: str
    database_id: int
    base: int
    size: int
    fields: list[FieldDef]
    generator: SubprofileGenerator = field(repr=False)
    removed_generated: list[int] = field(default_factory=list)
    created_ids: list[int] = field(default_factory=list)
    overlay: dict[int, SubprofileRecord] = field(default_factory=dict)
    #: The subprofiles created through the API, by profile.
    created_by_profile: dict[int, list[int]] = field(default_factory=dict)
    #: The state's cache of serialized generated items (see :mod:`.json_cache`).
    cache: ProfileCache = field(default_factory=ProfileCache, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._field_index = {item.name.lower(): item for item in self.fields}

    # ------------------------------------------------------------------ schema

    def field_named(self, name: str) -> FieldDef | None:
        return self._field_index.get(name.lower())

    # ------------------------------------------------------------------ subprofiles

    def record(self, subprofile_id: int) -> SubprofileRecord | None:
        """The subprofile (removed ones included), or ``None`` if it is not in here."""
        record = self.overlay.get(subprofile_id)
        if record is not None:
            return record
        if self.in_generated_range(subprofile_id):
            return self.generator.record(subprofile_id - self.base)
        return None

    def materialise(self, subprofile_id: int) -> SubprofileRecord:
        """The overlay record of a subprofile, creating it from the generated one if needed."""
        record = self.overlay.get(subprofile_id)
        if record is None:
            record = self.generator.record(subprofile_id - self.base)
            self.overlay[subprofile_id] = record
        return record

    def add(self, subprofile_id: int, record: SubprofileRecord) -> None:
        self.overlay[subprofile_id] = record
        self.created_ids.append(subprofile_id)
        self.created_by_profile.setdefault(record.profile, []).append(subprofile_id)

    def remove(self, subprofile_id: int, when: str) -> None:
        record = self.materialise(subprofile_id)
        record.removed = when
        self.forget(subprofile_id)

    def ids_of_profile(self, profile_id: int) -> list[int]:
        """The live subprofiles of ``profile_id``, ascending."""
        removed = self.removed_generated
        ids = []
        for index in self.generator.indices_of(profile_id, self.size):
            subprofile_id = self.base + index
            position = bisect_left(removed, subprofile_id)
            if position == len(removed) or removed[position] != subprofile_id:
                ids.append(subprofile_id)
        for subprofile_id in self.created_by_profile.get(profile_id, ()):
            if self.overlay[subprofile_id].removed is None:
                ids.append(subprofile_id)
        return ids

    def remove_of_profile(self, profile_id: int, when: str) -> int:
        """Remove every live subprofile of a removed profile; returns how many."""
        ids = self.ids_of_profile(profile_id)
        for subprofile_id in ids:
            self.remove(subprofile_id, when)
        return len(ids)

    # ------------------------------------------------------------------ JSON

    def subprofile_json(
        self, subprofile_id: int, record: SubprofileRecord, dataonly: bool
    ) -> dict[str, object]:
        """A subprofile as Copernica shows it (``dataonly``: ID, fields, profile,
        collection and modified only). A removed one shows empty field values."""
        fields = dict.fromkeys(record.fields, "") if record.removed is not None else record.fields
        if dataonly:
            return {
                "ID": str(subprofile_id),
                "fields": fields,
                "profile": str(record.profile),
                "collection": str(self.id),
                "modified": record.modified,
            }
        return {
            "ID": str(subprofile_id),
            "secret": record.secret,
            "fields": fields,
            "profile": str(record.profile),
            "collection": str(self.id),
            "created": record.created,
            "modified": record.modified,
            "removed": record.removed if record.removed is not None else False,
        }

    def entries_json(self, ids: Sequence[int], dataonly: bool) -> list[bytes]:
        """The JSON (UTF-8) of each subprofile of ``ids`` in here, as in a list answer;
        IDs that are not in this collection are skipped."""
        result: list[bytes] = []
        overlay = self.overlay
        pending: list[int] = []  # positions in result still to fill with generated JSON
        indices: list[int] = []
        for subprofile_id in ids:
            record = overlay.get(subprofile_id)
            if record is not None:
                result.append(
                    compact_json(self.subprofile_json(subprofile_id, record, dataonly)).encode()
                )
            elif self.in_generated_range(subprofile_id):
                pending.append(len(result))
                indices.append(subprofile_id - self.base)
                result.append(b"")
        if indices:
            ids = [self.base + index for index in indices]
            texts = self.cache.served(
                subprofile_keys(ids, dataonly), ids, self.base, dataonly, self.generator.serialized
            )
            for position, text in zip(pending, texts, strict=True):
                result[position] = text
        return result

    def as_json(self) -> dict[str, object]:
        """The collection object: ``ID``, ``name``, ``database``, ``fields``, ``intentions``."""
        return {
            "ID": str(self.id),
            "name": self.name,
            "database": str(self.database_id),
            "fields": envelope([item.as_json() for item in self.fields]),
            "intentions": dict(_INTENTIONS),
        }
