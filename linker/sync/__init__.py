"""The paged sync engine: Copernica's databases and profiles into the local mirror.

- :mod:`~linker.sync.runs`: requesting, scheduling and reconciling runs; one step of a run.
- :mod:`~linker.sync.engine`: what a step does, phase by phase, page by page.
- :mod:`~linker.sync.upserts`: writing pages into the mirror (COPY, staged upserts).
- :mod:`~linker.sync.removals`: deletion reconciliation at the end of a full run.
- :mod:`~linker.sync.timestamps`: Copernica's zone-less timestamps.

Full runs walk every database with keyset paging on ``id`` (``limit=1000``, ``total=false``),
then reconcile deletions against Copernica's profile id list with a mass-delete guard.
Incremental runs walk only profiles whose ``modified`` is at or after the newest one we hold,
minus an overlap window.
"""

from linker.sync.engine import ClaimLostError
from linker.sync.removals import CONFIRM_REMOVALS_UP_TO, MASS_REMOVAL_SHARE
from linker.sync.runs import (
    FAIL_FAST_PUBLISH,
    StepOutcome,
    retry_delay,
    sync_run_cancel,
    sync_run_foreground,
    sync_run_request,
    sync_run_step,
    sync_runs_reconcile,
    sync_schedule_due,
)
from linker.sync.timestamps import INCREMENTAL_OVERLAP, format_timestamp, parse_timestamp
from linker.sync.upserts import upsert_profiles_portable, upsert_profiles_postgres

__all__ = [
    "CONFIRM_REMOVALS_UP_TO",
    "FAIL_FAST_PUBLISH",
    "INCREMENTAL_OVERLAP",
    "MASS_REMOVAL_SHARE",
    "ClaimLostError",
    "StepOutcome",
    "format_timestamp",
    "parse_timestamp",
    "retry_delay",
    "sync_run_cancel",
    "sync_run_foreground",
    "sync_run_request",
    "sync_run_step",
    "sync_runs_reconcile",
    "sync_schedule_due",
    "upsert_profiles_portable",
    "upsert_profiles_postgres",
]
