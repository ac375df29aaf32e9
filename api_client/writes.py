"""The write methods of the client: create, update and remove profiles."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from .errors import ProfileAlreadyRemovedError, UnexpectedResponseError, UnsafeBulkUpdateError
from .params import ParamValue, query_pairs
from .reads import ClientReads
from .responses import created_id


class ClientWrites(ClientReads):
    """The write methods of :class:`~api_client.client.CopernicaClient`."""

    def create_profile(
        self,
        database_id: str | int,
        fields: Mapping[str, object],
        interests: Sequence[str] | Mapping[str, int | bool] | None = None,
    ) -> str:
        """Create a profile and return its new ID (from ``X-Created`` or ``X-location``).

        Never retried once the request may have reached Copernica: after a
        :class:`TransportError` or :class:`ServerError` the profile may or may not exist, so
        look it up (:meth:`find_profiles`) before creating it again.
        """
        body = _profile_body(fields, interests)
        response = self._send("POST", self._api(f"database/{database_id}/profiles"), json_body=body)
        return created_id(response)

    def update_profile(
        self,
        profile_id: str | int,
        fields: Mapping[str, object],
        interests: Sequence[str] | Mapping[str, int | bool] | None = None,
    ) -> None:
        """Overwrite the given fields (and interests) of one profile."""
        body = _profile_body(fields, interests)
        self._send("PUT", self._api(f"profile/{profile_id}"), json_body=body)

    def delete_profile(self, profile_id: str | int) -> None:
        """Remove a profile, confirmed by Copernica's ``X-deleted: profile {id}`` header.

        Raises :class:`ProfileAlreadyRemovedError` if it was removed before this call; when an
        earlier attempt of this same call was lost in transit and the retry finds the profile
        removed, the delete counts as done.
        """
        try:
            response = self._send("DELETE", self._api(f"profile/{profile_id}"))
        except ProfileAlreadyRemovedError as error:
            if error.after_failure:
                return
            raise
        deleted = response.headers.get("X-deleted", "")
        if deleted.strip().split() != ["profile", str(profile_id)]:
            raise UnexpectedResponseError(
                f"Copernica did not confirm the removal of profile {profile_id}."
            )

    def update_matching(
        self,
        database_id: str | int,
        filters: Mapping[str, object] | Sequence[str],
        fields: Mapping[str, object],
        create: bool = False,
        interests: Sequence[str] | Mapping[str, int | bool] | None = None,
    ) -> str | None:
        """Update every profile matching ``filters``; with ``create``, create one if none does.

        Returns the ID of the created profile, or ``None`` when profiles were updated.

        Guard against Copernica's bulk-PUT gotcha: a filter that is empty, does not parse,
        or names a field the database does not have is ignored by Copernica, which then
        updates *every* profile. Such filters raise :class:`UnsafeBulkUpdateError` and no
        request is made. Every expression must name a field of the database (fetched first)
        or one of the special fields ``id``, ``code`` and ``modified``; those are never
        ignored by Copernica, so they count as safe.
        """
        expressions = self._checked_filters(
            filters, UnsafeBulkUpdateError, self.fields(database_id), "profile"
        )
        params: dict[str, ParamValue] = {"fields[]": expressions}
        if create:
            params["create"] = "true"
        response = self._send(
            "PUT",
            self._api(f"database/{database_id}/profiles"),
            params=query_pairs(params),
            json_body=_profile_body(fields, interests),
        )
        if response.status_code == 201:
            return created_id(response)
        return None


def _profile_body(
    fields: Mapping[str, object],
    interests: Sequence[str] | Mapping[str, int | bool] | None,
) -> dict[str, object]:
    body: dict[str, object] = {"fields": dict(fields)}
    if interests is not None:
        body["interests"] = (
            {name: int(bool(on)) for name, on in interests.items()}
            if isinstance(interests, Mapping)
            else list(interests)
        )
    return body
