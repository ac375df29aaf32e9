"""Models of the linker (app label `linker`), one module per concern: links, the mirror,
sync runs, the outbox, notifications, API keys, the request log."""

from linker.models.api_keys import ApiIdempotentRequest, ApiKey, ApiKeyScope, ApiRequestLog
from linker.models.dashboard import NEVER_SYNCED, DashboardCount, DashboardRow
from linker.models.inbound import (
    InboundEvent,
    InboundLink,
    InboundPending,
    InboundWebhook,
    WebhookHealth,
)
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
from linker.models.request_log import RequestLogEntry
from linker.models.runs import (
    ACTIVE_SYNC_STATES,
    RequestLedger,
    SyncMode,
    SyncRemoteId,
    SyncRun,
    SyncSchedule,
    SyncState,
)
from linker.models.webhooks import (
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
    WebhookEventType,
)

__all__ = [
    "ACTIVE_SYNC_STATES",
    "NEVER_SYNCED",
    "ApiApplication",
    "ApiIdempotentRequest",
    "ApiKey",
    "ApiKeyScope",
    "ApiRequestLog",
    "ConnectLink",
    "DashboardCount",
    "DashboardRow",
    "InboundEvent",
    "InboundLink",
    "InboundPending",
    "InboundWebhook",
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
    "RequestLogEntry",
    "SyncMode",
    "SyncRemoteId",
    "SyncRun",
    "SyncSchedule",
    "SyncState",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEndpoint",
    "WebhookEvent",
    "WebhookEventType",
    "WebhookHealth",
]
