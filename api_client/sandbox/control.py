"""A small client for the sandbox's control API, for tests and the demo."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import httpx


@dataclass(frozen=True)
class SandboxApplication:
    """An OAuth application registered in the sandbox."""

    client_id: str
    client_secret: str = field(repr=False)


@dataclass(frozen=True)
class SandboxAccount:
    """A sandbox account: its databases, their collections, and its first API token.

    ``database_id`` is the first database (of ``database_ids``); ``collection_ids`` maps
    each database ID to the IDs of its collections, in order.
    """

    account_id: str
    database_id: str
    api_token: str = field(repr=False)
    database_ids: list[str] = field(default_factory=list)
    collection_ids: dict[str, list[str]] = field(default_factory=dict)


class SandboxControl:
    """Drives a running sandbox through ``/__sandbox__/`` (DESIGN.md, "The sandbox contract").

    ``base_url`` is the sandbox's root (``http://127.0.0.1:8765``); the Copernica URLs of
    that sandbox are :attr:`api_url`, :attr:`rest_url`, :attr:`auth_url`,
    :attr:`authorize_url` and :attr:`token_url`.
    """

    def __init__(self, base_url: str, *, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(base_url=f"{self.base_url}/__sandbox__/", timeout=timeout)

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/v4"

    @property
    def rest_url(self) -> str:
        return f"{self.base_url}/rest/v4"

    @property
    def auth_url(self) -> str:
        return f"{self.base_url}/authenticate"

    @property
    def authorize_url(self) -> str:
        return f"{self.base_url}/en/authorize"

    @property
    def token_url(self) -> str:
        return f"{self.base_url}/v4/token"

    def register_application(self, name: str, redirect_uri: str) -> SandboxApplication:
        """Register an OAuth application with its one redirect URI."""
        document = self._call("POST", "applications", {"name": name, "redirect_uri": redirect_uri})
        return SandboxApplication(document["client_id"], document["client_secret"])

    def create_account(
        self,
        name: str,
        profiles: int = 0,
        *,
        databases: int = 1,
        collections: int = 0,
        subprofiles: int = 0,
    ) -> SandboxAccount:
        """Create an account of generated data, deterministic for the sandbox's seed.

        It has ``databases`` databases (at least 1) of ``profiles`` profiles each; every
        database has ``collections`` collections (``orders``, ``visits``, ``tickets``, then
        ``orders 2``...) of ``subprofiles`` subprofiles each, spread over the database's
        profiles in turn (so ``subprofiles`` needs ``profiles``). Generated data is derived
        on demand, so a million profiles or subprofiles cost no memory until changed.
        """
        document = self._call(
            "POST",
            "accounts",
            {
                "name": name,
                "profiles": profiles,
                "databases": databases,
                "collections": collections,
                "subprofiles": subprofiles,
            },
        )
        return SandboxAccount(
            document["account_id"],
            document["database_id"],
            document["api_token"],
            list(document["database_ids"]),
            {key: list(value) for key, value in document["collection_ids"].items()},
        )

    def accounts(self) -> list[dict[str, Any]]:
        """Every account of the sandbox."""
        return list(self._call("GET", "accounts"))

    def applications(self) -> list[dict[str, Any]]:
        """Every registered application: ``name``, ``client_id``, ``redirect_uri``."""
        return list(self._call("GET", "applications"))

    def issue_token(self, account_id: str) -> str:
        """A new API token for an account, as one made in Copernica's dashboard."""
        return str(self._call("POST", "tokens", {"account_id": account_id})["api_token"])

    def revoke(self, token: str) -> None:
        """Revoke an API token (or OAuth access token), as a user would in Copernica."""
        self._call("POST", "revoke", {"access_token": token})

    def fault(self, **spec: Any) -> dict[str, Any]:
        """Inject a fault: ``path``, ``method``, ``count``, ``status``, ``retry_after``,
        ``delay_ms``, ``drop`` ("before"/"after"), ``jwt_lifetime``, ``expire_jwts``."""
        return dict(self._call("POST", "faults", spec))

    def faults(self) -> list[dict[str, Any]]:
        """The faults still pending."""
        return list(self._call("GET", "faults"))

    def clear_faults(self) -> None:
        """Drop every pending fault."""
        self._call("DELETE", "faults")

    def set_options(self, **options: Any) -> dict[str, Any]:
        """Switch how the simulated Copernica answers, until :meth:`reset`; returns them all.

        ``id_list_cap=N`` makes an id list (``database/{id}/profileids``,
        ``collection/{id}/subprofileids``) asked for without ``start`` or ``limit`` answer
        only its first N IDs, as a Copernica that pages them would; ``None`` lifts the cap.
        With ``start``/``limit`` an id list is always paged exactly (``limit`` defaults to
        100 and is capped at 1000).

        ``unstreamed=[...]`` names list methods that the ``rest`` host answers as "not
        streamed yet": at most 1000 rows (and ``limit`` echoed as 1000) whatever ``limit``
        asks, in one ordinary body. Names: ``"database/{id}/profiles"``,
        ``"collection/{id}/subprofiles"``; ``[]`` streams them all again.

        ``clock=<UTC epoch seconds>`` stamps every write (``modified``, ``created``,
        ``removed``) with that instant, as Copernica's Amsterdam wall clock; ``None`` goes
        back to the real clock.
        """
        return dict(self._call("POST", "options", options))

    def options(self) -> dict[str, Any]:
        """The current options (see :meth:`set_options`)."""
        return dict(self._call("GET", "options"))

    def stats(self) -> dict[str, Any]:
        """The request counters (``auth_calls``, ``api_calls``, ``requests``...)."""
        return dict(self._call("GET", "stats"))

    def reset_stats(self) -> None:
        """Zero the request counters."""
        self._call("POST", "stats/reset")

    def reset(self) -> None:
        """Back to the start state: no accounts, applications, tokens, faults or counts
        (and no webhooks, queued deliveries or delivery faults; the signing keys stay)."""
        self._call("POST", "reset")

    # ------------------------------------------------------------------ edits at "Copernica"

    def create_profile(
        self,
        database_id: str | int,
        fields: dict[str, Any],
        interests: list[str] | dict[str, int] | None = None,
    ) -> str:
        """Create a profile as a person in Copernica would (webhook caller ``publisher``)."""
        body = {"database_id": str(database_id), "fields": fields, "interests": interests}
        return str(self._call("POST", "profiles", body)["id"])

    def update_profile(
        self,
        profile_id: str | int,
        fields: dict[str, Any] | None = None,
        interests: list[str] | dict[str, int] | None = None,
    ) -> None:
        """Change a profile's fields (and interests) as a person in Copernica would."""
        body = {"profile_id": str(profile_id), "fields": fields or {}, "interests": interests}
        self._call("PUT", "profiles", body)

    def delete_profile(self, profile_id: str | int) -> None:
        """Remove a profile (and its subprofiles) as a person in Copernica would."""
        self._call("DELETE", "profiles", {"profile_id": str(profile_id)})

    def create_subprofile(
        self, profile_id: str | int, collection_id: str | int, fields: dict[str, Any]
    ) -> str:
        """Create a subprofile of a profile in a collection (ID or name), as a person would."""
        body = {
            "profile_id": str(profile_id),
            "collection_id": str(collection_id),
            "fields": fields,
        }
        return str(self._call("POST", "subprofiles", body)["id"])

    def update_subprofile(self, subprofile_id: str | int, fields: dict[str, Any]) -> None:
        """Change a subprofile's fields as a person in Copernica would."""
        self._call("PUT", "subprofiles", {"subprofile_id": str(subprofile_id), "fields": fields})

    def delete_subprofile(self, subprofile_id: str | int) -> None:
        """Remove a subprofile as a person in Copernica would."""
        self._call("DELETE", "subprofiles", {"subprofile_id": str(subprofile_id)})

    # ------------------------------------------------------------------ webhooks

    def webhooks(self) -> list[dict[str, Any]]:
        """Every registered webhook (all accounts), each with its delivery ``stats``:
        ``queued``, ``attempted``, ``succeeded``, ``failed``, ``dropped``."""
        return list(self._call("GET", "webhooks"))

    def webhook_stats(self, webhook_id: str | int) -> dict[str, int]:
        """The delivery counters of one webhook."""
        for item in self.webhooks():
            if str(item["id"]) == str(webhook_id):
                return dict(item["stats"])
        raise RuntimeError(f"The sandbox has no webhook {webhook_id}")

    def set_webhook_faults(self, **faults: Any) -> dict[str, Any]:
        """Replace the pending delivery faults; each is a count of the next deliveries it hits.

        ``drop`` (never sent), ``duplicate`` (the same signed bytes sent twice), ``delay``
        (held ``delay_ms`` while later ones go ahead), ``reorder`` (held until the next one
        was sent: a swap), ``bad_signature`` (signed with an unpublished key under the real
        ``keyId``), ``stale_date`` (``Date`` ``stale_seconds`` old, correctly signed);
        ``webhook_id`` limits them to one webhook.
        """
        return dict(self._call("POST", "webhooks/faults", faults))

    def webhook_faults(self) -> dict[str, Any]:
        """The delivery faults still pending."""
        return dict(self._call("GET", "webhooks/faults"))

    def set_webhook_options(self, **options: Any) -> dict[str, Any]:
        """``retry_delays_ms`` (after a transport error, 408, 429 or 5xx; default
        ``[1000, 5000, 30000]``), ``timeout_ms`` of one try (5000), ``hold_ms`` (how long a
        reordered delivery waits for one to overtake it, 5000), ``senders`` (threads sending
        at once, 1: in order; more is faster and out of order); until :meth:`reset`."""
        return dict(self._call("POST", "webhooks/options", options))

    def webhook_deliveries(self) -> list[dict[str, Any]]:
        """The latest delivery attempts, newest first: ``webhook``, ``account``,
        ``event``, ``try``, ``outcome`` (the status, an error name or ``dropped``),
        ``fault``."""
        return list(self._call("GET", "webhooks/deliveries"))

    def wait_webhooks(self, timeout: float = 10.0) -> bool:
        """Wait until no delivery is queued, held or in flight; ``False`` on timeout."""
        body = {"timeout": timeout}
        document = self._call("POST", "webhooks/wait", body, timeout=timeout + 10)
        return bool(document["idle"])

    def webhook_keys(self) -> list[dict[str, Any]]:
        """The signing keys: ``selector``, ``key_id``, ``published``, ``signing``..."""
        return list(self._call("GET", "webhooks/keys"))

    def rotate_webhook_key(self, keep_old_seconds: float = 86_400) -> str:
        """Sign with a new key from now on, keeping the old one published for
        ``keep_old_seconds``; returns the new ``keyId``."""
        body = {"keep_old_seconds": keep_old_seconds}
        return str(self._call("POST", "webhooks/keys/rotate", body)["key_id"])

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> SandboxControl:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _call(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        *,
        timeout: float | None = None,
    ) -> Any:
        wait = httpx.USE_CLIENT_DEFAULT if timeout is None else timeout
        response = self._http.request(method, path, json=body, timeout=wait)
        if response.status_code >= 400:
            raise RuntimeError(
                f"Sandbox control call {method} {path} failed: {response.status_code} "
                f"{response.text[:200]}"
            )
        return response.json() if response.content else None
