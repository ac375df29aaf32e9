"""API keys of the JSON API: made, found again by their secret, revoked; and the log of the
requests made with them (the API section of the agency's security log).

A key is ``clk_`` and 43 URL-safe characters from :func:`secrets.token_urlsafe` (256 random
bits), shown once and stored only as its SHA-256. A fast hash is enough here: a password hash
(PBKDF2, Argon2) is slow to make guessing a *low-entropy* secret expensive, but nobody can
guess 256 random bits however fast the hash is, and a slow hash would cost every API request
tens of milliseconds. The hash is unique and indexed, so a key is found in one lookup.

A key acts with the rights of the agency admin who made it (services take that person as
``user``), limited to the key's agency and scopes. It stops working when revoked, and when its
maker leaves the agency: :func:`on_membership_deleted` (connected in ``linker.apps``) revokes
their keys in the transaction that removes the membership, and :func:`api_key_authenticate`
checks the membership again on every request.
"""

from __future__ import annotations

import functools
import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, connection, models, transaction
from django.db.models import Q, QuerySet
from django.http import Http404
from django.utils import timezone

from accounts.models import AGENCY_ROLES, Agency, Membership, SecurityEventKind, User
from accounts.security_log import security_event_record
from accounts.selectors import AnyUser, is_agency_admin
from linker.models import ApiKey, ApiKeyScope, ApiRequestLog
from linker.platform.errors import InvalidInputError, LinkerError

KEY_START = "clk_"
#: Characters of a key shown in lists (``clk_`` and 8 more): enough to tell keys apart.
PREFIX_LENGTH = 12
#: ``last_used_at`` moves at most this often per key: not one write per request.
LAST_USED_EVERY = timedelta(minutes=1)
NAME_MAX = ApiKey._meta.get_field("name").max_length or 100
_PATH_MAX = ApiRequestLog._meta.get_field("path").max_length or 500
M = TypeVar("M", bound=models.Model)


class ApiKeyRefusedError(LinkerError):
    """A request's key is unknown, revoked, or its maker no longer works for the agency.

    ``key`` is the refused key when it is known (its agency's log records the attempt).
    """

    def __init__(self, message: str, *, key: ApiKey | None = None) -> None:
        super().__init__(message)
        self.key = key


@dataclass(frozen=True)
class NewApiKey:
    """A key just made, with its secret: shown once, never stored."""

    key: ApiKey
    secret: str


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def api_key_scopes_clean(scopes: Any) -> list[str]:
    """``scopes`` (a list, or text such as ``"read,write"``) as known scopes in their order."""
    if isinstance(scopes, str):
        scopes = [part.strip() for part in scopes.split(",") if part.strip()]
    if not isinstance(scopes, list | tuple) or not scopes:
        raise InvalidInputError("Choose at least one scope: read, write or admin.", field="scopes")
    known = ApiKeyScope.values
    unknown = sorted({str(scope) for scope in scopes} - set(known))
    if unknown:
        raise InvalidInputError(
            f"Unknown scope {', '.join(repr(s) for s in unknown)}; use read, write or admin.",
            field="scopes",
        )
    return [scope for scope in known if scope in scopes]


def api_key_create(*, agency: Agency, user: AnyUser, name: str, scopes: Any) -> NewApiKey:
    """A new key of ``agency`` made by its admin ``user``, acting with their rights."""
    if not is_agency_admin(user=user, agency=agency):
        raise PermissionDenied("Only agency admins create API keys.")
    assert isinstance(user, User)
    name = (name or "").strip()
    if not name:
        raise InvalidInputError(
            "Give the key a name, such as the system that will use it.", field="name"
        )
    if len(name) > NAME_MAX:
        raise InvalidInputError(f"At most {NAME_MAX} characters.", field="name")
    clean_scopes = api_key_scopes_clean(scopes)
    for _attempt in range(3):
        secret = KEY_START + secrets.token_urlsafe(32)
        try:
            with transaction.atomic():
                key = ApiKey.objects.create(
                    agency=agency,
                    name=name,
                    prefix=secret[:PREFIX_LENGTH],
                    key_hash=_hash(secret),
                    scopes=clean_scopes,
                    created_by=user,
                )
        except IntegrityError:  # two keys with the same first characters: draw again
            continue
        security_event_record(
            kind=SecurityEventKind.API_KEY_CREATED,
            user=user,
            agency=agency,
            detail=f"{key.prefix}… “{name}”, scopes: {', '.join(clean_scopes)}.",
        )
        return NewApiKey(key=key, secret=secret)
    raise LinkerError("Could not make a key; try again.")


def api_key_list(*, agency: Agency) -> QuerySet[ApiKey]:
    """The agency's keys, newest first. Callers check that the viewer administers ``agency``."""
    return ApiKey.objects.filter(agency=agency).select_related("created_by")


def api_key_get(*, agency: Agency, id: Any) -> ApiKey:
    """One key of ``agency``; 404 for a key of another agency as for a missing one."""
    try:
        pk = int(id)
    except (TypeError, ValueError):
        raise Http404("No such API key.") from None
    key = api_key_list(agency=agency).filter(pk=pk).first()
    if key is None:
        raise Http404("No such API key.")
    return key


def api_key_revoke(*, key: ApiKey, user: AnyUser) -> bool:
    """Revoke ``key`` at once (agency admins). Returns whether it was still active."""
    if not is_agency_admin(user=user, agency=key.agency):
        raise PermissionDenied("Only agency admins revoke API keys.")
    who = user.email if isinstance(user, User) else "an admin"
    revoked = _revoke(ApiKey.objects.filter(pk=key.pk), reason=f"Revoked by {who}.") > 0
    if revoked:
        security_event_record(
            kind=SecurityEventKind.API_KEY_REVOKED,
            user=user if isinstance(user, User) else None,
            agency=key.agency,
            detail=f"{key.prefix}… “{key.name}”.",
        )
    return revoked


def _revoke(keys: QuerySet[ApiKey], *, reason: str) -> int:
    return keys.filter(revoked_at__isnull=True).update(
        revoked_at=timezone.now(), revoked_reason=reason[:200]
    )


def api_keys_revoke_for_member(*, user_id: int, agency_id: int, reason: str) -> int:
    """Revoke every active key of the agency made by this person. Returns how many."""
    return _revoke(ApiKey.objects.filter(agency_id=agency_id, created_by_id=user_id), reason=reason)


def on_membership_deleted(sender: Any, instance: Membership, **kwargs: Any) -> None:
    """``post_delete`` of ``accounts.Membership``: a person who leaves an agency takes the keys
    they made with them, in the same transaction (reliability.md case 43)."""
    if instance.agency_id is None:
        return  # a tenant role: keys belong to agencies
    api_keys_revoke_for_member(
        user_id=instance.user_id,
        agency_id=instance.agency_id,
        reason="Its maker was removed from the agency.",
    )


def _maker_still_works_there(key: ApiKey) -> bool:
    maker = key.created_by
    if maker is None or not maker.is_active:
        return False
    return maker.is_superuser or bool(getattr(key, "maker_works_there", False))


@functools.cache
def _authenticate_sql() -> str:
    """The key, its maker and whether the maker still works for the key's agency, by hash.

    Written out rather than built by the ORM on every request: compiling the joined,
    annotated queryset cost more than running it, on the API's hottest path. Built once per
    process from the models' own column lists, so a new column is read without a change here.
    """
    quote = connection.ops.quote_name
    key_columns = ", ".join(f"k.{quote(str(f.column))}" for f in ApiKey._meta.concrete_fields)
    user_columns = ", ".join(f"u.{quote(str(f.column))}" for f in User._meta.concrete_fields)
    membership = quote(Membership._meta.db_table)
    roles = ", ".join("%s" for _ in sorted(AGENCY_ROLES))
    return (
        f"SELECT {key_columns}, {user_columns}, EXISTS ("  # noqa: S608 - names from the models
        f"SELECT 1 FROM {membership} m WHERE m.user_id = k.created_by_id "
        f"AND m.agency_id = k.agency_id AND m.role IN ({roles})) "
        f"FROM {quote(ApiKey._meta.db_table)} k "
        f"LEFT JOIN {quote(User._meta.db_table)} u ON u.id = k.created_by_id "
        "WHERE k.key_hash = %s LIMIT 1"
    )


def _key_find(secret: str) -> ApiKey | None:
    """The key whose hash matches ``secret``, with its maker and ``maker_works_there``, in one
    query on the unique index of ``key_hash``."""
    with connection.cursor() as cursor:
        cursor.execute(_authenticate_sql(), [*sorted(AGENCY_ROLES), _hash(secret)])
        row = cursor.fetchone()
    if row is None:
        return None
    width = len(ApiKey._meta.concrete_fields)
    key = _instance(ApiKey, row[:width])
    if key.created_by_id is not None:  # NULL once the maker was deleted
        key.created_by = _instance(User, row[width:-1])
    key.maker_works_there = bool(row[-1])  # type: ignore[attr-defined]
    return key


def _instance(model: type[M], values: Sequence[Any]) -> M:
    """A ``model`` row read by hand, its values converted as the ORM would (JSON fields)."""
    fields = model._meta.concrete_fields
    converted = [
        field.from_db_value(value, None, connection) if hasattr(field, "from_db_value") else value
        for field, value in zip(fields, values, strict=True)
    ]
    return model.from_db(connection.alias, [field.attname for field in fields], converted)


def api_key_authenticate(*, secret: str, now: datetime | None = None) -> ApiKey:
    """The active key behind ``secret``; ``ApiKeyRefusedError`` for anything else.

    Every request checks, in one query, that the key exists, is not revoked and that its maker
    still works for its agency: nothing about a key is cached, so a revocation applies to the
    very next request. Its ``last_used_at`` is brought up to date when it is a minute old or
    more (a second, conditional statement at most once a minute per key).
    """
    if not secret.startswith(KEY_START) or len(secret) > 100 or not secret.isascii():
        raise ApiKeyRefusedError("Unknown API key.")
    key = _key_find(secret)
    if key is None:
        raise ApiKeyRefusedError("Unknown API key.")
    if key.revoked_at is not None:
        raise ApiKeyRefusedError("This API key was revoked.", key=key)
    if not _maker_still_works_there(key):
        raise ApiKeyRefusedError("This API key's maker no longer works for the agency.", key=key)
    _touch(key, now or timezone.now())
    return key


def _touch(key: ApiKey, now: datetime) -> None:
    stale = now - LAST_USED_EVERY
    if key.last_used_at is not None and key.last_used_at > stale:
        return
    # Conditional, so that concurrent requests of the same key write the row once.
    ApiKey.objects.filter(pk=key.pk).filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lte=stale)
    ).update(last_used_at=now)
    key.last_used_at = now


def api_request_record(
    *,
    key: ApiKey | None,
    method: str,
    path: str,
    status: int,
    duration_ms: int,
    ip_address: str | None,
) -> None:
    """Log one API request (``path`` already cleared of secrets by the caller)."""
    values = {
        "agency_id": key.agency_id if key is not None else None,
        "key_id": key.pk if key is not None else None,
        "method": method[:10],
        "path": path[:_PATH_MAX],
        "status": status,
        "duration_ms": max(0, duration_ms),
        "ip_address": ip_address,
        "at": timezone.now(),
    }
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        ApiRequestLog.objects.create(**values)
        return
    # One statement in its own transaction that commits without waiting for the disk
    # (``set_config(..., true)`` is SET LOCAL): an API request costs one round trip here,
    # not a WAL flush. A crash of the database server may lose the last fraction of a second
    # of log rows; every other write stays durable.
    columns = ", ".join(connection.ops.quote_name(name) for name in values)
    placeholders = ", ".join(["%s"] * len(values))
    table = connection.ops.quote_name(ApiRequestLog._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({columns}) SELECT {placeholders} "  # noqa: S608 - names from the model
            "FROM (SELECT set_config('synchronous_commit', 'off', true)) AS unflushed",
            list(values.values()),
        )


def api_request_list(*, agency: Agency) -> QuerySet[ApiRequestLog]:
    """The agency's API requests, newest first. Callers check that the viewer administers it."""
    return ApiRequestLog.objects.filter(agency=agency).select_related("key")
