"""Models of the linker (app label `linker`), one module per concern: links, the mirror,
sync runs, the outbox, notifications."""

from linker.models.links import (
    ApiApplication,
    ConnectLink,
    Link,
    LinkEvent,
    LinkState,
    OAuthState,
)
from linker.models.mirror import RemoteCollection, RemoteDatabase, RemoteProfile, RemoteSubprofile
from linker.models.notifications import Notification
from linker.models.outbox import ProfileChange
from linker.models.runs import (
    ACTIVE_SYNC_STATES,
    RequestLedger,
    SyncMode,
    SyncRemoteId,
    SyncRun,
    SyncSchedule,
    SyncState,
)

__all__ = [
    "ACTIVE_SYNC_STATES",
    "ApiApplication",
    "ConnectLink",
    "Link",
    "LinkEvent",
    "LinkState",
    "Notification",
    "OAuthState",
    "ProfileChange",
    "RemoteCollection",
    "RemoteDatabase",
    "RemoteProfile",
    "RemoteSubprofile",
    "RequestLedger",
    "SyncMode",
    "SyncRemoteId",
    "SyncRun",
    "SyncSchedule",
    "SyncState",
]
