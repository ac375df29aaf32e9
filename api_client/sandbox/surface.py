"""The Copernica side of the sandbox: auth service, OAuth pages, token endpoint, REST API v4.

Behaviour follows ``copernica-api.md``: [C] and [O] facts exactly, [P] proposals where the
public material is silent. Choices the reference leaves open are noted where they are made.
"""

from __future__ import annotations

from .auth_routes import AuthRoutes
from .http import Request, Response, error_response
from .rest_api import RestApi
from .state import SandboxState

_ID_SEGMENT_AFTER = frozenset(
    {"database", "profile", "collection", "subprofile", "subprofiles", "webhook"}
)


class CopernicaSurface(AuthRoutes, RestApi):
    """Answers every non-control request of the sandbox.

    The routes live with their kind: :class:`~api_client.sandbox.auth_routes.AuthRoutes` (auth
    service, OAuth) and :class:`~api_client.sandbox.rest_api.RestApi` (REST API v4, with its
    list answers and profile writes).
    """

    def __init__(
        self,
        state: SandboxState,
        *,
        allow_url_token: bool = False,
        legacy_auth_errors: bool = False,
        lenient_auth: bool = False,
    ) -> None:
        self.state = state
        self.allow_url_token = allow_url_token
        self.legacy_auth_errors = legacy_auth_errors
        self.lenient_auth = lenient_auth

    # ------------------------------------------------------------------ dispatch

    def handle(self, request: Request) -> Response:
        """Answer a request (the caller has already counted it with :meth:`count`)."""
        path = request.path
        if path in ("/authenticate", "/authenticate/"):
            return self.authenticate(request)
        if path in ("/en/authorize", "/nl/authorize"):
            return self.authorize(request)
        if path == "/v4/token":
            return self.token(request)
        if path.startswith("/v4/"):
            return self.api(request, "api", path[len("/v4/") :])
        if path.startswith("/rest/v4/"):
            return self.api(request, "rest", path[len("/rest/v4/") :])
        return error_response("Invalid method")

    def count(self, request: Request) -> None:
        """Count a request in the stats, on arrival (before any injected delay or fault)."""
        path = request.path
        counter: str | None
        if path in ("/authenticate", "/authenticate/"):
            prefix, template, counter = "auth", "/authenticate", "auth_calls"
        elif path in ("/en/authorize", "/nl/authorize"):
            prefix, template, counter = "authorize", path, "authorize_calls"
        elif path == "/v4/token":
            prefix, template, counter = "token", path, "token_calls"
        elif path.startswith(("/v4/", "/rest/v4/")):
            prefix = "api" if path.startswith("/v4/") else "rest"
            base, _, rest = path.partition("/v4/")
            segments = rest.split("/")
            template = f"{base}/v4/" + "/".join(
                "{id}" if index > 0 and segments[index - 1] in _ID_SEGMENT_AFTER else segment
                for index, segment in enumerate(segments)
            )
            counter = "api_calls"
        else:
            prefix, template, counter = "other", path, None
        stats = self.state.stats
        with self.state.lock:
            stats.by_method[request.method] += 1
            stats.by_prefix[prefix] += 1
            stats.requests[f"{request.method} {template}"] += 1
            if counter is not None:
                stats.counters[counter] += 1
