"""Connect, callback, pasted token, confirm, disconnect, connect links."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.selectors import can_view_tenant, tenant_get
from accounts.throttling import throttle
from linker.linking.applications import consent_origin
from linker.linking.connect_links import (
    connect_link_create,
    connect_link_get,
    connect_link_mark_opened,
    connect_link_open_get,
    connect_link_revoke,
)
from linker.linking.invitations import connect_link_send
from linker.linking.links import (
    link_confirm_duplicate,
    link_disconnect,
    link_get,
    link_mirror_delete,
)
from linker.linking.oauth import link_connect_complete, link_connect_start, link_with_token
from linker.models import Link, LinkState
from linker.platform.errors import LinkerError
from linker.views.forms import ApiTokenForm
from linker.views.params import text_param
from linker.views.responses import see_other, tenant_url

# The connect link's URL is its secret. ``same-origin`` keeps it out of every Referer sent to
# another site (Copernica's consent page included), while the page's own form POST still
# carries a real ``Origin``: under ``no-referrer`` Chromium sends ``Origin: null`` and Django's
# CSRF origin check refuses the form.
CONNECT_LINK_REFERRER_POLICY = "same-origin"
# The session key under which a new connect link's URL waits for the tenant page to show it
# once (its token is stored only as a hash).
NEW_CONNECT_LINK = "new_connect_link"


def _session_key(request: HttpRequest) -> str:
    if not request.session.session_key:
        request.session["linker"] = True
        request.session.save()
    return request.session.session_key or ""


def _linked_message(request: HttpRequest, link: Link) -> None:
    """Green only when the link is in use; a link waiting in *pending* says what it waits for."""
    name = link.copernica_account_name or link.copernica_account_id
    if link.state == LinkState.PENDING:
        messages.warning(
            request,
            f"Copernica account {name} is already linked to another tenant, so this link waits "
            "for confirmation: nothing is synced until someone chooses Link anyway.",
        )
    else:
        messages.success(request, f"Linked to Copernica account {name}.")


@require_POST
@login_required
def connect_start_view(request: HttpRequest, tenant_id: int) -> HttpResponse:
    tenant = tenant_get(user=request.user, id=tenant_id)
    try:
        url = link_connect_start(
            tenant=tenant, user=request.user, session_key=_session_key(request)
        )
    except LinkerError as exc:
        messages.error(request, str(exc))
        return see_other(tenant_url(tenant.pk))
    return see_other(url)


@require_GET
@never_cache
def oauth_callback_view(request: HttpRequest) -> HttpResponse:
    # Copernica's answer; ``link_connect_complete`` checks the state's shape before anything.
    params = {
        key: text_param(request.GET, key, max_length=2000) for key in ("state", "code", "error")
    }
    result = link_connect_complete(
        params=params, session_key=request.session.session_key or "", user=request.user
    )
    if result.tenant is None:
        response = render(
            request, "linking/callback_failed.html", {"error": result.error}, status=400
        )
    elif result.connect_link is not None and not can_view_tenant(
        user=request.user, tenant=result.tenant
    ):
        request.session["connect_result"] = {
            "tenant": result.tenant.name,
            "ok": not result.error,
            "pending": result.link is not None and result.link.state == LinkState.PENDING,
            "error": result.error,
        }
        response = see_other(reverse("connect_done"))
    else:
        if result.error:
            messages.error(request, result.error)
        elif result.link is not None:
            _linked_message(request, result.link)
        else:
            messages.success(request, "Linked.")
        response = see_other(tenant_url(result.tenant.pk))
    # The callback URL carried a code and a state: keep them out of Referer headers and caches.
    response["Referrer-Policy"] = "no-referrer"
    response["Cache-Control"] = "no-store"
    return response


@require_POST
@login_required
@throttle("api_token")
def token_link_view(request: HttpRequest, tenant_id: int) -> HttpResponse:
    tenant = tenant_get(user=request.user, id=tenant_id)
    form = ApiTokenForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Paste the API token to link with.")
        return see_other(tenant_url(tenant.pk))
    try:
        link = link_with_token(
            tenant=tenant, user=request.user, api_token=form.cleaned_data["api_token"]
        )
    except LinkerError as exc:
        messages.error(request, str(exc))
    else:
        _linked_message(request, link)
    return see_other(tenant_url(tenant.pk))


@require_POST
@login_required
def link_confirm_view(request: HttpRequest, tenant_id: int) -> HttpResponse:
    tenant = tenant_get(user=request.user, id=tenant_id)
    link = link_get(tenant=tenant)
    if link is None:
        raise Http404("No link.")
    try:
        link_confirm_duplicate(link=link, user=request.user)
    except LinkerError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, "Linked. This Copernica account is now shared.")
    return see_other(tenant_url(tenant.pk))


@require_POST
@login_required
def disconnect_view(request: HttpRequest, tenant_id: int) -> HttpResponse:
    tenant = tenant_get(user=request.user, id=tenant_id)
    link = link_get(tenant=tenant)
    if link is None or not link.access_token_encrypted:
        messages.info(request, "This tenant was not linked.")
        return see_other(tenant_url(tenant.pk))
    try:
        link_disconnect(link=link, user=request.user)
    except LinkerError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, "Disconnected. The token and its cached sessions are deleted.")
    return see_other(tenant_url(tenant.pk))


@require_POST
@login_required
def mirror_delete_view(request: HttpRequest, tenant_id: int) -> HttpResponse:
    """*Delete mirrored data* of a disconnected tenant (the page asks to confirm first)."""
    tenant = tenant_get(user=request.user, id=tenant_id)
    link = link_get(tenant=tenant)
    if link is None:
        raise Http404("No link.")
    try:
        deleted = link_mirror_delete(link=link, user=request.user)
    except LinkerError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(
            request,
            f"Mirrored data deleted: {deleted.profiles} profiles and {deleted.subprofiles} "
            "subprofiles. The change history is kept.",
        )
    return see_other(tenant_url(tenant.pk))


@require_POST
@login_required
def connect_link_create_view(request: HttpRequest, tenant_id: int) -> HttpResponse:
    tenant = tenant_get(user=request.user, id=tenant_id)
    try:
        connect_link, token = connect_link_create(tenant=tenant, user=request.user)
    except LinkerError as exc:
        messages.error(request, str(exc))
        return see_other(tenant_url(tenant.pk))
    url = request.build_absolute_uri(reverse("connect_link_open", kwargs={"token": token}))
    # Shown once, on the tenant page that follows, with a copy button (NEW_CONNECT_LINK).
    request.session[NEW_CONNECT_LINK] = {"tenant": tenant.pk, "id": connect_link.pk, "url": url}
    messages.success(request, "Connect link created. Copy it now: it is shown only this once.")
    return see_other(tenant_url(tenant.pk) + "#connect-links")


@require_POST
@login_required
def connect_link_email_view(request: HttpRequest, tenant_id: int) -> HttpResponse:
    """A fresh connect link, emailed to the tenant's admins (the link itself is not shown)."""
    tenant = tenant_get(user=request.user, id=tenant_id)
    try:
        invitation = connect_link_send(
            user=request.user, tenant=tenant, base_url=request.build_absolute_uri("/")
        )
    except PermissionDenied:
        messages.error(request, "Only agency staff send connect links.")
        return see_other(tenant_url(tenant.pk))
    except LinkerError as exc:
        messages.error(request, str(exc))
        return see_other(tenant_url(tenant.pk))
    if invitation.emailed_to:
        messages.success(
            request, f"A new connect link was emailed to {', '.join(invitation.emailed_to)}."
        )
    else:
        messages.warning(
            request,
            "This tenant has no admin to email. Create a link and send it yourself, or invite "
            "a tenant admin under People.",
        )
    return see_other(tenant_url(tenant.pk) + "#connect-links")


@require_POST
@login_required
def connect_link_revoke_view(request: HttpRequest, tenant_id: int, link_id: int) -> HttpResponse:
    tenant = tenant_get(user=request.user, id=tenant_id)
    connect_link = connect_link_get(tenant=tenant, id=link_id)
    if connect_link is None:
        raise Http404("No such connect link.")
    try:
        connect_link_revoke(connect_link=connect_link, user=request.user)
    except LinkerError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, "Connect link revoked.")
    return see_other(tenant_url(tenant.pk))


@require_http_methods(["GET", "POST"])
@never_cache
@throttle("connect_link")
def connect_link_open_view(request: HttpRequest, token: str) -> HttpResponse:
    connect_link = connect_link_open_get(token=token)
    if connect_link is None:
        response = render(request, "linking/connect_link_invalid.html", status=404)
    elif request.method == "POST":
        try:
            url = link_connect_start(
                tenant=connect_link.tenant,
                user=request.user,
                session_key=_session_key(request),
                connect_link=connect_link,
            )
        except LinkerError as exc:
            response = render(
                request, "linking/connect_link.html", {"tenant": connect_link.tenant, "error": exc}
            )
        else:
            response = see_other(url)
    else:
        connect_link_mark_opened(connect_link=connect_link)
        response = render(request, "linking/connect_link.html", {"tenant": connect_link.tenant})
    if connect_link is not None:
        response.csp_form_action = consent_origin(agency=connect_link.tenant.agency)  # type: ignore[attr-defined]
    response["Referrer-Policy"] = CONNECT_LINK_REFERRER_POLICY
    return response


@require_GET
def connect_done_view(request: HttpRequest) -> HttpResponse:
    result = request.session.pop("connect_result", None)
    return render(request, "linking/connect_done.html", {"result": result})
