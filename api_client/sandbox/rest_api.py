"""The sandbox's REST API v4: bearer authentication and the routes of each resource."""

from __future__ import annotations

from .http import ApiError, Request, Response, empty_response, error_response, json_response
from .records import ProfileRecord
from .rest_subprofiles import SubprofileRoutes
from .rest_webhooks import WebhookRoutes
from .rest_writes import ProfileWrites, body_any, body_object
from .state import Account, JwtError, SandboxState
from .store import Database


class RestApi(SubprofileRoutes, ProfileWrites, WebhookRoutes):
    """Answers ``/v4/...`` (the ``api`` host) and ``/rest/v4/...`` (the ``rest`` host)."""

    state: SandboxState
    allow_url_token: bool
    legacy_auth_errors: bool

    def api(self, request: Request, host: str, rest: str) -> Response:
        segments = rest.split("/")
        if len(segments) > 1 and segments[-1] == "":
            segments.pop()
        base = "/v4" if host == "api" else "/rest/v4"
        try:
            account = self._authenticate_bearer(request)
        except ApiError as error:
            with self.state.lock:
                self.state.stats.counters["auth_failures"] += 1
            if self.legacy_auth_errors:
                return error_response(error.message)
            return error_response(
                error.message, 401, [("WWW-Authenticate", 'Bearer error="invalid_token"')]
            )
        with self.state.lock:
            self.state.stats.api_calls_by_account[str(account.id)] += 1
        try:
            return self._route(request, account, host, base, segments)
        except ApiError as error:
            return error_response(error.message, error.status)

    def _authenticate_bearer(self, request: Request) -> Account:
        header = request.headers.get("authorization", "")
        scheme, _, credentials = header.partition(" ")
        if scheme.lower() == "bearer" and credentials.strip():
            try:
                return self.state.check_jwt(credentials.strip())
            except JwtError as error:
                raise ApiError(error.message, 401) from None
        url_token = request.param("access_token")
        if url_token and self.allow_url_token:
            with self.state.lock:
                api_token = self.state.tokens.get(url_token)
                if api_token is not None and not api_token.revoked:
                    return self.state.accounts[api_token.account_id]
        raise ApiError("Invalid access token", 401)

    def _route(
        self, request: Request, account: Account, host: str, base: str, segments: list[str]
    ) -> Response:
        method = request.method
        head = segments[0]
        count = len(segments)
        if head == "identity" and count == 1 and method == "GET":
            return json_response(
                200,
                {
                    "id": str(account.id),
                    "name": account.name,
                    "description": f"Sandbox account {account.name}",
                    "company": account.company,
                },
            )
        if head == "databases" and count == 1 and method == "GET":
            with self.state.lock:
                items = [database.as_json() for database in account.databases]
            return self._small_list(request, items)
        if head in ("database", "profile", "collection", "subprofile", "webhook") and count == 1:
            raise ApiError("Invalid request, element 2 is missing in 'directory' path")
        if head == "database":
            return self._database_route(request, account, host, base, segments)
        if head == "profile":
            return self._profile_route(request, account, base, segments)
        if head == "collection":
            return self._collection_route(request, account, host, segments)
        if head == "subprofile":
            return self._subprofile_route(request, account, segments)
        if head in ("webhooks", "webhook"):
            return self._webhook_route(request, account, base, segments)
        raise ApiError("Invalid method")

    def _database_route(
        self, request: Request, account: Account, host: str, base: str, segments: list[str]
    ) -> Response:
        method = request.method
        database = self._database(account, segments[1])
        tail = segments[2:]
        if not tail and method == "GET":
            with self.state.lock:
                return json_response(200, database.as_json())
        if len(tail) == 1 and method == "GET":
            if tail[0] == "fields":
                return self._small_list(request, [item.as_json() for item in database.fields])
            if tail[0] == "interests":
                return self._small_list(request, [item.as_json() for item in database.interests])
            if tail[0] == "collections":
                with self.state.lock:
                    items = [item.as_json() for item in database.collections]
                return self._small_list(request, items)
            if tail[0] == "profiles":
                return self._entity_list(request, database, host, "database/{id}/profiles")
            if tail[0] == "profileids":
                return self._id_list(request, database)
        if tail and tail[0] == "profiles" and method == "POST":
            # Extra path segments after "profiles" are ignored on create (observed live).
            return self._create(request, database, base)
        if tail == ["profiles"] and method == "PUT":
            return self._bulk_update(request, database, base)
        if tail == ["profiles"] and method == "DELETE":
            return self._bulk_delete(request, database)
        raise ApiError("Invalid method")

    def _profile_route(
        self, request: Request, account: Account, base: str, segments: list[str]
    ) -> Response:
        method = request.method
        database, profile_id, record = self._profile(account, segments[1])
        tail = segments[2:]
        if method == "DELETE":
            # "already removed" is checked before the rest of the path (observed live).
            if record.removed is not None:
                raise ApiError("This profile has already been removed")
            if tail:
                raise ApiError("Invalid method")
            self._remove_profile(database, profile_id, self.state.now())
            return empty_response(204, [("X-deleted", f"profile {profile_id}")])
        if tail and tail[0] == "subprofiles":
            return self._profile_subprofiles(
                request, base, database, profile_id, record.removed is not None, tail
            )
        if not tail:
            if method == "GET":
                with self.state.lock:
                    return json_response(200, database.profile_json(profile_id, record, False))
            if method in ("PUT", "POST"):
                body = body_object(request)
                fields = body.get("fields")
                self._update(
                    database,
                    profile_id,
                    fields if isinstance(fields, dict) else {},
                    body.get("interests"),
                    "replace",
                    body.get("secret") if isinstance(body.get("secret"), str) else None,
                )
                return empty_response(204)
            raise ApiError("Invalid method")
        if tail[0] == "fields":
            # Extra segments after "/fields" are ignored (observed live).
            if method == "GET":
                with self.state.lock:
                    return json_response(
                        200, database.profile_json(profile_id, record, True)["fields"]
                    )
            if method == "PUT":
                body = body_object(request)
                self._update(database, profile_id, body, None, "replace", None)
                return empty_response(204)
        if tail == ["interests"]:
            if method == "GET":
                return self._interests_of(request, database, record)
            if method in ("POST", "PUT"):
                spec = body_any(request)
                if not isinstance(spec, list | dict):
                    raise ApiError("Invalid data provided")
                mode = "replace" if method == "PUT" else "add"
                self._update(database, profile_id, {}, spec, mode, None)
                # [P] Nothing new gets an ID here, so POST answers 204 like PUT.
                return empty_response(204)
        raise ApiError("Invalid method")

    # ------------------------------------------------------------------ lookups

    def _database(self, account: Account, ident: str) -> Database:
        for database in account.databases:
            if ident == str(database.id) or ident.lower() == database.name.lower():
                return database
        raise ApiError("No database with supplied ID")

    def _profile(self, account: Account, ident: str) -> tuple[Database, int, ProfileRecord]:
        if not ident.isdigit():
            raise ApiError("No entity with supplied ID")
        profile_id = int(ident)
        with self.state.lock:
            database = self.state.database_of_profile(profile_id)
            if database is None or database.account_id != account.id:
                raise ApiError("No entity with supplied ID")
            record = database.record(profile_id)
            if record is None:
                raise ApiError("No entity with supplied ID")
            return database, profile_id, record
