"""The encrypted columns, rotation onto the newest key, and the start-up key check.

Every encrypted column of the project is listed in :data:`ENCRYPTED_COLUMNS` with the
associated data that binds its values to their row and field. Rotation re-encrypts in batches
that each commit on their own, so a killed rotation resumes where it stopped; the start-up
check refuses a key ring that cannot read what is stored.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.core.checks import CheckMessage, Error, register
from django.db import DatabaseError, transaction
from django.db.models import Model, QuerySet
from django.db.models.functions import Substr

from accounts.authenticator import AuthenticatorApp, key_context
from linker.models import ApiApplication, Link, WebhookEndpoint
from linker.platform import vault


def token_context(link: Link) -> str:
    """The associated data binding a link's token ciphertext to its row and field."""
    return f"linker_link:{link.uid}:access_token"


def secret_context(application: ApiApplication) -> str:
    """The associated data binding an application's client secret to its row and field."""
    return f"linker_apiapplication:{application.uid}:client_secret"


def authenticator_context(device: AuthenticatorApp) -> str:
    """The associated data binding an authenticator app's secret to its row and field."""
    return key_context(device.uid)


def webhook_secret_context(endpoint: WebhookEndpoint) -> str:
    """The associated data binding a webhook endpoint's secret to its row and field."""
    return f"linker_webhookendpoint:{endpoint.uid}:secret"


@dataclass(frozen=True)
class EncryptedColumn:
    model: type[Model]
    field: str
    context: Callable[[Any], str]

    @property
    def label(self) -> str:
        return f"{self.model._meta.label}.{self.field}"


#: A new encrypted column must be added here, or rotation would leave it on an old key.
ENCRYPTED_COLUMNS: tuple[EncryptedColumn, ...] = (
    EncryptedColumn(ApiApplication, "client_secret_encrypted", secret_context),
    EncryptedColumn(Link, "access_token_encrypted", token_context),
    EncryptedColumn(WebhookEndpoint, "secret_encrypted", webhook_secret_context),
    EncryptedColumn(AuthenticatorApp, "key_encrypted", authenticator_context),
)


# ---------------------------------------------------------------------------------- rotation


def _stale(column: EncryptedColumn) -> QuerySet[Any]:
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


# ----------------------------------------------------------------------------- start-up check


def missing_keys() -> set[str]:
    """Ids of keys that stored secrets need but ``LINKER_ENCRYPTION_KEYS`` lacks."""
    return keys_in_use() - set(vault.keyring().ids)


def key_problem() -> str | None:
    """One line describing why this process cannot use its secrets, or ``None``."""
    try:
        missing = missing_keys()
    except vault.VaultError as exc:
        return str(exc)
    except DatabaseError:
        return None  # no tables yet (before migrate): nothing to decrypt
    if missing:
        return (
            "LINKER_ENCRYPTION_KEYS lacks the key(s) "
            f"{', '.join(sorted(missing))} that stored secrets were encrypted with."
        )
    return None


def require_usable_keys() -> None:
    """Stop the process with one line if its key ring cannot read the stored secrets."""
    problem = key_problem()
    if problem:
        sys.exit(f"Copernica Linker cannot start: {problem}")


@register("database")
def check_encryption_keys(**kwargs: Any) -> list[CheckMessage]:
    problem = key_problem()
    return [Error(problem, id="linker.E001")] if problem else []
