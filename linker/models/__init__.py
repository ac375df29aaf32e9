"""Models of the linking domain, one module per concern."""

from linker.models.links import (
    ApiApplication,
    ConnectLink,
    Link,
    LinkEvent,
    LinkState,
    OAuthState,
)

__all__ = [
    "ApiApplication",
    "ConnectLink",
    "Link",
    "LinkEvent",
    "LinkState",
    "OAuthState",
]
