"""Sandbox accounts linked to tenants (the ``linked`` fixture), for the sync, write-back and
linking tests: a plugin of the whole suite (``tests/conftest.py``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from accounts.models import Role, Tenant, User
from api_client import CopernicaClient, format_timestamp
from api_client.sandbox.control import SandboxAccount, SandboxControl
from linker.models import Link, RemoteProfile
from linker.sync.runs import sync_run_foreground, sync_run_request
from tests.factories import make_link, make_member, make_tenant


@dataclass
class Linked:
    """A sandbox account linked to a fresh tenant, with an editor of that tenant."""

    account: SandboxAccount
    tenant: Tenant
    link: Link
    editor: User
    sandbox: SandboxControl

    def client(self, **options: Any) -> CopernicaClient:
        """A client straight to the account (the test's view of Copernica's truth)."""
        return CopernicaClient(
            self.account.api_token,
            api_url=self.sandbox.api_url,
            auth_url=self.sandbox.auth_url,
            **options,
        )

    def remote(self) -> dict[int, tuple[dict[str, str], list[str], str]]:
        """Every live profile at Copernica: id → (fields, interests, modified)."""
        with self.client() as client:
            return {
                int(item["ID"]): (item["fields"], item["interests"], item["modified"])
                for page in client.paginate_keyset(self.account.database_id)
                for item in page.items
            }

    def mirror(self) -> dict[int, tuple[dict[str, str], list[str], str]]:
        """Every live profile in the mirror, in the same shape."""
        rows = RemoteProfile.objects.filter(link=self.link, removed_at=None)
        return {
            row.copernica_id: (
                row.fields,
                row.interests,
                format_timestamp(row.modified) if row.modified else "",
            )
            for row in rows.iterator(chunk_size=5000)
        }


@pytest.fixture
def linked(sandbox: SandboxControl, sandbox_url: str) -> Callable[..., Linked]:
    def make(profiles: int = 100, name: str = "Shop") -> Linked:
        account = sandbox.create_account(name, profiles)
        tenant = make_tenant(name=name)
        link = make_link(
            tenant=tenant,
            api_token=account.api_token,
            sandbox_url=sandbox_url,
            account_id=account.account_id,
            account_name=name,
        )
        editor = make_member(role=Role.TENANT_ADMIN, tenant=tenant)
        return Linked(account, tenant, link, editor, sandbox)

    return make


def profile_page_requests(sandbox: SandboxControl) -> int:
    """How many profile list pages the sandbox served."""
    requests = sandbox.stats()["requests"]
    return sum(
        count
        for key, count in requests.items()
        if key.startswith("GET ") and key.endswith("/profiles")
    )


def synced(linked: Callable[..., Linked], profiles: int) -> Linked:
    """A linked account of ``profiles`` profiles, fully synced into the mirror."""
    account = linked(profiles=profiles)
    run, _ = sync_run_request(link=account.link, mode="full", enqueue=False)
    assert sync_run_foreground(run=run).state == "succeeded"
    return account
