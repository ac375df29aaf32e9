"""The Copernica REST API v4 client."""

from __future__ import annotations

import hashlib
import logging
import random
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import httpx

from .errors import (
    AuthError,
    BadRequestError,
    CopernicaError,
    NotFoundError,
    ProfileAlreadyRemovedError,
    RateLimitedError,
    RequestTimeoutError,
    ServerError,
    StatusError,
    TokenRejectedError,
    TransportError,
    UnexpectedResponseError,
    UnsafeBulkUpdateError,
    UnsafeFilterError,
)
from .filters import filter_expressions, unsafe_expressions
from .redaction import install_httpx_log_filter, redact_url
from .streaming import EnvelopeStream, IdArrayStream
from .tls import shared_ssl_context
from .tokens import CachedJwt, MemoryTokenCache, TokenCache, clean_jwt_body, jwt_claims

logger = logging.getLogger("api_client.client")

#: Copernica's cap on one page of a list on ``api.copernica.com``.
MAX_PAGE_SIZE = 1000

#: Query parameter values: a scalar, or a sequence for repeated keys such as ``fields[]``.
ParamValue = str | int | float | bool | Sequence[str | int]
Params = Mapping[str, ParamValue]

_NOT_FOUND_MESSAGES = (
    "No entity with supplied ID",
    "No database with supplied ID",
    "No collection with given ID",
    "No subprofile with supplied ID",
)
_IDEMPOTENT = frozenset({"GET", "PUT", "DELETE", "HEAD", "OPTIONS"})
_MAX_MESSAGE = 300


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


@dataclass(frozen=True)
class KeysetPage:
    """One page of a keyset walk over a database's profiles.

    ``last_id`` is the checkpoint: pass it as ``after_id`` to
    :meth:`CopernicaClient.paginate_keyset` to resume right after this page. ``nextid`` is
    Copernica's own hint (the first ID after the page), ``None`` at the end of the list.
    """

    items: list[dict[str, Any]] = field(repr=False)
    last_id: int
    nextid: int | None = None

    @property
    def count(self) -> int:
        """The number of profiles on the page."""
        return len(self.items)


class CopernicaClient:
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

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    # ------------------------------------------------------------------ account and databases

    def identity(self) -> dict[str, Any]:
        """The account: ``{"id", "name", "description", "company"}``."""
        return self._json_object(self.get("identity"))

    def databases(self) -> list[dict[str, Any]]:
        """Every database of the account (all pages)."""
        return list(self.paginate("databases"))

    def database(self, database_id: str | int) -> dict[str, Any]:
        """One database by ID or (case-insensitive) name."""
        return self._json_object(self.get(f"database/{database_id}"))

    def fields(self, database_id: str | int) -> list[dict[str, Any]]:
        """The fields of a database."""
        return list(self.paginate(f"database/{database_id}/fields"))

    def interests(self, database_id: str | int) -> list[dict[str, Any]]:
        """The interests of a database."""
        return list(self.paginate(f"database/{database_id}/interests"))

    def collections(self, database_id: str | int) -> list[dict[str, Any]]:
        """The collections of a database."""
        return list(self.paginate(f"database/{database_id}/collections"))

    # ------------------------------------------------------------------------------- reading

    def get(self, path: str, params: Params | None = None) -> Any:
        """GET ``path`` (relative to ``api_url``) and return the decoded JSON body."""
        response = self._send("GET", self._api(path), params=_query(params))
        return _decode_json(response)

    def paginate(
        self, path: str, params: Params | None = None, page_size: int = MAX_PAGE_SIZE
    ) -> Iterator[dict[str, Any]]:
        """Lazily yield every item of a list, page by page with offset paging.

        Requests ``start``/``limit`` pages with ``total=false`` and stops at the first page
        with fewer than ``limit`` items. ``page_size`` is capped at 1000. Offset paging gets
        slow on big lists; prefer :meth:`paginate_keyset` for profiles.
        """
        page_size = max(1, min(page_size, MAX_PAGE_SIZE))
        start = 0
        while True:
            query = _query(params, {"start": start, "limit": page_size, "total": "false"})
            envelope = self._envelope(self._send("GET", self._api(path), params=query))
            yield from envelope["data"]
            if envelope["count"] < page_size:
                return
            start += envelope["count"]

    def paginate_keyset(
        self,
        database_id: str | int,
        params: Params | None = None,
        page_size: int = MAX_PAGE_SIZE,
        after_id: int = 0,
    ) -> Iterator[KeysetPage]:
        """Lazily yield the pages of a database's profiles in ID order, after ``after_id``.

        Each request filters ``fields[]=id>{last}`` with ``orderby=id`` and ``total=false``,
        so each page costs the same however deep the walk is. Extra ``fields[]`` filters in
        ``params`` are ANDed. Only non-empty pages are yielded; a sync engine stores
        ``page.last_id`` with the page's data and resumes with ``after_id=`` that checkpoint.
        """
        page_size = max(1, min(page_size, MAX_PAGE_SIZE))
        last_id = int(after_id)
        path = self._api(f"database/{database_id}/profiles")
        while True:
            query = _keyset_query(params, last_id, page_size)
            envelope = self._envelope(self._send("GET", path, params=query))
            items: list[dict[str, Any]] = envelope["data"]
            if not items:
                return
            last_id = _profile_id(items[-1])
            nextid = envelope.get("nextid")
            yield KeysetPage(items, last_id, int(nextid) if nextid is not None else None)
            if len(items) < page_size:
                return

    def stream_profiles(
        self,
        database_id: str | int,
        params: Params | None = None,
        limit: int = 100_000,
        after_id: int = 0,
    ) -> Iterator[dict[str, Any]]:
        """Lazily yield a database's profiles in ID order from the streaming ``rest`` host.

        Each request asks for up to ``limit`` profiles after the last ID seen; Copernica
        streams such answers chunked, and items are parsed one by one while the body arrives,
        so memory stays flat. Without a ``rest_url`` this falls back to
        :meth:`paginate_keyset` on the ``api`` host.
        """
        if self.rest_url is None:
            for page in self.paginate_keyset(database_id, params, after_id=after_id):
                yield from page.items
            return
        last_id = int(after_id)
        path = f"{self.rest_url}/database/{database_id}/profiles"
        while True:
            query = _keyset_query(params, last_id, limit)
            response = self._send("GET", path, params=query, stream=True)
            try:
                stream = EnvelopeStream(response.iter_bytes())
                for item in stream:
                    last_id = _profile_id(item)
                    yield item
            except httpx.TimeoutException as exc:
                raise RequestTimeoutError("The profile stream stalled.") from exc
            except httpx.HTTPError as exc:
                raise TransportError(f"The profile stream broke off: {exc}") from exc
            finally:
                response.close()
            if stream.items_seen < limit:
                return

    def profile_ids(self, database_id: str | int) -> list[str]:
        """The IDs (strings) of every profile in a database; not paged by Copernica.

        A big database lists a million IDs; prefer :meth:`iter_profile_ids` there.
        """
        return [profile_id for block in self.iter_profile_ids(database_id) for profile_id in block]

    def iter_profile_ids(self, database_id: str | int) -> Iterator[list[str]]:
        """The IDs (strings) of every profile in a database, in blocks as the answer arrives.

        Copernica answers with one JSON array of every ID; it is parsed while the body is
        still arriving, so memory stays flat however big the database. A body that is not such
        an array, or that breaks off, raises :class:`UnexpectedResponseError` (or a transport
        error) rather than ending the iteration early.
        """
        path = self._api(f"database/{database_id}/profileids")
        response = self._send("GET", path, stream=True)
        try:
            yield from IdArrayStream(response.iter_bytes())
        except httpx.TimeoutException as exc:
            raise RequestTimeoutError("The profile ID list stalled.") from exc
        except httpx.HTTPError as exc:
            raise TransportError(f"The profile ID list broke off: {exc}") from exc
        finally:
            response.close()

    def get_profile(self, profile_id: str | int) -> dict[str, Any]:
        """One profile. A removed profile comes back with ``removed`` set to a timestamp."""
        return self._json_object(self.get(f"profile/{profile_id}"))

    def find_profiles(
        self, database_id: str | int, fields_filter: Mapping[str, object] | Sequence[str]
    ) -> list[dict[str, Any]]:
        """The profiles matching ``fields_filter`` (``{"email": "a@b.nl"}`` or expressions).

        Copernica silently ignores filters on unknown fields and would then match every
        profile, so such a filter raises :class:`UnsafeFilterError` before any lookup.
        """
        expressions = self._checked_filters(database_id, fields_filter, UnsafeFilterError)
        return list(self.paginate(f"database/{database_id}/profiles", {"fields[]": expressions}))

    # ------------------------------------------------------------------------------- writing

    def create_profile(
        self,
        database_id: str | int,
        fields: Mapping[str, object],
        interests: Sequence[str] | Mapping[str, int | bool] | None = None,
    ) -> str:
        """Create a profile and return its new ID (from ``X-Created`` or ``X-location``).

        Never retried once the request may have reached Copernica: after a
        :class:`TransportError` or :class:`ServerError` the profile may or may not exist, so
        look it up (:meth:`find_profiles`) before creating it again.
        """
        body = _profile_body(fields, interests)
        response = self._send("POST", self._api(f"database/{database_id}/profiles"), json_body=body)
        return _created_id(response)

    def update_profile(
        self,
        profile_id: str | int,
        fields: Mapping[str, object],
        interests: Sequence[str] | Mapping[str, int | bool] | None = None,
    ) -> None:
        """Overwrite the given fields (and interests) of one profile."""
        body = _profile_body(fields, interests)
        self._send("PUT", self._api(f"profile/{profile_id}"), json_body=body)

    def delete_profile(self, profile_id: str | int) -> None:
        """Remove a profile, confirmed by Copernica's ``X-deleted: profile {id}`` header.

        Raises :class:`ProfileAlreadyRemovedError` if it was removed before this call; when an
        earlier attempt of this same call was lost in transit and the retry finds the profile
        removed, the delete counts as done.
        """
        try:
            response = self._send("DELETE", self._api(f"profile/{profile_id}"))
        except ProfileAlreadyRemovedError as error:
            if error.after_failure:
                return
            raise
        deleted = response.headers.get("X-deleted", "")
        if deleted.strip().split() != ["profile", str(profile_id)]:
            raise UnexpectedResponseError(
                f"Copernica did not confirm the removal of profile {profile_id}."
            )

    def update_matching(
        self,
        database_id: str | int,
        filters: Mapping[str, object] | Sequence[str],
        fields: Mapping[str, object],
        create: bool = False,
        interests: Sequence[str] | Mapping[str, int | bool] | None = None,
    ) -> str | None:
        """Update every profile matching ``filters``; with ``create``, create one if none does.

        Returns the ID of the created profile, or ``None`` when profiles were updated.

        Guard against Copernica's bulk-PUT gotcha: a filter that is empty, does not parse,
        or names a field the database does not have is ignored by Copernica, which then
        updates *every* profile. Such filters raise :class:`UnsafeBulkUpdateError` and no
        request is made. Every expression must name a field of the database (fetched first)
        or one of the special fields ``id``, ``code`` and ``modified``; those are never
        ignored by Copernica, so they count as safe.
        """
        expressions = self._checked_filters(database_id, filters, UnsafeBulkUpdateError)
        params: dict[str, ParamValue] = {"fields[]": expressions}
        if create:
            params["create"] = "true"
        response = self._send(
            "PUT",
            self._api(f"database/{database_id}/profiles"),
            params=_query(params),
            json_body=_profile_body(fields, interests),
        )
        if response.status_code == 201:
            return _created_id(response)
        return None

    # ----------------------------------------------------------------------------- internals

    def _api(self, path: str) -> str:
        return f"{self.api_url}/{path.lstrip('/')}"

    def _checked_filters(
        self,
        database_id: str | int,
        filters: Mapping[str, object] | Sequence[str],
        error: type[UnsafeFilterError],
    ) -> list[str]:
        expressions = filter_expressions(filters)
        if not expressions:
            raise error(
                "Refusing an empty profile filter: Copernica would match every profile.", []
            )
        names = [str(item.get("name", "")) for item in self.fields(database_id)]
        unsafe = unsafe_expressions(expressions, names)
        if unsafe:
            raise error(
                "Refusing a profile filter Copernica would ignore (unknown field or bad "
                f"expression), which would match every profile: {', '.join(unsafe)}",
                unsafe,
            )
        return expressions

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
            message = _error_message(response)
            if status == 429 or status >= 500:
                retry_after = _retry_after(response)
                if failures < self.max_retries and _waitable(retry_after, self.max_retry_after):
                    failures += 1
                    self._backoff(failures, retry_after, "POST", self.auth_url)
                    continue
                raise _transient_error(status, message, retry_after, attempt)
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
            message = _error_message(response)
            if _is_auth_failure(status, message):
                self._tokens.discard(self.cache_key, jwt)
                if not refreshed:
                    refreshed = True
                    logger.info("JWT refused (HTTP %s); exchanging a fresh one", status)
                    continue
                raise AuthError(status, message, attempt=attempt)
            if status == 429 or status >= 500:
                retry_after = _retry_after(response)
                if (
                    retryable
                    and failures < self.max_retries
                    and _waitable(retry_after, self.max_retry_after)
                ):
                    failures += 1
                    self._backoff(failures, retry_after, method, url)
                    continue
                raise _transient_error(status, message, retry_after, attempt)
            error = _status_error(status, message, attempt)
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

    def _envelope(self, response: httpx.Response) -> dict[str, Any]:
        envelope = _decode_json(response)
        if (
            not isinstance(envelope, dict)
            or not isinstance(envelope.get("data"), list)
            or not isinstance(envelope.get("count"), int)
        ):
            raise UnexpectedResponseError("Copernica's list answer is not a paging envelope.")
        return envelope

    @staticmethod
    def _json_object(document: Any) -> dict[str, Any]:
        if not isinstance(document, dict):
            raise UnexpectedResponseError("Copernica's answer is not a JSON object.")
        return document


def default_cache_key(api_token: str, auth_url: str) -> str:
    """A cache key for an API token's JWT that does not reveal the token."""
    digest = hashlib.sha256(f"{auth_url}\n{api_token}".encode()).hexdigest()
    return f"copernica-jwt:{digest[:32]}"


def _query(
    params: Params | None, extra: Mapping[str, ParamValue] | None = None
) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for source in (params or {}), (extra or {}):
        for key, value in source.items():
            if isinstance(value, str | int | float | bool):
                pairs.append((key, _param_text(value)))
            else:
                pairs.extend((key, _param_text(item)) for item in value)
    return pairs


def _param_text(value: str | int | float | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _keyset_query(params: Params | None, after_id: int, limit: int) -> list[tuple[str, str]]:
    filters: list[str] = []
    rest: dict[str, ParamValue] = {}
    for key, value in (params or {}).items():
        if key in ("fields", "fields[]"):
            if isinstance(value, str):
                filters.append(value)
            elif not isinstance(value, int | float):
                filters.extend(str(expression) for expression in value)
        elif key not in ("start", "limit", "orderby", "order", "total"):
            rest[key] = value
    filters.append(f"id>{after_id}")
    return _query(
        rest,
        {"fields[]": filters, "orderby": "id", "order": "asc", "limit": limit, "total": "false"},
    )


def _profile_body(
    fields: Mapping[str, object],
    interests: Sequence[str] | Mapping[str, int | bool] | None,
) -> dict[str, object]:
    body: dict[str, object] = {"fields": dict(fields)}
    if interests is not None:
        body["interests"] = (
            {name: int(bool(on)) for name, on in interests.items()}
            if isinstance(interests, Mapping)
            else list(interests)
        )
    return body


def _profile_id(item: Any) -> int:
    try:
        return int(item["ID"])
    except (KeyError, TypeError, ValueError):
        raise UnexpectedResponseError(
            "A profile in Copernica's answer has no numeric ID."
        ) from None


def _created_id(response: httpx.Response) -> str:
    created = response.headers.get("X-Created", "").strip()
    if created.isdigit():
        return created
    location = response.headers.get("X-location") or response.headers.get("Location") or ""
    tail = location.rstrip("/").rsplit("/", 1)[-1]
    if tail.isdigit():
        return tail
    raise UnexpectedResponseError("Copernica did not say which profile it created.")


def _decode_json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        raise UnexpectedResponseError("Copernica's answer is not valid JSON.") from None


def _error_message(response: httpx.Response) -> str:
    """Copernica's ``error.message``, or a short description of a body without one."""
    try:
        document = response.json()
    except ValueError:
        document = None
    if isinstance(document, dict):
        error = document.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return error["message"][:_MAX_MESSAGE]
    if response.status_code >= 500:
        return "Copernica is temporarily unavailable"
    return response.reason_phrase or "Unexpected answer"


def _is_auth_failure(status: int, message: str) -> bool:
    return status in (401, 403) or (status == 400 and "token" in message.lower())


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def _waitable(retry_after: float | None, max_retry_after: float) -> bool:
    return retry_after is None or retry_after <= max_retry_after


def _transient_error(
    status: int, message: str, retry_after: float | None, attempt: int
) -> StatusError:
    if status == 429:
        return RateLimitedError(status, message, retry_after=retry_after, attempt=attempt)
    return ServerError(status, message, attempt=attempt)


def _status_error(status: int, message: str, attempt: int) -> StatusError:
    if status == 404 or (status == 400 and message.startswith(_NOT_FOUND_MESSAGES)):
        return NotFoundError(status, message, attempt=attempt)
    if status == 400 and "already been removed" in message:
        return ProfileAlreadyRemovedError(status, message, attempt=attempt)
    if status == 400:
        return BadRequestError(status, message, attempt=attempt)
    return StatusError(status, message, attempt=attempt)


__all__ = [
    "MAX_PAGE_SIZE",
    "CopernicaClient",
    "CopernicaError",
    "KeysetPage",
    "RequestRecord",
    "default_cache_key",
]
