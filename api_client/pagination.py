"""Walking Copernica's lists lazily: offset pages, keyset pages and streamed answers.

Nothing here collects a whole list: every method is a generator that asks for the next page
(or reads the next item of a streamed body) only when the caller wants it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from .connection import CopernicaConnection
from .errors import RequestTimeoutError, TransportError, UnexpectedResponseError
from .listed import ListedPage, listed_page
from .params import Params, ParamValue, query_pairs
from .responses import item_id_of, paging_envelope
from .streaming import EnvelopeStream, IdArrayStream

#: Copernica's cap on one page of a list on ``api.copernica.com``.
MAX_PAGE_SIZE = 1000


#: The page size of an id-list walk (``start``/``limit``).
ID_PAGE_SIZE = 1000


@dataclass(frozen=True)
class KeysetPage:
    """One page of a keyset walk over a database's profiles or a collection's subprofiles.

    ``last_id`` is the checkpoint: pass it as ``after_id`` to
    :meth:`CopernicaClient.paginate_keyset` (or ``paginate_subprofiles_keyset``) to resume
    right after this page. ``nextid`` is Copernica's own hint (the first ID after the page),
    ``None`` at the end of the list.

    A walk asked ``copying=True`` may give a page as ``listed`` instead (see
    :mod:`api_client.listed`): its items are there, and ``items`` is empty.
    """

    items: list[dict[str, Any]] = field(repr=False)
    last_id: int
    nextid: int | None = None
    listed: ListedPage | None = field(default=None, repr=False)

    @property
    def count(self) -> int:
        """The number of items on the page."""
        return len(self.listed.items) if self.listed is not None else len(self.items)


class ClientPagination(CopernicaConnection):
    """The lazy list walks of :class:`~api_client.client.CopernicaClient`."""

    def paginate(
        self, path: str, params: Params | None = None, page_size: int = MAX_PAGE_SIZE
    ) -> Iterator[dict[str, Any]]:
        """Lazily yield every item of a list, page by page with offset paging.

        Requests ``start``/``limit`` pages with ``total=false`` and stops at the first page
        with fewer than ``limit`` items. ``page_size`` is capped at 1000. Offset paging gets
        slow on big lists; prefer :meth:`paginate_keyset` for profiles.
        """
        page_size = max(1, min(page_size, MAX_PAGE_SIZE))
        start = 0
        while True:
            query = query_pairs(params, {"start": start, "limit": page_size, "total": "false"})
            envelope = paging_envelope(self._send("GET", self._api(path), params=query))
            yield from envelope["data"]
            if envelope["count"] < page_size:
                return
            start += envelope["count"]

    def paginate_keyset(
        self,
        database_id: str | int,
        params: Params | None = None,
        page_size: int = MAX_PAGE_SIZE,
        after_id: int = 0,
        *,
        copying: bool = False,
    ) -> Iterator[KeysetPage]:
        """Lazily yield the pages of a database's profiles in ID order, after ``after_id``.

        Each request filters ``fields[]=id>{last}`` with ``orderby=id`` and ``total=false``,
        so each page costs the same however deep the walk is. Extra ``fields[]`` filters in
        ``params`` are ANDed. Only non-empty pages are yielded; a sync engine stores
        ``page.last_id`` with the page's data and resumes with ``after_id=`` that checkpoint.
        ``copying=True``: pages that can be are given as ``listed`` (:class:`KeysetPage`).
        """
        path = f"database/{database_id}/profiles"
        return self._keyset_walk(path, params, page_size, after_id, "profile", copying)

    def paginate_subprofiles_keyset(
        self,
        collection_id: str | int,
        params: Params | None = None,
        page_size: int = MAX_PAGE_SIZE,
        after_id: int = 0,
        *,
        copying: bool = False,
    ) -> Iterator[KeysetPage]:
        """Lazily yield the pages of a collection's subprofiles in ID order, after
        ``after_id``: :meth:`paginate_keyset` on ``collection/{id}/subprofiles``."""
        path = f"collection/{collection_id}/subprofiles"
        return self._keyset_walk(path, params, page_size, after_id, "subprofile", copying)

    def _keyset_walk(
        self,
        path: str,
        params: Params | None,
        page_size: int,
        after_id: int,
        what: str,
        copying: bool,
    ) -> Iterator[KeysetPage]:
        page_size = max(1, min(page_size, MAX_PAGE_SIZE))
        last_id = int(after_id)
        url = self._api(path)
        while True:
            query = _keyset_query(params, last_id, page_size)
            response = self._send("GET", url, params=query)
            listed = listed_page(response.content) if copying else None
            if listed is not None:
                if not listed.ids:
                    return
                page = KeysetPage([], listed.ids[-1], listed.nextid, listed)
            else:
                envelope = paging_envelope(response)
                items: list[dict[str, Any]] = envelope["data"]
                if not items:
                    return
                nextid = envelope.get("nextid")
                page = KeysetPage(
                    items, item_id_of(items[-1], what), int(nextid) if nextid is not None else None
                )
            last_id = page.last_id
            yield page
            if page.count < page_size:
                return

    def stream_profiles(
        self,
        database_id: str | int,
        params: Params | None = None,
        limit: int = 100_000,
        after_id: int = 0,
    ) -> Iterator[dict[str, Any]]:
        """Lazily yield a database's profiles in ID order from the streaming ``rest`` host.

        Each request asks for up to ``limit`` profiles after the last ID seen; Copernica
        streams such answers chunked, and items are parsed one by one while the body arrives,
        so memory stays flat. A method that ``rest`` does not stream (yet) caps the answer at
        1000 rows whatever ``limit`` says: a full page of 1000 (or of the ``limit`` the answer
        echoes, if smaller than asked) is therefore not the end, and the walk continues after
        its last ID until a shorter page. Without a ``rest_url`` this falls back to
        :meth:`paginate_keyset` on the ``api`` host.
        """
        if self.rest_url is None:
            for page in self.paginate_keyset(database_id, params, after_id=after_id):
                yield from page.items
            return
        last_id = int(after_id)
        path = f"{self.rest_url}/database/{database_id}/profiles"
        while True:
            query = _keyset_query(params, last_id, limit)
            response = self._send("GET", path, params=query, stream=True)
            try:
                stream = EnvelopeStream(response.iter_bytes())
                for item in stream:
                    last_id = item_id_of(item)
                    yield item
            except httpx.TimeoutException as exc:
                raise RequestTimeoutError("The profile stream stalled.") from exc
            except httpx.HTTPError as exc:
                raise TransportError(f"The profile stream broke off: {exc}") from exc
            finally:
                response.close()
            if not _page_was_full(stream.items_seen, limit, stream.envelope.get("limit")):
                return

    def iter_profile_ids(self, database_id: str | int, start: int = 0) -> Iterator[list[str]]:
        """The IDs (strings) of every profile in a database, in blocks as the answers arrive.

        Pages through ``database/{id}/profileids`` with ``start``/``limit`` (1000 at a time)
        and stops only at an empty page: however Copernica caps one answer, a short answer is
        never taken for the whole list (a missing ID would look like a removed profile). Each
        answer is parsed while its body arrives, so memory stays flat however big the
        database. A body that is not a JSON array of IDs, or that breaks off, raises
        :class:`UnexpectedResponseError` (or a transport error) rather than ending the
        iteration early; so does an answer that ignores ``start`` (it repeats a page).

        ``start`` resumes the walk at that offset of the list (the number of IDs already
        read), e.g. after a checkpoint.
        """
        return self._iter_ids(f"database/{database_id}/profileids", "profile", start)

    def iter_subprofile_ids(self, collection_id: str | int, start: int = 0) -> Iterator[list[str]]:
        """The IDs (strings) of every subprofile in a collection, in blocks:
        :meth:`iter_profile_ids` on ``collection/{id}/subprofileids``."""
        return self._iter_ids(f"collection/{collection_id}/subprofileids", "subprofile", start)

    def _iter_ids(self, path: str, what: str, start: int = 0) -> Iterator[list[str]]:
        url = self._api(path)
        start = max(0, int(start))
        previous_first: str | None = None
        while True:
            query = [("start", str(start)), ("limit", str(ID_PAGE_SIZE))]
            response = self._send("GET", url, params=query, stream=True)
            first: str | None = None
            try:
                stream = IdArrayStream(response.iter_bytes(), what=what)
                for block in stream:
                    if not block:
                        continue
                    if first is None:
                        first = block[0]
                        if first == previous_first:
                            raise UnexpectedResponseError(
                                f"Copernica's {what} ID list ignored the start parameter, so "
                                "it cannot be read completely."
                            )
                    yield block
            except httpx.TimeoutException as exc:
                raise RequestTimeoutError(f"The {what} ID list stalled.") from exc
            except httpx.HTTPError as exc:
                raise TransportError(f"The {what} ID list broke off: {exc}") from exc
            finally:
                response.close()
            if not stream.items_seen:
                return
            previous_first = first
            start += stream.items_seen


def list_total(envelope: dict[str, Any], what: str) -> int:
    """The ``total`` of a list envelope asked with ``total=true``."""
    total = envelope.get("total")
    if isinstance(total, bool) or not isinstance(total, int) or total < 0:
        raise UnexpectedResponseError(f"Copernica did not say how many {what}s it holds.")
    return total


def _page_was_full(seen: int, asked: int, echoed: object) -> bool:
    """Whether a page of ``seen`` items, asked with ``limit=asked``, may have more after it."""
    if seen == 0:
        return False
    if seen >= asked:
        return True
    # Not streamed (yet): Copernica caps the answer at 1000 rows and echoes that limit.
    if asked > MAX_PAGE_SIZE and seen == MAX_PAGE_SIZE:
        return True
    return isinstance(echoed, int) and not isinstance(echoed, bool) and 0 < echoed <= seen


def _keyset_query(params: Params | None, after_id: int, limit: int) -> list[tuple[str, str]]:
    filters: list[str] = []
    rest: dict[str, ParamValue] = {}
    for key, value in (params or {}).items():
        if key in ("fields", "fields[]"):
            if isinstance(value, str):
                filters.append(value)
            elif not isinstance(value, int | float):
                filters.extend(str(expression) for expression in value)
        elif key not in ("start", "limit", "orderby", "order", "total"):
            rest[key] = value
    filters.append(f"id>{after_id}")
    return query_pairs(
        rest,
        {"fields[]": filters, "orderby": "id", "order": "asc", "limit": limit, "total": "false"},
    )
