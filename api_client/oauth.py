"""Copernica's OAuth handshake, client side: the authorize URL and the code exchange.

Copernica's flavour of OAuth 2 (copernica-api.md §3): the browser goes to
``/authorize?client_id&redirect_uri&state&response_type=code``; Copernica redirects back with
``code`` and ``state`` (no ``code`` at all when ``state`` is shorter than 32 characters, or
``error=access_denied``); the server then makes a **GET** to the token endpoint with
``client_id``, ``client_secret``, ``redirect_uri`` and ``code`` and gets
``{"access_token": "..."}``. No ``grant_type``, scope, refresh token or PKCE.

Storage of ``state`` and of the token is the caller's business; this module only builds
URLs (with authlib) and performs the exchange.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping

import httpx
from authlib.common.urls import add_params_to_uri
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri

from .errors import AccessDeniedError, OAuthError, TokenExchangeError
from .redaction import install_httpx_log_filter, redact_url
from .tls import shared_ssl_context

logger = logging.getLogger("api_client.oauth")

#: Copernica grants no code for a ``state`` shorter than this.
MIN_STATE_LENGTH = 32
# A code is an opaque token; anything else (spaces, markup, a megabyte) is not one of Copernica's.
_CODE_SHAPE = re.compile(r"[A-Za-z0-9._~+/=-]{1,512}")


def authorization_url(authorize_url: str, *, client_id: str, redirect_uri: str, state: str) -> str:
    """The URL of Copernica's consent page for this application and ``state``."""
    if len(state) < MIN_STATE_LENGTH:
        raise ValueError(
            f"Copernica grants no code for a state under {MIN_STATE_LENGTH} characters."
        )
    return str(
        prepare_grant_uri(
            authorize_url,
            client_id=client_id,
            response_type="code",
            redirect_uri=redirect_uri,
            state=state,
        )
    )


def callback_code(params: Mapping[str, str], *, expected_state: str) -> str:
    """The authorization code in Copernica's redirect back, after checking ``state``.

    Checked in this order, so that a redirect that is not ours never says more than that:

    1. ``state`` differs from ``expected_state``: :class:`OAuthError`.
    2. ``error=access_denied`` (the user refused): :class:`AccessDeniedError`; any other
       ``error``: :class:`OAuthError`.
    3. No ``code`` (Copernica's symptom of a too-short state): :class:`OAuthError`; a code
       that is not 1 to 512 URL-safe characters (``[A-Za-z0-9._~+/=-]``): :class:`OAuthError`,
       so nothing malformed reaches the token endpoint or a log line.
    """
    if params.get("state") != expected_state:
        raise OAuthError("The OAuth state does not match this handshake.")
    error = params.get("error")
    if error == "access_denied":
        raise AccessDeniedError("Access to the Copernica account was refused.")
    if error:
        raise OAuthError("Copernica reported an error during the OAuth handshake.")
    code = params.get("code")
    if not code:
        raise OAuthError("Copernica sent no authorization code.")
    if not isinstance(code, str) or not _CODE_SHAPE.fullmatch(code):
        raise OAuthError("Copernica sent no usable authorization code.")
    return code


def token_request_url(
    token_url: str, *, client_id: str, client_secret: str, redirect_uri: str, code: str
) -> str:
    """The token endpoint URL with its query. It holds the secret: log only via ``redact_url``."""
    return str(
        add_params_to_uri(
            token_url,
            [
                ("client_id", client_id),
                ("client_secret", client_secret),
                ("redirect_uri", redirect_uri),
                ("code", code),
            ],
        )
    )


def exchange_code(
    token_url: str,
    *,
    client_id: str,
    client_secret: str,
    redirect_uri: str,
    code: str,
    timeout: float = 30.0,
    transport: httpx.BaseTransport | None = None,
) -> str:
    """Exchange an authorization code for the account's access token (a GET, no retry).

    The code is single-use, so nothing is retried: a 400 (``Invalid code``, ``Invalid
    client``, ``Redirect URI mismatch``), any other error status, a timeout, malformed JSON
    or a missing ``access_token`` all raise :class:`TokenExchangeError` (``status`` set when
    an answer arrived). The client secret never appears in a message or log line.
    """
    install_httpx_log_filter()
    url = token_request_url(
        token_url,
        client_id=client_id,
        client_secret=client_secret,
        redirect_uri=redirect_uri,
        code=code,
    )
    logger.info("Exchanging an OAuth code at %s", redact_url(url))
    try:
        with httpx.Client(
            timeout=httpx.Timeout(timeout), verify=shared_ssl_context(), transport=transport
        ) as http:
            response = http.get(url, headers={"Accept": "application/json"})
    except httpx.TimeoutException:
        raise TokenExchangeError("Copernica's token endpoint did not answer in time.") from None
    except httpx.HTTPError as exc:
        raise TokenExchangeError(
            f"Copernica's token endpoint could not be reached ({type(exc).__name__})."
        ) from None
    status = response.status_code
    try:
        document = response.json()
    except ValueError:
        document = None
    if status != 200:
        message = "Copernica's token endpoint refused the code"
        if isinstance(document, dict) and isinstance(document.get("error"), dict):
            detail = document["error"].get("message")
            if isinstance(detail, str):
                message = f"{message}: {detail[:200]}"
        logger.warning("OAuth code exchange failed with HTTP %s", status)
        raise TokenExchangeError(message, status=status)
    token = document.get("access_token") if isinstance(document, dict) else None
    if not isinstance(token, str) or not token.strip():
        raise TokenExchangeError(
            "Copernica's token endpoint answered without an access token.", status=status
        )
    return token.strip()


class CopernicaOAuth:
    """A registered Copernica application: builds authorize URLs and exchanges codes.

    ``repr`` shows no secret.
    """

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        redirect_uri: str,
        authorize_url: str,
        token_url: str,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.client_id = client_id
        self._client_secret = client_secret
        self.redirect_uri = redirect_uri
        self.authorize_url = authorize_url
        self.token_url = token_url
        self.timeout = timeout
        self._transport = transport

    def __repr__(self) -> str:
        return f"<CopernicaOAuth client_id={self.client_id!r} redirect_uri={self.redirect_uri!r}>"

    def authorization_url(self, state: str) -> str:
        """The consent page URL for ``state`` (at least 32 characters)."""
        return authorization_url(
            self.authorize_url,
            client_id=self.client_id,
            redirect_uri=self.redirect_uri,
            state=state,
        )

    def exchange(self, code: str) -> str:
        """Exchange ``code`` for an access token; see :func:`exchange_code`."""
        return exchange_code(
            self.token_url,
            client_id=self.client_id,
            client_secret=self._client_secret,
            redirect_uri=self.redirect_uri,
            code=code,
            timeout=self.timeout,
            transport=self._transport,
        )
