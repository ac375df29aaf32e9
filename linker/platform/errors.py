"""The root of the linker's exception tree.

Every error a domain service raises for a person to read is a :class:`LinkerError`, so a view
catches one base and shows its message. Role checks are not errors of this tree: they raise
Django's ``PermissionDenied`` (a 403 page), everywhere.

::

    LinkerError
    ├── InvalidInputError          input a service refuses, with messages per field
    ├── VaultError                 (platform.vault) a secret does not decrypt
    │   └── VaultConfigurationError
    ├── LockTimeoutError           (platform.locks)
    ├── BudgetExhaustedError       (platform.ratelimit) wait and come back later
    ├── LinkingError               (linking.errors) linking failed
    │   └── ApplicationError       an application cannot be registered as asked
    ├── LinkNotUsableError         (linking.errors) the link has no usable token
    ├── ClaimLostError             (sync.engine) another worker took the run over
    └── RemovedAtCopernicaError    (profiles.sending) an update's target is gone there
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

NON_FIELD = "__all__"


class LinkerError(Exception):
    """Something a person asked for cannot be done; the message says why, in their words.

    ``field_errors`` maps field names (or ``"__all__"``) to messages, so a form can show each
    one next to its input; an error about no field in particular has only ``"__all__"``.
    """

    def __init__(
        self, message: str | Mapping[str, Sequence[str]] = "", *, field: str = NON_FIELD
    ) -> None:
        if isinstance(message, Mapping):
            self.field_errors = {name: [str(m) for m in msgs] for name, msgs in message.items()}
        else:
            self.field_errors = {field: [message]} if message else {}
        super().__init__(" ".join(self.messages))

    @property
    def messages(self) -> list[str]:
        return [m for msgs in self.field_errors.values() for m in msgs]

    @property
    def message(self) -> str:
        return str(self)


class InvalidInputError(LinkerError):
    """Input a service refuses (a value of the wrong type, an unknown field, nothing to do)."""
