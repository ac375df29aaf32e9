"""One account's connection to Copernica: the JWT, and sending a request with retries.

:class:`CopernicaConnection` holds the client's configuration and everything between a client
method and the wire: exchanging the API token for a JWT (cached, single-flight, refreshed once
after an auth failure), retrying with backoff, timing each attempt and translating httpx's
exceptions. :class:`~api_client.client.CopernicaClient` adds the API's methods on top.
"""

from __future__ import annotations

import hashlib
import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from .errors import (
    AuthError,
    RequestTimeoutError,
    TokenRejectedError,
    TransportError,
    UnexpectedResponseError,
)
from .redaction import install_httpx_log_filter, redact_url
from .responses import (
    error_message,
    is_auth_failure,
    retry_after_seconds,
    status_error,
    transient_error,
)
from .tls import shared_ssl_context
from .tokens import CachedJwt, MemoryTokenCache, TokenCache, clean_jwt_body, jwt_claims

# The logger keeps the name it had before the client was split, so logging configuration
# that names it keeps working.
logger = logging.getLogger("api_client.client")

_IDEMPOTENT = frozenset({"GET", "PUT", "DELETE", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class RequestRecord:
    """One HTTP attempt, reported to ``on_request``.

    ``path`` is the URL path without the query string, ``status`` is ``None`` when no answer
    arrived, ``elapsed`` is in seconds (until the response headers), ``attempt`` counts from 1
    for each call of a client method.
    """

    method: str
    path: str
    status: int | None
    elapsed: float
    attempt: int


class CopernicaConnection:
    """The configuration, JWT handling and retrying transport of a :class:`CopernicaClient`.

    See :class:`~api_client.client.CopernicaClient` for the meaning of every argument.
    """

    def __init__(
        self,
        api_token: str,
        *,
        api_url: str,
        auth_url: str,
        rest_url: str | None = None,
        token_cache: TokenCache | None = None,
        cache_key: str | None = None,
        timeout: float = 30.0,
        max_retries: int = 4,
        backoff_base: float = 0.5,
        backoff_max: float = 30.0,
        max_retry_after: float = 300.0,
        refresh_margin: float = 300.0,
        on_request: Callable[[RequestRecord], None] | None = None,
        before_request: Callable[[], None] | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not api_token:
            raise ValueError("An API token is required.")
        install_httpx_log_filter()
        self._api_token = api_token
        self.api_url = api_url.rstrip("/")
        self.auth_url = auth_url
        self.rest_url = rest_url.rstrip("/") if rest_url else None
        self._tokens: TokenCache = token_cache if token_cache is not None else MemoryTokenCache()
        self.cache_key = cache_key or default_cache_key(api_token, auth_url)
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.max_retry_after = max_retry_after
        self.refresh_margin = refresh_margin
        self._on_request = on_request
        self._before_request = before_request
        self._sleep = sleep
        self._clock = clock
        self._random = random.Random()
        self._http = httpx.Client(
            timeout=httpx.Timeout(timeout),
            verify=shared_ssl_context(),
            transport=transport,
            follow_redirects=False,
            headers={"Accept": "application/json", "User-Agent": "copernica-linker/1"},
        )

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def _api(self, path: str) -> str:
        return f"{self.api_url}/{path.lstrip('/')}"

    def _jwt(self) -> str:
        cached = self._tokens.get(self.cache_key)
        if cached is not None and cached.is_fresh(self._clock(), self.refresh_margin):
            return cached.token
        with self._tokens.lock(self.cache_key):
            cached = self._tokens.get(self.cache_key)
            if cached is not None and cached.is_fresh(self._clock(), self.refresh_margin):
                return cached.token
            fresh = self._exchange()
            self._tokens.set(self.cache_key, fresh)
            return fresh.token

    def _exchange(self) -> CachedJwt:
        """Exchange the API token for a JWT at the auth service."""
        failures = 0
        attempt = 0
        while True:
            attempt += 1
            try:
                response = self._attempt(
                    "POST", self.auth_url, attempt, data={"access_token": self._api_token}
                )
            except TransportError:
                if failures < self.max_retries:
                    failures += 1
                    self._backoff(failures, None, "POST", self.auth_url)
                    continue
                raise
            status = response.status_code
            if status == 200:
                return self._parse_jwt(response.text)
            message = error_message(response)
            if status == 429 or status >= 500:
                retry_after = retry_after_seconds(response)
                if failures < self.max_retries and _waitable(retry_after, self.max_retry_after):
                    failures += 1
                    self._backoff(failures, retry_after, "POST", self.auth_url)
                    continue
                raise transient_error(status, message, retry_after, attempt)
            logger.warning("Copernica's auth service refused the API token (HTTP %s)", status)
            raise TokenRejectedError(
                status,
                f"Copernica's auth service refused the API token: {message}",
                attempt=attempt,
            )

    def _parse_jwt(self, body: str) -> CachedJwt:
        token = clean_jwt_body(body)
        claims = jwt_claims(token)
        if claims is None:
            raise UnexpectedResponseError("Copernica's auth service did not answer with a JWT.")
        exp = claims.get("exp")
        if isinstance(exp, int | float) and not isinstance(exp, bool):
            expires_at = float(exp)
        else:
            # No expiry claim: assume a short life rather than the documented 24 hours.
            expires_at = self._clock() + 3600
        return CachedJwt(token=token, expires_at=expires_at)

    def _send(
        self,
        method: str,
        url: str,
        *,
        params: list[tuple[str, str]] | None = None,
        json_body: object = None,
        stream: bool = False,
    ) -> httpx.Response:
        """Send one API call with JWT handling and retries; return a successful response."""
        retryable = method in _IDEMPOTENT
        refreshed = False
        failures = 0
        attempt = 0
        while True:
            attempt += 1
            jwt = self._jwt()
            try:
                response = self._attempt(
                    method, url, attempt, params=params, json_body=json_body, jwt=jwt, stream=stream
                )
            except TransportError:
                if retryable and failures < self.max_retries:
                    failures += 1
                    self._backoff(failures, None, method, url)
                    continue
                raise
            status = response.status_code
            if 200 <= status < 300 or status == 303:
                return response
            if stream:
                response.read()
                response.close()
            message = error_message(response)
            if is_auth_failure(status, message):
                self._tokens.discard(self.cache_key, jwt)
                if not refreshed:
                    refreshed = True
                    logger.info("JWT refused (HTTP %s); exchanging a fresh one", status)
                    continue
                raise AuthError(status, message, attempt=attempt)
            if status == 429 or status >= 500:
                retry_after = retry_after_seconds(response)
                if (
                    retryable
                    and failures < self.max_retries
                    and _waitable(retry_after, self.max_retry_after)
                ):
                    failures += 1
                    self._backoff(failures, retry_after, method, url)
                    continue
                raise transient_error(status, message, retry_after, attempt)
            error = status_error(status, message, attempt)
            error.after_failure = failures > 0
            raise error

    def _attempt(
        self,
        method: str,
        url: str,
        attempt: int,
        *,
        params: list[tuple[str, str]] | None = None,
        json_body: object = None,
        data: Mapping[str, str] | None = None,
        jwt: str | None = None,
        stream: bool = False,
    ) -> httpx.Response:
        """One HTTP attempt: hooks, timing, and translation of httpx's exceptions."""
        if self._before_request is not None:
            self._before_request()
        headers = {"Authorization": f"Bearer {jwt}"} if jwt else None
        request = self._http.build_request(
            method,
            url,
            params=tuple(params) if params else None,
            json=json_body,
            data=data,
            headers=headers,
        )
        path = urlsplit(url).path
        started = time.monotonic()
        try:
            response = self._http.send(request, stream=stream)
        except httpx.TimeoutException as exc:
            self._record(method, path, None, started, attempt)
            raise RequestTimeoutError(
                f"{method} {path} got no answer within {self.timeout:g} s"
            ) from exc
        except httpx.HTTPError as exc:
            self._record(method, path, None, started, attempt)
            raise TransportError(
                f"{method} {path} failed: {type(exc).__name__}: {redact_url(exc)}"
            ) from exc
        self._record(method, path, response.status_code, started, attempt)
        return response

    def _record(
        self, method: str, path: str, status: int | None, started: float, attempt: int
    ) -> None:
        elapsed = time.monotonic() - started
        logger.debug("%s %s -> %s in %.3f s (attempt %d)", method, path, status, elapsed, attempt)
        if self._on_request is not None:
            self._on_request(RequestRecord(method, path, status, elapsed, attempt))

    def _backoff(self, failures: int, retry_after: float | None, method: str, url: str) -> None:
        ceiling = min(self.backoff_max, self.backoff_base * 2 ** (failures - 1))
        wait = self._random.uniform(0, ceiling)
        if retry_after is not None:
            wait = max(wait, retry_after)
        logger.warning(
            "%s %s failed; retry %d of %d in %.2f s",
            method,
            urlsplit(url).path,
            failures,
            self.max_retries,
            wait,
        )
        self._sleep(wait)


def default_cache_key(api_token: str, auth_url: str) -> str:
    """A cache key for an API token's JWT that does not reveal the token."""
    digest = hashlib.sha256(f"{auth_url}\n{api_token}".encode()).hexdigest()
    return f"copernica-jwt:{digest[:32]}"


def _waitable(retry_after: float | None, max_retry_after: float) -> bool:
    return retry_after is None or retry_after <= max_retry_after
