"""A client for Copernica's REST API v4, on httpx, with no Django in it.

``CopernicaClient`` talks to one account (databases, profiles, collections, subprofiles);
``api_client.oauth`` performs the OAuth handshake; ``api_client.errors`` holds the one
exception tree that leaves the package; ``api_client.timestamps`` reads and writes
Copernica's dates (Amsterdam wall-clock time); ``api_client.redaction`` keeps secrets out of
log lines; ``api_client.webhooks`` verifies Copernica's signed webhook calls;
``api_client.sandbox`` is a local Copernica simulator for the demo and the tests.
"""

from . import errors
from .client import CopernicaClient
from .connection import RequestRecord, default_cache_key
from .errors import (
    AccessDeniedError,
    AlreadyRemovedError,
    AuthError,
    BadRequestError,
    CopernicaError,
    NotFoundError,
    OAuthError,
    ProfileAlreadyRemovedError,
    RateLimitedError,
    RequestTimeoutError,
    ServerError,
    StatusError,
    SubprofileAlreadyRemovedError,
    TokenExchangeError,
    TokenRejectedError,
    TransportError,
    UnexpectedResponseError,
    UnsafeBulkUpdateError,
    UnsafeFilterError,
    WebhookRefusal,
    WebhookVerificationError,
)
from .oauth import CopernicaOAuth, authorization_url, callback_code, exchange_code
from .pagination import ID_PAGE_SIZE, MAX_PAGE_SIZE, KeysetPage
from .redaction import redact, redact_url
from .streaming import EnvelopeStream, IdArrayStream
from .timestamps import COPERNICA_ZONE, format_since, format_timestamp, parse_timestamp
from .tokens import CachedJwt, MemoryTokenCache, TokenCache
from .webhooks import HttpKeyLookup, KeyLookup, VerifiedWebhook, WebhookVerifier

__all__ = [
    "COPERNICA_ZONE",
    "ID_PAGE_SIZE",
    "MAX_PAGE_SIZE",
    "AccessDeniedError",
    "AlreadyRemovedError",
    "AuthError",
    "BadRequestError",
    "CachedJwt",
    "CopernicaClient",
    "CopernicaError",
    "CopernicaOAuth",
    "EnvelopeStream",
    "HttpKeyLookup",
    "IdArrayStream",
    "KeyLookup",
    "KeysetPage",
    "MemoryTokenCache",
    "NotFoundError",
    "OAuthError",
    "ProfileAlreadyRemovedError",
    "RateLimitedError",
    "RequestRecord",
    "RequestTimeoutError",
    "ServerError",
    "StatusError",
    "SubprofileAlreadyRemovedError",
    "TokenCache",
    "TokenExchangeError",
    "TokenRejectedError",
    "TransportError",
    "UnexpectedResponseError",
    "UnsafeBulkUpdateError",
    "UnsafeFilterError",
    "VerifiedWebhook",
    "WebhookRefusal",
    "WebhookVerificationError",
    "WebhookVerifier",
    "authorization_url",
    "callback_code",
    "default_cache_key",
    "errors",
    "exchange_code",
    "format_since",
    "format_timestamp",
    "parse_timestamp",
    "redact",
    "redact_url",
]
