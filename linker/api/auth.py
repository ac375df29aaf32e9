"""Who is calling the API and what they may do: the API key (``Authorization: Bearer``), its
scopes per operation, and its request rate.

A key authenticates as the agency admin who made it (``request.user``; the services check that
person's role as they would on the pages) and ``request.auth`` is the key itself, which limits
every lookup to its agency (:mod:`linker.api.access`) and every operation to its scopes.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.cache import DEFAULT_CACHE_ALIAS, caches
from django.core.cache.backends.redis import RedisCache
from django.utils.connection import ConnectionProxy
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle

from linker.api.errors import INSUFFICIENT_SCOPE, ApiProblem
from linker.models import ApiKey, ApiKeyScope
from linker.platform.api_keys import ApiKeyRefusedError, api_key_authenticate

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


class ApiKeyAuthentication(BaseAuthentication):
    """``Authorization: Bearer <key>``: the key's maker as the user, the key as ``auth``."""

    def authenticate(self, request: Request) -> tuple[Any, ApiKey] | None:
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not header:
            return None
        scheme, _, credentials = header.partition(" ")
        if scheme.lower() != "bearer" or not credentials.strip():
            raise AuthenticationFailed("Send the API key as: Authorization: Bearer <key>.")
        try:
            key = api_key_authenticate(secret=credentials.strip())
        except ApiKeyRefusedError as exc:
            # The request log files an attempt with a known key under that key's agency.
            request._request.api_key_refused = exc.key
            raise AuthenticationFailed(exc.message) from None
        return key.created_by, key

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'


def scope_for(view: Any, method: str) -> str:
    """The scope an operation needs: the view's ``scopes`` for the method, else read for
    reading and write for changing."""
    scopes: dict[str, str] = getattr(view, "scopes", {})
    default = ApiKeyScope.READ if method in SAFE_METHODS else ApiKeyScope.WRITE
    return str(scopes.get(method, default))


class HasScope(BasePermission):
    """A key, and one with the operation's scope (403 ``insufficient-scope`` otherwise)."""

    def has_permission(self, request: Request, view: Any) -> bool:
        key = request.auth
        if not isinstance(key, ApiKey):
            return False  # DRF answers 401: no key was sent
        needed = scope_for(view, request.method or "GET")
        if not key.has_scope(needed):
            raise ApiProblem(
                INSUFFICIENT_SCOPE,
                f"This key lacks the {needed} scope, which this operation needs.",
            )
        return True


class ApiKeyThrottle(SimpleRateThrottle):
    """``LINKER_API_RATE`` requests per key and window (a minute for "600/minute"), counted
    in the shared cache.

    One atomic increment per request (Redis ``INCR``) rather than DRF's list of timestamps,
    which is read, grown and written back whole (a race between workers, and a cost that
    grows with the rate). A fixed window lets a key send up to twice its rate across the
    turn of a window; ``Retry-After`` is the time to the next one.
    """

    scope = "api_key"

    def get_rate(self) -> str:
        # Read on every request rather than once at import, so a changed setting applies.
        return str(settings.LINKER_API_RATE)

    def allow_request(self, request: Request, view: Any) -> bool:
        key = request.auth
        if not isinstance(key, ApiKey) or self.num_requests is None or not self.duration:
            return True
        now = self.timer()
        window = int(now // self.duration)
        counter = f"linker:api-throttle:{key.pk}:{key.prefix}:{window}"
        count = _count_up(self.cache, counter, ttl=int(self.duration) + 1)
        self._retry_in = (window + 1) * self.duration - now
        return count <= self.num_requests

    def wait(self) -> float:
        return self._retry_in


def _count_up(cache: Any, counter: str, *, ttl: int) -> int:
    """``counter`` plus one, made with a ``ttl`` when new: on Redis one round trip (``SET NX``
    and ``INCR`` in one ``MULTI``), elsewhere (local memory in the demo) the cache's own two
    calls."""
    # DRF hands over Django's ``cache`` proxy: the backend behind it is this thread's.
    backend = caches[DEFAULT_CACHE_ALIAS] if isinstance(cache, ConnectionProxy) else cache
    if isinstance(backend, RedisCache):
        name = backend.make_and_validate_key(counter)
        client = backend._cache.get_client(name, write=True)
        with client.pipeline(transaction=True) as pipe:
            pipe.set(name, 0, ex=ttl, nx=True)
            pipe.incr(name)
            return int(pipe.execute()[1])
    cache.add(counter, 0, ttl)
    try:
        return int(cache.incr(counter))
    except ValueError:  # expired between the two calls
        cache.set(counter, 1, ttl)
        return 1


class ApiKeyScheme(OpenApiAuthenticationExtension):
    """How the OpenAPI document describes :class:`ApiKeyAuthentication`."""

    target_class = ApiKeyAuthentication
    name = "apiKey"

    def get_security_requirement(self, auto_schema: Any) -> dict[str, list[str]]:
        # OpenAPI 3.1 lets a bearer scheme's requirement name roles: the scope needed.
        return {self.name: [scope_for(auto_schema.view, auto_schema.method.upper())]}

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An API key of your agency (API keys page), as "
            "`Authorization: Bearer clk_…`. Each operation names the scope it needs.",
        }
