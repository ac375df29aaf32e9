"""The paged sync engine: Copernica's databases and profiles into the local mirror.

- :mod:`~linker.sync.runs`: requesting, cancelling and reconciling runs; one step of a run.
- :mod:`~linker.sync.schedule`: when links sync (the beat's due check, per-link overrides).
- :mod:`~linker.sync.controls`: *Sync now* for one tenant or many, as agency staff ask.
- :mod:`~linker.sync.engine`: what a step does, phase by phase, page by page.
- :mod:`~linker.sync.upserts`: writing pages into the mirror (COPY, staged upserts).
- :mod:`~linker.sync.removals`: deletion reconciliation at the end of a full run.
- :mod:`~linker.sync.activity`: what the tenant page shows of runs, progress and requests.
- :mod:`~linker.sync.tasks`: the Celery tasks.

Full runs walk every database with keyset paging on ``id`` (``limit=1000``, ``total=false``),
then reconcile deletions against Copernica's profile id list with a mass-delete guard.
Incremental runs walk only profiles whose ``modified`` is at or after the newest one we hold,
minus an overlap window.
"""
