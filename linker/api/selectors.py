"""Selectors the API's lists need, beyond the pages' own: each starts from a link the caller
reached through the key's tenant (``ApiView.link``), so nothing of another link is reachable.

The lists are querysets in the order of their cursor: the pagination adds ``> position`` and
``LIMIT``, and one index serves each (``(database, copernica_id)`` for profiles,
``(collection, copernica_id)`` for subprofiles).
"""

from __future__ import annotations

from datetime import datetime

from django.db import connection
from django.db.models import QuerySet
from django.db.models.fields.json import KeyTextTransform
from django.http import Http404

from linker.api.compiled import compiled, instances
from linker.models import (
    Link,
    ProfileChange,
    RemoteCollection,
    RemoteDatabase,
    RemoteProfile,
    RemoteSubprofile,
)


def collection_list(
    *, link: Link, database: RemoteDatabase | None = None
) -> list[RemoteCollection]:
    """The link's live collections (of one database, if given), by Copernica id."""
    rows = RemoteCollection.objects.filter(
        link=link, removed_at=None, database__removed_at=None
    ).select_related("database")
    if database is not None:
        rows = rows.filter(database=database)
    return list(rows.order_by("copernica_id"))


def _database_query(link_id: int, copernica_id: int, by_id: bool) -> QuerySet[RemoteDatabase]:
    rows = RemoteDatabase.objects.filter(link_id=link_id, removed_at=None)
    if by_id:
        return rows.filter(copernica_id=copernica_id).order_by("pk")
    return rows.order_by("copernica_id")


def _database_first(*, link: Link, copernica_id: int | None) -> RemoteDatabase | None:
    # Compiled once (linker.api.compiled): every page of profiles looks its database up.
    by_id = copernica_id is not None
    query = compiled(_database_query, 2, by_id, frozenset() if by_id else frozenset({1}))
    if query is None:
        return _database_query(link.pk, copernica_id or 0, by_id).first()
    row = query.first_row(link.pk, copernica_id)
    return instances(query, row, RemoteDatabase)[0] if row is not None else None


def database_by_id(*, link: Link, copernica_id: int) -> RemoteDatabase:
    """A live database of the link; 404 for anything else."""
    database = _database_first(link=link, copernica_id=copernica_id)
    if database is None:
        raise Http404("No such database.")
    return database


def database_default(*, link: Link) -> RemoteDatabase | None:
    """The link's live database with the lowest Copernica id (the lists' default), if any.

    A link found by ``linker.api.access.api_link_get`` brought its id along: that database is
    made from it without a query, its other fields loaded when first read.
    """
    if hasattr(link, "default_database_pk"):
        if link.default_database_pk is None:
            return None
        known = {
            "id": link.default_database_pk,
            "link_id": link.pk,
            "copernica_id": getattr(link, "default_database_copernica_id", None),
        }
        # from_db takes the values in the order of the model's fields, whatever the names' order.
        names = [f.attname for f in RemoteDatabase._meta.concrete_fields if f.attname in known]
        return RemoteDatabase.from_db(connection.alias, names, [known[n] for n in names])
    return _database_first(link=link, copernica_id=None)


def collection_by_id(*, link: Link, copernica_id: int) -> RemoteCollection:
    """A live collection of a live database of the link; 404 for anything else."""
    collection = (
        RemoteCollection.objects.select_related("database")
        .filter(
            link=link,
            copernica_id=copernica_id,
            removed_at=None,
            database__removed_at=None,
        )
        .first()
    )
    if collection is None:
        raise Http404("No such collection.")
    return collection


def profile_list(
    *,
    link: Link,
    database: RemoteDatabase,
    modified_since: datetime | None = None,
    field: str = "",
    value: str | None = None,
) -> QuerySet[RemoteProfile]:
    """The live profiles of one database of the link, by Copernica id; optionally only those
    modified since an instant, or whose ``field`` equals ``value`` exactly."""
    rows = RemoteProfile.objects.filter(link=link, database=database, removed_at=None)
    if modified_since is not None:
        rows = rows.filter(modified__gte=modified_since)
    if field and value is not None:
        # An expression, not a ``fields__<name>`` lookup: Copernica field names may hold "__".
        rows = rows.alias(wanted=KeyTextTransform(field, "fields")).filter(wanted=value)
    # No join of the database: the page is of one, and the serializer is told which.
    return rows.order_by("copernica_id")


def subprofile_list(
    *,
    link: Link,
    collection: RemoteCollection | None = None,
    profile_id: int | None = None,
    modified_since: datetime | None = None,
) -> QuerySet[RemoteSubprofile]:
    """The live subprofiles of the link in live collections, by Copernica id: of one
    collection, of one profile, or both."""
    rows = RemoteSubprofile.objects.filter(link=link, removed_at=None, collection__removed_at=None)
    if collection is not None:
        rows = rows.filter(collection=collection)
    if profile_id is not None:
        rows = rows.filter(profile_copernica_id=profile_id)
    if modified_since is not None:
        rows = rows.filter(modified__gte=modified_since)
    return rows.select_related("collection").order_by("copernica_id")


def subprofile_by_id(*, link: Link, copernica_id: int) -> RemoteSubprofile:
    """A live subprofile of the link; 404 for anything else."""
    subprofile = subprofile_list(link=link).filter(copernica_id=copernica_id).order_by("pk").first()
    if subprofile is None:
        raise Http404("No such subprofile.")
    return subprofile


def change_list(
    *, link: Link, state: str = "", profile_id: int | None = None
) -> QuerySet[ProfileChange]:
    """The link's profile and subprofile changes, optionally in one state or of one profile."""
    rows = ProfileChange.objects.filter(link=link).select_related(
        "database", "collection", "created_by"
    )
    if state:
        rows = rows.filter(state=state)
    if profile_id is not None:
        rows = rows.filter(copernica_profile_id=profile_id)
    return rows
