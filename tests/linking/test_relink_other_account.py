"""Relinking a tenant to a different Copernica account forgets the old account's data."""

from __future__ import annotations

from collections.abc import Callable

from api_client.sandbox.control import SandboxControl
from linker.linking.identity import Endpoints, Identity
from linker.linking.links import link_store_token
from linker.models import (
    ProfileChange,
    RemoteCollection,
    RemoteDatabase,
    RemoteProfile,
    RemoteSubprofile,
)
from linker.profiles.changes import profile_change_submit
from linker.sync.runs import sync_run_foreground, sync_run_request
from tests.linked_accounts import Linked


def test_relinking_to_another_account_clears_the_mirror_and_cancels_changes(
    linked: Callable[..., Linked], sandbox: SandboxControl, db: None
) -> None:
    shop = linked(profiles=300, collections=1, subprofiles=200)
    run, _ = sync_run_request(link=shop.link, mode="full", enqueue=False)
    sync_run_foreground(run=run)
    assert RemoteProfile.objects.filter(link=shop.link).count() == 300
    assert RemoteSubprofile.objects.filter(link=shop.link).count() == 200
    profile = RemoteProfile.objects.filter(link=shop.link).first()
    queued = profile_change_submit(
        user=shop.editor, tenant=shop.tenant, kind="update", profile=profile,
        fields={"city": "Utrecht"},
    )  # fmt: skip
    other = sandbox.create_account("Another shop", 5)

    link = link_store_token(
        tenant=shop.tenant,
        api_token=other.api_token,
        identity=Identity(account_id=other.account_id, name="Another shop", company=""),
        endpoints=Endpoints(
            auth_url=sandbox.auth_url, api_url=sandbox.api_url, rest_url=sandbox.rest_url
        ),
        application=None,
        user=shop.editor,
        how="with a pasted API token",
    )

    assert link.pk == shop.link.pk
    assert not RemoteProfile.objects.filter(link=link).exists()
    assert not RemoteSubprofile.objects.filter(link=link).exists()
    assert not RemoteCollection.objects.filter(link=link, removed_at=None).exists()
    assert not RemoteDatabase.objects.filter(link=link, removed_at=None).exists()
    queued.refresh_from_db()
    assert queued.state == ProfileChange.State.CANCELLED
    assert "different Copernica account" in queued.error_message
    assert "replaces account id" in link.events.first().message  # type: ignore[union-attr]
    # The next full sync fills the mirror from the new account only.
    run, _ = sync_run_request(link=link, mode="full", enqueue=False)
    run = sync_run_foreground(run=run)
    assert run.state == "succeeded"
    assert RemoteProfile.objects.filter(link=link, removed_at=None).count() == 5
