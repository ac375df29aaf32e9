"""Sets up the demo against a running sandbox. Safe to run again: every demo start runs it.

The sandbox keeps its state across restarts (``--state var/sandbox.json``), and so does the
database. On a sandbox that kept its state the demo accounts are found again by name and the
tenants' links are left as the last session left them (a tenant linked, reconnected or
disconnected during the walk stays so); on a sandbox that started over the accounts are created
and the tenants linked afresh. Either way the stored demo application follows the sandbox of
this start: its addresses (the port may have changed), and its client id and secret when the
sandbox does not know it (or its redirect URI) any more.
"""

from typing import Any

import httpx
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts.models import Agency, Role, Tenant
from accounts.services import membership_add, user_get_or_create
from api_client.sandbox.control import SandboxApplication, SandboxControl
from linker.linking.applications import Hosts, application_register
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
        redirect_uri = options["redirect_uri"]
        with SandboxControl(settings.COPERNICA_SANDBOX_URL) as sandbox:
            try:
                self._setup(sandbox, options["email"], options["password"], redirect_uri)
            except (RuntimeError, httpx.HTTPError) as exc:
                raise CommandError(
                    f"The sandbox at {sandbox.base_url} did not answer: {exc}"
                ) from None

    def _setup(self, sandbox: SandboxControl, email: str, password: str, redirect: str) -> None:
        hosts = Hosts(
            authorize_url=sandbox.authorize_url,
            token_url=sandbox.token_url,
            auth_url=sandbox.auth_url,
            api_url=sandbox.api_url,
            rest_url=sandbox.rest_url,
        )
        kept = {item["name"]: item["account_id"] for item in sandbox.accounts()}
        # Account name -> (account id, a fresh API token if the account was created just now).
        accounts: dict[str, tuple[str, str | None]] = {}
        for _, name, profiles, _ in DEMO_TENANTS:
            if name in kept:
                accounts[name] = (kept[name], None)
                continue
            databases, collections, subprofiles = DEMO_SHAPES[name]
            created = sandbox.create_account(
                name,
                profiles=profiles,
                databases=databases,
                collections=collections,
                subprofiles=subprofiles,
            )
            accounts[name] = (created.account_id, created.api_token)
        with transaction.atomic():
            agency, _ = Agency.objects.get_or_create(
                slug="demo-agency", defaults={"name": "Demo Marketing Agency"}
            )
            user, _ = user_get_or_create(email=email)
            user.full_name = user.full_name or "Demo Admin"
            user.is_staff = True
            user.set_password(password)
            user.save()
            membership_add(user=user, role=Role.AGENCY_ADMIN, agency=agency)
        application = ApiApplication.objects.filter(agency=agency, name="Copernica sandbox").first()
        known = {item["client_id"]: item["redirect_uri"] for item in sandbox.applications()}
        registered = None
        if application is None or known.get(application.client_id) != redirect:
            registered = sandbox.register_application("Copernica Linker demo", redirect)
        application = _application_follow(
            application, agency=agency, user=user, hosts=hosts, redirect=redirect,
            registered=registered,
        )  # fmt: skip
        endpoints = Endpoints.of(hosts)
        stored: list[Link] = []
        for tenant_name, account_name, _, how in DEMO_TENANTS:
            tenant, _ = Tenant.objects.get_or_create(name=tenant_name, agency=agency)
            account_id, new_token = accounts[account_name]
            link = Link.objects.filter(tenant=tenant).first()
            if how == "unlinked":
                # A sandbox that started over no longer has the account this tenant may have
                # been linked to during the last walk; one that kept its state still has it.
                if new_token is not None:
                    Link.objects.filter(tenant=tenant).delete()
                continue
            if new_token is None and link is not None:
                continue  # as the last session left it; the sandbox still knows its token
            token = new_token or sandbox.issue_token(account_id)
            link = link_store_token(
                tenant=tenant,
                api_token=token,
                identity=Identity(account_id=account_id, name=account_name, company=account_name),
                endpoints=endpoints,
                application=application,
                user=user,
                how="by the demo setup",
            )
            stored.append(link)
            if how == "needs_reconnect":
                sandbox.revoke(token)
                link_mark_needs_reconnect(
                    link=link,
                    reason="Copernica rejected the stored API token (revoked in the demo).",
                )
        Link.objects.filter(pk__in=[link.pk for link in stored]).update(
            last_verified_at=timezone.now()
        )
        partner, _ = user_get_or_create(email=PARTNER_EMAIL)
        partner.set_password(password)
        partner.save()
        first = Tenant.objects.get(name=DEMO_TENANTS[0][0], agency=agency)
        membership_add(user=partner, role=Role.TENANT_ADMIN, tenant=first)
        # A tenant linked just now starts synced, so the dashboard, charts and profile browser
        # have something to show; the worker keeps every link fresh from here on.
        for link in Link.objects.filter(pk__in=[link.pk for link in stored], state="active"):
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


@transaction.atomic
def _application_follow(
    application: ApiApplication | None,
    *,
    agency: Agency,
    user: Any,
    hosts: Hosts,
    redirect: str,
    registered: SandboxApplication | None,
) -> ApiApplication:
    """The demo application, pointed at this start's sandbox, with the links made through it.

    ``registered``: the credentials of an application just registered at the sandbox, when the
    sandbox did not know the stored one (or its redirect URI).
    """
    if application is None:
        assert registered is not None
        return application_register(
            name="Copernica sandbox",
            client_id=registered.client_id,
            client_secret=registered.client_secret,
            redirect_uri=redirect,
            agency=agency,
            hosts=hosts,
            is_default=True,
            user=user,
        )
    if registered is not None:
        application.client_id = registered.client_id
        application.client_secret_encrypted = vault.encrypt(
            registered.client_secret, context=secret_context(application)
        )
        application.client_secret_fingerprint = vault.fingerprint(registered.client_secret)
    previous_api_url = application.api_url
    application.redirect_uri = redirect
    application.authorize_url = hosts.authorize_url
    application.token_url = hosts.token_url
    application.auth_url = hosts.auth_url
    application.api_url = hosts.api_url
    application.rest_url = hosts.rest_url
    application.save()
    # Links copy their hosts from the application when made (a pasted token's from the
    # settings, which the demo points at the same sandbox), so they move along with it.
    Link.objects.filter(
        Q(application=application) | Q(tenant__agency=agency, api_url=previous_api_url)
    ).update(auth_url=hosts.auth_url, api_url=hosts.api_url, rest_url=hosts.rest_url)
    return application
