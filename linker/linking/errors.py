"""Errors of the linking domain (children of :class:`~linker.platform.errors.LinkerError`)."""

from __future__ import annotations

from linker.models import Link, LinkState
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
            f"The Copernica link of {link.tenant} {_STATE_PHRASES.get(link.state, '')}"
        )


# What each unusable state means, as the end of a sentence (a state's label, "Needs
# reconnect", is no adjective: "is needs reconnect").
_STATE_PHRASES: dict[str, str] = {
    LinkState.PENDING: "waits for confirmation (the account is linked elsewhere too); no calls "
    "are made until someone confirms it.",
    LinkState.NEEDS_RECONNECT: "needs reconnecting; no calls are made until it is reconnected.",
    LinkState.DISCONNECTED: "is disconnected; no calls are made until it is connected again.",
    LinkState.ACTIVE: "has no stored token; no calls are made until it is reconnected.",
}
