"""``Idempotency-Key``: a write retried with the same key gets the first answer again and
changes nothing.

Keys are per agency and kept :data:`KEEP_FOR`. The first request's work and its stored
answer commit in one transaction, so there is no moment when the change exists without its
answer (or the other way round); a concurrent request with the same key waits on the key's
unique index, rolls back its own work and returns the first answer. Only successful answers
are kept: a refused request changed nothing, so running it again is harmless and shows the
same error. The same key with another method, path or body is refused with 422.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework.request import Request

from linker.api.errors import BAD_REQUEST, IDEMPOTENCY_KEY_REUSED, ApiProblem
from linker.models import ApiIdempotentRequest, ApiKey

HEADER = "Idempotency-Key"
KEEP_FOR = timedelta(hours=24)
KEY_MAX = 255


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]
    replayed: bool = False


class _LostRace(Exception):
    """Another request with the same key committed first: undo this one's work."""


def _fingerprint(request: Request) -> str:
    body = json.dumps(request.data, sort_keys=True, separators=(",", ":"), cls=DjangoJSONEncoder)
    return hashlib.sha256(f"{request.method} {request.path}\n{body}".encode()).hexdigest()


def _key_of(request: Request) -> str | None:
    value = request.headers.get(HEADER)
    if value is None:
        return None
    if not 1 <= len(value) <= KEY_MAX or not value.isascii() or not value.isprintable():
        raise ApiProblem(
            BAD_REQUEST, f"{HEADER} must be 1 to {KEY_MAX} printable ASCII characters."
        )
    return value


def _replay(stored: ApiIdempotentRequest, fingerprint: str) -> Answer:
    if stored.fingerprint != fingerprint:
        raise ApiProblem(
            IDEMPOTENCY_KEY_REUSED,
            f"This {HEADER} was used for a different request; use a new key for a new request.",
        )
    return Answer(stored.status, stored.response, replayed=True)


def idempotent(request: Request, *, key: ApiKey, run: Callable[[], Answer]) -> Answer:
    """``run()``'s answer, or the stored answer to the same ``Idempotency-Key`` (if sent)."""
    idempotency_key = _key_of(request)
    if idempotency_key is None:
        return run()
    fingerprint = _fingerprint(request)
    scope = {"agency_id": key.agency_id, "idempotency_key": idempotency_key}
    try:
        with transaction.atomic():
            stored = ApiIdempotentRequest.objects.select_for_update().filter(**scope).first()
            if stored is not None and stored.created_at < timezone.now() - KEEP_FOR:
                stored.delete()
                stored = None
            if stored is not None:
                return _replay(stored, fingerprint)
            answer = run()
            body = json.loads(json.dumps(answer.body, cls=DjangoJSONEncoder))
            try:
                with transaction.atomic():
                    ApiIdempotentRequest.objects.create(
                        **scope, fingerprint=fingerprint, status=answer.status, response=body
                    )
            except IntegrityError:
                raise _LostRace from None
            return answer
    except _LostRace:
        pass
    return _replay(ApiIdempotentRequest.objects.get(**scope), fingerprint)
