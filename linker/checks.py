"""Start-up checks: the key ring must be able to decrypt every secret already stored."""

from __future__ import annotations

from typing import Any

from django.core.checks import CheckMessage, Error, register
from django.db import DatabaseError

from linker import vault


def missing_keys() -> set[str]:
    """Ids of keys that stored secrets need but ``LINKER_ENCRYPTION_KEYS`` lacks."""
    from linker.rotation import keys_in_use

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


@register("database")
def check_encryption_keys(**kwargs: Any) -> list[CheckMessage]:
    problem = key_problem()
    return [Error(problem, id="linker.E001")] if problem else []
