"""The sandbox's state in a JSON file, so a restarted sandbox answers as before it stopped.

``python -m api_client.sandbox --state var/sandbox.json`` loads the file at start (if there
is one) and writes it after every request that changed something and at exit. Generated
data is a pure function of the seed and each database's and collection's numbers, so only
what it cannot derive is written: accounts and the numbers of their databases and
collections, the changed, created and removed (sub)profiles, tokens, applications, issued
JWTs and their key, options, pending faults, the ID counters, the registered webhooks and the
webhook signing keys (private keys included, so deliveries verify across restarts). Request
counters and the webhook delivery queue, faults and counters are not kept; a file written
before webhooks existed loads with none (and keeps the sandbox's new key). A file is replaced
atomically (written beside it, then renamed), so a crash leaves the previous version whole.
"""

from __future__ import annotations

import base64
import json
import os
import threading
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from .records import FieldDef, InterestDef, ProfileRecord, SubprofileRecord
from .state import (
    Account,
    ApiToken,
    Application,
    Fault,
    IssuedJwt,
    Options,
    SandboxState,
)
from .store import Database
from .subprofile_generation import SubprofileGenerator, template_for
from .subprofiles import Collection
from .webhook_registry import Webhook

FORMAT_VERSION = 1


class StateFileError(Exception):
    """A state file that cannot be used; the message says what to do."""


class StateFile:
    """Loads and saves one :class:`SandboxState` at ``path``."""

    def __init__(self, state: SandboxState, path: Path | str) -> None:
        self.state = state
        self.path = Path(path)
        self._save_lock = threading.Lock()

    def load(self) -> bool:
        """Restore the state from the file; ``False`` when there is no file yet."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return False
        try:
            document = json.loads(text)
        except ValueError as exc:
            raise StateFileError(
                f"The sandbox state file {self.path} is not JSON ({exc}); delete it to start over."
            ) from None
        state_restore(self.state, document, source=str(self.path))
        return True

    def save(self) -> None:
        """Write the current state, atomically."""
        with self._save_lock:
            document = state_document(self.state)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
            try:
                with temporary.open("w", encoding="utf-8") as handle:
                    json.dump(document, handle, separators=(",", ":"), ensure_ascii=False)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(temporary, self.path)
            finally:
                temporary.unlink(missing_ok=True)


def changes_state(method: str, path: str) -> bool:
    """Whether a request may have changed what a state file holds.

    Every write is a POST, PUT, PATCH or DELETE, except the OAuth token exchange, a GET that
    issues an API token.
    """
    return method != "GET" or path == "/v4/token"


# ---------------------------------------------------------------------------- to JSON


def state_document(state: SandboxState) -> dict[str, Any]:
    """What :func:`state_restore` needs to rebuild ``state``, as JSON values."""
    with state.lock:
        now = time.time()
        version, internal, gauss = state.random.getstate()
        return {
            "format": FORMAT_VERSION,
            "seed": state.seed,
            "random": [version, list(internal), gauss],
            "jwt_key": base64.b64encode(state._jwt_key).decode("ascii"),
            "jwt_lifetime": state.jwt_lifetime,
            "next": {
                "account": state.next_account_id,
                "database": state.next_database_id,
                "schema": state.next_schema_id,
                "profile": state.next_profile_id,
                "subprofile": state.next_subprofile_id,
            },
            "options": state.options.as_json(),
            "faults": [fault.as_json() for fault in state.faults],
            "applications": [asdict(item) for item in state.applications.values()],
            "tokens": [asdict(item) for item in state.tokens.values()],
            "jwts": {
                jti: asdict(item)
                for jti, item in state.jwts.items()
                if item.expires_at > now and not item.force_expired
            },
            "accounts": [_account_document(account) for account in state.accounts.values()],
            "next_webhook": state.next_webhook_id,
            "webhooks": [hook.as_record() for hook in state.webhooks.values()],
            "webhook_keys": state.webhook_keys.as_json(),
        }


def _account_document(account: Account) -> dict[str, Any]:
    return {
        "id": account.id,
        "name": account.name,
        "company": account.company,
        "api_tokens": list(account.api_tokens),
        "databases": [_database_document(database) for database in account.databases],
    }


def _database_document(database: Database) -> dict[str, Any]:
    return {
        "id": database.id,
        "name": database.name,
        "seed": database.seed,
        "base": database.base,
        "size": database.size,
        "created": database.created,
        "fields": [asdict(item) for item in database.fields],
        "interests": [asdict(item) for item in database.interests],
        "removed_generated": list(database.removed_generated),
        "created_ids": list(database.created_ids),
        "overlay": {str(key): asdict(record) for key, record in database.overlay.items()},
        "collections": [_collection_document(item) for item in database.collections],
    }


def _collection_document(collection: Collection) -> dict[str, Any]:
    # Name and fields follow from the collection's position in its database (template_for).
    return {
        "id": collection.id,
        "base": collection.base,
        "size": collection.size,
        "removed_generated": list(collection.removed_generated),
        "created_ids": list(collection.created_ids),
        "overlay": {str(key): asdict(record) for key, record in collection.overlay.items()},
    }


# ---------------------------------------------------------------------------- from JSON


def state_restore(state: SandboxState, document: dict[str, Any], *, source: str = "") -> None:
    """Replace ``state`` by the one ``document`` describes (see :func:`state_document`)."""
    where = source or "the state file"
    if document.get("format") != FORMAT_VERSION:
        raise StateFileError(
            f"{where} has format {document.get('format')!r}, this sandbox reads "
            f"{FORMAT_VERSION}; delete it to start over."
        )
    if document.get("seed") != state.seed:
        raise StateFileError(
            f"{where} was written by a sandbox with --seed {document.get('seed')}; start with "
            f"that seed, or delete the file to start over with seed {state.seed}."
        )
    with state.lock:
        state.reset()
        version, internal, gauss = document["random"]
        state.random.setstate((version, tuple(internal), gauss))
        state._jwt_key = base64.b64decode(document["jwt_key"])
        state.jwt_lifetime = int(document["jwt_lifetime"])
        counters = document["next"]
        state.next_account_id = counters["account"]
        state.next_database_id = counters["database"]
        state.next_schema_id = counters["schema"]
        state.next_profile_id = counters["profile"]
        state.next_subprofile_id = counters["subprofile"]
        options = document["options"]
        state.options = Options(
            id_list_cap=options["id_list_cap"],
            unstreamed=frozenset(options["unstreamed"]),
            clock=options["clock"],
        )
        state.faults = [Fault(**item) for item in document["faults"]]
        for item in document["applications"]:
            state.applications[item["client_id"]] = Application(**item)
        for item in document["tokens"]:
            state.tokens[item["token"]] = ApiToken(**item)
        for jti, item in document["jwts"].items():
            state.jwts[jti] = IssuedJwt(**item)
        for item in document["accounts"]:
            account = Account(
                id=item["id"],
                name=item["name"],
                company=item["company"],
                databases=[_database(state, data, item["id"]) for data in item["databases"]],
                api_tokens=list(item["api_tokens"]),
            )
            state.accounts[account.id] = account
        # The look-ups by ID bisect over the ranges in ascending order of their bases.
        databases = sorted(state.databases.values(), key=lambda database: database.base)
        state._range_bases = [database.base for database in databases]
        state._range_databases = databases
        collections = sorted(state.collections.values(), key=lambda item: item.base)
        state._subprofile_bases = [collection.base for collection in collections]
        state._subprofile_collections = collections
        state.next_webhook_id = document.get("next_webhook", 1)
        for item in document.get("webhooks", []):
            state.webhooks[item["id"]] = Webhook(**item)
        if document.get("webhook_keys"):
            try:
                state.webhook_keys.restore(document["webhook_keys"])
            except (ValueError, KeyError, TypeError) as exc:
                raise StateFileError(
                    f"{where} holds webhook signing keys that do not load ({exc}); delete it "
                    "to start over."
                ) from None


def _database(state: SandboxState, data: dict[str, Any], account_id: int) -> Database:
    database = Database(
        id=data["id"],
        name=data["name"],
        account_id=account_id,
        seed=data["seed"],
        base=data["base"],
        size=data["size"],
        created=data["created"],
        fields=[FieldDef(**item) for item in data["fields"]],
        interests=[InterestDef(**item) for item in data["interests"]],
        removed_generated=list(data["removed_generated"]),
        created_ids=list(data["created_ids"]),
        overlay={int(key): ProfileRecord(**value) for key, value in data["overlay"].items()},
        cache=state.profile_cache,
    )
    for profile_id in database.created_ids:
        state._created_owner[profile_id] = database
    for position, item in enumerate(data["collections"]):
        database.collections.append(_collection(state, database, position, item))
    state.databases[database.id] = database
    return database


def _collection(
    state: SandboxState, database: Database, position: int, data: dict[str, Any]
) -> Collection:
    template = template_for(position)
    collection_id = data["id"]
    fields = [
        FieldDef(collection_id + 1 + offset, item.name, item.type, item.default)
        for offset, item in enumerate(template.fields)
    ]
    generator = SubprofileGenerator(
        seed=database.seed,
        collection_id=collection_id,
        base=data["base"],
        profile_base=database.base,
        profile_count=database.size,
        fields=template.fields,
    )
    collection = Collection(
        collection_id,
        template.name,
        database.id,
        data["base"],
        data["size"],
        fields,
        generator,
        removed_generated=list(data["removed_generated"]),
        created_ids=list(data["created_ids"]),
        overlay={int(key): SubprofileRecord(**value) for key, value in data["overlay"].items()},
        cache=state.profile_cache,
    )
    for subprofile_id in collection.created_ids:
        record = collection.overlay[subprofile_id]
        collection.created_by_profile.setdefault(record.profile, []).append(subprofile_id)
        state._created_subprofile_owner[subprofile_id] = collection
    state.collections[collection_id] = collection
    return collection
