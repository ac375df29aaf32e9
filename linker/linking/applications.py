"""Copernica API applications: register, list, pick the default, edit and retire."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from accounts.models import Agency
from accounts.selectors import AnyUser, agency_list, is_agency_admin
from linker.linking.errors import ApplicationError
from linker.models import ApiApplication
from linker.platform import vault
from linker.platform.keys import secret_context


@dataclass(frozen=True)
class Hosts:
    authorize_url: str
    token_url: str
    auth_url: str
    api_url: str
    rest_url: str


REAL_COPERNICA = Hosts(
    authorize_url="https://www.copernica.com/en/authorize",
    token_url="https://api.copernica.com/v4/token",  # noqa: S106 - a URL, not a secret
    auth_url="https://authenticate.copernica.com",
    api_url="https://api.copernica.com/v4",
    rest_url="https://rest.copernica.com/v4",
)


def configured_hosts() -> Hosts:
    """The hosts of the settings (the sandbox unless configured otherwise)."""
    return Hosts(
        authorize_url=settings.COPERNICA_AUTHORIZE_URL,
        token_url=settings.COPERNICA_TOKEN_URL,
        auth_url=settings.COPERNICA_AUTH_URL,
        api_url=settings.COPERNICA_API_URL,
        rest_url=settings.COPERNICA_REST_URL,
    )


HOST_CHOICES = {"configured": configured_hosts, "copernica": lambda: REAL_COPERNICA}


def application_secret(application: ApiApplication) -> str:
    return vault.decrypt(application.client_secret_encrypted, context=secret_context(application))


@transaction.atomic
def application_register(
    *,
    name: str,
    client_id: str,
    client_secret: str,
    redirect_uri: str,
    agency: Agency | None = None,
    hosts: Hosts | None = None,
    is_default: bool = False,
    user: AnyUser | None = None,
) -> ApiApplication:
    """Store a Copernica application; its secret is encrypted and never shown again."""
    name, client_id, client_secret = name.strip(), client_id.strip(), client_secret.strip()
    redirect_uri = redirect_uri.strip()
    if not name or not client_id or not client_secret:
        raise ApplicationError("An application needs a name, a client id and a client secret.")
    _redirect_uri_check(redirect_uri)
    hosts = hosts or configured_hosts()
    if is_default:
        ApiApplication.objects.filter(agency=agency, is_default=True).update(is_default=False)
    application = ApiApplication(
        name=name,
        client_id=client_id,
        redirect_uri=redirect_uri,
        agency=agency,
        is_default=is_default,
        created_by=user if user is not None and user.is_authenticated else None,
        authorize_url=hosts.authorize_url,
        token_url=hosts.token_url,
        auth_url=hosts.auth_url,
        api_url=hosts.api_url,
        rest_url=hosts.rest_url,
    )
    application.client_secret_encrypted = vault.encrypt(
        client_secret, context=secret_context(application)
    )
    application.client_secret_fingerprint = vault.fingerprint(client_secret)
    application.save()
    return application


def _admin_check(*, user: AnyUser, application: ApiApplication) -> None:
    # Deployment-wide applications (no agency) belong to the operator: changed with
    # manage.py register_application, never from an agency's page.
    if application.agency is None or not is_agency_admin(user=user, agency=application.agency):
        raise PermissionDenied("Only the agency's admins change its applications.")


def _redirect_uri_check(redirect_uri: str) -> None:
    if not redirect_uri.startswith(("https://", "http://")):
        raise ApplicationError("The redirect URI must be an absolute http(s) URL.")
    if settings.PRODUCTION and not redirect_uri.startswith("https://"):
        raise ApplicationError("In production the redirect URI must use https.")


@transaction.atomic
def application_update(
    *,
    application: ApiApplication,
    user: AnyUser,
    name: str,
    redirect_uri: str,
    client_secret: str = "",
) -> ApiApplication:
    """Rename the application, change its redirect URI and, if given, its secret (encrypted
    again through the vault, bound to this row; the old one is gone)."""
    _admin_check(user=user, application=application)
    if application.retired_at is not None:
        raise ApplicationError("A retired application cannot be changed.")
    name, redirect_uri, client_secret = name.strip(), redirect_uri.strip(), client_secret.strip()
    if not name:
        raise ApplicationError("An application needs a name.")
    _redirect_uri_check(redirect_uri)
    application.name = name
    application.redirect_uri = redirect_uri
    fields = ["name", "redirect_uri"]
    if client_secret:
        application.client_secret_encrypted = vault.encrypt(
            client_secret, context=secret_context(application)
        )
        application.client_secret_fingerprint = vault.fingerprint(client_secret)
        fields += ["client_secret_encrypted", "client_secret_fingerprint"]
    application.save(update_fields=fields)
    return application


@transaction.atomic
def application_retire(*, application: ApiApplication, user: AnyUser) -> ApiApplication:
    """Retire the application: no new handshake uses it (links made with it keep working until
    they reconnect, which takes the agency's default)."""
    _admin_check(user=user, application=application)
    if application.retired_at is None:
        application.retired_at = timezone.now()
        application.is_default = False
        application.save(update_fields=["retired_at", "is_default"])
    return application


def application_get(*, user: AnyUser, agency: Agency, id: int) -> ApiApplication | None:
    """The application ``id`` of ``agency`` (reached through ``accounts.selectors``)."""
    return application_list(user=user).filter(agency=agency, pk=id).first()


def application_list(*, user: AnyUser) -> QuerySet[ApiApplication]:
    """Applications of the user's agencies, plus the deployment-wide ones (no agency)."""
    return ApiApplication.objects.filter(
        Q(agency__in=agency_list(user=user)) | Q(agency__isnull=True)
    ).select_related("agency")


def application_for_tenant(*, agency: Agency | None) -> ApiApplication | None:
    """The application a Connect click uses: the agency's default, else a global default."""
    candidates = ApiApplication.objects.filter(is_default=True, retired_at__isnull=True)
    return (
        candidates.filter(agency=agency).first() if agency is not None else None
    ) or candidates.filter(agency__isnull=True).first()


def consent_origin(*, agency: Agency | None) -> str:
    """The origin of the consent page a Connect button of this agency leads to ('' if none)."""
    application = application_for_tenant(agency=agency)
    if application is None:
        return ""
    parts = urlsplit(application.authorize_url)
    return f"{parts.scheme}://{parts.netloc}"
