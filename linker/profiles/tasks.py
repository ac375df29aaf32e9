"""Celery tasks of the write-back outbox."""

from __future__ import annotations

from celery import shared_task

from linker.platform.delivery import Task
from linker.profiles.batch_sending import profile_change_send as change_send
from linker.profiles.relay import profile_changes_relay as changes_relay
from linker.profiles.relay import profile_changes_release as changes_release
from linker.profiles.search_fill import search_fill_run


@shared_task(name=Task.PROFILE_CHANGE_SEND.value, ignore_result=True)
def profile_change_send(change_id: int) -> None:
    """Send a queued profile change to Copernica, with the other queued changes of its link
    that may go with it (a batch); a duplicate delivery, or the message of a change a batch
    already sent, is a no-op.

    Routed to the ``writes`` queue by ``CELERY_TASK_ROUTES``.
    """
    change_send(change_id=change_id)


@shared_task(name=Task.PROFILE_CHANGES_RELAY.value, ignore_result=True, acks_late=False)
def profile_changes_relay() -> None:
    """Beat, every minute: re-send changes whose message was lost."""
    changes_relay()


@shared_task(name=Task.PROFILE_CHANGES_RELEASE.value, ignore_result=True)
def profile_changes_release(link_id: int) -> None:
    """After a reconnect: queue the link's waiting changes again, in order."""
    changes_release(link_id=link_id)


@shared_task(name=Task.PROFILE_SEARCH_FILL.value, ignore_result=True)
def profile_search_fill(link_id: int) -> None:
    """Fill the link's unfilled search texts (after a sync run or an inbound batch);
    on the sync queue ("default"), at the lowest priority."""
    search_fill_run(link_id=link_id)
