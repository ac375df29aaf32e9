"""A client for Copernica's REST API v4, on httpx, with no Django in it.

``CopernicaClient`` talks to one account; ``api_client.oauth`` performs the OAuth handshake;
``api_client.errors`` holds the one exception tree that leaves the package;
``api_client.sandbox`` is a local Copernica simulator for the demo and the tests.
"""

from . import errors
from .client import CopernicaClient, KeysetPage, RequestRecord, default_cache_key
from .errors import (
    AccessDeniedError,
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
    TokenExchangeError,
    TokenRejectedError,
    TransportError,
    UnexpectedResponseError,
    UnsafeBulkUpdateError,
    UnsafeFilterError,
)
from .oauth import CopernicaOAuth, authorization_url, callback_code, exchange_code
from .redaction import redact_url
from .streaming import EnvelopeStream, IdArrayStream
from .tokens import CachedJwt, MemoryTokenCache, TokenCache

__all__ = [
    "AccessDeniedError",
    "AuthError",
    "BadRequestError",
    "CachedJwt",
    "CopernicaClient",
    "CopernicaError",
    "CopernicaOAuth",
    "EnvelopeStream",
    "IdArrayStream",
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
    "TokenCache",
    "TokenExchangeError",
    "TokenRejectedError",
    "TransportError",
    "UnexpectedResponseError",
    "UnsafeBulkUpdateError",
    "UnsafeFilterError",
    "authorization_url",
    "callback_code",
    "default_cache_key",
    "errors",
    "exchange_code",
    "redact_url",
]
