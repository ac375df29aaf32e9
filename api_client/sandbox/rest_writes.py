"""The sandbox's profile writes: create, bulk update and update, and the bodies they read."""

from __future__ import annotations

import json
import secrets
from typing import Any

from .http import ApiError, Request, Response, empty_response
from .query import Store, filter_expressions_in, php_int, select, truthy, usable_filters
from .records import ProfileRecord
from .state import SandboxState
from .store import Database
from .webhook_events import announce_profile
from .webhook_registry import REST_CALLER


class ProfileWrites:
    """How the REST API changes profiles; ``modified`` moves only on a real change.

    Every change fires the account's webhooks (:mod:`~api_client.sandbox.webhook_events`)
    as made by ``webhook_caller``: ``rest`` here, ``publisher`` for the control API.
    """

    state: SandboxState
    webhook_caller = REST_CALLER

    def _create(self, request: Request, database: Database, base: str) -> Response:
        body = body_object(request)
        fields = body.get("fields", {})
        if not isinstance(fields, dict):
            raise ApiError("Invalid data provided")
        profile_id = self._insert(database, fields, body.get("interests"))
        return _created(request, base, profile_id)

    def _insert(self, database: Database, fields: dict[str, Any], interests: object) -> int:
        with self.state.lock:
            values = {item.name: item.default for item in database.fields}
            given = coerce_fields(database, fields)
            values.update(given)
            now = self.state.now()
            record = ProfileRecord(
                values,
                _apply_interests(database, [], interests, "add"),
                secrets.token_hex(14),
                now,
                now,
            )
            profile_id = self.state.allocate_profile(database)
            database.add(profile_id, record)
            self.state.stats.counters["profiles_created"] += 1
            announce_profile(
                self.state,
                caller=self.webhook_caller,
                action="create",
                database=database,
                profile_id=profile_id,
                record=record,
                parameters=given,
            )
            return profile_id

    def _bulk_update(self, request: Request, database: Database, base: str) -> Response:
        expressions = filter_expressions_in(request.query)
        if expressions is None:
            raise ApiError("URL parameter fields is required")
        body = body_object(request)
        fields = body.get("fields", {})
        if not isinstance(fields, dict):
            raise ApiError("Invalid data provided")
        with self.state.lock:
            # The gotcha, on purpose: ignored filters leave nothing to filter on, so every
            # profile matches.
            selection = select(database, usable_filters(database, expressions), None, False)
            matched = selection.ids(0, selection.total)
            for profile_id in matched:
                self._update(database, profile_id, fields, body.get("interests"), "replace", None)
        if not matched and truthy(request.param("create"), default=False):
            profile_id = self._insert(database, fields, body.get("interests"))
            return _created(request, base, profile_id)
        return empty_response(204)

    def _bulk_delete(self, request: Request, database: Database) -> Response:
        """``DELETE database/{id}/profiles`` with ``{"profiles": [id, ...]}``.

        Soft-removes the listed live profiles of this database (and their subprofiles). IDs
        of another database, unknown or already removed ones, and entries that are not
        numbers are skipped without an error: after the call none of the listed IDs is a
        live profile of this database, which is all the documentation promises.
        """
        body = body_any(request)
        listed = body.get("profiles") if isinstance(body, dict) else None
        if not isinstance(listed, list):
            raise ApiError("Invalid data provided")
        with self.state.lock:
            now = self.state.now()
            for item in listed:
                profile_id = php_int(str(item)) if not isinstance(item, bool) else 0
                # Only this database's own profiles have a record here.
                record = database.record(profile_id)
                if record is None or record.removed is not None:
                    continue
                self._remove_profile(database, profile_id, now)
        return empty_response(204)

    def _remove_profile(self, database: Database, profile_id: int, when: str) -> None:
        """Remove a live profile (and its subprofiles) and fire its ``delete``."""
        with self.state.lock:
            database.remove(profile_id, when)
            self.state.stats.counters["profiles_deleted"] += 1
            record = database.record(profile_id)
            assert record is not None
            announce_profile(
                self.state,
                caller=self.webhook_caller,
                action="delete",
                database=database,
                profile_id=profile_id,
                record=record,
            )

    def _update(
        self,
        database: Database,
        profile_id: int,
        fields: dict[str, Any],
        interests: object,
        interests_mode: str,
        secret: str | None,
    ) -> None:
        """Apply a change; ``modified`` moves only when a field or interest really changes."""
        with self.state.lock:
            record = database.record(profile_id)
            assert record is not None
            given = coerce_fields(database, fields)
            new_fields = {**record.fields, **given}
            new_interests = _apply_interests(database, record.interests, interests, interests_mode)
            changed = new_fields != record.fields or new_interests != record.interests
            if (
                not changed
                and record.removed is None
                and (secret is None or secret == record.secret)
            ):
                return
            stored = database.materialise(profile_id)
            stored.fields = new_fields
            stored.interests = new_interests
            if secret is not None:
                stored.secret = secret
            if changed or record.removed is not None:
                # A PUT on a removed profile bumps `modified` too (observed live).
                stored.modified = self.state.now()
                self.state.stats.counters["profiles_updated"] += 1
                announce_profile(
                    self.state,
                    caller=self.webhook_caller,
                    action="update",
                    database=database,
                    profile_id=profile_id,
                    record=stored,
                    parameters=given,
                )


def _created(request: Request, base: str, profile_id: int) -> Response:
    return empty_response(
        201,
        [
            ("X-Created", str(profile_id)),
            ("X-location", f"{request.base_url}{base}/profile/{profile_id}"),
        ],
    )


def body_any(request: Request) -> Any:
    """A JSON body, or an urlencoded form turned into nested dicts/lists."""
    if not request.body.strip():
        return {}
    if request.content_type == "application/json" or request.body.lstrip()[:1] in (b"{", b"["):
        try:
            return json.loads(request.body)
        except ValueError:
            raise ApiError("Invalid data provided") from None
    document: dict[str, Any] = {}
    for key, value in request.form_pairs():
        name, _, rest = key.partition("[")
        if not rest:
            document[name] = value
            continue
        inner = rest.rstrip("]")
        if inner == "":
            document.setdefault(name, [])
            if isinstance(document[name], list):
                document[name].append(value)
        else:
            if not isinstance(document.get(name), dict):
                document[name] = {}
            document[name][inner] = value
    return document


def body_object(request: Request) -> dict[str, Any]:
    body = body_any(request)
    if not isinstance(body, dict):
        raise ApiError("Invalid data provided")
    return body


def coerce_fields(database: Store, fields: dict[str, Any]) -> dict[str, str]:
    """Known fields only (case-insensitive names, last duplicate wins), values as strings;
    for a database's profiles or a collection's subprofiles."""
    values: dict[str, str] = {}
    for key, value in fields.items():
        field = database.field_named(str(key))
        if field is None:
            continue
        if value is None or value is False:
            text = ""
        elif value is True:
            text = "1"
        else:
            text = str(value)
        values[field.name] = str(php_int(text)) if field.type == "integer" else text
    return values


def _switched_on(value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value != 0
    text = str(value).strip().lower()
    return text in ("true", "yes") or php_int(text) != 0


def _apply_interests(database: Database, current: list[str], spec: object, mode: str) -> list[str]:
    """A list of names replaces (or, on POST, adds to) the set; a map switches names on/off."""
    names = set(current)
    if isinstance(spec, list):
        wanted = {
            interest.name
            for name in spec
            if (interest := database.interest_named(str(name))) is not None
        }
        names = wanted if mode == "replace" else names | wanted
    elif isinstance(spec, dict):
        for name, on in spec.items():
            interest = database.interest_named(str(name))
            if interest is None:
                continue
            if _switched_on(on):
                names.add(interest.name)
            else:
                names.discard(interest.name)
    return database.interest_order(names)
