"""Reliability case 26: the JWT expires in the middle of a sync."""

from __future__ import annotations

from collections.abc import Callable

from django.test import override_settings

from linker.models import SyncRun, SyncState
from linker.sync.runs import sync_run_foreground, sync_run_request
from tests.linked_accounts import Linked


@override_settings(LINKER_SYNC_PAGE_SIZE=250)
def test_jwt_expiring_mid_sync_costs_exactly_one_extra_exchange(
    linked: Callable[..., Linked], db: None
) -> None:
    shop = linked(profiles=2000)
    shop.sandbox.reset_stats()
    expired_at: list[int] = []

    def expire_once(run: SyncRun) -> None:
        # After the third page, every JWT issued so far stops working at Copernica.
        if not expired_at and run.pages >= 3:
            shop.sandbox.fault(expire_jwts=True)
            expired_at.append(run.pages)

    run, _ = sync_run_request(link=shop.link, mode="full", enqueue=False)
    run = sync_run_foreground(run=run, progress=expire_once)
    assert expired_at, "the fault fired mid-run"
    assert run.state == SyncState.SUCCEEDED
    assert shop.sandbox.stats()["auth_calls"] == 2  # the first exchange and exactly one more
    assert shop.mirror() == shop.remote()
