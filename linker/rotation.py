"""Re-encrypting every secret with the newest key, in batches that survive a kill."""

from __future__ import annotations

from collections.abc import Callable

from django.db import transaction
from django.db.models.functions import Substr

from linker import vault
from linker.secrets_registry import ENCRYPTED_COLUMNS, EncryptedColumn


def _stale(column: EncryptedColumn):
    prefix = vault.keyring().current_prefix()
    return (
        column.model._default_manager.exclude(**{column.field: ""})
        .exclude(**{f"{column.field}__startswith": prefix})
        .order_by("pk")
    )


def rows_on_old_keys() -> dict[str, int]:
    """How many rows of each encrypted column are not on the current key."""
    return {column.label: _stale(column).count() for column in ENCRYPTED_COLUMNS}


def keys_in_use() -> set[str]:
    """The key ids that stored secrets were encrypted with."""
    used: set[str] = set()
    for column in ENCRYPTED_COLUMNS:
        values = (
            column.model._default_manager.exclude(**{column.field: ""})
            .annotate(kid=Substr(column.field, 4, 12))
            .values_list("kid", flat=True)
            .distinct()
        )
        used.update(values)
    return used


def rotate_batch(column: EncryptedColumn, *, batch_size: int) -> int:
    """Re-encrypt up to ``batch_size`` rows of ``column``; each batch commits on its own."""
    ring = vault.keyring()
    with transaction.atomic():
        rows = list(_stale(column).select_for_update(skip_locked=True)[:batch_size])
        for row in rows:
            context = column.context(row)
            plain = ring.decrypt(getattr(row, column.field), context=context)
            setattr(row, column.field, ring.encrypt(plain, context=context))
            row.save(update_fields=[column.field])
    return len(rows)


def rotate_all(*, batch_size: int, on_batch: Callable[[str, int], None] | None = None) -> int:
    """Re-encrypt every stale row; safe to interrupt and run again (it resumes)."""
    total = 0
    for column in ENCRYPTED_COLUMNS:
        while done := rotate_batch(column, batch_size=batch_size):
            total += done
            if on_batch is not None:
                on_batch(column.label, done)
    return total
