"""Submitting a (sub)profile create, update or delete: checked, stored, then sent by the outbox.

``profile_change_submit`` and ``subprofile_change_submit`` check the user's permission, validate
the fields against the mirrored database or collection and store a ``ProfileChange`` in the
caller's transaction; the message to a worker goes out only after that commits
(:mod:`linker.profiles.batch_sending` sends it).

An update carries ``base_modified``: the version of the mirror copy the user edited
(:func:`linker.profiles.change_selectors.profile_version` /
:func:`~linker.profiles.change_selectors.subprofile_version`). Before it is sent, the outbox
compares it with Copernica's current ``modified`` and stops the change as a conflict when
someone else changed the (sub)profile since. Without it (a scripted change) nothing is compared.

While the link needs reconnecting a change is still accepted: it is stored *waiting* and sent,
in order, after someone reconnects (:func:`linker.profiles.relay.profile_changes_release`). A
disconnected link, or one waiting for the shared-account confirmation, accepts no changes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from django.core.exceptions import PermissionDenied
from django.db import transaction

from accounts.models import Tenant, User
from accounts.selectors import AnyUser, can_edit_profiles
from linker.linking.links import link_get
from linker.models import (
    Link,
    LinkState,
    ProfileChange,
    RemoteCollection,
    RemoteDatabase,
    RemoteProfile,
    RemoteSubprofile,
)
from linker.platform.delivery import Task, enqueue
from linker.platform.errors import InvalidInputError
from linker.profiles.fields import (
    profile_fields_clean,
    profile_interests_clean,
    subprofile_fields_clean,
)
from linker.profiles.outbox import WAITING_MESSAGE

Kind = ProfileChange.Kind


def profile_change_submit(
    *,
    user: AnyUser,
    tenant: Tenant,
    kind: str,
    database: RemoteDatabase | int | None = None,
    profile: RemoteProfile | int | None = None,
    fields: Mapping[str, object] | None = None,
    interests: Sequence[str] | Mapping[str, object] | None = None,
    base_modified: datetime | None = None,
) -> ProfileChange:
    """Queue a profile create, update or delete for the tenant's linked account.

    ``database`` (a create) and ``profile`` (an update or delete) are mirror rows or their
    Copernica ids and must belong to the tenant's link. Nothing is queued unless the user may
    edit the tenant's profiles (``PermissionDenied``) and every field and interest is valid
    for the database (``InvalidInputError``). The change is sent after the caller's transaction
    commits; an update with ``base_modified`` is checked for a conflict first.
    """
    link = _writable_link(user, tenant, kind)
    target: RemoteProfile | None = None
    if kind == Kind.CREATE:
        db = _database_of(link, database)
    else:
        target = _profile_of(link, profile)
        db = target.database
    cleaned = profile_fields_clean(database=db, fields=fields or {}) if kind != Kind.DELETE else {}
    if kind == Kind.UPDATE and not cleaned and interests is None:
        raise InvalidInputError("Nothing to change.")
    clean_interests = (
        profile_interests_clean(database=db, interests=interests) if kind != Kind.DELETE else None
    )
    return _store(
        user,
        link=link,
        database=db,
        kind=kind,
        copernica_profile_id=target.copernica_id if target is not None else None,
        fields=cleaned,
        interests=clean_interests,
        base_modified=base_modified if kind == Kind.UPDATE else None,
    )


def subprofile_change_submit(
    *,
    user: AnyUser,
    tenant: Tenant,
    kind: str,
    collection: RemoteCollection | int | None = None,
    profile: RemoteProfile | int | None = None,
    subprofile: RemoteSubprofile | int | None = None,
    fields: Mapping[str, object] | None = None,
    base_modified: datetime | None = None,
) -> ProfileChange:
    """Queue a subprofile create, update or delete for the tenant's linked account.

    A create needs the ``collection`` and the parent ``profile`` (of that collection's
    database); an update or delete names a mirrored ``subprofile``. Each is a mirror row or its
    Copernica id and must belong to the tenant's link (else ``InvalidInputError``, as for a
    missing one). Permission and validation as :func:`profile_change_submit`; the change is
    ordered with its parent profile's changes.
    """
    link = _writable_link(user, tenant, kind)
    target: RemoteSubprofile | None = None
    if kind == Kind.CREATE:
        group = _collection_of(link, collection)
        parent = _profile_of(link, profile)
        if parent.database_id != group.database_id:
            raise InvalidInputError(
                f"{group.name} is not a collection of profile {parent.copernica_id}'s database."
            )
        parent_id = parent.copernica_id
    else:
        target = _subprofile_of(link, subprofile)
        group = target.collection
        parent_id = target.profile_copernica_id
    cleaned = (
        subprofile_fields_clean(collection=group, fields=fields or {})
        if kind != Kind.DELETE
        else {}
    )
    if kind == Kind.UPDATE and not cleaned:
        raise InvalidInputError("Nothing to change.")
    return _store(
        user,
        link=link,
        database=group.database,
        collection=group,
        kind=kind,
        copernica_profile_id=parent_id,
        copernica_subprofile_id=target.copernica_id if target is not None else None,
        fields=cleaned,
        base_modified=base_modified if kind == Kind.UPDATE else None,
    )


def _writable_link(user: AnyUser, tenant: Tenant, kind: str) -> Link:
    if not can_edit_profiles(user=user, tenant=tenant):
        raise PermissionDenied("You may not edit the profiles of this tenant.")
    link = link_get(tenant=tenant)
    if link is None or not link.access_token_encrypted:
        raise InvalidInputError(
            "This tenant's Copernica link is disconnected: connect it again before changing "
            "profiles. Nothing was saved."
        )
    if link.state not in (LinkState.ACTIVE, LinkState.NEEDS_RECONNECT):
        raise InvalidInputError(
            "This tenant's Copernica link waits for confirmation (another tenant holds the "
            "same account): confirm it on the tenant page first. Nothing was saved."
        )
    if kind not in Kind.values:
        raise InvalidInputError(f"Unknown change {kind!r}.")
    return link


def _store(user: AnyUser, **values: object) -> ProfileChange:
    assert isinstance(user, User)
    link = values["link"]
    assert isinstance(link, Link)
    with transaction.atomic():
        # Serialised with a reconnect (``link_store_token`` locks the row too): a change stored
        # as waiting is committed before the release that follows the reconnect looks for it.
        state = Link.objects.select_for_update().values_list("state", flat=True).get(pk=link.pk)
        if state == LinkState.NEEDS_RECONNECT:
            return ProfileChange.objects.create(
                created_by=user,
                state=ProfileChange.State.WAITING,
                error_message=WAITING_MESSAGE,
                **values,
            )
        change = ProfileChange.objects.create(created_by=user, **values)
        enqueue(Task.PROFILE_CHANGE_SEND, change.pk)
    return change


def _database_of(link: Link, database: RemoteDatabase | int | None) -> RemoteDatabase:
    if isinstance(database, RemoteDatabase):
        if database.link_id != link.pk:
            raise InvalidInputError("No such database.")
        return database
    found = RemoteDatabase.objects.filter(link=link, removed_at=None)
    found = found.filter(copernica_id=database) if database is not None else found
    first = found.order_by("copernica_id").first()
    if first is None:
        raise InvalidInputError("No such database; sync the account first.")
    return first


def _profile_of(link: Link, profile: RemoteProfile | int | None) -> RemoteProfile:
    if isinstance(profile, RemoteProfile):
        if profile.link_id != link.pk:
            raise InvalidInputError("No such profile.")
        return profile
    if profile is None:
        raise InvalidInputError("Say which profile to change.")
    found = (
        RemoteProfile.objects.select_related("database")
        .filter(link=link, copernica_id=profile, removed_at=None)
        .first()
    )
    if found is None:
        raise InvalidInputError("No such profile.")
    return found


def _collection_of(link: Link, collection: RemoteCollection | int | None) -> RemoteCollection:
    if collection is None:
        raise InvalidInputError("Say which collection the subprofile goes in.")
    rows = RemoteCollection.objects.select_related("database").filter(
        link=link, removed_at=None, database__removed_at=None
    )
    if isinstance(collection, RemoteCollection):
        rows = rows.filter(pk=collection.pk)
    else:
        rows = rows.filter(copernica_id=collection)
    found = rows.first()
    if found is None:
        raise InvalidInputError("No such collection.")
    return found


def _subprofile_of(link: Link, subprofile: RemoteSubprofile | int | None) -> RemoteSubprofile:
    if subprofile is None:
        raise InvalidInputError("Say which subprofile to change.")
    rows = RemoteSubprofile.objects.select_related("collection", "collection__database").filter(
        link=link, removed_at=None, collection__removed_at=None
    )
    if isinstance(subprofile, RemoteSubprofile):
        rows = rows.filter(pk=subprofile.pk)
    else:
        rows = rows.filter(copernica_id=subprofile)
    found = rows.first()
    if found is None:
        raise InvalidInputError("No such subprofile.")
    return found
