"""The one exception tree that leaves :mod:`api_client`.

Every error the client raises is a :class:`CopernicaError`; httpx exceptions are wrapped.
Messages never contain an API token, a JWT or a client secret.

::

    CopernicaError
    ├── TransportError                  no HTTP answer (connect failure, dropped connection)
    │   └── RequestTimeoutError         no answer within the timeout
    ├── StatusError(status, message)    an HTTP answer that is not a success
    │   ├── BadRequestError             Copernica refused the request (400 + its own message)
    │   │   ├── NotFoundError           "No entity with supplied ID", "No database ..."
    │   │   └── AlreadyRemovedError     "This ... has already been removed"
    │   │       ├── ProfileAlreadyRemovedError
    │   │       └── SubprofileAlreadyRemovedError
    │   ├── AuthError                   the JWT was refused, even after one fresh exchange
    │   │   └── TokenRejectedError      the auth service refused the API token itself
    │   ├── RateLimitedError            429, with ``retry_after`` seconds
    │   └── ServerError                 5xx
    ├── UnexpectedResponseError         a 2xx answer the client cannot use
    ├── UnsafeFilterError               a filter Copernica would silently ignore
    │   └── UnsafeBulkUpdateError       ... on a bulk update, which would change every profile
    ├── OAuthError                      the OAuth handshake failed
    │   ├── AccessDeniedError           the user clicked "Deny"
    │   └── TokenExchangeError          the token endpoint did not give an access token
    └── WebhookVerificationError        an incoming webhook call failed a check, with a
                                        ``reason`` (:class:`WebhookRefusal`)
"""

from __future__ import annotations

from enum import StrEnum


class CopernicaError(Exception):
    """Base class of every error raised by :mod:`api_client`."""


class TransportError(CopernicaError):
    """The request got no HTTP answer: connection refused, reset or dropped, TLS failure."""


class RequestTimeoutError(TransportError):
    """No answer arrived within the client's timeout."""


class StatusError(CopernicaError):
    """Copernica answered with a status that is not a success.

    ``status`` is the HTTP status, ``message`` Copernica's own ``error.message`` (or a short
    description when the body carried none), ``attempt`` the attempt that got this answer, and
    ``after_failure`` tells whether an earlier attempt of the same call was lost in transit or
    failed with a 5xx (so it may have been applied).
    """

    def __init__(
        self, status: int, message: str, *, attempt: int = 1, after_failure: bool = False
    ) -> None:
        super().__init__(f"{message} (HTTP {status})")
        self.status = status
        self.message = message
        self.attempt = attempt
        self.after_failure = after_failure


class BadRequestError(StatusError):
    """Copernica refused the request; ``message`` is Copernica's explanation, fit for a user."""


class NotFoundError(BadRequestError):
    """The entity does not exist (Copernica answers 400 "No entity with supplied ID",
    "No collection with given ID", "No subprofile with supplied ID"...)."""


class AlreadyRemovedError(BadRequestError):
    """A DELETE of something that was already removed ("... has already been removed")."""


class ProfileAlreadyRemovedError(AlreadyRemovedError):
    """A DELETE of a profile that was already removed."""


class SubprofileAlreadyRemovedError(AlreadyRemovedError):
    """A DELETE of a subprofile that was already removed."""


class AuthError(StatusError):
    """Copernica refused the JWT, and a freshly exchanged one as well."""


class TokenRejectedError(AuthError):
    """The auth service refused the API token: it was revoked or never valid.

    The token will not start working again; the account needs to be linked anew.
    """


class RateLimitedError(StatusError):
    """Copernica asked to slow down (429); ``retry_after`` is its ``Retry-After`` in seconds."""

    def __init__(
        self, status: int, message: str, *, retry_after: float | None, attempt: int = 1
    ) -> None:
        super().__init__(status, message, attempt=attempt)
        self.retry_after = retry_after


class ServerError(StatusError):
    """Copernica failed on its side (5xx, often an HTML "Loadbalancer Error" page)."""


class UnexpectedResponseError(CopernicaError):
    """A success answer the client cannot use: malformed JSON, a missing ``X-Created``..."""


class UnsafeFilterError(CopernicaError):
    """A ``fields[]`` filter that Copernica would silently ignore.

    Copernica ignores filters that do not parse or that name an unknown field; a lookup with
    such a filter would match every profile. ``expressions`` lists the offending ones.
    """

    def __init__(self, message: str, expressions: list[str]) -> None:
        super().__init__(message)
        self.expressions = expressions


class UnsafeBulkUpdateError(UnsafeFilterError):
    """A bulk update was refused because its filter would have updated every profile."""


class OAuthError(CopernicaError):
    """The OAuth handshake with Copernica failed."""


class AccessDeniedError(OAuthError):
    """The user refused access on Copernica's consent page (``error=access_denied``)."""


class TokenExchangeError(OAuthError):
    """The token endpoint did not hand out an access token.

    ``status`` is the HTTP status, or ``None`` when no answer arrived.
    """

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message if status is None else f"{message} (HTTP {status})")
        self.status = status
        self.message = message


class WebhookRefusal(StrEnum):
    """Why :mod:`api_client.webhooks` refused an incoming webhook call."""

    #: The ``Signature`` header does not parse, names another algorithm, or does not verify.
    BAD_SIGNATURE = "bad_signature"
    #: No public key is published where ``keyId`` points (or it could not be fetched).
    UNKNOWN_KEY = "unknown_key"
    #: ``Date`` is missing from the window around now, or unreadable.
    STALE_DATE = "stale_date"
    #: ``Digest`` does not match the body (or carries no SHA-256 value).
    DIGEST_MISMATCH = "digest_mismatch"
    #: ``X-Copernica-ID`` names another account than the one expected.
    WRONG_ACCOUNT = "wrong_account"
    #: A header of the minimum set is missing from the request or from the signed list.
    MISSING_HEADERS = "missing_headers"
    #: ``keyId`` points at a host outside the allowed ones (``*.copernica.com`` by default).
    KEY_HOST_NOT_ALLOWED = "key_host_not_allowed"
    #: ``Host`` is not the receiver's own (checked only when the receiver names its host).
    WRONG_HOST = "wrong_host"


class WebhookVerificationError(CopernicaError):
    """An incoming webhook call that must not be trusted; ``reason`` says which check failed.

    The message names the check in words fit for a log line; it never quotes the signature
    or the body.
    """

    def __init__(self, reason: WebhookRefusal, message: str) -> None:
        super().__init__(f"{message} ({reason})")
        self.reason = reason
        self.message = message
