"""Every named URL of the project and how to aim it at another agency's objects.

The isolation tests walk this table; ``test_every_url_has_an_isolation_entry`` fails when a new
URL is added without an entry here, so no page can ship without its cross-tenant check.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from accounts.models import User
from tests.conftest import World


@dataclass(frozen=True)
class Route:
    # Builds the URL kwargs that point at agency B's objects (the victim of agency A's staff).
    foreign_kwargs: Callable[[World], dict[str, Any]]
    methods: tuple[str, ...] = ("GET",)
    # Extra POST data that would be valid if the object were the user's own.
    data: dict[str, Any] = field(default_factory=dict)


# Pages anyone may open, logged in or not.
PUBLIC = {
    "login",
    "logout",
    "healthz",
    "oauth_callback",
    "connect_done",
    "connect_link_open",
    # The invited partner admin's set-password page: guarded by Django's signed reset token.
    "invite_accept",
    # Forgot password: the same answer for every email; the link is a signed, single-use token
    # (tests/accounts/test_password_reset.py).
    "password_reset",
    "password_reset_done",
    "password_reset_confirm",
    "password_reset_complete",
    # Prometheus' scrape: no session, a bearer token of its own (tests/project/test_metrics.py).
    "metrics",
    # Copernica's webhook deliveries: no session, the signature is the credential
    # (tests/inbound/test_receiver_refusals.py, case 50).
    "inbound_copernica",
}

# Pages that show only the user's own objects and take no object id: checked for leaks in
# their content rather than for a 404.
LISTS = {
    "account_settings",
    "home",
    "dashboard_export",
    "tenant_bulk",
    # The user's own second factor (tests/accounts/test_two_factor*.py).
    "two_factor_setup",
    "two_factor_recovery_codes",
    "two_factor_recovery_codes_regenerate",
    "two_factor_disable",
    "two_factor_verify",
    # Ends the user's own sessions (tests/accounts/test_sessions.py).
    "sign_out_everywhere",
}

# What agency B's mirrored profile holds: it must never show up for agency A.
FOREIGN_EMAIL = "hidden.customer@beta-foods.example"
FOREIGN_PROFILE_ID = 990001
FOREIGN_SUBPROFILE_ID = 990501


def _tenant_b(w: World) -> dict[str, Any]:
    return {"tenant_id": w.tenant_b1.pk}


def _connect_link_b(w: World) -> dict[str, Any]:
    from linker.models import ConnectLink

    cl = ConnectLink.objects.create(
        tenant=w.tenant_b1, token_hash="x" * 64, expires_at="2099-01-01T00:00:00Z"
    )
    return {"tenant_id": w.tenant_b1.pk, "link_id": cl.pk}


def _profile_b(w: World) -> dict[str, Any]:
    """Agency B's tenant linked, with a database and a profile in the mirror."""
    from linker.models import Link, LinkState, RemoteDatabase, RemoteProfile

    link, _ = Link.objects.get_or_create(
        tenant=w.tenant_b1,
        defaults={
            "state": LinkState.ACTIVE,
            "copernica_account_id": "b-1",
            "copernica_account_name": "Beta Foods Copernica",
            "access_token_encrypted": "not-a-real-token",
        },
    )
    database, _ = RemoteDatabase.objects.get_or_create(
        link=link,
        copernica_id=77,
        defaults={
            "name": "Beta customers",
            "fields": [{"name": "email", "type": "email"}, {"name": "age", "type": "integer"}],
        },
    )
    RemoteProfile.objects.get_or_create(
        link=link,
        database=database,
        copernica_id=FOREIGN_PROFILE_ID,
        defaults={"fields": {"email": FOREIGN_EMAIL, "age": "41"}},
    )
    return {"tenant_id": w.tenant_b1.pk, "profile_id": FOREIGN_PROFILE_ID}


def _subprofile_b(w: World) -> dict[str, Any]:
    """Agency B's profile with an ``orders`` collection and one subprofile in the mirror."""
    from linker.models import Link, RemoteCollection, RemoteDatabase, RemoteSubprofile

    _profile_b(w)
    link = Link.objects.get(tenant=w.tenant_b1)
    collection, _ = RemoteCollection.objects.get_or_create(
        link=link,
        copernica_id=78,
        defaults={
            "database": RemoteDatabase.objects.get(link=link, copernica_id=77),
            "name": "Beta orders",
            "fields": [{"name": "product", "type": "text"}],
        },
    )
    RemoteSubprofile.objects.get_or_create(
        link=link,
        collection=collection,
        copernica_id=FOREIGN_SUBPROFILE_ID,
        defaults={"profile_copernica_id": FOREIGN_PROFILE_ID, "fields": {"product": FOREIGN_EMAIL}},
    )
    return {
        "tenant_id": w.tenant_b1.pk,
        "profile_id": FOREIGN_PROFILE_ID,
        "subprofile_id": FOREIGN_SUBPROFILE_ID,
    }


def _collection_b(w: World) -> dict[str, Any]:
    _subprofile_b(w)
    return {"tenant_id": w.tenant_b1.pk, "profile_id": FOREIGN_PROFILE_ID, "collection_id": 78}


def _change_b(w: World) -> dict[str, Any]:
    """A change of agency B's subprofile, waiting in conflict."""
    from linker.models import Link, ProfileChange, RemoteCollection

    _subprofile_b(w)
    link = Link.objects.get(tenant=w.tenant_b1)
    collection = RemoteCollection.objects.get(link=link, copernica_id=78)
    existing = ProfileChange.objects.filter(link=link).first()  # one for every change route
    if existing is not None:
        return {"tenant_id": w.tenant_b1.pk, "change_id": existing.pk}
    change = ProfileChange.objects.create(
        link=link,
        database=collection.database,
        collection=collection,
        kind="update",
        copernica_profile_id=FOREIGN_PROFILE_ID,
        copernica_subprofile_id=FOREIGN_SUBPROFILE_ID,
        fields={"product": "x"},
        state="conflict",
        conflict={"fields": {"product": FOREIGN_EMAIL}},
    )
    return {"tenant_id": w.tenant_b1.pk, "change_id": change.pk}


def _api_key_b(w: World) -> dict[str, Any]:
    """An API key of agency B (made directly: the world has no admin of B)."""
    from linker.models import ApiKey

    key = ApiKey.objects.create(
        agency=w.agency_b, name="Beta CRM", prefix="clk_betakey1", key_hash="b" * 64
    )
    return {"agency_id": w.agency_b.pk, "key_id": key.pk}


def _webhook_b(w: World) -> dict[str, Any]:
    """A webhook endpoint of agency B (made directly: the world has no admin of B)."""
    from linker.models import WebhookEndpoint

    endpoint = WebhookEndpoint.objects.create(
        agency=w.agency_b, url="https://hooks.beta.example/in", event_types=["sync.failed"]
    )
    return {"agency_id": w.agency_b.pk, "endpoint_id": endpoint.pk}


def _webhook_delivery_b(w: World) -> dict[str, Any]:
    """A delivery of agency B's webhook endpoint."""
    from linker.models import WebhookDelivery, WebhookEvent

    kwargs = _webhook_b(w)
    event = WebhookEvent.objects.create(
        agency=w.agency_b, tenant=w.tenant_b1, type="sync.failed", body="{}"
    )
    delivery = WebhookDelivery.objects.create(
        endpoint_id=kwargs["endpoint_id"], event=event, tenant=w.tenant_b1
    )
    return {**kwargs, "delivery_id": delivery.pk}


def _member_b(w: World) -> dict[str, Any]:
    """Agency B's staff member's membership, on agency B's Members page."""
    return {"agency_id": w.agency_b.pk, "membership_id": w.staff_b.memberships.get().pk}


def _tenant_person_b(w: World) -> dict[str, Any]:
    """A viewer of agency B's tenant, on that tenant's People page."""
    from accounts.models import Membership, Role

    user, _ = User.objects.get_or_create(email="viewer@beta-foods.example")
    membership, _ = Membership.objects.get_or_create(
        user=user, tenant=w.tenant_b1, defaults={"role": Role.TENANT_VIEWER}
    )
    return {"tenant_id": w.tenant_b1.pk, "membership_id": membership.pk}


def _tenant_b_linked(w: World) -> dict[str, Any]:
    _profile_b(w)
    return {"tenant_id": w.tenant_b1.pk}


def _run_b(w: World) -> dict[str, Any]:
    """A finished sync run of agency B's link (the run page, issue 14)."""
    from linker.models import Link, SyncRun

    _profile_b(w)
    link = Link.objects.get(tenant=w.tenant_b1)
    run = SyncRun.objects.filter(link=link).first() or SyncRun.objects.create(
        link=link, mode="full", state="failed", error_message="Beta's own failure"
    )
    return {"tenant_id": w.tenant_b1.pk, "run_id": run.pk}


def _application_b(w: World) -> dict[str, Any]:
    """A Copernica application of agency B (edit and retire, issue 14)."""
    from linker.models import ApiApplication

    application = ApiApplication.objects.filter(agency=w.agency_b).first()
    if application is None:
        application = ApiApplication.objects.create(
            agency=w.agency_b,
            name="Beta app",
            client_id="beta-client",
            client_secret_encrypted="x",
            client_secret_fingerprint="x",
            redirect_uri="https://beta.example/oauth/callback",
            authorize_url="https://beta.example/authorize",
            token_url="https://beta.example/token",
            auth_url="https://beta.example/auth",
            api_url="https://beta.example/api",
            rest_url="https://beta.example/rest",
        )
    return {"agency_id": w.agency_b.pk, "application_id": application.pk}


ROUTES: dict[str, Route] = {
    "tenant_detail": Route(_tenant_b),
    # People (issue 14): an agency's members, a tenant's people, the tenant's settings.
    "agency_members": Route(
        lambda w: {"agency_id": w.agency_b.pk},
        methods=("GET", "POST"),
        data={"email": "planted@example.com", "role": "agency_admin"},
    ),
    "agency_member_role": Route(_member_b, methods=("POST",), data={"role": "agency_admin"}),
    "agency_member_remove": Route(_member_b, methods=("POST",)),
    "agency_member_resend": Route(_member_b, methods=("POST",)),
    "tenant_people": Route(
        _tenant_b,
        methods=("GET", "POST"),
        data={"email": "planted@example.com", "role": "tenant_admin"},
    ),
    "tenant_person_role": Route(_tenant_person_b, methods=("POST",), data={"role": "tenant_admin"}),
    "tenant_person_remove": Route(_tenant_person_b, methods=("POST",)),
    "tenant_person_resend": Route(_tenant_person_b, methods=("POST",)),
    "tenant_settings": Route(_tenant_b, methods=("GET", "POST"), data={"name": "Hijacked"}),
    "tenant_archive": Route(_tenant_b, methods=("POST",)),
    "tenant_restore": Route(_tenant_b, methods=("POST",)),
    "tenant_delete": Route(
        _tenant_b_linked, methods=("POST",), data={"confirm_name": "Beta Foods"}
    ),
    "connect_start": Route(_tenant_b, methods=("POST",)),
    "token_link": Route(_tenant_b, methods=("POST",), data={"api_token": "a" * 32}),
    "link_confirm": Route(_tenant_b, methods=("POST",)),
    "disconnect": Route(_tenant_b, methods=("POST",)),
    "mirror_delete": Route(_tenant_b_linked, methods=("POST",)),
    "connect_link_create": Route(_tenant_b, methods=("POST",)),
    "connect_link_email": Route(_tenant_b, methods=("POST",)),
    "connect_link_revoke": Route(_connect_link_b, methods=("POST",)),
    "applications": Route(lambda w: {"agency_id": w.agency_b.pk}, methods=("GET", "POST")),
    "api_keys": Route(
        lambda w: {"agency_id": w.agency_b.pk},
        methods=("GET", "POST"),
        data={"name": "Planted key", "scopes": ["read", "write"]},
    ),
    "api_key_revoke": Route(_api_key_b, methods=("POST",)),
    "webhooks": Route(
        lambda w: {"agency_id": w.agency_b.pk},
        methods=("GET", "POST"),
        data={"url": "https://hooks.example.com/planted", "event_types": ["sync.failed"]},
    ),
    "webhook_detail": Route(
        _webhook_b,
        methods=("GET", "POST"),
        data={"url": "https://hooks.example.com/planted", "event_types": ["sync.failed"]},
    ),
    "webhook_enable": Route(_webhook_b, methods=("POST",), data={"enabled": "0"}),
    "webhook_rotate": Route(_webhook_b, methods=("POST",)),
    "webhook_delete": Route(_webhook_b, methods=("POST",)),
    "webhook_replay": Route(_webhook_delivery_b, methods=("POST",)),
    "security_log": Route(lambda w: {"agency_id": w.agency_b.pk}),
    "agency_security": Route(
        lambda w: {"agency_id": w.agency_b.pk},
        methods=("GET", "POST"),
        data={"two_factor": "agency"},
    ),
    "tenant_create": Route(
        lambda w: {"agency_id": w.agency_b.pk},
        methods=("GET", "POST"),
        data={"name": "Planted tenant", "admin_email": "planted@example.com"},
    ),
    "sync_now": Route(_tenant_b_linked, methods=("POST",), data={"mode": "full"}),
    "sync_progress": Route(_tenant_b_linked),
    "sync_schedule": Route(
        _tenant_b_linked,
        methods=("POST",),
        data={"enabled": "on", "incremental_minutes": "5", "full_hour": "3"},
    ),
    "request_ledger_export": Route(_tenant_b_linked),
    "sync_run_detail": Route(_run_b),
    "application_edit": Route(
        _application_b,
        methods=("GET", "POST"),
        data={"name": "Renamed", "redirect_uri": "https://planted.example/oauth/callback"},
    ),
    "application_retire": Route(_application_b, methods=("POST",)),
    "profile_list": Route(_tenant_b_linked),
    "profile_export": Route(_tenant_b_linked),
    "profile_create": Route(
        _tenant_b_linked, methods=("GET", "POST"), data={"f_email": "new@example.com", "f_age": "3"}
    ),
    "profile_detail": Route(
        _profile_b, methods=("GET", "POST"), data={"f_email": "changed@example.com", "f_age": "1"}
    ),
    "profile_delete": Route(_profile_b, methods=("POST",)),
    "profile_change_states": Route(_tenant_b_linked),
    "subprofile_create": Route(
        _collection_b, methods=("GET", "POST"), data={"f_product": "planted"}
    ),
    "subprofile_detail": Route(
        _subprofile_b, methods=("GET", "POST"), data={"f_product": "changed"}
    ),
    "subprofile_delete": Route(_subprofile_b, methods=("POST",)),
    "profile_change_resolve": Route(_change_b, methods=("POST",), data={"action": "send"}),
    "profile_change_retry": Route(_change_b, methods=("POST",)),
    "profile_change_cancel": Route(_change_b, methods=("POST",)),
}
