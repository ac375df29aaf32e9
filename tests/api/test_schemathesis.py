"""Schemathesis against the live ``/api/v1/openapi.json`` with a real key: every operation gets
a bounded number of generated requests (valid and invalid ones, at random ids and at the ids
of a real synced tenant); no answer is a 5xx, and every answer conforms to the document (its
status, content type, headers and body schema)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, strategies
from hypothesis import settings as examples
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from accounts.models import Tenant
from linker.models import ConnectLink, ProfileChange, SyncRun, WebhookDelivery, WebhookEvent
from linker.outbound.endpoints import webhook_endpoint_create
from tests.api.conftest import make_key
from tests.conftest import World
from tests.linked_accounts import Linked
from tests.profiles.conftest import synced_shop

pytestmark = pytest.mark.django_db(transaction=True)

#: Generated requests per operation (each a valid or an invalid one).
EXAMPLES = 25
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


def _run(strategy: strategies.SearchStrategy, auth: dict[str, str]) -> list[int]:
    """Up to ``EXAMPLES`` generated requests of one operation, each validated; their statuses."""
    sent: list[int] = []

    @examples(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def run_case(case) -> None:  # type: ignore[no-untyped-def]
        response = case.call_and_validate(headers=auth, checks=CHECKS)
        sent.append(response.status_code)

    run_case()
    return sent


def test_every_operation_answers_within_its_schema_and_never_5xx(
    live_server,  # type: ignore[no-untyped-def]
    linked: Callable[..., Linked],
    sandbox,  # type: ignore[no-untyped-def]
    world: World,
    settings,  # type: ignore[no-untyped-def]
) -> None:
    settings.LINKER_API_RATE = "1000000/minute"  # the throttle is tested on its own
    shop = synced_shop(linked)
    Tenant.objects.filter(pk=shop.tenant.pk).update(agency=world.agency_a)
    key = make_key(agency=world.agency_a, user=world.agency_admin_a)
    spare = make_key(agency=world.agency_a, user=world.agency_admin_a, name="Spare")
    profile, subprofile = shop.profile(0), shop.subprofile(0)
    run = SyncRun.objects.filter(link=shop.linked.link).latest("id")
    change = ProfileChange.objects.create(
        link=shop.linked.link,
        database=profile.database,
        kind="update",
        copernica_profile_id=profile.copernica_id,
        fields={"city": "Assen"},
        state="failed",
        created_by=world.agency_admin_a,
    )
    connect_link = ConnectLink.objects.create(
        tenant=shop.tenant, token_hash="s" * 64, expires_at="2099-01-01T00:00:00Z"
    )
    endpoint = webhook_endpoint_create(
        agency=world.agency_a,
        user=world.agency_admin_a,
        url="https://hooks.example.com/in",
        event_types=["sync.failed"],
    ).endpoint
    event = WebhookEvent.objects.create(
        agency=world.agency_a, tenant=shop.tenant, type="sync.failed", body="{}"
    )
    delivery = WebhookDelivery.objects.create(endpoint=endpoint, event=event, tenant=shop.tenant)
    real = {
        "tenant_id": shop.tenant.pk,
        "database_id": profile.database.copernica_id,
        "collection_id": shop.collection.copernica_id,
        "profile_id": profile.copernica_id,
        "subprofile_id": subprofile.copernica_id,
        "change_id": change.pk,
        "run_id": run.pk,
        "connect_link_id": connect_link.pk,
        "key_id": spare.key.pk,
        "endpoint_id": endpoint.pk,
        "delivery_id": delivery.pk,
    }
    auth = {"Authorization": f"Bearer {key.secret}"}
    schema = schemathesis.openapi.from_url(f"{live_server.url}/api/v1/openapi.json")

    # Disconnecting the link last, so that the operations before it meet a usable one;
    # deletes after the operations on what they delete; and revoking keys (at random ids: the
    # key in use among them) after everything else.
    every = sorted(
        (result.ok() for result in schema.get_all_operations()),
        key=lambda operation: (
            operation.path.endswith("/revoke") and "/keys/" in operation.path,
            operation.method.upper() == "DELETE",
            operation.path.endswith("/disconnect"),
        ),
    )
    operations, requests = 0, 0
    for operation in every:
        names = [p.name for p in operation.path_parameters]
        aimed = {name: real[name] for name in names}
        strategy = strategies.one_of(
            operation.as_strategy(path_parameters=aimed),
            operation.as_strategy(),
            operation.as_strategy(
                generation_mode=schemathesis.GenerationMode.NEGATIVE, path_parameters=aimed
            ),
        )
        sent = _run(strategy, auth)
        operations += 1
        requests += len(sent)
        name = f"{operation.method.upper()} {operation.path}"
        print(f"{name}: {len(sent)} requests, statuses {sorted(set(sent))}")

    print(f"schemathesis: {operations} operations, {requests} requests, no 5xx, all conform")
    assert operations >= 30
    assert requests >= operations * 10
