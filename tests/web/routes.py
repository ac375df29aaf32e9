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
PUBLIC = {"login", "logout", "healthz"}

# Pages that show only the user's own objects and take no object id: checked for leaks in
# their content rather than for a 404.
LISTS = {"home"}

ROUTES: dict[str, Route] = {
    "tenant_detail": Route(lambda w: {"tenant_id": w.tenant_b1.pk}),
}
