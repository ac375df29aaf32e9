"""Tokens during work (reliability.md cases 27 and 28) through the per-tenant client service."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from api_client.sandbox.control import SandboxControl
from linker.linking.client import client_for, metered_session
from linker.linking.errors import LinkNotUsableError
from linker.linking.links import link_verify
from linker.models import Link, LinkEvent, LinkState
from tests.conftest import World
from tests.factories import make_link


@pytest.mark.django_db(transaction=True)
def test_twenty_workers_needing_a_fresh_jwt_make_one_exchange(
    world: World, sandbox: SandboxControl, sandbox_url: str
) -> None:
    account = sandbox.create_account("Busy", profiles=1)
    link = make_link(tenant=world.tenant_a1, api_token=account.api_token, sandbox_url=sandbox_url)
    sandbox.reset_stats()
    barrier = threading.Barrier(20)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            own = Link.objects.get(pk=link.pk)
            with client_for(own) as client:
                barrier.wait()
                client.identity()
        except BaseException as exc:  # reported to the test below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=work) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    stats = sandbox.stats()
    assert stats["auth_calls"] == 1
    assert stats["api_calls"] == 20


def test_revoked_access_marks_needs_reconnect_and_stops_exchanges(
    world: World, sandbox: SandboxControl, sandbox_url: str
) -> None:
    revoked = sandbox.create_account("Gone", profiles=1)
    healthy = sandbox.create_account("Fine", profiles=1)
    link = make_link(tenant=world.tenant_a1, api_token=revoked.api_token, sandbox_url=sandbox_url)
    other = make_link(tenant=world.tenant_b1, api_token=healthy.api_token, sandbox_url=sandbox_url)
    with client_for(link) as client:
        client.identity()  # a JWT is cached
    sandbox.revoke(revoked.api_token)
    sandbox.reset_stats()
    assert link_verify(link=link) is False
    link.refresh_from_db()
    assert link.state == LinkState.NEEDS_RECONNECT
    assert link.events.filter(kind=LinkEvent.Kind.TOKEN_REJECTED).count() == 1
    attempts = sandbox.stats()["auth_calls"]
    assert attempts <= 2
    # No further exchanges are tried for this link...
    with pytest.raises(LinkNotUsableError), metered_session(link) as session:
        session.client.identity()
    assert sandbox.stats()["auth_calls"] == attempts
    # ...and other tenants are unaffected.
    assert link_verify(link=other) is True
    other.refresh_from_db()
    assert other.state == LinkState.ACTIVE
    assert other.last_verified_at is not None
