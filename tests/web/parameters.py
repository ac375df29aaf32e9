"""The query parameters and form fields every named URL reads, for the fuzz test (case 42).

``tests/web/test_fuzz.py`` sends each name listed here every value of its corpus, and records
which keys the views (their forms, decorators and middleware included) actually read from
``request.GET`` and ``request.POST`` while it does: a key read but not listed here fails the
test, as does a named URL without an entry. So a new parameter cannot ship unfuzzed, and the
lists need no grepping to stay true. Keys read only on a path the fuzz does not reach are the
one thing this cannot see; the views' own parsers (``linker/views/params.py``) cover those.

The URLs are aimed with ``routes.ROUTES`` (agency B's objects), and the fuzz runs as an agency
admin of agency B, so every request reaches the real page rather than a 404.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.test import Client

from tests.conftest import World
from tests.factories import PASSWORD


@dataclass(frozen=True)
class Params:
    #: Query-string keys, fuzzed on GET requests.
    get: tuple[str, ...] = ()
    #: Form fields, fuzzed on POST requests (the other fields keep their valid ``data``).
    post: tuple[str, ...] = ()
    #: Methods to send; ``None``: those of ``ROUTES[name]``, else GET only.
    methods: tuple[str, ...] | None = None
    #: URL kwargs for names not in ``ROUTES``.
    kwargs: Callable[[World], dict[str, Any]] | None = None
    #: Valid POST data the fuzzed field is sent within; ``None``: ``ROUTES[name].data``.
    data: Callable[[World], dict[str, Any]] | None = None
    #: Something to do with each client first (e.g. open the link that leads to a form).
    prepare: Callable[[World, Client], None] | None = None


# Read by Django itself on every POST when CSRF is enforced (the fuzz client does not enforce).
FRAMEWORK = frozenset({"csrfmiddlewaretoken"})

PROFILE_FIELDS = ("f_email", "f_age")

# The URLs that answer CSV, each tested for formula escaping (tests/pages/test_csv_exports.py,
# case 40); the fuzz fails when another URL answers ``text/csv``.
CSV_EXPORTS = frozenset({"dashboard_export", "profile_export", "request_ledger_export"})


def _connect_link_token(w: World) -> dict[str, Any]:
    from linker.linking.connect_links import connect_link_create

    _, token = connect_link_create(tenant=w.tenant_b1, user=w.staff_b)
    return {"token": token}


def _invitee_uid(w: World) -> str:
    from django.utils.encoding import force_bytes
    from django.utils.http import urlsafe_base64_encode

    return urlsafe_base64_encode(force_bytes(w.tenant_admin_a1.pk))


def _invite(w: World) -> dict[str, Any]:
    """Django's set-password step, whose form the fuzz reaches after ``_invite_open``."""
    return {"uidb64": _invitee_uid(w), "token": "set-password"}


def _invite_open(w: World, client: Client) -> None:
    """Open the emailed link: Django keeps its token in the session and redirects."""
    from django.contrib.auth.tokens import default_token_generator
    from django.urls import reverse

    token = default_token_generator.make_token(w.tenant_admin_a1)
    client.get(reverse("invite_accept", kwargs={"uidb64": _invitee_uid(w), "token": token}))


def _reset(w: World) -> dict[str, Any]:
    """Django's set-password step of "forgot password", reached after ``_reset_open``."""
    return {"uidb64": _invitee_uid(w), "token": "set-password"}


def _reset_open(w: World, client: Client) -> None:
    """Open the emailed reset link: its token goes into the session."""
    from django.urls import reverse

    from accounts.password_reset import password_reset_tokens

    token = password_reset_tokens.make_token(w.tenant_admin_a1)
    client.get(
        reverse("password_reset_confirm", kwargs={"uidb64": _invitee_uid(w), "token": token})
    )


def _new_password(w: World) -> dict[str, Any]:
    return {
        "new_password1": "a fresh long passphrase 42",
        "new_password2": "a fresh long passphrase 42",
    }


PARAMS: dict[str, Params] = {
    # Public pages.
    "login": Params(
        get=("next",),
        post=("username", "password", "next"),
        methods=("GET", "POST"),
        data=lambda w: {"username": w.staff_b.email, "password": PASSWORD},
    ),
    "logout": Params(get=("next",), post=("next",), methods=("GET", "POST")),
    "healthz": Params(),
    "metrics": Params(),
    # Reads the raw body only (a signed form), never request.POST.
    "inbound_copernica": Params(methods=("POST",), kwargs=lambda w: {"handler_id": "x" * 43}),
    "oauth_callback": Params(get=("state", "code", "error")),
    "connect_done": Params(),
    "connect_link_open": Params(methods=("GET", "POST"), kwargs=_connect_link_token),
    "invite_accept": Params(
        post=("new_password1", "new_password2"),
        methods=("GET", "POST"),
        kwargs=_invite,
        data=_new_password,
        prepare=_invite_open,
    ),
    "password_reset": Params(
        post=("email",),
        methods=("GET", "POST"),
        data=lambda w: {"email": w.staff_b.email},
    ),
    "password_reset_done": Params(),
    "password_reset_confirm": Params(
        post=("new_password1", "new_password2"),
        methods=("GET", "POST"),
        kwargs=_reset,
        data=_new_password,
        prepare=_reset_open,
    ),
    "password_reset_complete": Params(),
    # The user's own lists and settings.
    "account_settings": Params(
        post=("full_name", "time_zone", "notice_emails"),
        methods=("GET", "POST"),
        data=lambda w: {"full_name": "B Admin", "time_zone": "UTC", "notice_emails": "every"},
    ),
    "sign_out_everywhere": Params(methods=("POST",)),
    "two_factor_setup": Params(get=("next",), post=("code", "next"), methods=("GET", "POST")),
    "two_factor_recovery_codes": Params(get=("next",)),
    "two_factor_recovery_codes_regenerate": Params(methods=("POST",)),
    "two_factor_disable": Params(post=("credential",), methods=("GET", "POST")),
    "two_factor_verify": Params(
        get=("next",), post=("code", "remember", "next"), methods=("GET", "POST")
    ),
    "home": Params(get=("q", "filter", "sort", "page", "after", "before")),
    "dashboard_export": Params(get=("q", "filter", "sort", "page", "after", "before")),
    "tenant_bulk": Params(
        post=("action", "tenants", "back", "scope", "confirm"),
        methods=("POST",),
        data=lambda w: {"action": "sync", "tenants": [w.tenant_b1.pk], "back": "q=Beta&page=2"},
    ),
    # Agency B's objects (kwargs, methods and data from ROUTES).
    "tenant_detail": Params(get=("tab", "status", "method")),
    "agency_members": Params(post=("email", "role")),
    "agency_member_role": Params(post=("role",)),
    "agency_member_remove": Params(),
    "agency_member_resend": Params(),
    "tenant_people": Params(post=("email", "role")),
    "tenant_person_role": Params(post=("role",)),
    "tenant_person_remove": Params(),
    "tenant_person_resend": Params(),
    "tenant_settings": Params(post=("name",)),
    "tenant_archive": Params(),
    "tenant_restore": Params(),
    "tenant_delete": Params(post=("confirm_name",)),
    "connect_start": Params(),
    "token_link": Params(post=("api_token",)),
    "link_confirm": Params(),
    "disconnect": Params(),
    "mirror_delete": Params(),
    "connect_link_create": Params(),
    "connect_link_email": Params(),
    "connect_link_revoke": Params(),
    "applications": Params(
        post=("name", "client_id", "client_secret", "redirect_uri", "hosts", "is_default"),
        data=lambda w: {
            "name": "Fuzz app",
            "client_id": "client",
            "client_secret": "secret",
            "redirect_uri": "https://linker.example.com/oauth/callback",
            "hosts": "configured",
            "is_default": "on",
        },
    ),
    "tenant_create": Params(post=("name", "admin_email")),
    "security_log": Params(get=("kind", "page")),
    "agency_security": Params(post=("two_factor",)),
    "sync_now": Params(post=("mode",)),
    "sync_progress": Params(get=("run",)),
    "sync_schedule": Params(post=("enabled", "incremental_minutes", "full_hour")),
    "request_ledger_export": Params(),
    "sync_run_detail": Params(),
    "application_edit": Params(post=("name", "redirect_uri", "client_secret")),
    "application_retire": Params(),
    "profile_list": Params(get=("db", "q", "field", "sort", "page", "after", "before")),
    "profile_export": Params(get=("db", "q", "field", "sort", "page", "after", "before")),
    "profile_create": Params(get=("db",), post=("db", *PROFILE_FIELDS)),
    "profile_detail": Params(
        post=(
            *PROFILE_FIELDS,
            *(f"initial-{name}" for name in PROFILE_FIELDS),
            "base_modified",
        )
    ),
    "profile_delete": Params(),
    "profile_change_states": Params(get=("ids",)),
    "subprofile_create": Params(post=("f_product",)),
    "subprofile_detail": Params(post=("f_product", "initial-f_product", "base_modified")),
    "subprofile_delete": Params(),
    "profile_change_resolve": Params(post=("action", "next")),
    "profile_change_retry": Params(post=("next",)),
    "profile_change_cancel": Params(post=("next",)),
    "api_keys": Params(post=("name", "scopes")),
    "api_key_revoke": Params(),
    "webhooks": Params(post=("url", "description", "event_types", "tenant")),
    "webhook_detail": Params(post=("url", "description", "event_types", "tenant")),
    "webhook_enable": Params(post=("enabled",)),
    "webhook_rotate": Params(),
    "webhook_delete": Params(),
    "webhook_replay": Params(),
}
