"""The OAuth helper against the sandbox's consent page and token endpoint."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from api_client import (
    AccessDeniedError,
    CopernicaClient,
    CopernicaOAuth,
    OAuthError,
    TokenExchangeError,
    callback_code,
)
from api_client.sandbox.control import SandboxControl

REDIRECT_URI = "http://linker.test/oauth/callback"


class FormParser(HTMLParser):
    """Collects the consent form: its action, inputs, radio labels and buttons."""

    def __init__(self) -> None:
        super().__init__()
        self.action = ""
        self.hidden: dict[str, str] = {}
        self.radios: list[str] = []
        self.buttons: list[tuple[str, str]] = []
        self.labels: dict[str, str] = {}
        self._label_for: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {key: value or "" for key, value in attrs}
        if tag == "form":
            self.action = attributes["action"]
        elif tag == "input" and attributes.get("type") == "hidden":
            self.hidden[attributes["name"]] = attributes["value"]
        elif tag == "input" and attributes.get("type") == "radio":
            self.radios.append(attributes["value"])
        elif tag == "button":
            self.buttons.append((attributes["name"], attributes["value"]))
        elif tag == "label":
            self._label_for = attributes.get("for")

    def handle_data(self, data: str) -> None:
        if self._label_for and data.strip():
            self.labels[self._label_for] = data.strip()

    def handle_endtag(self, tag: str) -> None:
        if tag == "label":
            self._label_for = None


def _oauth(sandbox: SandboxControl, redirect_uri: str = REDIRECT_URI) -> CopernicaOAuth:
    app = sandbox.register_application("Linker", REDIRECT_URI)
    return CopernicaOAuth(
        client_id=app.client_id,
        client_secret=app.client_secret,
        redirect_uri=redirect_uri,
        authorize_url=sandbox.authorize_url,
        token_url=sandbox.token_url,
        timeout=5,
    )


def _consent(url: str, decision: str, account_id: str | None = None) -> dict[str, list[str]]:
    """Open the consent page, submit its form, return the redirect's query."""
    page = httpx.get(url)
    assert page.status_code == 200
    form = FormParser()
    form.feed(page.text)
    data = dict(form.hidden)
    data["account"] = account_id or form.radios[0]
    data["decision"] = decision
    base = f"{urlsplit(url).scheme}://{urlsplit(url).netloc}"
    answer = httpx.post(base + form.action, data=data)
    assert answer.status_code == 302
    location = answer.headers["location"]
    assert location.startswith(REDIRECT_URI + "?")
    return parse_qs(urlsplit(location).query, keep_blank_values=True)


def test_authorize_url_carries_the_four_parameters(sandbox: SandboxControl) -> None:
    oauth = _oauth(sandbox)
    state = secrets.token_urlsafe(32)
    query = parse_qs(urlsplit(oauth.authorization_url(state)).query)
    assert query == {
        "client_id": [oauth.client_id],
        "redirect_uri": [REDIRECT_URI],
        "state": [state],
        "response_type": ["code"],
    }
    with pytest.raises(ValueError, match="32"):
        oauth.authorization_url("short")


def test_consent_page_lists_accounts_with_labels_and_buttons(sandbox: SandboxControl) -> None:
    sandbox.create_account("Alpha Bikes", 1)
    sandbox.create_account("Beta Foods", 1)
    page = httpx.get(_oauth(sandbox).authorization_url("s" * 40))
    form = FormParser()
    form.feed(page.text)
    assert form.action == "/en/authorize"
    assert set(form.hidden) == {"client_id", "redirect_uri", "state", "response_type"}
    assert sorted(form.labels.values()) == ["Alpha Bikes", "Beta Foods"]
    assert form.buttons == [("decision", "allow"), ("decision", "deny")]
    assert ">Allow</button>" in page.text
    assert ">Deny</button>" in page.text


def test_full_handshake_gives_a_token_for_the_chosen_account(sandbox: SandboxControl) -> None:
    sandbox.create_account("Alpha Bikes", 1)
    chosen = sandbox.create_account("Beta Foods", 3)
    oauth = _oauth(sandbox)
    state = secrets.token_hex(20)
    query = _consent(oauth.authorization_url(state), "allow", chosen.account_id)
    code = callback_code({key: values[0] for key, values in query.items()}, expected_state=state)
    token = oauth.exchange(code)
    assert len(token) == 32
    with CopernicaClient(token, api_url=sandbox.api_url, auth_url=sandbox.auth_url) as client:
        assert client.identity()["name"] == "Beta Foods"
    assert sandbox.stats()["token_calls"] == 1


def test_code_is_single_use(sandbox: SandboxControl) -> None:
    sandbox.create_account("Alpha Bikes", 1)
    oauth = _oauth(sandbox)
    query = _consent(oauth.authorization_url("x" * 32), "allow")
    oauth.exchange(query["code"][0])
    with pytest.raises(TokenExchangeError) as caught:
        oauth.exchange(query["code"][0])
    assert caught.value.status == 400
    assert "Invalid code" in str(caught.value)
    assert sandbox.stats()["token_calls"] == 2


def test_short_state_comes_back_without_a_code(sandbox: SandboxControl) -> None:
    sandbox.create_account("Alpha Bikes", 1)
    oauth = _oauth(sandbox)
    url = oauth.authorization_url("x" * 32).replace("x" * 32, "short")
    query = _consent(url, "allow")
    assert query == {"state": ["short"]}
    with pytest.raises(OAuthError, match="no authorization code"):
        callback_code({"state": "short"}, expected_state="short")


def test_deny_redirects_with_access_denied(sandbox: SandboxControl) -> None:
    sandbox.create_account("Alpha Bikes", 1)
    state = "d" * 40
    query = _consent(_oauth(sandbox).authorization_url(state), "deny")
    assert query == {"error": ["access_denied"], "state": [state]}
    with pytest.raises(AccessDeniedError):
        callback_code({"error": "access_denied", "state": state}, expected_state=state)


def test_callback_with_a_foreign_state_is_refused() -> None:
    with pytest.raises(OAuthError, match="state"):
        callback_code({"code": "abc", "state": "theirs"}, expected_state="ours")


@pytest.mark.parametrize(
    "code",
    ["two words", "<script>", "a" * 513, "a" * 600, "abc\n", "caf\u00e9"],
    ids=["space", "markup", "513-chars", "600-chars", "trailing-newline", "non-ascii"],
)
def test_callback_with_a_malformed_code_is_refused(code: str) -> None:
    with pytest.raises(OAuthError, match="no usable authorization code"):
        callback_code({"code": code, "state": "s" * 40}, expected_state="s" * 40)


def test_callback_accepts_any_url_safe_code_up_to_512_characters() -> None:
    for code in ("a", "Ab0._~+/=-", "f" * 512):
        assert callback_code({"code": code, "state": "s" * 40}, expected_state="s" * 40) == code


def test_callback_checks_state_before_error_and_error_before_code() -> None:
    with pytest.raises(OAuthError, match="state") as foreign:
        callback_code(
            {"error": "access_denied", "code": "<bad>", "state": "theirs"}, expected_state="ours"
        )
    assert not isinstance(foreign.value, AccessDeniedError)
    with pytest.raises(AccessDeniedError):
        callback_code(
            {"error": "access_denied", "code": "<bad>", "state": "ours"}, expected_state="ours"
        )
    with pytest.raises(OAuthError, match="reported an error"):
        callback_code(
            {"error": "server_error", "code": "<bad>", "state": "ours"}, expected_state="ours"
        )


@pytest.mark.parametrize(
    "change",
    [
        {"redirect_uri": "http://evil.test/callback"},
        {"client_id": "unknown"},
        {"response_type": "token"},
    ],
)
def test_bad_authorize_requests_get_an_error_page_not_a_redirect(
    sandbox: SandboxControl, change: dict[str, str]
) -> None:
    oauth = _oauth(sandbox)
    params = {
        "client_id": oauth.client_id,
        "redirect_uri": REDIRECT_URI,
        "state": "s" * 40,
        "response_type": "code",
        **change,
    }
    for response in (
        httpx.get(sandbox.authorize_url, params=params),
        httpx.post(sandbox.authorize_url, data={**params, "decision": "allow", "account": "1"}),
    ):
        assert response.status_code == 400
        assert "location" not in response.headers
        assert response.headers["content-type"].startswith("text/html")


def test_exchange_with_another_redirect_uri_is_a_mismatch(sandbox: SandboxControl) -> None:
    sandbox.create_account("Alpha Bikes", 1)
    oauth = _oauth(sandbox)
    code = _consent(oauth.authorization_url("x" * 32), "allow")["code"][0]
    wrong = CopernicaOAuth(
        client_id=oauth.client_id,
        client_secret=oauth._client_secret,
        redirect_uri="http://linker.test/other",
        authorize_url=sandbox.authorize_url,
        token_url=sandbox.token_url,
    )
    with pytest.raises(TokenExchangeError, match="Redirect URI mismatch"):
        wrong.exchange(code)
    assert len(oauth.exchange(code)) == 32


def test_exchange_with_a_wrong_secret_is_an_invalid_client(sandbox: SandboxControl) -> None:
    oauth = _oauth(sandbox)
    bad = CopernicaOAuth(
        client_id=oauth.client_id,
        client_secret="wrong",
        redirect_uri=REDIRECT_URI,
        authorize_url=sandbox.authorize_url,
        token_url=sandbox.token_url,
    )
    with pytest.raises(TokenExchangeError, match="Invalid client"):
        bad.exchange("whatever")
    assert sandbox.stats()["token_calls"] == 1


def test_exchange_timeout_and_5xx_raise_without_retry(sandbox: SandboxControl) -> None:
    oauth = _oauth(sandbox)
    slow = CopernicaOAuth(
        client_id=oauth.client_id,
        client_secret=oauth._client_secret,
        redirect_uri=REDIRECT_URI,
        authorize_url=sandbox.authorize_url,
        token_url=sandbox.token_url,
        timeout=0.2,
    )
    sandbox.fault(path="/v4/token", delay_ms=600)
    with pytest.raises(TokenExchangeError, match="in time") as caught:
        slow.exchange("code")
    assert caught.value.status is None
    sandbox.fault(path="/v4/token", status=500)
    with pytest.raises(TokenExchangeError) as failed:
        oauth.exchange("code")
    assert failed.value.status == 500
    assert sandbox.stats()["token_calls"] == 2


@pytest.mark.parametrize(
    "body", [b"not json", b'{"token_type": "bearer"}', b'{"access_token": 5}', b"[]"]
)
def test_exchange_of_a_malformed_answer_raises(body: bytes) -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(200, content=body))
    oauth = CopernicaOAuth(
        client_id="id",
        client_secret="secret",
        redirect_uri=REDIRECT_URI,
        authorize_url="https://copernica.test/en/authorize",
        token_url="https://copernica.test/v4/token",
        transport=transport,
    )
    with pytest.raises(TokenExchangeError) as caught:
        oauth.exchange("code")
    assert caught.value.status == 200


def test_make_accounts_usable_from_the_fixture(
    make_client: Callable[..., CopernicaClient], sandbox: SandboxControl
) -> None:
    account = sandbox.create_account("Fixture", 2)
    assert make_client(account.api_token).identity()["name"] == "Fixture"
