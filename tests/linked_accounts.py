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
from linker.models import Link, RemoteProfile, RemoteSubprofile
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

    def remote_subprofiles(self) -> dict[int, tuple[int, int, dict[str, str], str]]:
        """Every live subprofile at Copernica: id → (collection, profile, fields, modified)."""
        with self.client() as client:
            return {
                int(item["ID"]): (
                    int(collection_id),
                    int(item["profile"]),
                    item["fields"],
                    item["modified"],
                )
                for collection_ids in self.account.collection_ids.values()
                for collection_id in collection_ids
                for page in client.paginate_subprofiles_keyset(collection_id)
                for item in page.items
            }

    def mirror_subprofiles(self) -> dict[int, tuple[int, int, dict[str, str], str]]:
        """Every live subprofile in the mirror, in the same shape."""
        rows = RemoteSubprofile.objects.filter(link=self.link, removed_at=None).select_related(
            "collection"
        )
        return {
            row.copernica_id: (
                row.collection.copernica_id,
                row.profile_copernica_id,
                row.fields,
                format_timestamp(row.modified) if row.modified else "",
            )
            for row in rows.iterator(chunk_size=5000)
        }

    def remote_all(self) -> dict[tuple[int, int], tuple[dict[str, str], list[str], str]]:
        """Every live profile of every database: (database, id) → (fields, interests, modified)."""
        with self.client() as client:
            return {
                (int(database_id), int(item["ID"])): (
                    item["fields"],
                    item["interests"],
                    item["modified"],
                )
                for database_id in self.account.database_ids
                for page in client.paginate_keyset(database_id)
                for item in page.items
            }

    def mirror_all(self) -> dict[tuple[int, int], tuple[dict[str, str], list[str], str]]:
        rows = RemoteProfile.objects.filter(link=self.link, removed_at=None).select_related(
            "database"
        )
        return {
            (row.database.copernica_id, row.copernica_id): (
                row.fields,
                row.interests,
                format_timestamp(row.modified) if row.modified else "",
            )
            for row in rows.iterator(chunk_size=5000)
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
    def make(profiles: int = 100, name: str = "Shop", **shape: int) -> Linked:
        """``shape``: ``databases``, ``collections`` (per database), ``subprofiles`` (per
        collection), as the sandbox's ``create_account`` takes them."""
        account = sandbox.create_account(name, profiles, **shape)
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
