"""Deletion reconciliation: which live mirror rows Copernica no longer lists, and when they may
be marked removed (reliability.md cases 31, 32, 45 and 46).

The reconcile phase (:mod:`linker.sync.reconcile`) loads each source's id list (a database's
profiles, a collection's subprofiles) into ``SyncRemoteId`` and reads Copernica's own count of
the source just before and just after the list. Per source, this module then decides and
applies. A missing row is marked removed only when a second, independent signal agrees with
the list; a list that comes back short (cut off, capped, rewritten) must never remove a live
profile:

1. An empty list removes nothing (Copernica listed nothing at all: a broken answer).
2. A list that holds an id twice, or whose length is not between Copernica's count read just
   before it and the count read just after it, is refused as a whole: nothing of that source
   is removed, and the run's note says so. The two counts bracket the list because profiles
   created or deleted while it is read move the count: with no activity all three agree, a
   creation after the last page makes the later count higher, a deletion of an id the list
   already passed makes it lower. A list shorter than both counts lost ids; one longer than
   both holds something twice. Ids held twice are counted on their own: an answer with ids
   dropped shifts the offsets of the pages after it, so the walk reads some ids twice and its
   length can match the count. A busy account may now and then see a list refused for
   activity that went both ways; refusing is the safe side, and the next full run tries again.
3. Up to ``CONFIRM_REMOVALS_UP_TO`` missing rows: each is read back from Copernica, and only
   those it answers as removed (or unknown) are marked removed.
4. More than that: ``SAMPLE_SIZE`` of them, drawn at random (seeded by run and source, so a
   test can repeat it), are read back. If every one is removed at Copernica, the whole missing
   set is marked removed; if any is live, the set is inconsistent and only the sampled ones
   confirmed removed are marked, and the note says why. A short list's missing set is live
   through and through, so any sample catches it; a set of real deletions with 6% live rows
   mixed in passes 50 draws with a chance below 5%.
5. More than ``MASS_REMOVAL_SHARE`` of the source's live rows missing (strictly more: 10.0%
   is not yet a mass removal): in addition, the removal waits for a second full run whose
   missing set has the same fingerprint (sha256 of the ids); that run then applies 3 or 4.

A list that had to be read across steps and had moved in between (the id at the resume point
is not the one read last) is treated as unconfirmed beyond the rows read back one by one.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from django.db.models import Count, Q
from django.utils import timezone

from api_client import CopernicaClient
from linker.models import SyncRun, SyncSchedule
from linker.sync import remote_ids
from linker.sync.sources import Source

#: A removal of more than this share of a source's live rows waits for a second full run.
MASS_REMOVAL_SHARE = 0.10
#: Up to this many missing rows of a source are each read back from Copernica.
CONFIRM_REMOVALS_UP_TO = 200
#: Above that, this many of them, drawn at random, are read back before the set is applied.
SAMPLE_SIZE = 50


@dataclass(frozen=True)
class ListedIds:
    """What the reconcile phase read of one source's id list."""

    length: int
    before: int  # Copernica's count of the source just before the list
    after: int  # and just after it
    distinct: int  # different ids in the list
    moved: bool = False  # resumed in a later step after the list had shifted
    # For the ids a run's walks saw (``walked``): the ids recorded in SyncRemoteId, which
    # are not all of them and may hold some twice (see ``remote_ids.walked_size``).
    rows: int | None = None

    @property
    def walked(self) -> bool:
        return self.rows is not None

    def disagreement(self) -> str:
        """Why the list cannot be trusted as a whole, or ``""``."""
        if self.distinct != self.length:
            return f"its id list held {self.length - self.distinct} of its {self.length} ids twice"
        low, high = sorted((self.before, self.after))
        if low <= self.length <= high:
            return ""
        counted = str(low) if low == high else f"{low} to {high}"
        return f"its id list held {self.length} ids while Copernica counted {counted}"


@dataclass(frozen=True)
class SourceOutcome:
    """What one source's removal check did, as kept in the run's checkpoint."""

    removed: int
    pending: int
    remote: int  # the length of Copernica's list
    local: int  # the live rows of the source afterwards
    note: str = ""

    def as_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SourceOutcome:
        return cls(**data)


@dataclass(frozen=True)
class Decision:
    """What to do with one source: ``refuse`` (nothing, the list is not trusted), ``wait``
    (a mass removal pending agreement), ``some`` (the ids in ``gone``), ``all`` (the stored
    missing set)."""

    action: str
    local: int
    missing: int = 0
    fingerprint: str = ""
    gone: tuple[int, ...] = ()
    note: str = ""


#: A :class:`Decision`'s action when rows are missing: :func:`removals_confirm` decides.
CONFIRM = "confirm"


def removals_none_missing(*, run: SyncRun, source: Source, listed: ListedIds) -> Decision | None:
    """The decision on a walked list of which nothing is recorded (every page of the source
    went straight into the mirror, a first sync's), if no live row is missing from it; ``None``
    to decide the usual way (:func:`removals_check`).

    Such a list is the rows this run wrote, so a live row missing from it is one this run did
    not write (one the write-back or a webhook created meanwhile): counted with the live rows
    in one pass instead of stored by the anti-join. None missing decides what
    :func:`removals_check` decides on an empty missing set; any missing takes the usual way,
    with its read-backs.
    """
    if listed.rows != 0 or not listed.length or listed.disagreement():
        return None
    others = ~Q(last_run_id=run.pk) | Q(last_run_id=None)
    counts = source.live().aggregate(local=Count("pk"), others=Count("pk", filter=others))
    if counts["others"]:
        return None
    return Decision("some", counts["local"])


def removals_check(
    *, run: SyncRun, source: Source, position: int, listed: ListedIds, postgres: bool
) -> Decision:
    """The rules that need nothing from Copernica, in the caller's transaction: the list
    refused, or the source's missing set stored next to it. → the decision when nothing is
    missing (most runs: it is applied in the same transaction), else one whose action is
    :data:`CONFIRM`, for :func:`removals_confirm` once the missing set is committed."""
    if not listed.length or listed.disagreement():
        local = source.live().count()
        if not listed.length and local:
            note = f"Copernica listed none of {source.label}; nothing was removed."
            return Decision("refuse", local, note=note)
        disagreement = listed.disagreement()
        if disagreement:
            note = f"For {source.label}, {disagreement}; nothing was removed."
            return Decision("refuse", local, note=note)
    local, missing = remote_ids.missing_collect_counted(
        source=source, run_id=run.pk, position=position, postgres=postgres, walked=listed.walked
    )
    if not missing:
        return Decision("some", local)
    return Decision(CONFIRM, local, missing)


def removals_confirm(
    *,
    client: CopernicaClient,
    run: SyncRun,
    source: Source,
    position: int,
    listed: ListedIds,
    checked: Decision,
    schedule: SyncSchedule,
    heartbeat: Callable[[], None],
) -> Decision:
    """The rules of the module docstring for a source whose missing set :func:`removals_check`
    stored (and its caller committed). Reads back from Copernica outside any transaction,
    calling ``heartbeat`` after every request (it decides whether the run's heartbeat is
    due). Writes nothing to the mirror."""
    local = checked.local
    scan = remote_ids.missing_scan(
        source=source,
        run_id=run.pk,
        position=position,
        keep=CONFIRM_REMOVALS_UP_TO,
        sample_size=SAMPLE_SIZE,
        rng=random.Random(f"{run.pk}:{source.key}"),  # seeded: the same sample on a retry
    )
    if scan.count > MASS_REMOVAL_SHARE * max(local, 1):
        pending = _pending_entries(schedule).get(source.key, {})
        if pending.get("fingerprint") != scan.fingerprint:
            note = (
                f"{scan.count} of {source.label} are missing at Copernica, more than "
                f"{MASS_REMOVAL_SHARE:.0%} of them; the removal waits for a second full run "
                "that agrees."
            )
            return Decision("wait", local, scan.count, scan.fingerprint, note=note)
    if scan.count <= CONFIRM_REMOVALS_UP_TO:
        gone = _read_back(client, source, scan.first, heartbeat)
        note = ""
        if len(gone) < scan.count:
            note = (
                f"{scan.count - len(gone)} of {source.label} missing from Copernica's id list "
                "are still there; they were kept."
            )
        return Decision("some", local, scan.count, scan.fingerprint, tuple(gone), note)
    gone = _read_back(client, source, scan.sample, heartbeat)
    if len(gone) == len(scan.sample) and not listed.moved:
        return Decision("all", local, scan.count, scan.fingerprint)
    why = (
        "Copernica's id list changed while it was read in steps"
        if len(gone) == len(scan.sample)
        else f"{len(scan.sample) - len(gone)} of {len(scan.sample)} read back are still there"
    )
    note = (
        f"{scan.count} of {source.label} are missing from Copernica's id list, but {why}; only "
        f"the {len(gone)} confirmed one by one were removed."
    )
    return Decision("some", local, scan.count, scan.fingerprint, tuple(gone), note)


def removals_apply(
    *,
    run: SyncRun,
    source: Source,
    position: int,
    listed: ListedIds,
    decision: Decision,
    postgres: bool,
    schedule: SyncSchedule,
) -> SourceOutcome:
    """Carry out a decision, in the caller's transaction (which also holds the checkpoint).
    ``schedule``: the link's (:func:`removals_schedule`), read once per step."""
    now = timezone.now()
    removed = 0
    if decision.action == "all":
        removed = remote_ids.missing_apply(
            source=source, run_id=run.pk, position=position, now=now, postgres=postgres
        )
    elif decision.action == "some" and decision.gone:
        removed = (
            source.live()
            .filter(copernica_id__in=decision.gone)
            .update(removed_at=now, last_run_id=run.pk)
        )
    if decision.action == "refuse":
        # A list we do not trust neither confirms nor clears a pending removal; Copernica's
        # own count stands for the list in the run's figures.
        return SourceOutcome(0, 0, listed.after, decision.local, decision.note)
    entries = _pending_entries(schedule)
    if decision.action == "wait":
        entries[source.key] = {"fingerprint": decision.fingerprint, "count": decision.missing}
        _pending_save(schedule, entries, run)
        return SourceOutcome(0, decision.missing, listed.length, decision.local, decision.note)
    if entries.pop(source.key, None) is not None:
        _pending_save(schedule, entries, run)
    local = decision.local - removed
    source.record_counts(remote=listed.length, local=local)
    return SourceOutcome(removed, 0, listed.length, local, decision.note)


def removals_finish(*, run: SyncRun, sources: list[Source], schedule: SyncSchedule) -> None:
    """Forget pending removals of sources this run no longer walks (in the caller's
    transaction)."""
    entries = _pending_entries(schedule)
    keys = {source.key for source in sources}
    kept = {key: entry for key, entry in entries.items() if key in keys}
    if kept != entries or schedule.pending_removal_sources != entries:
        _pending_save(schedule, kept, run)


def _read_back(
    client: CopernicaClient, source: Source, ids: list[int], heartbeat: Callable[[], None]
) -> list[int]:
    """The ids Copernica answers as removed (or unknown), asked one by one."""
    gone: list[int] = []
    for copernica_id in ids:
        if source.confirmed_gone(client, copernica_id):
            gone.append(copernica_id)
        heartbeat()
    return gone


def removals_schedule(*, run: SyncRun) -> SyncSchedule:
    """The link's schedule, which holds the pending removals (created if the link has none)."""
    schedule, _ = SyncSchedule.objects.get_or_create(link_id=run.link_id)
    return schedule


def _digest(entries: dict[str, Any]) -> str:
    if not entries:
        return ""
    return hashlib.sha256(json.dumps(entries, sort_keys=True).encode()).hexdigest()


def _pending_entries(schedule: SyncSchedule) -> dict[str, Any]:
    """The pending removals per source; none when the digest no longer matches (relinked)."""
    entries = schedule.pending_removal_sources
    if not isinstance(entries, dict) or not entries:
        return {}
    if schedule.pending_removal_fingerprint != _digest(entries):
        return {}
    return dict(entries)


def _pending_save(schedule: SyncSchedule, entries: dict[str, Any], run: SyncRun) -> None:
    schedule.pending_removal_sources = entries
    schedule.pending_removal_fingerprint = _digest(entries)
    schedule.pending_removal_count = sum(int(entry["count"]) for entry in entries.values())
    schedule.pending_removal_run_id = run.pk if entries else None
    schedule.save(
        update_fields=[
            "pending_removal_sources",
            "pending_removal_fingerprint",
            "pending_removal_count",
            "pending_removal_run",
        ]
    )
