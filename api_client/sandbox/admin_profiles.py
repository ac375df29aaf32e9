"""The control API's profile and subprofile edits: what a person does in Copernica's Publisher.

``POST profiles`` (``database_id``, ``fields``, ``interests``), ``PUT profiles``
(``profile_id``, ``fields``, ``interests``), ``DELETE profiles`` (``profile_id``), and the
same for ``subprofiles`` (``profile_id`` + ``collection_id`` to create, ``subprofile_id``
otherwise). They change the data exactly as the REST API does (the same code, so the same
``modified`` rules), are not counted as API calls, and fire webhooks with the caller
``publisher`` (the console's edit forms post here too), so a test or the demo can make a
change "at Copernica" that the linker did not make.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .control_input import ControlError, identifier, mapping
from .http import Response, empty_response, json_response
from .rest_subprofiles import SubprofileRoutes
from .rest_writes import ProfileWrites
from .state import SandboxState
from .store import Database
from .subprofiles import Collection
from .webhook_registry import PUBLISHER_CALLER

Route = Callable[[dict[str, Any]], Response]


class PublisherEdits(SubprofileRoutes, ProfileWrites):
    """The REST API's write code, run as the caller ``publisher``."""

    webhook_caller = PUBLISHER_CALLER

    def __init__(self, state: SandboxState) -> None:
        self.state = state


class ProfileControl:
    """The ``profiles`` and ``subprofiles`` calls of the control API."""

    state: SandboxState

    def profile_routes(self) -> dict[tuple[str, str], Route]:
        return {
            ("POST", "profiles"): self.create_profile,
            ("PUT", "profiles"): self.update_profile,
            ("DELETE", "profiles"): self.delete_profile,
            ("POST", "subprofiles"): self.create_subprofile,
            ("PUT", "subprofiles"): self.update_subprofile,
            ("DELETE", "subprofiles"): self.delete_subprofile,
        }

    def create_profile(self, body: dict[str, Any]) -> Response:
        database_id = identifier(body, "database_id")
        with self.state.lock:
            database = self.state.databases.get(database_id)
            if database is None:
                raise ControlError(f"No database {database_id}")
            profile_id = PublisherEdits(self.state)._insert(
                database, mapping(body, "fields"), _interests(body)
            )
        return json_response(201, {"id": str(profile_id)})

    def update_profile(self, body: dict[str, Any]) -> Response:
        with self.state.lock:
            database, profile_id = self._profile(body)
            PublisherEdits(self.state)._update(
                database, profile_id, mapping(body, "fields"), _interests(body), "replace", None
            )
        return empty_response(204)

    def delete_profile(self, body: dict[str, Any]) -> Response:
        with self.state.lock:
            database, profile_id = self._profile(body)
            record = database.record(profile_id)
            if record is not None and record.removed is not None:
                raise ControlError(f"Profile {profile_id} has already been removed")
            PublisherEdits(self.state)._remove_profile(database, profile_id, self.state.now())
        return empty_response(204)

    def create_subprofile(self, body: dict[str, Any]) -> Response:
        with self.state.lock:
            database, profile_id = self._profile(body)
            record = database.record(profile_id)
            if record is not None and record.removed is not None:
                raise ControlError(f"Profile {profile_id} has been removed")
            wanted = body.get("collection_id")
            named = isinstance(wanted, str | int) and not isinstance(wanted, bool)
            collection = database.collection_named(str(wanted)) if named else None
            if collection is None:
                raise ControlError(f"The database of profile {profile_id} has no such collection")
            subprofile_id = PublisherEdits(self.state)._insert_subprofile(
                collection, profile_id, mapping(body, "fields")
            )
        return json_response(201, {"id": str(subprofile_id)})

    def update_subprofile(self, body: dict[str, Any]) -> Response:
        with self.state.lock:
            collection, subprofile_id = self._subprofile(body)
            PublisherEdits(self.state)._update_subprofile(
                collection, subprofile_id, mapping(body, "fields"), None
            )
        return empty_response(204)

    def delete_subprofile(self, body: dict[str, Any]) -> Response:
        with self.state.lock:
            collection, subprofile_id = self._subprofile(body)
            record = collection.record(subprofile_id)
            if record is not None and record.removed is not None:
                raise ControlError(f"Subprofile {subprofile_id} has already been removed")
            PublisherEdits(self.state)._remove_subprofile(collection, subprofile_id)
        return empty_response(204)

    def _profile(self, body: dict[str, Any]) -> tuple[Database, int]:
        profile_id = identifier(body, "profile_id")
        database = self.state.database_of_profile(profile_id)
        if database is None or database.record(profile_id) is None:
            raise ControlError(f"No profile {profile_id}")
        return database, profile_id

    def _subprofile(self, body: dict[str, Any]) -> tuple[Collection, int]:
        subprofile_id = identifier(body, "subprofile_id")
        collection = self.state.collection_of_subprofile(subprofile_id)
        if collection is None or collection.record(subprofile_id) is None:
            raise ControlError(f"No subprofile {subprofile_id}")
        return collection, subprofile_id


def _interests(body: dict[str, Any]) -> object:
    interests = body.get("interests")
    if interests is not None and not isinstance(interests, list | dict):
        raise ControlError("interests must be a list of names or an object of names and 0/1")
    return interests
