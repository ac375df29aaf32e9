"""Sets up the demo against a running sandbox. Safe to run again (each demo start is fresh).

The sandbox keeps its state in memory, so every start registers the application again and
re-links the tenants with fresh tokens; the database keeps links, events and synced data.
"""

from typing import Any

import httpx
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.utils import timezone

from accounts.models import Agency, Role, Tenant
from accounts.services import membership_add, user_get_or_create
from api_client.sandbox.control import SandboxControl
from linker.linking.applications import application_register, configured_hosts
from linker.linking.client import link_mark_needs_reconnect
from linker.linking.identity import Endpoints, Identity
from linker.linking.links import link_store_token
from linker.models import ApiApplication, Link, SyncMode
from linker.notifications.services import notifications_scan
from linker.platform import vault
from linker.platform.keys import secret_context
from linker.sync.runs import sync_run_foreground, sync_run_request

# The client company's own admin (a tenant admin of the first tenant), to show that view too.
PARTNER_EMAIL = "partner@example.com"

# (tenant, Copernica account, profiles, how the demo leaves it)
DEMO_TENANTS = (
    ("Fietsenwinkel De Ketting", "De Ketting Fietsen", 5000, "linked"),
    ("Bakkerij Van Dam", "Bakkerij Van Dam", 2000, "needs_reconnect"),
    ("Tuincentrum Groen", "Tuincentrum Groen", 3000, "unlinked"),
)
# The shape of each account, as real ones have it: (databases, collections per database,
# subprofiles per collection); profiles are per database.
DEMO_SHAPES = {
    "De Ketting Fietsen": (2, 2, 4000),
    "Bakkerij Van Dam": (1, 1, 1500),
    "Tuincentrum Groen": (1, 2, 2500),
}


class Command(BaseCommand):
    help = "Create the demo agency, tenants, login, sandbox application and links."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--email", default="demo@example.com")
        parser.add_argument("--password", default="copernica-demo")
        parser.add_argument("--redirect-uri", default="http://127.0.0.1:8000/oauth/callback")

    def handle(self, *args: Any, **options: Any) -> None:
        sandbox = SandboxControl(settings.COPERNICA_SANDBOX_URL)
        try:
            registered = sandbox.register_application(
                "Copernica Linker demo", options["redirect_uri"]
            )
            accounts = {
                account: sandbox.create_account(
                    account,
                    profiles=profiles,
                    databases=DEMO_SHAPES[account][0],
                    collections=DEMO_SHAPES[account][1],
                    subprofiles=DEMO_SHAPES[account][2],
                )
                for _, account, profiles, _ in DEMO_TENANTS
            }
        except (RuntimeError, httpx.HTTPError) as exc:
            raise CommandError(f"The sandbox at {sandbox.base_url} did not answer: {exc}") from None
        with transaction.atomic():
            agency, _ = Agency.objects.get_or_create(
                slug="demo-agency", defaults={"name": "Demo Marketing Agency"}
            )
            user, _ = user_get_or_create(email=options["email"])
            user.full_name = user.full_name or "Demo Admin"
            user.is_staff = True
            user.set_password(options["password"])
            user.save()
            membership_add(user=user, role=Role.AGENCY_ADMIN, agency=agency)
            application = ApiApplication.objects.filter(
                agency=agency, name="Copernica sandbox"
            ).first()
            if application is None:
                application = application_register(
                    name="Copernica sandbox",
                    client_id=registered.client_id,
                    client_secret=registered.client_secret,
                    redirect_uri=options["redirect_uri"],
                    agency=agency,
                    is_default=True,
                    user=user,
                )
            else:
                application.client_id = registered.client_id
                application.client_secret_encrypted = vault.encrypt(
                    registered.client_secret, context=secret_context(application)
                )
                application.client_secret_fingerprint = vault.fingerprint(registered.client_secret)
                application.redirect_uri = options["redirect_uri"]
                application.save()
        hosts = configured_hosts()
        endpoints = Endpoints.of(hosts)
        for tenant_name, account_name, _, how in DEMO_TENANTS:
            tenant, _ = Tenant.objects.get_or_create(name=tenant_name, agency=agency)
            account = accounts[account_name]
            if how == "unlinked":
                Link.objects.filter(tenant=tenant).delete()
                continue
            link = link_store_token(
                tenant=tenant,
                api_token=account.api_token,
                identity=Identity(
                    account_id=account.account_id, name=account_name, company=account_name
                ),
                endpoints=endpoints,
                application=application,
                user=user,
                how="by the demo setup",
            )
            if how == "needs_reconnect":
                sandbox.revoke(account.api_token)
                link_mark_needs_reconnect(
                    link=link,
                    reason="Copernica rejected the stored API token (revoked in the demo).",
                )
        Link.objects.filter(tenant__agency=agency).update(last_verified_at=timezone.now())
        partner, _ = user_get_or_create(email=PARTNER_EMAIL)
        partner.set_password(options["password"])
        partner.save()
        first = Tenant.objects.get(name=DEMO_TENANTS[0][0], agency=agency)
        membership_add(user=partner, role=Role.TENANT_ADMIN, tenant=first)
        # The linked tenant starts synced, so the dashboard, charts and profile browser have
        # something to show; the worker keeps it fresh from here on.
        for link in Link.objects.filter(tenant__agency=agency, state="active"):
            run, _ = sync_run_request(link=link, mode=SyncMode.FULL, trigger="demo", enqueue=False)
            if run.is_active:
                self.stdout.write(f"Syncing {link.tenant.name} ...")
                run = sync_run_foreground(run=run)
                self.stdout.write(
                    f"  {run.state}: {run.fetched} profiles and subprofiles in {run.pages} pages."
                )
        # Announce what needs the agency (the reconnect): one email, printed on the console.
        notifications_scan()
        self.stdout.write(
            f"Demo agency {agency.name!r} with {agency.tenants.count()} tenants is ready."
        )
