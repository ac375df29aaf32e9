"""Errors of the outbound webhooks.

::

    LinkerError
    └── InvalidInputError
        └── WebhookUrlError        a URL we will not send to (scheme, form, or address)
"""

from __future__ import annotations

from linker.platform.errors import InvalidInputError


class WebhookUrlError(InvalidInputError):
    """A webhook URL refused: not https in production, malformed, or (case 52) on an address
    inside a private network. Raised for the ``url`` field, so a form shows it there."""

    def __init__(self, message: str) -> None:
        super().__init__(message, field="url")
