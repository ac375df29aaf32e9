"""The paged sync engine: Copernica's databases, collections, profiles and subprofiles into the
local mirror.

- :mod:`~linker.sync.runs`: requesting, cancelling and reconciling runs; one step of a run.
- :mod:`~linker.sync.schedule`: when links sync (the beat's due check, per-link overrides).
- :mod:`~linker.sync.controls`: *Sync now* for one tenant or many, as agency staff ask.
- :mod:`~linker.sync.engine`: what a step does, phase by phase, page by page.
- :mod:`~linker.sync.upserts`: writing pages into the mirror (COPY, staged upserts).
- :mod:`~linker.sync.removals`: deletion reconciliation at the end of a full run.
- :mod:`~linker.sync.activity`: what the tenant page shows of runs, progress and requests.
- :mod:`~linker.sync.tasks`: the Celery tasks.

Full runs walk every source -- each database's profiles, then each collection's subprofiles
(:mod:`~linker.sync.sources`) -- with keyset paging on ``id`` (``limit=1000``, ``total=false``),
then reconcile deletions against Copernica's id lists with the guards of
:mod:`~linker.sync.removals`. Incremental runs walk only what has a ``modified`` at or after the
newest one we hold, minus an overlap window.
"""
