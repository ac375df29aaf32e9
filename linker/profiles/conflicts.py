"""Deciding about a change in conflict: send it anyway, or discard it.

The outbox stops an update when Copernica changed its (sub)profile after the copy the user
edited (:mod:`linker.profiles.sending`). Someone who may edit the tenant's profiles then
decides: *send anyway* marks it forced (no second check) and queues it again; *discard*
cancels it, keeping Copernica's values. Either way the changes waiting behind it go on.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone

from accounts.models import Tenant
from accounts.selectors import AnyUser, can_edit_profiles
from linker.linking.links import link_get
from linker.models import ProfileChange
from linker.platform.delivery import Task, enqueue
from linker.platform.errors import InvalidInputError
from linker.profiles.outbox import change_close

State = ProfileChange.State
SEND = "send"
DISCARD = "discard"


def profile_change_resolve(
    *, user: AnyUser, tenant: Tenant, change: ProfileChange | int, action: str
) -> ProfileChange:
    """Send a change in conflict anyway (``"send"``) or discard it (``"discard"``).

    ``PermissionDenied`` unless the user may edit the tenant's profiles; ``InvalidInputError``
    for a change of another tenant, an unknown action, or a change no longer in conflict
    (someone else decided first).
    """
    if not can_edit_profiles(user=user, tenant=tenant):
        raise PermissionDenied("You may not edit the profiles of this tenant.")
    if action not in (SEND, DISCARD):
        raise InvalidInputError(f"Unknown decision {action!r}.")
    link = link_get(tenant=tenant)
    change_id = change.pk if isinstance(change, ProfileChange) else change
    with transaction.atomic():
        current = (
            ProfileChange.objects.select_for_update().filter(pk=change_id, link=link).first()
            if link is not None
            else None
        )
        if current is None:
            raise InvalidInputError("No such change.")
        if current.state != State.CONFLICT:
            raise InvalidInputError(
                f"Change #{current.pk} is no longer waiting for a decision "
                f"(it is {current.get_state_display().lower()})."
            )
        who = getattr(user, "email", "")
        if action == DISCARD:
            change_close(current, State.CANCELLED, f"Discarded by {who}; Copernica's values kept.")
            return current
        current.state = State.QUEUED
        current.force = True
        current.next_attempt_at = None
        current.error_message = ""
        current.attempt_log = [
            *list(current.attempt_log or []),
            {"at": timezone.now().isoformat(), "outcome": f"Sent anyway by {who}."},
        ][-20:]
        current.save()
        enqueue(Task.PROFILE_CHANGE_SEND, current.pk)
    return current
