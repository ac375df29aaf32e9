"""Registering a link's webhooks, the daily repair, disconnect, and the stretched schedule."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.utils import timezone

from api_client.sandbox.control import SandboxControl
from linker.inbound.registration import CALLERS, inbound_webhooks_register
from linker.linking.links import link_disconnect
from linker.models import InboundEvent, InboundLink, SyncSchedule, WebhookHealth
from linker.sync.schedule import sync_schedule_due
from tests.inbound.conftest import Hooked


def _hooks_of(sandbox: SandboxControl, account_id: str) -> list[dict[str, Any]]:
    return [hook for hook in sandbox.webhooks() if str(hook["account_id"]) == str(account_id)]


def test_link_registers_three_triggers_per_database_and_collection_without_rest(
    hooked: Callable[..., Hooked], sandbox: SandboxControl
) -> None:
    account = hooked(profiles=3, collections=1, subprofiles=2)
    hooks = _hooks_of(sandbox, account.linked.account.account_id)
    collection = int(account.linked.account.collection_ids[account.linked.account.database_id][0])
    assert sorted((hook["trigger"], hook["collection"] or 0) for hook in hooks) == sorted(
        (trigger, place) for trigger in ("create", "update", "delete") for place in (0, collection)
    )
    assert {hook["handler"] for hook in hooks} == {account.url}
    assert all(sorted(hook["callers"]) == sorted(CALLERS) for hook in hooks)
    assert "rest" not in CALLERS
    assert InboundLink.objects.get(pk=account.inbound.pk).webhooks.count() == 6
    # The linker's own write-back goes over REST: Copernica does not echo it.
    profile = sorted(account.linked.mirror())[0]
    with account.linked.client() as client:
        client.update_profile(profile, {"city": "Echo"})
    assert account.sandbox.wait_webhooks(10)
    assert all(
        hook["stats"]["queued"] == 0
        for hook in _hooks_of(sandbox, account.linked.account.account_id)
    )


def test_the_daily_check_puts_back_a_webhook_removed_at_copernica(
    hooked: Callable[..., Hooked], sandbox: SandboxControl
) -> None:
    account = hooked(profiles=3)
    first = _hooks_of(sandbox, account.linked.account.account_id)
    with account.linked.client() as client:
        client.webhook_delete(first[0]["id"])
    assert len(_hooks_of(sandbox, account.linked.account.account_id)) == 2
    repaired = inbound_webhooks_register(link=account.linked.link)
    assert repaired is not None
    assert (repaired.state, repaired.state_reason) == (
        WebhookHealth.HEALTHY,
        "3 webhooks registered (1 added).",
    )
    again = _hooks_of(sandbox, account.linked.account.account_id)
    assert sorted(hook["trigger"] for hook in again) == ["create", "delete", "update"]
    # Checking again changes nothing at Copernica.
    inbound_webhooks_register(link=account.linked.link)
    assert {hook["id"] for hook in _hooks_of(sandbox, account.linked.account.account_id)} == {
        hook["id"] for hook in again
    }


def test_registration_that_cannot_work_marks_failing_and_polling_takes_over_at_once(
    hooked: Callable[..., Hooked], settings: Any
) -> None:
    account = hooked(profiles=3)
    now = timezone.now()
    SyncSchedule.objects.filter(link=account.linked.link).update(
        next_incremental_at=now + timedelta(hours=1)
    )
    settings.LINKER_BASE_URL = ""
    inbound = inbound_webhooks_register(link=account.linked.link)
    assert inbound is not None
    assert inbound.state == WebhookHealth.FAILING
    schedule = SyncSchedule.objects.get(link=account.linked.link)
    assert schedule.next_incremental_at is not None
    assert schedule.next_incremental_at <= timezone.now()


def test_healthy_webhooks_stretch_the_incremental_interval_to_the_gap_check(
    hooked: Callable[..., Hooked], settings: Any
) -> None:
    settings.LINKER_WEBHOOK_GAP_CHECK_MINUTES = 60
    with_hooks = hooked(profiles=3, name="Hooked")
    without = hooked(profiles=3, name="Polled", register=False)
    now = timezone.now()
    for account in (with_hooks, without):
        SyncSchedule.objects.update_or_create(
            link=account.linked.link,
            defaults={
                "incremental_minutes": 15,
                "next_incremental_at": now - timedelta(minutes=1),
                "next_full_at": now + timedelta(hours=10),
                "last_full_at": now - timedelta(hours=1),
            },
        )
    sync_schedule_due(now=now)
    waits = {
        account.linked.link.pk: SyncSchedule.objects.get(
            link=account.linked.link
        ).next_incremental_at
        - now
        for account in (with_hooks, without)
    }
    assert timedelta(minutes=60) <= waits[with_hooks.linked.link.pk] <= timedelta(minutes=61)
    assert timedelta(minutes=15) <= waits[without.linked.link.pk] <= timedelta(minutes=16)


def test_disconnect_unregisters_at_copernica_and_the_old_handler_is_refused(
    hooked: Callable[..., Hooked],
    sandbox: SandboxControl,
    served: str,
    transactional_db: None,
) -> None:
    account = hooked(profiles=3)
    account_id = account.linked.account.account_id
    registered = {hook["id"] for hook in _hooks_of(sandbox, account_id)}
    assert len(registered) == 3
    # One more at the old URL, as if a removal had failed: it shows what the receiver does.
    with account.linked.client() as client:
        leftover = client.webhook_create(account.url, "update")
    old_url = account.url
    link_disconnect(link=account.linked.link, user=None)
    remaining = {str(hook["id"]) for hook in _hooks_of(sandbox, account_id)}
    assert remaining == {str(leftover)}
    assert InboundLink.objects.get(pk=account.inbound.pk).handler_id not in old_url
    sandbox.update_profile(sorted(account.linked.mirror())[0], {"city": "After"})
    account.settle()
    assert [item["outcome"] for item in sandbox.webhook_deliveries()] == ["401"]
    # The old URL names no link any more: refused before any check, nothing stored.
    assert InboundEvent.objects.filter(link=account.linked.link).count() == 0
