"""The form a webhook call carries for a (sub)profile created, updated or deleted.

Called by every write of the sandbox (REST API and control API) while it holds the state
lock; it builds the body once and queues it for each webhook the change fires, with no I/O.
The variables follow ``webhook-creates.md``, ``webhook-updates.md``, ``webhook-deletes.md``
and ``callbacks-variables.md``, form-encoded (``fields[key]=value``, ``interests[]=name``).
Choices the documentation leaves open, made here:

- Both ``action`` and ``type`` are sent (the pages disagree on the name), and ``id`` is the
  (sub)profile's own ID (the subprofile example's ``id`` matches nothing).
- ``timestamp`` (Amsterdam wall-clock, ``YYYY-MM-DD HH:MM:SS``) and ``time`` (Unix seconds)
  are when the change was made, on the sandbox's clock (the ``clock`` option included);
  ``created`` and ``modified`` are the record's own, so ``modified`` equals what the REST API
  shows afterwards. A delete carries the documented variables only: no ``created``,
  ``modified``, ``interests`` or ``parameters``; its ``fields`` are the values before removal.
- ``parameters`` are the known fields the call changed, as stored (strings).
- ``interests[]`` lists the interests switched on; none switched on sends none. Subprofiles
  have no interests in the sandbox, so none are sent for them.
- Only a real change fires ``update`` (a PUT that changes nothing moves no ``modified`` and
  fires nothing). Removing a profile fires its ``delete`` only: the subprofiles removed with it
  fire nothing (the profile's delete stands for them).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from .clock import timestamp
from .records import ProfileRecord, SubprofileRecord
from .store import Database
from .subprofiles import Collection
from .webhook_registry import Webhook

if TYPE_CHECKING:
    from .state import SandboxState


def announce_profile(
    state: SandboxState,
    *,
    caller: str,
    action: str,
    database: Database,
    profile_id: int,
    record: ProfileRecord,
    parameters: Mapping[str, str] | None = None,
) -> None:
    """Queue the calls a profile's ``action`` (create/update/delete) fires."""
    hooks = _firing(state, database.account_id, action, caller, database.id, None)
    if not hooks:
        return
    pairs = [("action", action), ("type", action), ("id", str(profile_id))]
    pairs += [("profile", str(profile_id)), ("database", str(database.id))]
    pairs += _moment(state)
    if action != "delete":
        pairs += [("created", record.created), ("modified", record.modified)]
        pairs += [(f"parameters[{key}]", value) for key, value in (parameters or {}).items()]
    pairs += [(f"fields[{key}]", value) for key, value in record.fields.items()]
    if action != "delete":
        pairs += [("interests[]", name) for name in record.interests]
    _queue(state, hooks, database.account_id, pairs, f"profile {action} {profile_id}")


def announce_subprofile(
    state: SandboxState,
    *,
    caller: str,
    action: str,
    collection: Collection,
    subprofile_id: int,
    record: SubprofileRecord,
    parameters: Mapping[str, str] | None = None,
) -> None:
    """Queue the calls a subprofile's ``action`` (create/update/delete) fires."""
    database = state.databases[collection.database_id]
    hooks = _firing(state, database.account_id, action, caller, database.id, collection.id)
    if not hooks:
        return
    pairs = [("action", action), ("type", action), ("id", str(subprofile_id))]
    pairs += [
        ("subprofile", str(subprofile_id)),
        ("profile", str(record.profile)),
        ("database", str(database.id)),
        ("collection", str(collection.id)),
    ]
    pairs += _moment(state)
    if action != "delete":
        pairs += [("created", record.created), ("modified", record.modified)]
        pairs += [(f"parameters[{key}]", value) for key, value in (parameters or {}).items()]
    pairs += [(f"fields[{key}]", value) for key, value in record.fields.items()]
    _queue(state, hooks, database.account_id, pairs, f"subprofile {action} {subprofile_id}")


def _firing(
    state: SandboxState,
    account_id: int,
    action: str,
    caller: str,
    database_id: int,
    collection_id: int | None,
) -> list[Webhook]:
    if not state.webhooks:  # the common case costs one check per write
        return []
    return [
        hook
        for hook in state.webhooks.values()
        if hook.account_id == account_id
        and hook.fires_for(action, caller, database_id, collection_id)
    ]


def _moment(state: SandboxState) -> list[tuple[str, str]]:
    clock = state.options.clock
    moment = time.time() if clock is None else clock
    return [("timestamp", timestamp(moment)), ("time", str(int(moment)))]


def _queue(
    state: SandboxState,
    hooks: list[Webhook],
    account_id: int,
    pairs: list[tuple[str, str]],
    event: str,
) -> None:
    body = urlencode(pairs).encode()
    for hook in hooks:
        state.deliveries.enqueue(hook.id, account_id, hook.handler, body, event)
