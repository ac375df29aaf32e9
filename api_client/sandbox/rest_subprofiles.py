"""The sandbox's collections and subprofiles: ``collection/...``, ``subprofile/...`` and
``profile/{id}/subprofiles/{collectionIdOrName}`` (copernica-api.md §5).

Choices the documentation leaves open, made here:

- ``GET profile/{id}/subprofiles/{collection}`` is a paged envelope (``start``, ``limit``,
  ``total``) of the profile's live subprofiles in ID order; filters and ordering are not
  documented for it and are ignored. A collection of another database (or none) is
  ``No collection with given ID``.
- ``POST`` there on a removed profile is refused like a bad collection (``Subprofile could
  not be created``): the profile's subprofiles went with it.
- Like profiles: a removed subprofile still GETs (200, ``removed`` set, field values
  emptied), can still be PUT (``modified`` bumps), and a second DELETE is refused before the
  rest of the path is looked at; ``POST subprofile/{id}`` acts like PUT.
"""

from __future__ import annotations

import secrets
from typing import Any

from .http import ApiError, Request, Response, empty_response, json_response
from .query import list_params, page_bounds
from .records import SubprofileRecord
from .rest_lists import MAX_LIMIT, ListAnswers
from .rest_writes import body_object, coerce_fields
from .state import Account, SandboxState
from .store import Database
from .subprofiles import Collection
from .webhook_events import announce_subprofile
from .webhook_registry import REST_CALLER

_NO_COLLECTION = "No collection with given ID"
_NO_SUBPROFILE = "No subprofile with supplied ID"
_NOT_CREATED = "Subprofile could not be created"


class SubprofileRoutes(ListAnswers):
    """The REST API's collection and subprofile methods; each change fires the account's
    webhooks as made by ``webhook_caller`` (see :class:`~.rest_writes.ProfileWrites`)."""

    state: SandboxState
    webhook_caller = REST_CALLER

    # ------------------------------------------------------------------ collection/{id}

    def _collection_route(
        self, request: Request, account: Account, host: str, segments: list[str]
    ) -> Response:
        collection = self._collection(account, segments[1])
        tail = segments[2:]
        if request.method != "GET":
            raise ApiError("Invalid method")
        if not tail:
            with self.state.lock:
                return json_response(200, collection.as_json())
        if tail == ["fields"]:
            return self._small_list(request, [item.as_json() for item in collection.fields])
        if tail == ["subprofiles"]:
            return self._entity_list(request, collection, host, "collection/{id}/subprofiles")
        if tail == ["subprofileids"]:
            return self._id_list(request, collection)
        raise ApiError("Invalid method")

    def _collection(self, account: Account, ident: str) -> Collection:
        with self.state.lock:
            collection = self.state.collections.get(int(ident)) if ident.isdigit() else None
            if collection is None or not any(
                database.id == collection.database_id for database in account.databases
            ):
                raise ApiError(_NO_COLLECTION)
            return collection

    # ------------------------------------------------------------------ profile/{id}/subprofiles

    def _profile_subprofiles(
        self,
        request: Request,
        base: str,
        database: Database,
        profile_id: int,
        removed: bool,
        tail: list[str],
    ) -> Response:
        """``tail`` starts with ``subprofiles``."""
        if len(tail) == 1:
            raise ApiError("Invalid request, element 3 is missing in 'directory' path")
        collection = database.collection_named(tail[1])
        if request.method == "POST":
            if collection is None or removed:
                raise ApiError(_NOT_CREATED)
            body = body_object(request)
            subprofile_id = self._insert_subprofile(collection, profile_id, body)
            return empty_response(
                201,
                [
                    ("X-Created", str(subprofile_id)),
                    ("X-location", f"{request.base_url}{base}/subprofile/{subprofile_id}"),
                ],
            )
        if request.method != "GET" or len(tail) > 2:
            raise ApiError("Invalid method")
        if collection is None:
            raise ApiError(_NO_COLLECTION)
        with self.state.lock:
            ids = collection.ids_of_profile(profile_id)
            params = list_params(request.params, max_limit=MAX_LIMIT)
            first, count = page_bounds(params, len(ids))
            items = []
            for subprofile_id in ids[first : first + count]:
                record = collection.record(subprofile_id)
                assert record is not None
                items.append(collection.subprofile_json(subprofile_id, record, False))
        document: dict[str, Any] = {
            "start": params.start,
            "limit": params.limit,
            "count": len(items),
            "data": items,
        }
        if params.total:
            document["total"] = len(ids)
        return json_response(200, document)

    def _insert_subprofile(
        self, collection: Collection, profile_id: int, fields: dict[str, Any]
    ) -> int:
        with self.state.lock:
            values = {item.name: item.default for item in collection.fields}
            given = coerce_fields(collection, fields)
            values.update(given)
            now = self.state.now()
            record = SubprofileRecord(values, secrets.token_hex(14), now, now, profile_id)
            subprofile_id = self.state.allocate_subprofile(collection)
            collection.add(subprofile_id, record)
            self.state.stats.counters["subprofiles_created"] += 1
            announce_subprofile(
                self.state,
                caller=self.webhook_caller,
                action="create",
                collection=collection,
                subprofile_id=subprofile_id,
                record=record,
                parameters=given,
            )
            return subprofile_id

    # ------------------------------------------------------------------ subprofile/{id}

    def _subprofile_route(
        self, request: Request, account: Account, segments: list[str]
    ) -> Response:
        method = request.method
        collection, subprofile_id, record = self._subprofile(account, segments[1])
        tail = segments[2:]
        if method == "DELETE":
            # "already removed" is checked before the rest of the path, as for profiles.
            if record.removed is not None:
                raise ApiError("This subprofile has already been removed")
            if tail:
                raise ApiError("Invalid method")
            self._remove_subprofile(collection, subprofile_id)
            return empty_response(204, [("X-deleted", f"subprofile {subprofile_id}")])
        if not tail:
            if method == "GET":
                with self.state.lock:
                    return json_response(
                        200, collection.subprofile_json(subprofile_id, record, False)
                    )
            if method in ("PUT", "POST"):
                body = body_object(request)
                fields = body.get("fields")
                secret = body.get("secret")
                self._update_subprofile(
                    collection,
                    subprofile_id,
                    fields if isinstance(fields, dict) else {},
                    secret if isinstance(secret, str) else None,
                )
                return empty_response(204)
            raise ApiError("Invalid method")
        if tail[0] == "fields":
            if method == "GET":
                with self.state.lock:
                    shown = collection.subprofile_json(subprofile_id, record, True)
                return json_response(200, shown["fields"])
            if method == "PUT":
                self._update_subprofile(collection, subprofile_id, body_object(request), None)
                return empty_response(204)
        raise ApiError("Invalid method")

    def _subprofile(self, account: Account, ident: str) -> tuple[Collection, int, SubprofileRecord]:
        if not ident.isdigit():
            raise ApiError(_NO_SUBPROFILE)
        subprofile_id = int(ident)
        with self.state.lock:
            collection = self.state.collection_of_subprofile(subprofile_id)
            if collection is None or not any(
                database.id == collection.database_id for database in account.databases
            ):
                raise ApiError(_NO_SUBPROFILE)
            record = collection.record(subprofile_id)
            if record is None:
                raise ApiError(_NO_SUBPROFILE)
            return collection, subprofile_id, record

    def _remove_subprofile(self, collection: Collection, subprofile_id: int) -> None:
        """Remove a live subprofile and fire its ``delete``."""
        with self.state.lock:
            collection.remove(subprofile_id, self.state.now())
            self.state.stats.counters["subprofiles_deleted"] += 1
            record = collection.record(subprofile_id)
            assert record is not None
            announce_subprofile(
                self.state,
                caller=self.webhook_caller,
                action="delete",
                collection=collection,
                subprofile_id=subprofile_id,
                record=record,
            )

    def _update_subprofile(
        self,
        collection: Collection,
        subprofile_id: int,
        fields: dict[str, Any],
        secret: str | None,
    ) -> None:
        """Apply a change; ``modified`` moves only when a field really changes (or the
        subprofile was removed, as for profiles)."""
        with self.state.lock:
            record = collection.record(subprofile_id)
            assert record is not None
            given = coerce_fields(collection, fields)
            new_fields = {**record.fields, **given}
            changed = new_fields != record.fields
            if not changed and record.removed is None and secret in (None, record.secret):
                return
            stored = collection.materialise(subprofile_id)
            stored.fields = new_fields
            if secret is not None:
                stored.secret = secret
            if changed or record.removed is not None:
                stored.modified = self.state.now()
                self.state.stats.counters["subprofiles_updated"] += 1
                announce_subprofile(
                    self.state,
                    caller=self.webhook_caller,
                    action="update",
                    collection=collection,
                    subprofile_id=subprofile_id,
                    record=stored,
                    parameters=given,
                )
