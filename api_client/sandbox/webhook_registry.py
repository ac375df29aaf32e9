"""The webhooks an account registered (``POST /v4/webhooks``), and which of them an event fires.

Copernica's ``rest-post-webhooks.md``: ``handler`` (URL), ``trigger`` (``create``,
``update``, ``delete``, ``click``, ``delivery``, ``open``, ``bounce``, ``failure``), optional
``callers`` (all when none) and optional ``database`` and ``collection``. Choices the
documentation leaves open, made here:

- Only ``create``, ``update`` and ``delete`` ever fire; the other triggers are stored and
  listed, as the sandbox sends no mail.
- ``callers`` are the names of ``callbacks.md`` plus ``ms`` (the REST example's); an
  unknown one is refused. The sandbox's REST API is the caller ``rest``; the control API
  and the console are ``publisher`` (a person editing in Copernica's Publisher).
- A webhook limited to a ``database`` fires for that database's profiles and for the
  subprofiles of its collections; one limited to a ``collection`` fires for that
  collection's subprofiles only (never for profiles).
- IDs are one sequence for the whole sandbox, from 1.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: The triggers the documentation lists; only :data:`FIRED_TRIGGERS` are ever delivered.
TRIGGERS = ("create", "update", "delete", "click", "delivery", "open", "bounce", "failure")
FIRED_TRIGGERS = frozenset({"create", "update", "delete"})
#: ``callbacks.md``'s callers, plus ``ms`` from the REST page's example.
CALLERS = (
    "publisher",
    "rest",
    "soap",
    "click",
    "open",
    "failure",
    "bounce",
    "import",
    "copy",
    "ms",
)
#: Who the sandbox says made a change.
REST_CALLER = "rest"
PUBLISHER_CALLER = "publisher"


@dataclass
class Webhook:
    """One registered webhook; ``callers`` empty means every caller."""

    id: int
    account_id: int
    handler: str
    trigger: str
    callers: list[str] = field(default_factory=list)
    database: int | None = None
    collection: int | None = None

    def fires_for(
        self, trigger: str, caller: str, database_id: int, collection_id: int | None
    ) -> bool:
        if self.trigger != trigger or (self.callers and caller not in self.callers):
            return False
        if self.database is not None and self.database != database_id:
            return False
        return self.collection is None or self.collection == collection_id

    def as_json(self) -> dict[str, Any]:
        """As ``GET webhook/{id}`` shows it; ``database``/``collection`` only when limited."""
        document: dict[str, Any] = {
            "ID": str(self.id),
            "handler": self.handler,
            "trigger": self.trigger,
            "callers": list(self.callers),
        }
        if self.database is not None:
            document["database"] = str(self.database)
        if self.collection is not None:
            document["collection"] = str(self.collection)
        return document

    def as_record(self) -> dict[str, Any]:
        """Everything, for the state file and the control API."""
        return {
            "id": self.id,
            "account_id": self.account_id,
            "handler": self.handler,
            "trigger": self.trigger,
            "callers": list(self.callers),
            "database": self.database,
            "collection": self.collection,
        }
