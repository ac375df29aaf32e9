"""The sandbox console at ``/``: accounts, tokens with Revoke, faults with add and clear."""

from __future__ import annotations

import httpx

from api_client.sandbox.control import SandboxControl


def console(sandbox: SandboxControl) -> httpx.Response:
    response = httpx.get(f"{sandbox.base_url}/", timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    return response


def post(sandbox: SandboxControl, action: str, form: dict[str, str]) -> httpx.Response:
    """Post a console form and follow the 303 back to the page."""
    response = httpx.post(f"{sandbox.base_url}/__sandbox__/console/{action}", data=form, timeout=10)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/")
    return httpx.get(f"{sandbox.base_url}{response.headers['location']}", timeout=10)


def test_console_lists_accounts_with_databases_collections_and_counts(
    sandbox: SandboxControl,
) -> None:
    account = sandbox.create_account("Fietsen <Ketting>", 120, collections=2, subprofiles=30)
    page = console(sandbox).text
    assert "Fietsen &lt;Ketting&gt;" in page
    assert "<Ketting>" not in page
    assert account.database_id in page
    assert "120 profiles" in page
    assert "collection orders" in page
    assert "collection visits" in page
    assert "30 subprofiles" in page
    assert account.api_token in page


def test_console_is_neither_counted_nor_faulted(sandbox: SandboxControl) -> None:
    sandbox.fault(path="/", status=503, count=5)
    console(sandbox)
    assert sandbox.stats()["requests"] == {}
    assert sandbox.faults()[0]["count"] == 5


def test_revoke_on_the_console_makes_copernica_refuse_the_token(sandbox: SandboxControl) -> None:
    account = sandbox.create_account("Acme", 5)
    assert httpx.post(sandbox.auth_url, data={"access_token": account.api_token}).status_code == 200
    page = post(sandbox, "revoke", {"access_token": account.api_token})
    assert "revoked" in page.text
    assert httpx.post(sandbox.auth_url, data={"access_token": account.api_token}).status_code == 401
    assert f'value="{account.api_token}"' not in page.text  # no Revoke button left for it


def test_console_adds_and_clears_faults_through_the_control_api(sandbox: SandboxControl) -> None:
    page = post(
        sandbox,
        "faults",
        {"path": "/v4/databases", "method": "GET", "status": "503", "count": "2"},
    )
    assert "/v4/databases" in page.text
    assert sandbox.faults() == [
        {
            "path": "/v4/databases",
            "method": "GET",
            "count": 2,
            "status": 503,
            "retry_after": None,
            "delay_ms": 0,
            "drop": None,
        }
    ]
    post(sandbox, "faults/clear", {})
    assert sandbox.faults() == []
    assert "No faults pending" in console(sandbox).text


def test_console_shows_the_control_api_refusal_of_a_bad_fault(sandbox: SandboxControl) -> None:
    page = post(sandbox, "faults", {"path": "/v4/", "status": "200"})
    assert "status must be an HTTP error status" in page.text
    assert sandbox.faults() == []


def test_console_revoke_of_an_unknown_token_says_so(sandbox: SandboxControl) -> None:
    page = post(sandbox, "revoke", {"access_token": "<script>"})
    assert "Unknown access token" in page.text
