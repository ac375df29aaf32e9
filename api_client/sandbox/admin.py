"""The sandbox's control API under ``/__sandbox__/`` (DESIGN.md, "The sandbox contract").

Control calls are not counted in the Copernica counters and never hit injected faults.
:class:`~api_client.sandbox.control.SandboxControl` is its client and documents each call;
in short: ``POST accounts`` (``name``, ``profiles``, ``databases``, ``collections``,
``subprofiles``), ``GET accounts``, ``POST tokens`` (``account_id``: a new API token),
``POST applications``, ``POST revoke``, ``POST|GET|DELETE faults``, ``GET|POST options``
(``id_list_cap``, ``unstreamed``, ``clock``: how the simulated Copernica answers until the
next reset), ``GET stats``, ``POST stats/reset``,
``POST reset``, ``GET health``; webhooks (:mod:`.admin_webhooks`): ``GET webhooks``,
``GET|POST webhooks/faults``, ``GET|POST webhooks/options``, ``GET webhooks/deliveries``,
``POST webhooks/wait``, ``GET webhooks/keys``, ``POST webhooks/keys/rotate``; edits as a
person in Copernica would make them (:mod:`.admin_profiles`, caller ``publisher``):
``POST|PUT|DELETE profiles`` and ``POST|PUT|DELETE subprofiles``. The console at the sandbox's root
(:mod:`~api_client.sandbox.console`) shows :meth:`ControlApi.overview` and posts its forms to
``console/...``, which call the same methods as the JSON calls.
"""

from __future__ import annotations

import secrets
from typing import Any

from .admin_profiles import ProfileControl
from .admin_webhooks import WebhookControl
from .console import CONSOLE_ROUTE, console_back, console_post
from .control_input import ControlError
from .control_input import bounded as _bounded
from .control_input import integer as _integer
from .control_input import json_body as _json_body
from .control_input import string as _string
from .http import Request, Response, empty_response, error_response, json_response
from .state import STREAMED_METHODS, Application, Fault, Options, SandboxState, Stats

PREFIX = "/__sandbox__/"
MAX_PROFILES = 10_000_000
MAX_DATABASES = 50
MAX_COLLECTIONS = 50
MAX_SUBPROFILES = 10_000_000


class ControlApi(WebhookControl, ProfileControl):
    """Answers ``/__sandbox__/...`` requests (webhook and profile calls: the mixins)."""

    def __init__(self, state: SandboxState) -> None:
        self.state = state

    def handle(self, request: Request) -> Response:
        route = request.path[len(PREFIX) :].strip("/")
        if request.method == "POST" and route.startswith(CONSOLE_ROUTE):
            try:
                return console_post(self, route[len(CONSOLE_ROUTE) :], request)
            except ControlError as error:
                return console_back(error=str(error))
        handler = {
            ("POST", "applications"): self.register_application,
            ("GET", "applications"): self.list_applications,
            ("POST", "accounts"): self.create_account,
            ("GET", "accounts"): self.list_accounts,
            ("POST", "tokens"): self.issue_token,
            ("POST", "revoke"): self.revoke,
            ("POST", "faults"): self.add_fault,
            ("GET", "faults"): self.list_faults,
            ("DELETE", "faults"): self.clear_faults,
            ("GET", "options"): self.get_options,
            ("POST", "options"): self.set_options,
            ("GET", "stats"): self.stats,
            ("POST", "stats/reset"): self.reset_stats,
            ("POST", "reset"): self.reset,
            ("GET", "health"): self.health,
            **self.webhook_routes(),
            **self.profile_routes(),
        }.get((request.method, route))
        if handler is None:
            return error_response(f"Unknown control call {request.method} {PREFIX}{route}", 404)
        try:
            return handler(_json_body(request))
        except ControlError as error:
            return error_response(str(error), 400)

    def register_application(self, body: dict[str, Any]) -> Response:
        name = _string(body, "name", default="Sandbox application")
        redirect_uri = _string(body, "redirect_uri")
        if not redirect_uri.startswith(("http://", "https://")):
            raise ControlError("redirect_uri must be an absolute http(s) URL")
        application = Application(name, secrets.token_hex(16), secrets.token_hex(32), redirect_uri)
        with self.state.lock:
            self.state.applications[application.client_id] = application
        return json_response(
            201, {"client_id": application.client_id, "client_secret": application.client_secret}
        )

    def list_applications(self, body: dict[str, Any]) -> Response:
        with self.state.lock:
            items = [
                {"name": app.name, "client_id": app.client_id, "redirect_uri": app.redirect_uri}
                for app in self.state.applications.values()
            ]
        return json_response(200, items)

    def create_account(self, body: dict[str, Any]) -> Response:
        name = _string(body, "name", default="Sandbox account")
        profiles = _bounded(body, "profiles", 0, 0, MAX_PROFILES)
        databases = _bounded(body, "databases", 1, 1, MAX_DATABASES)
        collections = _bounded(body, "collections", 0, 0, MAX_COLLECTIONS)
        subprofiles = _bounded(body, "subprofiles", 0, 0, MAX_SUBPROFILES)
        if subprofiles and not profiles:
            raise ControlError("subprofiles need profiles to belong to")
        account = self.state.create_account(
            name, profiles, databases=databases, collections=collections, subprofiles=subprofiles
        )
        return json_response(
            201,
            {
                "account_id": str(account.id),
                "database_id": str(account.database.id),
                "database_ids": [str(database.id) for database in account.databases],
                "collection_ids": {
                    str(database.id): [str(item.id) for item in database.collections]
                    for database in account.databases
                },
                "api_token": account.api_tokens[0],
            },
        )

    def list_accounts(self, body: dict[str, Any]) -> Response:
        with self.state.lock:
            items = [
                {
                    "account_id": str(account.id),
                    "name": account.name,
                    "company": account.company,
                    "database_id": str(account.database.id),
                    "database_name": account.database.name,
                    "database_ids": [str(database.id) for database in account.databases],
                    "profiles": sum(database.live_count() for database in account.databases),
                    "api_token": account.api_tokens[0],
                }
                for account in self.state.accounts.values()
            ]
        return json_response(200, items)

    def issue_token(self, body: dict[str, Any]) -> Response:
        """A new API token for an account, as made in Copernica's dashboard."""
        value = body.get("account_id")
        account_id = int(value) if isinstance(value, str) and value.isdigit() else value
        with self.state.lock:
            if account_id not in self.state.accounts:
                return error_response("Unknown account", 404)
            token = self.state.issue_api_token(account_id)
        return json_response(201, {"api_token": token})

    def overview(self) -> dict[str, Any]:
        """Accounts with their databases and collections and live counts, tokens, faults and
        options: what the console shows."""
        with self.state.lock:
            applications = {
                client_id: app.name for client_id, app in self.state.applications.items()
            }
            accounts = {
                account.id: {
                    "account_id": str(account.id),
                    "name": account.name,
                    "company": account.company,
                    "databases": [
                        {
                            "id": str(database.id),
                            "name": database.name,
                            "profiles": database.live_count(),
                            "collections": [
                                {
                                    "id": str(item.id),
                                    "name": item.name,
                                    "subprofiles": item.live_count(),
                                }
                                for item in database.collections
                            ],
                        }
                        for database in account.databases
                    ],
                }
                for account in self.state.accounts.values()
            }
            tokens = [
                {
                    "token": token.token,
                    "account_id": str(token.account_id),
                    "account": accounts[token.account_id]["name"],
                    "via": applications.get(token.via_client_id or "", "")
                    if token.via_client_id
                    else "",
                    "revoked": token.revoked,
                }
                for token in self.state.tokens.values()
            ]
            return {
                "accounts": list(accounts.values()),
                "tokens": tokens,
                "faults": [fault.as_json() for fault in self.state.faults],
                "options": self.state.options.as_json(),
                "webhooks": self.webhook_overview(),
            }

    def revoke(self, body: dict[str, Any]) -> Response:
        token = _string(body, "access_token")
        with self.state.lock:
            api_token = self.state.tokens.get(token)
            if api_token is None:
                return error_response("Unknown access token", 404)
            api_token.revoked = True
        return empty_response(204)

    def add_fault(self, body: dict[str, Any]) -> Response:
        unknown = set(body) - {
            "path",
            "method",
            "count",
            "status",
            "retry_after",
            "delay_ms",
            "drop",
            "jwt_lifetime",
            "expire_jwts",
        }
        if unknown:
            raise ControlError(f"Unknown fault keys: {', '.join(sorted(unknown))}")
        if "jwt_lifetime" in body:
            lifetime = body["jwt_lifetime"]
            if not isinstance(lifetime, int) or isinstance(lifetime, bool):
                raise ControlError("jwt_lifetime must be an integer number of seconds")
            with self.state.lock:
                self.state.jwt_lifetime = lifetime
        if body.get("expire_jwts"):
            self.state.expire_jwts()
        if not set(body) - {"jwt_lifetime", "expire_jwts"}:
            return json_response(201, {"fault": None})
        fault = Fault(
            path=_string(body, "path", default="/"),
            method=(_string(body, "method").upper() if body.get("method") else None),
            count=_integer(body, "count", 1),
            status=_integer(body, "status", None),
            retry_after=_integer(body, "retry_after", None),
            delay_ms=_integer(body, "delay_ms", 0) or 0,
            drop=body.get("drop"),
        )
        if fault.drop not in (None, "before", "after"):
            raise ControlError('drop must be "before" or "after"')
        if fault.status is not None and not 400 <= fault.status <= 599:
            raise ControlError("status must be an HTTP error status")
        if fault.count < 1:
            raise ControlError("count must be at least 1")
        self.state.add_fault(fault)
        return json_response(201, {"fault": fault.as_json()})

    def list_faults(self, body: dict[str, Any]) -> Response:
        with self.state.lock:
            return json_response(200, [fault.as_json() for fault in self.state.faults])

    def clear_faults(self, body: dict[str, Any]) -> Response:
        with self.state.lock:
            self.state.faults.clear()
        return empty_response(204)

    def get_options(self, body: dict[str, Any]) -> Response:
        with self.state.lock:
            return json_response(200, self.state.options.as_json())

    def set_options(self, body: dict[str, Any]) -> Response:
        """Set the options named in the body; the others keep their value."""
        unknown = set(body) - {"id_list_cap", "unstreamed", "clock"}
        if unknown:
            raise ControlError(f"Unknown options: {', '.join(sorted(unknown))}")
        options = self.state.options
        cap = options.id_list_cap
        if "id_list_cap" in body:
            cap = _integer(body, "id_list_cap", None)
            if cap is not None and cap < 0:
                raise ControlError("id_list_cap must be at least 0 (or null for no cap)")
        unstreamed = options.unstreamed
        if "unstreamed" in body:
            methods = body["unstreamed"]
            if not isinstance(methods, list) or not set(methods) <= STREAMED_METHODS:
                raise ControlError(
                    "unstreamed must be a list of: " + ", ".join(sorted(STREAMED_METHODS))
                )
            unstreamed = frozenset(methods)
        clock = options.clock
        if "clock" in body:
            value = body["clock"]
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int | float)
            ):
                raise ControlError("clock must be UTC epoch seconds (or null for the real clock)")
            clock = None if value is None else float(value)
        with self.state.lock:
            self.state.options = Options(id_list_cap=cap, unstreamed=unstreamed, clock=clock)
            return json_response(200, self.state.options.as_json())

    def stats(self, body: dict[str, Any]) -> Response:
        with self.state.lock:
            return json_response(200, self.state.stats.as_json())

    def reset_stats(self, body: dict[str, Any]) -> Response:
        with self.state.lock:
            self.state.stats = Stats()
        self.state.deliveries.reset_counters()
        return empty_response(204)

    def reset(self, body: dict[str, Any]) -> Response:
        self.state.reset()
        return empty_response(204)

    def health(self, body: dict[str, Any]) -> Response:
        return json_response(200, {"status": "ok"})
