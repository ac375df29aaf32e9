"""The sandbox's list answers: small lists, (sub)profile lists (paged or streamed), id lists."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from .http import Request, Response, json_response
from .query import (
    Store,
    filter_expressions_in,
    list_params,
    page_bounds,
    select,
    truthy,
    usable_filters,
)
from .records import ProfileRecord
from .state import SandboxState
from .store import Database

MAX_LIMIT = 1000
STREAM_CHUNK = 1000


class ListAnswers:
    """The REST API's list answers, in Copernica's paging envelope."""

    state: SandboxState

    def _small_list(self, request: Request, items: list[Any]) -> Response:
        params = list_params(request.params, max_limit=MAX_LIMIT)
        first, count = page_bounds(params, len(items))
        document: dict[str, Any] = {
            "start": params.start,
            "limit": params.limit,
            "count": count,
            "data": items[first : first + count],
        }
        if params.total:
            document["total"] = len(items)
        return json_response(200, document)

    def _entity_list(self, request: Request, database: Store, host: str, method: str) -> Response:
        """A paged list of a database's profiles or a collection's subprofiles.

        ``method`` names the list (``database/{id}/profiles``...): the rest host takes limits
        above 1000 for it and then streams (§1), unless the control API marked it as not
        streamed yet; then it caps at 1000 like the api host.
        """
        query = request.params
        streamed = host == "rest" and method not in self.state.options.unstreamed
        params = list_params(query, max_limit=None if streamed else MAX_LIMIT)
        dataonly = truthy(query.get("dataonly"), default=False)
        descending = query.get("order", "").strip().lower() in ("desc", "descending")
        expressions = filter_expressions_in(request.query) or []
        with self.state.lock:
            selection = select(
                database, usable_filters(database, expressions), query.get("orderby"), descending
            )
            first, count = page_bounds(params, selection.total)
            nextid: int | None = None
            if selection.by_id_ascending and count and first + count < selection.total:
                nextid = selection.ids(first + count, first + count + 1)[0]
            # The envelope is joined from pre-serialized profiles: same bytes as json.dumps
            # of {"start", "limit", "count", "data", ["nextid"], ["total"]}.
            head = b'{"start":%d,"limit":%d,"count":%d,"data":[' % (
                params.start,
                params.limit,
                count,
            )
            tail = b"]"
            if nextid is not None:
                tail += b',"nextid":%d' % nextid
            if params.total:
                tail += b',"total":%d' % selection.total
            tail += b"}"
            if params.limit <= MAX_LIMIT:
                data = database.entries_json(selection.ids(first, first + count), dataonly)
                return Response(
                    200,
                    [("Content-Type", "application/json")],
                    b"".join((head, b",".join(data), tail)),
                )

        def chunks() -> Iterator[bytes]:
            # One chunk per STREAM_CHUNK profiles (~200-300 KB); the envelope's head and tail
            # ride along with the first and last of them.
            position, stop, prefix = first, first + count, head
            while position < stop:
                with self.state.lock:
                    ids = selection.ids(position, min(position + STREAM_CHUNK, stop))
                    data = database.entries_json(ids, dataonly)
                if not ids:
                    break
                position += len(ids)
                if data:
                    text = prefix + b",".join(data)
                    if position >= stop:
                        yield text + tail
                        return
                    yield text
                    prefix = b","
            yield prefix + tail if prefix is head else tail

        return Response(200, [("Content-Type", "application/json")], chunks=chunks())

    def _id_list(self, request: Request, database: Store) -> Response:
        """A bare array of live IDs (strings), ascending: ``profileids``, ``subprofileids``.

        With ``start`` or ``limit`` it is one offset page (``limit`` defaults to 100, as in
        every paged method, and is capped at 1000 like any list on the api host); without
        either, every ID, or the first ``id_list_cap`` when the control API set one.
        """
        query = request.params
        paged = "start" in query or "limit" in query
        with self.state.lock:
            if paged:
                params = list_params(query, max_limit=MAX_LIMIT)
                first, count = page_bounds(params, database.live_count())
                ids = database.ids_between(first, first + count)
            else:
                cap = self.state.options.id_list_cap
                ids = database.all_live_ids() if cap is None else database.ids_between(0, cap)
        return Response(
            200,
            [("Content-Type", "application/json")],
            b"[" + b",".join(b'"%d"' % item for item in ids) + b"]",
        )

    def _interests_of(
        self, request: Request, database: Database, record: ProfileRecord
    ) -> Response:
        names = [] if record.removed is not None else list(record.interests)
        shape = request.param("return")
        if shape in ("ids", "objects"):
            chosen = [item for item in database.interests if item.name in names]
            if shape == "ids":
                return json_response(200, [str(item.id) for item in chosen])
            return json_response(200, [item.as_json() for item in chosen])
        return json_response(200, names)
