"""The read methods of the client: the account, its databases, and single profiles."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .errors import UnsafeFilterError
from .filters import filter_expressions, unsafe_expressions
from .pagination import ClientPagination, list_total
from .params import Params, query_pairs
from .responses import decode_json, json_object, paging_envelope


class ClientReads(ClientPagination):
    """The read methods of :class:`~api_client.client.CopernicaClient`."""

    def identity(self) -> dict[str, Any]:
        """The account: ``{"id", "name", "description", "company"}``."""
        return json_object(self.get("identity"))

    def databases(self) -> list[dict[str, Any]]:
        """Every database of the account (all pages)."""
        return list(self.paginate("databases"))

    def database(self, database_id: str | int) -> dict[str, Any]:
        """One database by ID or (case-insensitive) name."""
        return json_object(self.get(f"database/{database_id}"))

    def fields(self, database_id: str | int) -> list[dict[str, Any]]:
        """The fields of a database."""
        return list(self.paginate(f"database/{database_id}/fields"))

    def interests(self, database_id: str | int) -> list[dict[str, Any]]:
        """The interests of a database."""
        return list(self.paginate(f"database/{database_id}/interests"))

    def collections(self, database_id: str | int) -> list[dict[str, Any]]:
        """The collections of a database."""
        return list(self.paginate(f"database/{database_id}/collections"))

    def get(self, path: str, params: Params | None = None) -> Any:
        """GET ``path`` (relative to ``api_url``) and return the decoded JSON body."""
        response = self._send("GET", self._api(path), params=query_pairs(params))
        return decode_json(response)

    def profile_ids(self, database_id: str | int) -> list[str]:
        """The IDs (strings) of every profile in a database, read with
        :meth:`iter_profile_ids` (paged until an empty page).

        A big database lists a million IDs; prefer :meth:`iter_profile_ids` there.
        """
        return [profile_id for block in self.iter_profile_ids(database_id) for profile_id in block]

    def count_profiles(self, database_id: str | int) -> int:
        """How many (live) profiles the database holds, by Copernica's own count.

        One request for a single profile with ``total=true``; the answer's ``total`` is the
        count. An answer without a usable ``total`` raises :class:`UnexpectedResponseError`.
        """
        path = self._api(f"database/{database_id}/profiles")
        query = query_pairs(None, {"start": 0, "limit": 1, "total": "true", "dataonly": "true"})
        return list_total(paging_envelope(self._send("GET", path, params=query)), "profile")

    def get_profile(self, profile_id: str | int) -> dict[str, Any]:
        """One profile. A removed profile comes back with ``removed`` set to a timestamp."""
        return json_object(self.get(f"profile/{profile_id}"))

    def find_profiles(
        self, database_id: str | int, fields_filter: Mapping[str, object] | Sequence[str]
    ) -> list[dict[str, Any]]:
        """The profiles matching ``fields_filter`` (``{"email": "a@b.nl"}`` or expressions).

        Copernica silently ignores filters on unknown fields and would then match every
        profile, so such a filter raises :class:`UnsafeFilterError` before any lookup.
        """
        expressions = self._checked_filters(
            fields_filter, UnsafeFilterError, self.fields(database_id), "profile"
        )
        return list(self.paginate(f"database/{database_id}/profiles", {"fields[]": expressions}))

    @staticmethod
    def _checked_filters(
        filters: Mapping[str, object] | Sequence[str],
        error: type[UnsafeFilterError],
        fields: Sequence[Mapping[str, Any]],
        what: str,
    ) -> list[str]:
        """``filters`` as expressions, refused if Copernica would ignore any of them.

        ``fields`` are the field objects of the database (or collection) filtered on;
        ``what`` names its items (``profile``, ``subprofile``) in the message.
        """
        expressions = filter_expressions(filters)
        if not expressions:
            raise error(f"Refusing an empty {what} filter: Copernica would match every {what}.", [])
        names = [str(item.get("name", "")) for item in fields]
        unsafe = unsafe_expressions(expressions, names)
        if unsafe:
            raise error(
                f"Refusing a {what} filter Copernica would ignore (unknown field or bad "
                f"expression), which would match every {what}: {', '.join(unsafe)}",
                unsafe,
            )
        return expressions
