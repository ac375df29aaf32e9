"""The collection and subprofile methods of the client.

A collection is to subprofiles what a database is to profiles; every subprofile belongs to
one profile. The list walks (:meth:`paginate_subprofiles_keyset`, :meth:`iter_subprofile_ids`)
live with the other walks in :mod:`~api_client.pagination`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .errors import SubprofileAlreadyRemovedError, UnexpectedResponseError, UnsafeFilterError
from .pagination import list_total
from .params import query_pairs
from .responses import created_id, json_object, paging_envelope
from .writes import ClientWrites


class ClientSubprofiles(ClientWrites):
    """The collection and subprofile methods of :class:`~api_client.client.CopernicaClient`."""

    def collection(self, collection_id: str | int) -> dict[str, Any]:
        """One collection: ``{"ID", "name", "database", "fields": {envelope}, "intentions"}``."""
        return json_object(self.get(f"collection/{collection_id}"))

    def collection_fields(self, collection_id: str | int) -> list[dict[str, Any]]:
        """The fields of a collection (field objects, as for a database)."""
        return list(self.paginate(f"collection/{collection_id}/fields"))

    def subprofile_ids(self, collection_id: str | int) -> list[str]:
        """The IDs (strings) of every subprofile in a collection, read with
        :meth:`iter_subprofile_ids`; prefer that on a big collection."""
        return [item for block in self.iter_subprofile_ids(collection_id) for item in block]

    def count_subprofiles(self, collection_id: str | int) -> int:
        """How many (live) subprofiles the collection holds, by Copernica's own count:
        :meth:`count_profiles` on ``collection/{id}/subprofiles``."""
        path = self._api(f"collection/{collection_id}/subprofiles")
        query = query_pairs(None, {"start": 0, "limit": 1, "total": "true", "dataonly": "true"})
        return list_total(paging_envelope(self._send("GET", path, params=query)), "subprofile")

    def get_subprofile(self, subprofile_id: str | int) -> dict[str, Any]:
        """One subprofile. A removed one comes back with ``removed`` set to a timestamp."""
        return json_object(self.get(f"subprofile/{subprofile_id}"))

    def profile_subprofiles(
        self, profile_id: str | int, collection_id: str | int
    ) -> list[dict[str, Any]]:
        """The subprofiles of one profile in one collection (ID or name), every page."""
        return list(self.paginate(f"profile/{profile_id}/subprofiles/{collection_id}"))

    def find_subprofiles(
        self, collection_id: str | int, expressions: Mapping[str, object] | Sequence[str]
    ) -> list[dict[str, Any]]:
        """The subprofiles of a collection matching ``expressions`` (``{"status": "paid"}``
        or expressions such as ``["amount>100"]``), as :meth:`find_profiles` does.

        A filter Copernica would silently ignore (empty, unparsable, or on a field the
        collection does not have) raises :class:`UnsafeFilterError` before any lookup.
        """
        checked = self._checked_filters(
            expressions, UnsafeFilterError, self.collection_fields(collection_id), "subprofile"
        )
        return list(self.paginate(f"collection/{collection_id}/subprofiles", {"fields[]": checked}))

    def create_subprofile(
        self, profile_id: str | int, collection_id: str | int, fields: Mapping[str, object]
    ) -> str:
        """Create a subprofile of a profile in a collection (ID or name); returns its new ID.

        Never retried once the request may have reached Copernica: after a
        :class:`TransportError` or :class:`ServerError` the subprofile may or may not exist,
        so look it up (:meth:`profile_subprofiles`, :meth:`find_subprofiles`) before
        creating it again. A collection the profile's database does not have is refused
        with Copernica's ``Subprofile could not be created`` (:class:`BadRequestError`).
        """
        response = self._send(
            "POST",
            self._api(f"profile/{profile_id}/subprofiles/{collection_id}"),
            json_body=dict(fields),
        )
        return created_id(response, "subprofile")

    def update_subprofile(self, subprofile_id: str | int, fields: Mapping[str, object]) -> None:
        """Overwrite the given fields of one subprofile."""
        self._send(
            "PUT", self._api(f"subprofile/{subprofile_id}"), json_body={"fields": dict(fields)}
        )

    def delete_subprofile(self, subprofile_id: str | int) -> None:
        """Remove a subprofile, confirmed by Copernica's ``X-deleted: subprofile {id}``.

        Raises :class:`SubprofileAlreadyRemovedError` if it was removed before this call;
        when an earlier attempt of this same call was lost in transit and the retry finds it
        removed, the delete counts as done.
        """
        try:
            response = self._send("DELETE", self._api(f"subprofile/{subprofile_id}"))
        except SubprofileAlreadyRemovedError as error:
            if error.after_failure:
                return
            raise
        deleted = response.headers.get("X-deleted", "")
        if deleted.strip().split() != ["subprofile", str(subprofile_id)]:
            raise UnexpectedResponseError(
                f"Copernica did not confirm the removal of subprofile {subprofile_id}."
            )
