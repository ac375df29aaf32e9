"""No API token, JWT, client secret or code in reprs, messages or log lines."""

from __future__ import annotations

import logging
from collections.abc import Callable

import httpx
import pytest

from api_client import (
    CachedJwt,
    CopernicaClient,
    CopernicaOAuth,
    TokenExchangeError,
    TokenRejectedError,
    redact_url,
)
from api_client.sandbox.control import SandboxControl
from tests.api_client.conftest import Recorder


def test_client_repr_shows_no_token(
    sandbox: SandboxControl, make_client: Callable[..., CopernicaClient]
) -> None:
    account = sandbox.create_account("Secret", 1)
    client = make_client(account.api_token)
    assert account.api_token not in repr(client)
    assert account.api_token not in client.cache_key
    assert "tok" not in repr(CachedJwt("tok", 1.0))


def test_nothing_secret_reaches_logs_or_messages(
    sandbox: SandboxControl,
    make_client: Callable[..., CopernicaClient],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    account = sandbox.create_account("Secret", 5)
    app = sandbox.register_application("Linker", "http://linker.test/cb")
    jwts: list[str] = []

    class Spy(httpx.HTTPTransport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            response = super().handle_request(request)
            if request.url.path == "/authenticate" and response.status_code == 200:
                response.read()
                jwts.append(response.text)
            return response

    recorder = Recorder()
    client = make_client(account.api_token, transport=Spy(), on_request=recorder)
    sandbox.fault(path="/v4/identity", status=503)
    client.identity()
    sandbox.fault(expire_jwts=True)
    client.identity()
    sandbox.revoke(account.api_token)
    sandbox.fault(expire_jwts=True)
    with pytest.raises(TokenRejectedError) as rejected:
        client.identity()
    oauth = CopernicaOAuth(
        client_id=app.client_id,
        client_secret=app.client_secret,
        redirect_uri="http://linker.test/cb",
        authorize_url=sandbox.authorize_url,
        token_url=sandbox.token_url,
    )
    logging.getLogger("httpx").setLevel(logging.INFO)
    with pytest.raises(TokenExchangeError) as refused:
        oauth.exchange("the-secret-code-1234")
    secrets = [account.api_token, app.client_secret, "the-secret-code-1234", *jwts]
    assert len(jwts) == 2
    texts = [caplog.text, str(rejected.value), str(refused.value), repr(oauth), repr(client)]
    texts += [repr(record) for record in recorder.records]
    for text in texts:
        for secret in secrets:
            assert secret not in text
    assert "client_secret=***" in caplog.text


def test_redact_url_masks_secret_parameters() -> None:
    url = "https://api.copernica.com/v4/token?client_id=a&client_secret=s3cr3t&code=c0de&x=1"
    assert redact_url(url) == (
        "https://api.copernica.com/v4/token?client_id=a&client_secret=***&code=***&x=1"
    )
