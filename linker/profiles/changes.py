"""Submitting a profile create, update or delete: checked, stored, then sent by the outbox.

``profile_change_submit`` checks the user's permission, validates the fields against the
mirrored database and stores a ``ProfileChange`` in the caller's transaction; the message to a
worker goes out only after that commits (:mod:`linker.profiles.outbox` sends it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from django.core.exceptions import PermissionDenied
from django.db import transaction

from accounts.models import Tenant, User
from accounts.selectors import AnyUser, can_edit_profiles
from linker.linking.links import link_get
from linker.models import Link, ProfileChange, RemoteDatabase, RemoteProfile
from linker.platform.delivery import Task, enqueue
from linker.platform.errors import InvalidInputError
from linker.profiles.fields import profile_fields_clean, profile_interests_clean

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
) -> ProfileChange:
    """Queue a profile create, update or delete for the tenant's linked account.

    ``database`` (a create) and ``profile`` (an update or delete) are mirror rows or their
    Copernica ids and must belong to the tenant's link. Nothing is queued unless the user may
    edit the tenant's profiles (``PermissionDenied``) and every field and interest is valid
    for the database (``InvalidInputError``). The change is sent after the caller's transaction
    commits.
    """
    if not can_edit_profiles(user=user, tenant=tenant):
        raise PermissionDenied("You may not edit the profiles of this tenant.")
    link = link_get(tenant=tenant)
    if link is None or not link.is_usable:
        raise InvalidInputError("This tenant has no working Copernica link; reconnect it first.")
    if kind not in Kind.values:
        raise InvalidInputError(f"Unknown change {kind!r}.")
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
    assert isinstance(user, User)
    with transaction.atomic():
        change = ProfileChange.objects.create(
            link=link,
            database=db,
            kind=kind,
            copernica_profile_id=target.copernica_id if target is not None else None,
            fields=cleaned,
            interests=clean_interests,
            created_by=user,
        )
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
