"""The REST API's webhooks: ``POST|GET webhooks`` and ``GET|PUT|DELETE webhook/{id}``.

Per ``rest-post-webhooks.md``, ``rest-get-webhook.md``, ``rest-put-webhook.md`` and
``rest-delete-webhook.md`` (what fires and when: :mod:`.webhook_registry`). Choices the
documentation leaves open, made here:

- ``POST webhooks`` answers 201 with the new ID in ``X-Created`` and ``X-location`` (as the
  other creates) and in a ``{"ID": "..."}`` body ("the ID of the created webhook is
  returned"). ``handler`` must be an absolute http(s) URL (ASCII), ``trigger`` one of the
  documented eight; ``callers`` a list (or comma-separated) of known callers, empty for all;
  ``database`` and ``collection`` must be the account's (the collection in that database).
- ``GET webhooks`` (not documented) is the usual paging envelope, in ID order.
- ``GET webhook/{id}`` shows ``ID``, ``handler``, ``trigger``, ``callers`` (as given, ``[]``
  for all) and ``database``/``collection`` when the webhook is limited to one.
- ``PUT webhook/{id}`` changes the documented ``handler``, ``trigger`` and ``callers`` that
  the body names (204); ``database`` and ``collection`` stay. ``DELETE`` answers 204 with
  ``X-deleted: webhook {id}``; calls already queued for it are still delivered.
- Errors are 400s with ``No webhook with supplied ID``, ``Invalid handler``, ``Invalid
  trigger``, ``Invalid caller ...``, and the usual database and collection messages.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from .http import ApiError, Request, Response, empty_response, json_response
from .rest_lists import ListAnswers
from .rest_writes import body_object
from .state import Account, SandboxState
from .webhook_registry import CALLERS, TRIGGERS, Webhook

_NO_WEBHOOK = "No webhook with supplied ID"
_MAX_HANDLER = 2000


class WebhookRoutes(ListAnswers):
    """Answers ``webhooks`` and ``webhook/{id}`` for one account."""

    state: SandboxState

    def _webhook_route(
        self, request: Request, account: Account, base: str, segments: list[str]
    ) -> Response:
        method = request.method
        if segments[0] == "webhooks":
            if len(segments) == 1 and method == "GET":
                with self.state.lock:
                    items = [
                        hook.as_json()
                        for hook in sorted(self.state.webhooks.values(), key=lambda h: h.id)
                        if hook.account_id == account.id
                    ]
                return self._small_list(request, items)
            if len(segments) == 1 and method == "POST":
                return self._webhook_create(request, account, base)
            raise ApiError("Invalid method")
        hook = self._webhook(account, segments[1])
        if len(segments) > 2:
            raise ApiError("Invalid method")
        if method == "GET":
            with self.state.lock:
                return json_response(200, hook.as_json())
        if method == "PUT":
            body = body_object(request)
            with self.state.lock:
                if "handler" in body:
                    hook.handler = _handler(body["handler"])
                if "trigger" in body:
                    hook.trigger = _trigger(body["trigger"])
                if "callers" in body:
                    hook.callers = _callers(body["callers"])
            return empty_response(204)
        if method == "DELETE":
            with self.state.lock:
                self.state.webhooks.pop(hook.id, None)
            return empty_response(204, [("X-deleted", f"webhook {hook.id}")])
        raise ApiError("Invalid method")

    def _webhook_create(self, request: Request, account: Account, base: str) -> Response:
        body = body_object(request)
        handler = _handler(body.get("handler"))
        trigger = _trigger(body.get("trigger"))
        callers = _callers(body.get("callers"))
        with self.state.lock:
            database = _account_database(account, body.get("database"))
            collection = self._account_collection(account, body.get("collection"), database)
            hook = Webhook(
                self.state.next_webhook_id,
                account.id,
                handler,
                trigger,
                callers,
                database,
                collection,
            )
            self.state.next_webhook_id += 1
            self.state.webhooks[hook.id] = hook
        return json_response(
            201,
            {"ID": str(hook.id)},
            [
                ("X-Created", str(hook.id)),
                ("X-location", f"{request.base_url}{base}/webhook/{hook.id}"),
            ],
        )

    def _webhook(self, account: Account, ident: str) -> Webhook:
        with self.state.lock:
            hook = self.state.webhooks.get(int(ident)) if ident.isdigit() else None
            if hook is None or hook.account_id != account.id:
                raise ApiError(_NO_WEBHOOK)
            return hook

    def _account_collection(
        self, account: Account, value: object, database: int | None
    ) -> int | None:
        if value in (None, ""):
            return None
        ident = _ident(value)
        collection = self.state.collections.get(ident) if ident is not None else None
        owners = {item.id for item in account.databases}
        if (
            collection is None
            or collection.database_id not in owners
            or (database is not None and collection.database_id != database)
        ):
            raise ApiError("No collection with given ID")
        return collection.id


def _handler(value: object) -> str:
    if not isinstance(value, str) or not value.isascii() or len(value) > _MAX_HANDLER:
        raise ApiError("Invalid handler")
    parts = urlsplit(value)
    try:
        parts.port  # noqa: B018 - a port that does not parse raises here
    except ValueError:
        raise ApiError("Invalid handler") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ApiError("Invalid handler")
    if any(character.isspace() or not character.isprintable() for character in value):
        raise ApiError("Invalid handler")
    return value


def _trigger(value: object) -> str:
    if not isinstance(value, str) or value.lower() not in TRIGGERS:
        raise ApiError("Invalid trigger")
    return value.lower()


def _callers(value: object) -> list[str]:
    if value in (None, ""):
        return []
    items: list[Any]
    if isinstance(value, str):
        items = value.split(",")
    elif isinstance(value, list):
        items = value
    else:
        raise ApiError("Invalid caller")
    callers: list[str] = []
    for item in items:
        name = item.strip().lower() if isinstance(item, str) else ""
        if name not in CALLERS:
            raise ApiError(f"Invalid caller {str(item)[:40]!r}")
        if name not in callers:
            callers.append(name)
    return callers


def _account_database(account: Account, value: object) -> int | None:
    if value in (None, ""):
        return None
    ident = _ident(value)
    for database in account.databases:
        if database.id == ident:
            return database.id
    raise ApiError("No database with supplied ID")


def _ident(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None
