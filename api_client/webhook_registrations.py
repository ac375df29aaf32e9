"""The client's webhook methods: register, list, read, change and remove webhooks.

Copernica's ``POST webhooks``, ``GET webhook/{id}``, ``PUT webhook/{id}`` and
``DELETE webhook/{id}`` (REST v4). ``GET webhooks`` is not documented; the sandbox answers it
with the usual paging envelope. Verifying the calls Copernica then makes is
:mod:`api_client.webhooks`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .errors import NotFoundError, UnexpectedResponseError
from .responses import decode_json, json_object
from .subprofiles import ClientSubprofiles

#: The triggers Copernica documents (only the first three concern (sub)profiles).
WEBHOOK_TRIGGERS = ("create", "update", "delete", "click", "delivery", "open", "bounce", "failure")


class ClientWebhooks(ClientSubprofiles):
    """The webhook methods of :class:`~api_client.client.CopernicaClient`."""

    def webhook_create(
        self,
        handler: str,
        trigger: str,
        *,
        callers: Sequence[str] | None = None,
        database_id: str | int | None = None,
        collection_id: str | int | None = None,
    ) -> str:
        """Register a webhook calling ``handler`` on ``trigger``; returns its new ID.

        ``callers`` limits who may trigger it (``publisher``, ``rest``...; all when
        ``None``); ``database_id`` / ``collection_id`` limit it to one database or
        collection. Never retried once the request may have reached Copernica: after a
        :class:`TransportError` or :class:`ServerError` look for it (:meth:`webhook_list`)
        before registering it again.
        """
        body: dict[str, Any] = {"handler": handler, "trigger": trigger}
        if callers is not None:
            body["callers"] = list(callers)
        if database_id is not None:
            body["database"] = str(database_id)
        if collection_id is not None:
            body["collection"] = str(collection_id)
        response = self._send("POST", self._api("webhooks"), json_body=body)
        created = response.headers.get("X-Created", "").strip()
        if created.isdigit():
            return created
        # The documentation only says the ID "is returned": also read it from the body.
        try:
            document = response.json()
        except ValueError:
            document = None
        found = document.get("ID", document.get("id")) if isinstance(document, dict) else document
        if isinstance(found, int | str) and str(found).isdigit():
            return str(found)
        raise UnexpectedResponseError("Copernica did not say which webhook it created.")

    def webhook_list(self) -> list[dict[str, Any]]:
        """Every webhook of the account: ``{"ID", "handler", "trigger", "callers", ...}``."""
        return list(self.paginate("webhooks"))

    def webhook_get(self, webhook_id: str | int) -> dict[str, Any]:
        """One webhook; ``database`` / ``collection`` are there when it is limited to one."""
        return json_object(decode_json(self._send("GET", self._api(f"webhook/{webhook_id}"))))

    def webhook_update(
        self,
        webhook_id: str | int,
        *,
        handler: str | None = None,
        trigger: str | None = None,
        callers: Sequence[str] | None = None,
    ) -> None:
        """Change what is given of ``handler``, ``trigger`` and ``callers``."""
        body: dict[str, Any] = {}
        if handler is not None:
            body["handler"] = handler
        if trigger is not None:
            body["trigger"] = trigger
        if callers is not None:
            body["callers"] = list(callers)
        self._send("PUT", self._api(f"webhook/{webhook_id}"), json_body=body)

    def webhook_delete(self, webhook_id: str | int) -> None:
        """Remove a webhook. A webhook that is not there raises :class:`NotFoundError`,
        unless an earlier attempt of this same call was lost in transit (then it is done)."""
        try:
            self._send("DELETE", self._api(f"webhook/{webhook_id}"))
        except NotFoundError as error:
            if error.after_failure:
                return
            raise
