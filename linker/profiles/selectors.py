"""Selectors of the profile browser: the mirror of one tenant's account, reached through the user.

Every function starts from a tenant the caller got from ``accounts.selectors.tenant_get`` and
only ever filters the mirror by that tenant's link, so a foreign profile, collection or
subprofile id is "not found", the same 404 as a missing one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.core.paginator import Page, Paginator
from django.db.models import Count, F, Q, Window
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Lower, RowNumber
from django.http import Http404

from accounts.models import Tenant
from linker.linking.links import link_get
from linker.models import (
    Link,
    RemoteCollection,
    RemoteDatabase,
    RemoteProfile,
    RemoteSubprofile,
)

PAGE_SIZE = 50
#: Subprofiles shown per collection on a profile's page.
SUBPROFILES_SHOWN = 100


@dataclass
class ProfileBrowser:
    database: RemoteDatabase | None
    databases: list[RemoteDatabase]
    page: Page[RemoteProfile] | None
    query: str
    field: str
    sort: str
    columns: list[str]


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
) -> ProfileBrowser:
    """Search (any field, or one), sort and paginate the live profiles of one database."""
    link = profile_link_get(tenant=tenant)
    databases = database_list(link=link)
    database = _database_pick(databases, database_id)
    query = query.strip()[:200]
    if database is None:
        return ProfileBrowser(None, databases, None, query, "", "id", [])
    names = database.field_names
    field = field if field in names else ""
    profiles = RemoteProfile.objects.filter(link=link, database=database, removed_at=None)
    if query:
        searched = [field] if field else names
        # Expressions, not ``fields__<name>`` lookups: Copernica field names may hold "__".
        aliases = {f"f{i}": KeyTextTransform(name, "fields") for i, name in enumerate(searched)}
        profiles = profiles.alias(**aliases)
        match = Q()
        for alias in aliases:
            match |= Q(**{f"{alias}__icontains": query})
        # ASCII digits only: ``'²'.isdigit()`` is true, and ``int('²')`` raises.
        if query.isascii() and query.isdigit() and not field:
            match |= Q(copernica_id=int(query))
        profiles = profiles.filter(match)
    sort = sort if _sort_valid(sort, names) else "id"
    profiles = profiles.order_by(*_ordering(sort, names))
    return ProfileBrowser(
        database=database,
        databases=databases,
        page=Paginator(profiles, PAGE_SIZE).get_page(page),
        query=query,
        field=field,
        sort=sort,
        columns=names[:5],
    )


def _sort_valid(sort: str, names: list[str]) -> bool:
    key = sort.removeprefix("-")
    return key in ("id", "modified") or (key.startswith("f:") and key[2:] in names)


def _ordering(sort: str, names: list[str]) -> tuple[Any, ...]:
    descending = sort.startswith("-")
    key = sort.lstrip("-")
    if key == "id":
        return ("-copernica_id",) if descending else ("copernica_id",)
    if key == "modified":
        return ("-modified", "-copernica_id") if descending else ("modified", "copernica_id")
    if key.startswith("f:") and key[2:] in names:
        expression = Lower(KeyTextTransform(key[2:], "fields"))
        return (
            expression.desc() if descending else expression.asc(),
            "copernica_id",
        )
    return ("copernica_id",)


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
