"""Every named URL of the project and how to aim it at another agency's objects.

The isolation tests walk this table; ``test_every_url_has_an_isolation_entry`` fails when a new
URL is added without an entry here, so no page can ship without its cross-tenant check.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tests.conftest import World


@dataclass(frozen=True)
class Route:
    # Builds the URL kwargs that point at agency B's objects (the victim of agency A's staff).
    foreign_kwargs: Callable[[World], dict[str, Any]]
    methods: tuple[str, ...] = ("GET",)
    # Extra POST data that would be valid if the object were the user's own.
    data: dict[str, Any] = field(default_factory=dict)


# Pages anyone may open, logged in or not.
PUBLIC = {"login", "logout", "healthz", "oauth_callback", "connect_done", "connect_link_open"}

# Pages that show only the user's own objects and take no object id: checked for leaks in
# their content rather than for a 404.
LISTS = {"home"}


def _tenant_b(w: World) -> dict[str, Any]:
    return {"tenant_id": w.tenant_b1.pk}


def _connect_link_b(w: World) -> dict[str, Any]:
    from linker.models import ConnectLink

    cl = ConnectLink.objects.create(
        tenant=w.tenant_b1, token_hash="x" * 64, expires_at="2099-01-01T00:00:00Z"
    )
    return {"tenant_id": w.tenant_b1.pk, "link_id": cl.pk}


ROUTES: dict[str, Route] = {
    "tenant_detail": Route(_tenant_b),
    "connect_start": Route(_tenant_b, methods=("POST",)),
    "token_link": Route(_tenant_b, methods=("POST",), data={"api_token": "a" * 32}),
    "link_confirm": Route(_tenant_b, methods=("POST",)),
    "disconnect": Route(_tenant_b, methods=("POST",)),
    "connect_link_create": Route(_tenant_b, methods=("POST",)),
    "connect_link_revoke": Route(_connect_link_b, methods=("POST",)),
    "applications": Route(lambda w: {"agency_id": w.agency_b.pk}, methods=("GET", "POST")),
}
