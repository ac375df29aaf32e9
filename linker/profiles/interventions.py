"""A person steps in on the change list: *Retry* a failed or cancelled change, *Cancel* a
waiting or queued one.

Only someone who may edit the tenant's profiles does either (``PermissionDenied``). A retried
change goes back to the queue (or waits, while the link needs reconnecting) with a fresh count
of attempts; a cancelled one never reaches Copernica, and the changes behind it go on.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone

from accounts.models import Tenant
from accounts.selectors import AnyUser, can_edit_profiles
from linker.linking.links import link_get
from linker.models import Link, LinkState, ProfileChange, RemoteDatabase
from linker.platform.delivery import Task, enqueue
from linker.platform.errors import InvalidInputError
from linker.profiles.outbox import WAITING_MESSAGE, change_close

State = ProfileChange.State
RETRYABLE = (State.FAILED, State.CANCELLED)
CANCELLABLE = (State.WAITING, State.QUEUED)


def _locked_change(
    user: AnyUser, tenant: Tenant, change: ProfileChange | int, verb: str
) -> tuple[Link, ProfileChange]:
    if not can_edit_profiles(user=user, tenant=tenant):
        raise PermissionDenied(f"You may not {verb} changes of this tenant.")
    link = link_get(tenant=tenant)
    change_id = change.pk if isinstance(change, ProfileChange) else change
    current = (
        ProfileChange.objects.select_for_update().filter(pk=change_id, link=link).first()
        if link is not None
        else None
    )
    if link is None or current is None:
        raise InvalidInputError("No such change.")
    return link, current


def _note(change: ProfileChange, text: str) -> None:
    change.attempt_log = [
        *list(change.attempt_log or []),
        {"at": timezone.now().isoformat(), "outcome": text},
    ][-20:]


def profile_change_retry(
    *, user: AnyUser, tenant: Tenant, change: ProfileChange | int
) -> ProfileChange:
    """Queue a failed or cancelled change again (it waits while the link needs reconnecting).

    ``InvalidInputError`` for a change in any other state, of a database the linked account no
    longer has (it was linked to another account), or while the link is disconnected.
    """
    with transaction.atomic():
        link, current = _locked_change(user, tenant, change, "retry")
        if current.state not in RETRYABLE:
            raise InvalidInputError(
                f"Change #{current.pk} is {current.get_state_display().lower()}; only a failed "
                "or cancelled change can be retried."
            )
        if RemoteDatabase.objects.filter(pk=current.database_id, removed_at__isnull=False).exists():
            raise InvalidInputError(
                f"Change #{current.pk} cannot be retried: its database is no longer in the linked "
                "Copernica account."
            )
        link = Link.objects.select_for_update().get(pk=link.pk)
        if link.state not in (LinkState.ACTIVE, LinkState.NEEDS_RECONNECT):
            raise InvalidInputError(
                "This tenant's Copernica link is not connected: connect it again, then retry."
            )
        who = getattr(user, "email", "")
        current.attempts = 0
        current.finished_at = None
        current.next_attempt_at = None
        current.sending_since = None
        _note(current, f"Retried by {who}.")
        if link.state == LinkState.NEEDS_RECONNECT:
            current.state = State.WAITING
            current.error_message = WAITING_MESSAGE
            current.save()
        else:
            current.state = State.QUEUED
            current.error_message = ""
            current.save()
            enqueue(Task.PROFILE_CHANGE_SEND, current.pk)
    return current


def profile_change_cancel(
    *, user: AnyUser, tenant: Tenant, change: ProfileChange | int
) -> ProfileChange:
    """Cancel a waiting or queued change before it is sent; the changes behind it go on.

    ``InvalidInputError`` once it is being sent or finished.
    """
    with transaction.atomic():
        _, current = _locked_change(user, tenant, change, "cancel")
        if current.state not in CANCELLABLE:
            raise InvalidInputError(
                f"Change #{current.pk} is {current.get_state_display().lower()}; only a waiting "
                "or queued change can be cancelled."
            )
        change_close(current, State.CANCELLED, f"Cancelled by {getattr(user, 'email', '')}.")
    return current
