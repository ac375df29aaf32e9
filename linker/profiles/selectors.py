"""Selectors of the profile browser: the mirror of one tenant's account, reached through the user.

Every function starts from a tenant the caller got from ``accounts.selectors.tenant_get`` and
only ever filters the mirror by that tenant's link, so a foreign profile, collection or
subprofile id is "not found", the same 404 as a missing one.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import Any

from django.db import OperationalError, connection
from django.db.models import Count, F, QuerySet, Window
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Lower, RowNumber
from django.http import Http404
from psycopg.errors import QueryCanceled

from accounts.models import Tenant
from linker.linking.links import link_get
from linker.models import (
    Link,
    RemoteCollection,
    RemoteDatabase,
    RemoteProfile,
    RemoteSubprofile,
)
from linker.profiles.keyset import KeysetOrder, KeysetPage, keyset_page
from linker.profiles.search import (
    email_exact,
    email_key,
    is_short,
    looks_like_email,
    planner_settings,
    search_filter,
    short_scan_bound,
)

PAGE_SIZE = 50
#: Subprofiles shown per collection on a profile's page.
SUBPROFILES_SHOWN = 100
#: Results are counted up to this many; beyond it the page says "more than".
COUNT_CAP = 1_000
#: Planner settings of the browser's queries: no JIT compilation (it costs more than any
#: query here saves) and no parallel workers (their start-up too, on a busy machine).
INTERACTIVE = {"jit": "off", "max_parallel_workers_per_gather": "0"}
#: A page of a search with more than COUNT_CAP results: walk the sort's index (no bitmap of
#: every candidate, no full scan, no sort of them all).
WALK = {
    "enable_bitmapscan": "off",
    "enable_seqscan": "off",
    "enable_sort": "off",
    "statement_timeout": "200ms",
}


@dataclass
class ProfileBrowser:
    """One page of the browser.

    At most :data:`COUNT_CAP` results are counted exactly and paged by number (an offset into
    at most that many rows); more are "more than :data:`COUNT_CAP`" and paged by keyset
    (``after`` / ``before`` cursors), sorted only by what an index holds in order.
    """

    database: RemoteDatabase | None
    databases: list[RemoteDatabase]
    query: str
    field: str
    sort: str
    columns: list[str]
    profiles: list[RemoteProfile] = dataclass_field(default_factory=list)
    #: The number of results, exact up to :data:`COUNT_CAP`; ``COUNT_CAP + 1`` means more.
    count: int = 0
    #: Page number and count of pages when the results are counted exactly, else ``None``.
    number: int | None = None
    num_pages: int | None = None
    #: Keyset cursors of the neighbour pages when there are more results than counted.
    after: str = ""
    before: str = ""
    #: The field sort asked for but refused (too many results to sort without an index).
    sort_refused: str = ""
    #: A short search read only this many profiles (the first by id); 0 when it read all.
    scan_limited: int = 0
    #: The search found the profile(s) with this exact e-mail address.
    email_exact: bool = False
    #: All the results, ordered, unpaged (for the CSV export).
    results: QuerySet[RemoteProfile] | None = None

    @property
    def count_capped(self) -> bool:
        return self.count > COUNT_CAP

    @property
    def count_cap(self) -> int:
        return COUNT_CAP

    @property
    def has_other_pages(self) -> bool:
        return bool(self.after or self.before) or (self.num_pages or 0) > 1


def profile_link_get(*, tenant: Tenant) -> Link:
    """The tenant's link, or 404 when it has none (there is no mirror to browse)."""
    link = link_get(tenant=tenant)
    if link is None:
        raise Http404("This tenant is not linked.")
    return link


def database_list(*, link: Link) -> list[RemoteDatabase]:
    return list(RemoteDatabase.objects.filter(link=link, removed_at=None).order_by("copernica_id"))


def _database_pick(databases: list[RemoteDatabase], wanted: Any) -> RemoteDatabase | None:
    for database in databases:
        if str(database.copernica_id) == str(wanted):
            return database
    return databases[0] if databases else None


def profile_browse(
    *,
    tenant: Tenant,
    database_id: Any = None,
    query: str = "",
    field: str = "",
    sort: str = "id",
    page: Any = 1,
    after: str = "",
    before: str = "",
) -> ProfileBrowser:
    """Search (any field, or one), sort and page the live profiles of one database.

    ``page`` counts pages of a result of at most :data:`COUNT_CAP` profiles; ``after`` and
    ``before`` are the cursors of a larger one (each is ignored where the other paging applies).
    """
    link = profile_link_get(tenant=tenant)
    databases = database_list(link=link)
    database = _database_pick(databases, database_id)
    query = query.strip()[:200]
    if database is None:
        return ProfileBrowser(None, databases, query, "", "id", [])
    names = database.field_names
    field = field if field in names else ""
    browser = ProfileBrowser(database, databases, query, field, "id", names[:5])
    profiles = RemoteProfile.objects.filter(link=link, database=database, removed_at=None)
    sort = sort if _sort_valid(sort, names) else "id"
    if query and field in ("", "email") and "email" in names and looks_like_email(query):
        # An address: its profile(s) by the e-mail index, in one query, when there are any.
        exact = email_exact(profiles, query)
        rows = list(exact.order_by(*_ordering(sort))[: PAGE_SIZE + 1])
        if rows:
            browser.email_exact = True
            profiles = exact
        if 0 < len(rows) <= PAGE_SIZE:
            browser.sort, browser.count, browser.number, browser.num_pages = sort, len(rows), 1, 1
            browser.profiles, browser.results = rows, exact.order_by(*_ordering(sort))
            return browser
    if query and not browser.email_exact:
        profiles = _searched(browser, profiles, names)
    # The pages of the whole database read a bounded number of rows from the key's index,
    # with plans too cheap for JIT or parallel workers: no settings, no round trip for them.
    with planner_settings(**(INTERACTIVE if query else {})):
        _page(browser, profiles, sort=sort, page=page, after=after, before=before)
    return browser


def _page(
    browser: ProfileBrowser,
    profiles: QuerySet[RemoteProfile],
    *,
    sort: str,
    page: Any,
    after: str,
    before: str,
) -> None:
    """Count ``profiles`` (up to the cap) and fill ``browser`` with the page asked for."""
    browser.count = count = _count(profiles)
    order = _keyset_order(sort)
    if count > COUNT_CAP and order is None:
        browser.sort_refused, sort, order = sort, "id", _keyset_order("id")
    browser.sort = sort
    browser.results = results = profiles.order_by(*_ordering(sort))
    if count > COUNT_CAP and order is not None:
        # More than COUNT_CAP matches: at least one profile in every (total / COUNT_CAP) does,
        # so walking the sort's index fills a page after a bounded number of rows, where the
        # trigram candidates would all be fetched and sorted (what the planner picks, as it
        # underestimates the exact check; see ``planner_settings``).
        keyset = _keyset_page(browser, profiles, order, after=after, before=before)
        browser.profiles, browser.after, browser.before = keyset.rows, keyset.after, keyset.before
        return
    browser.num_pages = max(1, -(-count // PAGE_SIZE))
    browser.number = min(_page_number(page), browser.num_pages)
    offset = (browser.number - 1) * PAGE_SIZE
    browser.profiles = list(results[offset : offset + PAGE_SIZE])


def profile_browse_rows(*, browser: ProfileBrowser) -> Iterator[RemoteProfile]:
    """Every result of ``browser``, in its order, streamed (for the CSV export)."""
    if browser.results is None:
        return
    # A server-side cursor is planned for its first rows (``cursor_tuple_fraction``): for a
    # search that is a walk of the whole sort index, checking every profile; all rows are
    # wanted here, so the plan is the one that fetches them all soonest.
    with planner_settings(cursor_tuple_fraction="1.0", jit="off"):
        yield from browser.results.iterator(chunk_size=1000)


def _keyset_page(
    browser: ProfileBrowser,
    profiles: QuerySet[RemoteProfile],
    order: KeysetOrder,
    *,
    after: str,
    before: str,
) -> KeysetPage:
    if not browser.query or connection.vendor != "postgresql":
        return keyset_page(profiles, order, size=PAGE_SIZE, after=after, before=before)
    # More than COUNT_CAP matches: spread evenly, at least one profile in every
    # (total / COUNT_CAP) matches, so walking the sort's index fills a page after a bounded
    # number of rows, where the trigram candidates would all be fetched and sorted (what the
    # planner picks, as it underestimates the exact check; see ``planner_settings``). Matches
    # bunched at the far end of the order (a term that only early ids have, sorted by id
    # descending) make the walk long: past WALK's timeout, the page is planned as PostgreSQL
    # likes after all.
    try:
        with planner_settings(**WALK):
            return keyset_page(profiles, order, size=PAGE_SIZE, after=after, before=before)
    except OperationalError as exc:
        if not isinstance(exc.__cause__, QueryCanceled):
            raise
    return keyset_page(profiles, order, size=PAGE_SIZE, after=after, before=before)


def _searched(
    browser: ProfileBrowser, profiles: QuerySet[RemoteProfile], names: list[str]
) -> QuerySet[RemoteProfile]:
    query, field = browser.query, browser.field
    if is_short(query):
        bound, read = short_scan_bound(profiles)
        if bound is not None:
            browser.scan_limited = read
            profiles = profiles.filter(copernica_id__lte=bound)
    # ASCII digits only: ``'²'.isdigit()`` is true, and ``int('²')`` raises.
    digits = query.isascii() and query.isdigit() and not field and len(query) <= 18
    assert browser.database is not None
    return search_filter(
        profiles,
        query=query,
        searched=[field] if field else names,
        id_of=int(query) if digits else None,
        database_id=browser.database.pk,
    )


def _count(profiles: QuerySet[RemoteProfile]) -> int:
    """The number of ``profiles``, counted up to ``COUNT_CAP + 1`` (a bigger result is not
    read to the end just to print its size)."""
    return profiles.order_by().values("pk")[: COUNT_CAP + 1].count()


def _page_number(page: Any) -> int:
    try:
        return max(1, int(page))
    except (TypeError, ValueError):
        return 1


def _sort_valid(sort: str, names: list[str]) -> bool:
    key = sort.removeprefix("-")
    return key in ("id", "modified") or (key.startswith("f:") and key[2:] in names)


def _keyset_order(sort: str) -> KeysetOrder | None:
    """The keyset order of ``sort`` when an index holds it in order; ``None`` for the field
    sorts that none does (any field but ``email``)."""
    descending = sort.startswith("-")
    key = sort.removeprefix("-")
    if key == "id":
        return KeysetOrder(None, descending)
    if key == "modified":
        return KeysetOrder(F("modified"), descending, "datetime")
    if key == "f:email":
        return KeysetOrder(email_key(), descending, "text")
    return None


def _ordering(sort: str) -> tuple[Any, ...]:
    """The ``ORDER BY`` of ``sort`` (as :func:`keyset_page` pages it: missing values last, the
    id in the same direction to break ties)."""
    descending = sort.startswith("-")
    key = sort.removeprefix("-")
    by_id = F("copernica_id").desc() if descending else F("copernica_id").asc()
    if key == "id":
        return (by_id,)
    expression: Any = (
        F("modified")
        if key == "modified"
        else email_key()
        if key == "f:email"
        else Lower(KeyTextTransform(key[2:], "fields"))
    )
    return (
        expression.desc(nulls_last=True) if descending else expression.asc(nulls_last=True),
        by_id,
    )


def profile_get(*, tenant: Tenant, copernica_id: Any) -> RemoteProfile:
    """One live profile of the tenant's mirror; 404 for anything else."""
    link = profile_link_get(tenant=tenant)
    try:
        pk = int(copernica_id)
    except (TypeError, ValueError):
        raise Http404("No such profile.") from None
    profile = (
        RemoteProfile.objects.select_related("database")
        .filter(link=link, copernica_id=pk, removed_at=None)
        .first()
    )
    if profile is None:
        raise Http404("No such profile.")
    return profile


def _copernica_id(value: Any, what: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise Http404(f"No such {what}.") from None


@dataclass
class SubprofileGroup:
    """The live subprofiles of one profile in one collection, for the profile's page."""

    collection: RemoteCollection
    columns: list[str]
    rows: list[tuple[RemoteSubprofile, list[str]]]
    total: int


def profile_subprofiles(*, profile: RemoteProfile) -> list[SubprofileGroup]:
    """Each live collection of the profile's database with the profile's live subprofiles in
    it (the first :data:`SUBPROFILES_SHOWN`, by id), their values in the collection's order."""
    collections = list(
        RemoteCollection.objects.filter(
            link_id=profile.link_id, database_id=profile.database_id, removed_at=None
        ).order_by("copernica_id")
    )
    live = RemoteSubprofile.objects.filter(
        link_id=profile.link_id,
        collection__in=collections,
        profile_copernica_id=profile.copernica_id,
        removed_at=None,
    )
    # Three queries however many collections: the counts, then the first rows of each.
    totals = dict(
        live.order_by()
        .values("collection_id")
        .annotate(n=Count("pk"))
        .values_list("collection_id", "n")
    )
    position = Window(
        RowNumber(), partition_by=[F("collection_id")], order_by=F("copernica_id").asc()
    )
    shown: dict[int, list[RemoteSubprofile]] = {}
    for row in (
        live.annotate(position=position)
        .filter(position__lte=SUBPROFILES_SHOWN)
        .order_by("collection_id", "copernica_id")
    ):
        shown.setdefault(row.collection_id, []).append(row)
    groups = []
    for collection in collections:
        columns = collection.field_names
        rows = [
            (row, [str(row.fields.get(name, "")) for name in columns])
            for row in shown.get(collection.pk, [])
        ]
        groups.append(SubprofileGroup(collection, columns, rows, totals.get(collection.pk, 0)))
    return groups


def collection_get(
    *, tenant: Tenant, profile: RemoteProfile, copernica_id: Any
) -> RemoteCollection:
    """A live collection of the profile's database, in the tenant's mirror; 404 otherwise."""
    link = profile_link_get(tenant=tenant)
    collection = RemoteCollection.objects.filter(
        link=link,
        database_id=profile.database_id,
        copernica_id=_copernica_id(copernica_id, "collection"),
        removed_at=None,
    ).first()
    if collection is None:
        raise Http404("No such collection.")
    return collection


def subprofile_get(
    *, tenant: Tenant, profile: RemoteProfile, copernica_id: Any
) -> RemoteSubprofile:
    """A live subprofile of the profile in the tenant's mirror; 404 for anything else."""
    link = profile_link_get(tenant=tenant)
    subprofile = (
        RemoteSubprofile.objects.select_related("collection", "collection__database")
        .filter(
            link=link,
            profile_copernica_id=profile.copernica_id,
            collection__database_id=profile.database_id,
            collection__removed_at=None,
            copernica_id=_copernica_id(copernica_id, "subprofile"),
            removed_at=None,
        )
        .order_by("pk")
        .first()
    )
    if subprofile is None:
        raise Http404("No such subprofile.")
    return subprofile
