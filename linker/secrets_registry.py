"""Every encrypted column of the project and the associated data that binds it to its row.

Key rotation and the start-up key check walk this list; a new encrypted column must be added
here or rotation would leave it on an old key.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.db.models import Model

from linker.applications import secret_context
from linker.copernica import token_context
from linker.models import ApiApplication, Link


@dataclass(frozen=True)
class EncryptedColumn:
    model: type[Model]
    field: str
    context: Callable[[Model], str]

    @property
    def label(self) -> str:
        return f"{self.model._meta.label}.{self.field}"


ENCRYPTED_COLUMNS: tuple[EncryptedColumn, ...] = (
    EncryptedColumn(ApiApplication, "client_secret_encrypted", secret_context),  # type: ignore[arg-type]
    EncryptedColumn(Link, "access_token_encrypted", token_context),  # type: ignore[arg-type]
)
