"""What every domain of the linker uses, and that knows no domain.

- :mod:`~linker.platform.errors`: the root of the domain's exception tree.
- :mod:`~linker.platform.vault`: secrets at rest (AES-256-GCM key ring);
  :mod:`~linker.platform.keys`: the encrypted columns, key rotation and the start-up key check.
- :mod:`~linker.platform.locks`: locks shared by every process.
- :mod:`~linker.platform.ratelimit`: the request budget per Copernica account.
- :mod:`~linker.platform.ledger`: requests made per account and day.
- :mod:`~linker.platform.delivery`: handing work to Celery by task name, after the commit,
  failing fast when the broker is down.

Nothing here imports ``linker.linking``, ``linker.sync``, ``linker.profiles``,
``linker.notifications``, ``linker.health`` or ``linker.views`` (an import-linter contract).
"""
