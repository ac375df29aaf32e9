"""Models of the linker (app label `linker`), one module per concern: links, the mirror and
its runs, notifications."""

from linker.models.links import (
    ApiApplication,
    ConnectLink,
    Link,
    LinkEvent,
    LinkState,
    OAuthState,
)
from linker.models.mirror import (
    ProfileChange,
    RemoteDatabase,
    RemoteProfile,
    RequestLedger,
    SyncMode,
    SyncRun,
    SyncSchedule,
    SyncState,
)
from linker.models.notifications import Notification

__all__ = [
    "ApiApplication",
    "ConnectLink",
    "Link",
    "LinkEvent",
    "LinkState",
    "Notification",
    "OAuthState",
    "ProfileChange",
    "RemoteDatabase",
    "RemoteProfile",
    "RequestLedger",
    "SyncMode",
    "SyncRun",
    "SyncSchedule",
    "SyncState",
]
