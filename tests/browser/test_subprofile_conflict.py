"""A subprofile edit that meets someone else's newer change at Copernica (reliability.md case 49),
in headless Chromium: the page shows the conflict beside the edit, and *Send anyway* lands the
edit -- against a live server, a real Celery worker and the sandbox over HTTP."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from accounts.models import Role
from api_client.sandbox.control import SandboxControl
from linker.models import ProfileChange, RemoteSubprofile
from linker.sync.runs import sync_run_foreground, sync_run_request
from tests.browser.conftest import screenshot
from tests.factories import PASSWORD, make_link, make_member, make_tenant
from tests.linked_accounts import Linked
from tests.workers import celery_worker, worker_env

pytestmark = [
    pytest.mark.browser,
    pytest.mark.worker,
    pytest.mark.django_db(transaction=True),
]


def _synced_account(sandbox: SandboxControl, sandbox_url: str) -> Linked:
    account = sandbox.create_account("Alpha Bikes Copernica", 10, collections=1, subprofiles=20)
    tenant = make_tenant(name="Alpha Bikes")
    link = make_link(
        tenant=tenant,
        api_token=account.api_token,
        sandbox_url=sandbox_url,
        account_id=account.account_id,
        account_name="Alpha Bikes Copernica",
    )
    editor = make_member(role=Role.TENANT_ADMIN, tenant=tenant)
    run, _ = sync_run_request(link=link, mode="full", enqueue=False)
    assert sync_run_foreground(run=run).state == "succeeded"
    return Linked(account, tenant, link, editor, sandbox)


def test_a_conflicting_subprofile_edit_is_shown_and_sent_anyway(
    page: Page,
    live_server,  # type: ignore[no-untyped-def]
    sandbox: SandboxControl,
    sandbox_url: str,
) -> None:
    shop = _synced_account(sandbox, sandbox_url)
    target = RemoteSubprofile.objects.filter(link=shop.link).order_by("copernica_id").first()
    assert target is not None
    base = live_server.url
    page.on("dialog", lambda dialog: dialog.accept())

    with celery_worker(env=worker_env(LINKER_RETRY_BASE_SECONDS="0.2")):
        page.goto(f"{base}/accounts/login/")
        page.get_by_label("Email").fill(shop.editor.email)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()

        # The profile page lists its orders; open one and edit it.
        page.goto(f"{base}/tenants/{shop.tenant.pk}/profiles/{target.profile_copernica_id}/")
        orders = page.get_by_test_id(f"subprofiles-{target.collection.copernica_id}")
        expect(orders).to_contain_text(target.fields["product"])
        orders.get_by_role("link", name=str(target.copernica_id), exact=True).click()
        expect(
            page.get_by_role("heading", name=f"Subprofile {target.copernica_id}")
        ).to_be_visible()
        page.get_by_label("status", exact=True).fill("shipped by the linker")

        # Meanwhile someone changes the same order at Copernica.
        with shop.client() as client:
            client.update_subprofile(target.copernica_id, {"status": "returned meanwhile"})
        page.get_by_role("button", name="Save to Copernica").click()

        # The worker finds Copernica newer and sends nothing; the page shows both sides.
        changes = page.get_by_test_id("changes")
        expect(changes.locator("[data-field=state]").first).to_have_text("Conflict", timeout=30_000)
        conflict = page.locator(".conflict")
        expect(conflict).to_contain_text("returned meanwhile")
        expect(conflict).to_contain_text("shipped by the linker")
        screenshot(page, "subprofile-conflict")
        with shop.client() as client:
            assert client.get_subprofile(target.copernica_id)["fields"]["status"] == (
                "returned meanwhile"
            )

        # Send anyway: it goes out as it is and ends Done, with the value at Copernica.
        conflict.get_by_role("button", name="Send anyway").click()
        expect(changes.locator("[data-field=state]").first).to_have_text("Done", timeout=30_000)
        # On Done the page reloads itself to show the mirror; on a loaded machine the reload
        # can take longer than the default five seconds.
        expect(page.get_by_test_id("subprofile-fields")).to_contain_text(
            "shipped by the linker", timeout=30_000
        )
        expect(page.locator(".conflict")).to_have_count(0)
        screenshot(page, "subprofile-sent-anyway")

    change = ProfileChange.objects.get()
    assert (change.state, change.force, change.copernica_subprofile_id) == (
        "done",
        True,
        target.copernica_id,
    )
    with shop.client() as client:
        assert client.get_subprofile(target.copernica_id)["fields"]["status"] == (
            "shipped by the linker"
        )
    assert sandbox.stats()["subprofiles_updated"] == 2  # theirs, then ours
