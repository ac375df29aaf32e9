"""What each inbox event does to the mirror, decided in arrival order on a batch's small facts.

The walk over a batch holds no model objects and no (sub)profile contents: per event its
action, ids and timestamps; per (sub)profile the mirror's ``modified``, whether it is removed
and (subprofiles) its profile. Its result, a :class:`Plan`, names per (sub)profile the last
event (or fetched document) whose contents go into the mirror, the rows to mark removed, and
each event's outcome; :mod:`linker.inbound.mirror_writes` writes it in a few statements.

Rules, per (sub)profile (see :mod:`linker.inbound.applying`): older than the mirror → skipped;
removed here → stays removed (an update after its delete is late); delete → removed, a
profile's also its subprofiles; an update for one the mirror lacks → fetched. Whether the last
event of a (sub)profile changes anything at all ("no change") is left to the write, which
compares the contents in the database instead of here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from api_client import parse_timestamp
from linker.models import InboundEvent

State = InboundEvent.State
#: (parent pk, Copernica id): the database's (profiles) or collection's (subprofiles) mirror pk.
Key = tuple[int, int]

NOT_FETCHED = object()


@dataclass(slots=True)
class Event:
    """One pending inbox event, as much of it as the walk needs."""

    pk: int
    kind: str
    action: str
    copernica_id: int
    profile_copernica_id: int | None
    place: int | None  # the Copernica id of its database (profiles) or collection (subprofiles)
    modified: datetime | None


@dataclass(slots=True)
class Held:
    """A (sub)profile as the mirror holds it, updated as the walk goes."""

    modified: datetime | None
    removed: bool
    profile_copernica_id: int = 0


@dataclass(slots=True)
class Upsert:
    """The contents a (sub)profile gets: the event's variables, or a fetched ``document``."""

    event_pk: int
    modified: datetime | None
    profile_copernica_id: int = 0
    document: dict[str, Any] | None = None
    note: str = "updated"


@dataclass
class Side:
    """The profiles or the subprofiles of a batch: the places and rows the events name."""

    kind: str
    places: dict[int, int]  # Copernica id of a database/collection → its mirror pk
    held: dict[Key, Held]
    upserts: dict[Key, Upsert] = field(default_factory=dict)
    removals: set[Key] = field(default_factory=set)
    # (Sub)profiles with more than one upsert in the batch, in order: which of them change
    # anything is settled by comparing their contents (rare; see mirror_writes.chains_settle).
    chains: dict[Key, list[Upsert]] = field(default_factory=dict)

    def by_profile(self) -> dict[int, list[Held]]:
        rows: dict[int, list[Held]] = {}
        for row in self.held.values():
            rows.setdefault(row.profile_copernica_id, []).append(row)
        return rows


@dataclass
class Plan:
    """What a batch does: per side the writes; per event its outcome.

    ``tentative`` holds the events whose outcome depends on the write: the only upsert of a
    (sub)profile in the batch is "no change" unless the write changed its row. The events of
    a side's ``chains`` get theirs when the chain is settled.
    """

    profiles: Side
    subprofiles: Side
    outcomes: dict[int, tuple[str, str]] = field(default_factory=dict)
    tentative: dict[int, tuple[str, str, Key]] = field(default_factory=dict)
    cascades: set[int] = field(default_factory=set)  # profiles removed: their subprofiles too
    # Updates further on for (sub)profiles the mirror lacks: fetch them before walking on.
    to_fetch: list[Event] = field(default_factory=list)


def _removed(document: dict[str, Any]) -> bool:
    value = str(document.get("removed") or "")
    return bool(value) and not value.startswith("0000")


def _fetched_upsert(event: Event, found: object) -> Upsert | tuple[str, str]:
    if found is None:
        return State.SKIPPED, "gone at Copernica"
    if isinstance(found, str):
        return State.FAILED, found[:300]
    assert isinstance(found, dict)
    if _removed(found):
        return State.SKIPPED, "removed at Copernica"
    profile = int(str(found.get("profile") or event.profile_copernica_id or 0))
    return Upsert(event.pk, parse_timestamp(found.get("modified")), profile, found)


def plan_batch(
    *, events: list[Event], profiles: Side, subprofiles: Side, fetched: dict[int, object]
) -> Plan:
    """Walk ``events`` in order; stop before the first update of an unheld (sub)profile whose
    document is not in ``fetched`` yet (taken from it as used)."""
    plan = Plan(profiles, subprofiles)
    sub_rows: dict[int, list[Held]] | None = None
    for index, event in enumerate(events):
        side = subprofiles if event.kind == "subprofile" else profiles
        parent = side.places.get(event.place or 0)
        if parent is None:
            where = "collection" if event.kind == "subprofile" else "database"
            plan.outcomes[event.pk] = (State.SKIPPED, f"{where} not mirrored (yet)")
            continue
        key = (parent, event.copernica_id)
        row = side.held.get(key)
        if event.action == "delete":
            if row is None or row.removed:
                plan.outcomes[event.pk] = (State.SKIPPED, "not held or already removed")
                continue
            row.removed = True
            side.removals.add(key)
            if side is profiles:
                # Copernica fires no delete for the subprofiles that go with a profile.
                plan.cascades.add(event.copernica_id)
                if sub_rows is None:
                    sub_rows = subprofiles.by_profile()
                for sub in sub_rows.get(event.copernica_id, ()):
                    sub.removed = True
            plan.outcomes[event.pk] = (State.APPLIED, "removed")
            continue
        upsert: Upsert | tuple[str, str]
        if row is None and event.action == "update":
            found = fetched.pop(event.pk, NOT_FETCHED)
            if found is NOT_FETCHED:
                plan.to_fetch = _unheld_updates(events[index:], profiles, subprofiles, fetched)
                return plan
            upsert = _fetched_upsert(event, found)
        else:
            upsert = Upsert(event.pk, event.modified, event.profile_copernica_id or 0)
        if not isinstance(upsert, Upsert):
            plan.outcomes[event.pk] = upsert
            continue
        if row is not None and row.removed:
            plan.outcomes[event.pk] = (State.SKIPPED, "removed here already")
            continue
        if row is None:
            side.held[key] = Held(upsert.modified, False, upsert.profile_copernica_id)
            if sub_rows is not None and side is subprofiles:
                sub_rows.setdefault(upsert.profile_copernica_id, []).append(side.held[key])
            note = "created"
        elif row.modified is not None and (
            upsert.modified is None or upsert.modified < row.modified
        ):
            plan.outcomes[event.pk] = (State.SKIPPED, "older than the mirror")
            continue
        else:
            row.modified = upsert.modified
            note = "updated"
        upsert.note = note
        earlier = side.upserts.get(key)
        if earlier is not None:
            side.chains.setdefault(key, [earlier]).append(upsert)
            plan.tentative.pop(earlier.event_pk, None)
        else:
            plan.tentative[event.pk] = (note, side.kind, key)
        side.upserts[key] = upsert
    return plan


def _unheld_updates(
    events: list[Event], profiles: Side, subprofiles: Side, fetched: dict[int, object]
) -> list[Event]:
    """The updates in ``events`` for (sub)profiles neither held nor created before them."""
    seen: set[tuple[str, Key]] = set()
    out = []
    for event in events:
        side = subprofiles if event.kind == "subprofile" else profiles
        parent = side.places.get(event.place or 0)
        if parent is None or event.action == "delete":
            continue
        key = (parent, event.copernica_id)
        if key in side.held or (event.kind, key) in seen:
            continue
        if event.action == "update" and event.pk not in fetched:
            out.append(event)
        seen.add((event.kind, key))
    return out
