"""The Copernica REST API v4 client.

:class:`CopernicaClient` is assembled from layers, each in its own module:
:mod:`~api_client.connection` (configuration, JWT, retries), :mod:`~api_client.pagination`
(lazy list walks), :mod:`~api_client.reads` and :mod:`~api_client.writes` (the API's methods
on databases and profiles), :mod:`~api_client.subprofiles` (collections and subprofiles),
:mod:`~api_client.webhook_registrations` (webhooks).
"""

from __future__ import annotations

from types import TracebackType

from .webhook_registrations import ClientWebhooks


class CopernicaClient(ClientWebhooks):
    """A client for one Copernica account, on httpx.

    ``api_token`` is the account's API token (or an OAuth access token, which plays the same
    role); the client exchanges it at ``auth_url`` for a JWT, caches the JWT in
    ``token_cache`` under ``cache_key`` until ``refresh_margin`` seconds before it expires,
    and sends it as ``Authorization: Bearer``. ``api_url`` is ``https://api.copernica.com/v4``
    or the sandbox's ``{sandbox}/v4``; ``rest_url`` the streaming host
    (``https://rest.copernica.com/v4``).

    Every request has a ``timeout``. GET, PUT and DELETE are retried up to ``max_retries``
    times after a transport error, a 5xx or a 429, with exponential backoff and full jitter
    (``backoff_base * 2**n`` capped at ``backoff_max``) and at least ``Retry-After``; a
    ``Retry-After`` above ``max_retry_after`` raises :class:`RateLimitedError` at once. A POST
    is never retried after it may have reached Copernica. An auth failure discards the JWT,
    exchanges once more and retries once.

    ``on_request`` receives a :class:`RequestRecord` after every HTTP attempt (auth exchanges
    included); ``before_request`` is called before every attempt (e.g. to take a rate-limit
    token). ``sleep``, ``clock`` and ``transport`` are injectable for tests.
    """

    def __repr__(self) -> str:
        return f"<CopernicaClient api_url={self.api_url!r} cache_key={self.cache_key!r}>"

    def __enter__(self) -> CopernicaClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


__all__ = ["CopernicaClient"]
