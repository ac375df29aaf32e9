"""The Copernica side of the sandbox: auth service, OAuth pages, token endpoint, REST API v4.

Behaviour follows ``copernica-api.md``: [C] and [O] facts exactly, [P] proposals where the
public material is silent. Choices the reference leaves open are noted where they are made.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

from .http import (
    Request,
    Response,
    empty_response,
    error_response,
    html_response,
    json_response,
)
from .pages import consent_page, error_page
from .query import (
    filter_expressions_in,
    list_params,
    page_bounds,
    php_int,
    select,
    truthy,
    usable_filters,
)
from .state import CODE_LIFETIME, Account, AuthorizationCode, JwtError, SandboxState
from .store import Database, ProfileRecord

MAX_LIMIT = 1000
STREAM_CHUNK = 1000
_ID_SEGMENT_AFTER = frozenset({"database", "profile"})


class ApiError(Exception):
    """An error answer ``{"error":{"message":...}}`` (400 unless stated)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class CopernicaSurface:
    """Answers every non-control request of the sandbox."""

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

    # ------------------------------------------------------------------ auth service

    def authenticate(self, request: Request) -> Response:
        """``POST /authenticate`` with form field ``access_token`` → a bare JWT."""
        token: str | None = None
        if request.method == "POST":
            if request.content_type == "application/json" and self.lenient_auth:
                try:
                    document = json.loads(request.body or b"{}")
                except ValueError:
                    document = None
                if isinstance(document, dict) and isinstance(document.get("access_token"), str):
                    token = document["access_token"]
            else:
                token = request.form().get("access_token")
        elif request.method == "GET" and self.lenient_auth:
            token = request.param("access_token")
        else:
            return error_response("Invalid method")
        with self.state.lock:
            api_token = self.state.tokens.get((token or "").strip())
            if api_token is not None:
                self.state.stats.auth_calls_by_account[str(api_token.account_id)] += 1
            if api_token is None or api_token.revoked:
                self.state.stats.counters["auth_failures"] += 1
                return error_response("Invalid access token", 401)
            jwt = self.state.issue_jwt(api_token)
        return Response(200, [("Content-Type", "text/plain; charset=utf-8")], jwt.encode())

    # ------------------------------------------------------------------ OAuth

    def authorize(self, request: Request) -> Response:
        """The consent page (GET) and its form (POST) → 302 to the registered redirect URI."""
        if request.method not in ("GET", "POST"):
            return html_response(405, error_page("Use GET or POST."))
        values = dict(request.params)
        if request.method == "POST":
            values.update(request.form())
        client_id = values.get("client_id", "")
        redirect_uri = values.get("redirect_uri", "")
        response_type = values.get("response_type", "")
        state_value = values.get("state", "")
        with self.state.lock:
            application = self.state.applications.get(client_id)
            if application is None:
                return html_response(400, error_page("Unknown application (client_id)."))
            if redirect_uri != application.redirect_uri:
                return html_response(400, error_page("The redirect_uri is not registered."))
            if response_type != "code":
                return html_response(400, error_page("Only response_type=code is supported."))
            if request.method == "GET":
                accounts = [(account.id, account.name) for account in self.state.accounts.values()]
                return html_response(
                    200,
                    consent_page(
                        action=request.path,
                        application_name=application.name,
                        accounts=accounts,
                        hidden={
                            "client_id": client_id,
                            "redirect_uri": redirect_uri,
                            "state": state_value,
                            "response_type": response_type,
                        },
                    ),
                    [("Cache-Control", "no-store")],
                )
            decision = values.get("decision", "")
            if decision == "deny":
                return _redirect(redirect_uri, {"error": "access_denied", "state": state_value})
            if decision != "allow":
                return html_response(400, error_page("Choose Allow or Deny."))
            account = self.state.accounts.get(php_int(values.get("account")))
            if account is None:
                return html_response(400, error_page("Choose an account."))
            if len(state_value) < 32:
                # Copernica's documented symptom of a weak state: back without a code.
                return _redirect(redirect_uri, {"state": state_value})
            code = secrets.token_hex(20)
            self.state.codes[code] = AuthorizationCode(
                code, client_id, redirect_uri, account.id, time.time() + CODE_LIFETIME
            )
        return _redirect(redirect_uri, {"code": code, "state": state_value})

    def token(self, request: Request) -> Response:
        """``GET /v4/token?client_id&client_secret&redirect_uri&code`` → an access token."""
        with self.state.lock:
            if request.method != "GET":
                return error_response("Invalid method")
            params = request.params
            application = self.state.applications.get(params.get("client_id", ""))
            if application is None or not secrets.compare_digest(
                application.client_secret, params.get("client_secret", "")
            ):
                return error_response("Invalid client")
            code = self.state.codes.get(params.get("code", ""))
            if code is not None and code.expires_at <= time.time():
                del self.state.codes[code.code]
                code = None
            if code is None or code.client_id != application.client_id:
                return error_response("Invalid code")
            if params.get("redirect_uri", "") != code.redirect_uri:
                return error_response("Redirect URI mismatch")
            del self.state.codes[code.code]
            token = self.state.issue_api_token(code.account_id, via_client_id=application.client_id)
        return json_response(200, {"access_token": token})

    # ------------------------------------------------------------------ REST API v4

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
                items = [account.database.as_json()]
            return self._small_list(request, items)
        if head in ("database", "profile") and count == 1:
            raise ApiError("Invalid request, element 2 is missing in 'directory' path")
        if head == "database":
            return self._database_route(request, account, host, base, segments)
        if head == "profile":
            return self._profile_route(request, account, base, segments)
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
                return self._small_list(request, list(database.collections))
            if tail[0] == "profiles":
                return self._profile_list(request, database, host)
            if tail[0] == "profileids":
                with self.state.lock:
                    ids = [str(profile_id) for profile_id in database.all_live_ids()]
                return json_response(200, ids)
        if tail and tail[0] == "profiles" and method == "POST":
            # Extra path segments after "profiles" are ignored on create (observed live).
            return self._create(request, database, base)
        if tail == ["profiles"] and method == "PUT":
            return self._bulk_update(request, database, base)
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
            with self.state.lock:
                database.remove(profile_id, self.state.now())
                self.state.stats.counters["profiles_deleted"] += 1
            return empty_response(204, [("X-deleted", f"profile {profile_id}")])
        if not tail:
            if method == "GET":
                with self.state.lock:
                    return json_response(200, database.profile_json(profile_id, record, False))
            if method in ("PUT", "POST"):
                body = _body_object(request)
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
                body = _body_object(request)
                self._update(database, profile_id, body, None, "replace", None)
                return empty_response(204)
        if tail == ["interests"]:
            if method == "GET":
                return self._interests_of(request, database, record)
            if method in ("POST", "PUT"):
                spec = _body_any(request)
                if not isinstance(spec, list | dict):
                    raise ApiError("Invalid data provided")
                mode = "replace" if method == "PUT" else "add"
                self._update(database, profile_id, {}, spec, mode, None)
                # [P] Nothing new gets an ID here, so POST answers 204 like PUT.
                return empty_response(204)
        raise ApiError("Invalid method")

    # ------------------------------------------------------------------ lookups

    def _database(self, account: Account, ident: str) -> Database:
        database = account.database
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

    # ------------------------------------------------------------------ lists

    def _small_list(self, request: Request, items: list[Any]) -> Response:
        params = list_params(request.params, max_limit=MAX_LIMIT)
        first, count = page_bounds(params, len(items))
        document: dict[str, Any] = {
            "start": params.start,
            "limit": params.limit,
            "count": count,
            "data": items[first : first + count],
        }
        if params.total:
            document["total"] = len(items)
        return json_response(200, document)

    def _profile_list(self, request: Request, database: Database, host: str) -> Response:
        query = request.params
        # The rest host takes limits above 1000 for profile lists and then streams (§1).
        params = list_params(query, max_limit=None if host == "rest" else MAX_LIMIT)
        dataonly = truthy(query.get("dataonly"), default=False)
        descending = query.get("order", "").strip().lower() in ("desc", "descending")
        expressions = filter_expressions_in(request.query) or []
        with self.state.lock:
            selection = select(
                database, usable_filters(database, expressions), query.get("orderby"), descending
            )
            first, count = page_bounds(params, selection.total)
            nextid: int | None = None
            if selection.by_id_ascending and count and first + count < selection.total:
                nextid = selection.ids(first + count, first + count + 1)[0]
            # The envelope is joined from pre-serialized profiles: same bytes as json.dumps
            # of {"start", "limit", "count", "data", ["nextid"], ["total"]}.
            head = b'{"start":%d,"limit":%d,"count":%d,"data":[' % (
                params.start,
                params.limit,
                count,
            )
            tail = b"]"
            if nextid is not None:
                tail += b',"nextid":%d' % nextid
            if params.total:
                tail += b',"total":%d' % selection.total
            tail += b"}"
            if params.limit <= MAX_LIMIT:
                data = database.profiles_json(selection.ids(first, first + count), dataonly)
                return Response(
                    200,
                    [("Content-Type", "application/json")],
                    b"".join((head, b",".join(data), tail)),
                )

        def chunks() -> Iterator[bytes]:
            # One chunk per STREAM_CHUNK profiles (~200-300 KB); the envelope's head and tail
            # ride along with the first and last of them.
            position, stop, prefix = first, first + count, head
            while position < stop:
                with self.state.lock:
                    ids = selection.ids(position, min(position + STREAM_CHUNK, stop))
                    data = database.profiles_json(ids, dataonly)
                if not ids:
                    break
                position += len(ids)
                if data:
                    text = prefix + b",".join(data)
                    if position >= stop:
                        yield text + tail
                        return
                    yield text
                    prefix = b","
            yield prefix + tail if prefix is head else tail

        return Response(200, [("Content-Type", "application/json")], chunks=chunks())

    def _interests_of(
        self, request: Request, database: Database, record: ProfileRecord
    ) -> Response:
        names = [] if record.removed is not None else list(record.interests)
        shape = request.param("return")
        if shape in ("ids", "objects"):
            chosen = [item for item in database.interests if item.name in names]
            if shape == "ids":
                return json_response(200, [str(item.id) for item in chosen])
            return json_response(200, [item.as_json() for item in chosen])
        return json_response(200, names)

    # ------------------------------------------------------------------ writes

    def _create(self, request: Request, database: Database, base: str) -> Response:
        body = _body_object(request)
        fields = body.get("fields", {})
        if not isinstance(fields, dict):
            raise ApiError("Invalid data provided")
        profile_id = self._insert(database, fields, body.get("interests"))
        return _created(request, base, profile_id)

    def _insert(self, database: Database, fields: dict[str, Any], interests: object) -> int:
        with self.state.lock:
            values = {item.name: item.default for item in database.fields}
            values.update(_coerce(database, fields))
            now = self.state.now()
            record = ProfileRecord(
                values,
                _apply_interests(database, [], interests, "add"),
                secrets.token_hex(14),
                now,
                now,
            )
            profile_id = self.state.allocate_profile(database)
            database.add(profile_id, record)
            self.state.stats.counters["profiles_created"] += 1
            return profile_id

    def _bulk_update(self, request: Request, database: Database, base: str) -> Response:
        expressions = filter_expressions_in(request.query)
        if expressions is None:
            raise ApiError("URL parameter fields is required")
        body = _body_object(request)
        fields = body.get("fields", {})
        if not isinstance(fields, dict):
            raise ApiError("Invalid data provided")
        with self.state.lock:
            # The gotcha, on purpose: ignored filters leave nothing to filter on, so every
            # profile matches.
            selection = select(database, usable_filters(database, expressions), None, False)
            matched = selection.ids(0, selection.total)
            for profile_id in matched:
                self._update(database, profile_id, fields, body.get("interests"), "replace", None)
        if not matched and truthy(request.param("create"), default=False):
            profile_id = self._insert(database, fields, body.get("interests"))
            return _created(request, base, profile_id)
        return empty_response(204)

    def _update(
        self,
        database: Database,
        profile_id: int,
        fields: dict[str, Any],
        interests: object,
        interests_mode: str,
        secret: str | None,
    ) -> None:
        """Apply a change; ``modified`` moves only when a field or interest really changes."""
        with self.state.lock:
            record = database.record(profile_id)
            assert record is not None
            new_fields = {**record.fields, **_coerce(database, fields)}
            new_interests = _apply_interests(database, record.interests, interests, interests_mode)
            changed = new_fields != record.fields or new_interests != record.interests
            if (
                not changed
                and record.removed is None
                and (secret is None or secret == record.secret)
            ):
                return
            stored = database.materialise(profile_id)
            stored.fields = new_fields
            stored.interests = new_interests
            if secret is not None:
                stored.secret = secret
            if changed or record.removed is not None:
                # A PUT on a removed profile bumps `modified` too (observed live).
                stored.modified = self.state.now()
                self.state.stats.counters["profiles_updated"] += 1


def _redirect(uri: str, params: dict[str, str]) -> Response:
    separator = "&" if "?" in uri else "?"
    location = f"{uri}{separator}{urlencode(params)}"
    return Response(302, [("Location", location), ("Cache-Control", "no-store")])


def _created(request: Request, base: str, profile_id: int) -> Response:
    return empty_response(
        201,
        [
            ("X-Created", str(profile_id)),
            ("X-location", f"{request.base_url}{base}/profile/{profile_id}"),
        ],
    )


def _body_any(request: Request) -> Any:
    """A JSON body, or an urlencoded form turned into nested dicts/lists."""
    if not request.body.strip():
        return {}
    if request.content_type == "application/json" or request.body.lstrip()[:1] in (b"{", b"["):
        try:
            return json.loads(request.body)
        except ValueError:
            raise ApiError("Invalid data provided") from None
    document: dict[str, Any] = {}
    for key, value in request.form_pairs():
        name, _, rest = key.partition("[")
        if not rest:
            document[name] = value
            continue
        inner = rest.rstrip("]")
        if inner == "":
            document.setdefault(name, [])
            if isinstance(document[name], list):
                document[name].append(value)
        else:
            if not isinstance(document.get(name), dict):
                document[name] = {}
            document[name][inner] = value
    return document


def _body_object(request: Request) -> dict[str, Any]:
    body = _body_any(request)
    if not isinstance(body, dict):
        raise ApiError("Invalid data provided")
    return body


def _coerce(database: Database, fields: dict[str, Any]) -> dict[str, str]:
    """Known fields only (case-insensitive names, last duplicate wins), values as strings."""
    values: dict[str, str] = {}
    for key, value in fields.items():
        field = database.field_named(str(key))
        if field is None:
            continue
        if value is None or value is False:
            text = ""
        elif value is True:
            text = "1"
        else:
            text = str(value)
        values[field.name] = str(php_int(text)) if field.type == "integer" else text
    return values


def _switched_on(value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value != 0
    text = str(value).strip().lower()
    return text in ("true", "yes") or php_int(text) != 0


def _apply_interests(database: Database, current: list[str], spec: object, mode: str) -> list[str]:
    """A list of names replaces (or, on POST, adds to) the set; a map switches names on/off."""
    names = set(current)
    if isinstance(spec, list):
        wanted = {
            interest.name
            for name in spec
            if (interest := database.interest_named(str(name))) is not None
        }
        names = wanted if mode == "replace" else names | wanted
    elif isinstance(spec, dict):
        for name, on in spec.items():
            interest = database.interest_named(str(name))
            if interest is None:
                continue
            if _switched_on(on):
                names.add(interest.name)
            else:
                names.discard(interest.name)
    return database.interest_order(names)
