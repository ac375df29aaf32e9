"""Errors of the linking domain (children of :class:`~linker.platform.errors.LinkerError`)."""

from __future__ import annotations

from linker.models import Link
from linker.platform.errors import LinkerError


class LinkingError(LinkerError):
    """Linking failed; the message is written for the person who tried."""


class ApplicationError(LinkingError):
    """An application cannot be registered as asked."""


class LinkNotUsableError(LinkerError):
    """The link has no usable token (pending, needs reconnect or disconnected)."""

    def __init__(self, link: Link) -> None:
        self.link_id = link.pk
        self.state = link.state
        super().__init__(
            f"The Copernica link of {link.tenant} is {link.get_state_display().lower()}; "
            "no calls are made until it is reconnected."
        )
