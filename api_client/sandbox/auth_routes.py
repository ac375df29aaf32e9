"""The sandbox's auth service (``/authenticate``), OAuth consent page and token endpoint."""

from __future__ import annotations

import json
import secrets
import time
from urllib.parse import urlencode

from .http import Request, Response, error_response, html_response, json_response
from .pages import consent_page, error_page
from .query import php_int
from .state import CODE_LIFETIME, AuthorizationCode, SandboxState


class AuthRoutes:
    """How the sandbox hands out JWTs, authorization codes and access tokens."""

    state: SandboxState
    lenient_auth: bool

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


def _redirect(uri: str, params: dict[str, str]) -> Response:
    separator = "&" if "?" in uri else "?"
    location = f"{uri}{separator}{urlencode(params)}"
    return Response(302, [("Location", location), ("Cache-Control", "no-store")])
