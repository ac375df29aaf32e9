"""The *Webhooks* page of an agency (agency admins only): endpoints made (their secret shown
once), changed, disabled or enabled, their secret rotated, deleted; and each endpoint's
delivery log with *Replay*."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from accounts.models import Agency, Tenant
from accounts.selectors import administered_agency_get, tenant_list
from linker.models import WebhookEndpoint, WebhookEventType
from linker.outbound.endpoints import (
    NewSecret,
    webhook_delivery_get,
    webhook_delivery_list,
    webhook_endpoint_create,
    webhook_endpoint_delete,
    webhook_endpoint_enable,
    webhook_endpoint_get,
    webhook_endpoint_list,
    webhook_endpoint_rotate_secret,
    webhook_endpoint_update,
)
from linker.outbound.sending import webhook_delivery_replay
from linker.platform.errors import NON_FIELD, LinkerError
from linker.views.params import choice_param
from linker.views.responses import see_other

#: Deliveries shown in an endpoint's log (newest first).
DELIVERIES_SHOWN = 100


class EndpointForm(forms.Form):
    url = forms.CharField(
        label="URL",
        max_length=500,
        help_text="Where we POST the events (https). It must be reachable from the internet.",
    )
    description = forms.CharField(max_length=200, required=False)
    event_types = forms.MultipleChoiceField(
        label="Events",
        choices=WebhookEventType.choices,
        widget=forms.CheckboxSelectMultiple,
        initial=WebhookEventType.values,
    )
    tenant = forms.TypedChoiceField(
        label="Only for tenant",
        required=False,
        coerce=int,
        empty_value=None,
        help_text="Leave empty for every tenant of the agency.",
    )

    def __init__(self, *args: Any, tenants: list[Tenant], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.tenants = {t.pk: t for t in tenants}
        self.fields["tenant"].choices = [("", "All tenants")] + [  # type: ignore[attr-defined]
            (t.pk, t.name) for t in tenants
        ]

    def chosen_tenant(self) -> Tenant | None:
        pk = self.cleaned_data.get("tenant")
        return self.tenants.get(pk) if pk is not None else None


def _tenants(request: HttpRequest, agency: Agency) -> list[Tenant]:
    return list(tenant_list(user=request.user).filter(agency=agency).order_by("name"))


def _errors_to_form(form: forms.Form, exc: LinkerError) -> None:
    for field, problems in exc.field_errors.items():
        for problem in problems:
            known = field != NON_FIELD and field in form.fields
            form.add_error(field if known else None, problem)


def _no_store(response: HttpResponse, secret: NewSecret | None) -> HttpResponse:
    if secret is not None:
        # The page holds a secret (in its body, not its URL): kept out of every cache.
        response["Cache-Control"] = "no-store"
    return response


@require_http_methods(["GET", "POST"])
@login_required
def webhooks_view(request: HttpRequest, agency_id: int) -> HttpResponse:
    # Staff, another agency's admin and a missing agency all get the same 404.
    agency = administered_agency_get(user=request.user, id=agency_id)
    tenants = _tenants(request, agency)
    form = EndpointForm(request.POST or None, tenants=tenants)
    new_secret = None
    if request.method == "POST" and form.is_valid():
        try:
            new_secret = webhook_endpoint_create(
                agency=agency,
                user=request.user,
                url=form.cleaned_data["url"],
                description=form.cleaned_data["description"],
                event_types=form.cleaned_data["event_types"],
                tenant=form.chosen_tenant(),
            )
        except LinkerError as exc:
            _errors_to_form(form, exc)
        else:
            form = EndpointForm(tenants=tenants)
    response = render(
        request,
        "webhooks/list.html",
        {
            "agency": agency,
            "form": form,
            "new_secret": new_secret,
            "endpoints": webhook_endpoint_list(agency=agency),
        },
    )
    return _no_store(response, new_secret)


def _detail(
    request: HttpRequest,
    agency: Agency,
    endpoint: WebhookEndpoint,
    form: EndpointForm,
    new_secret: NewSecret | None = None,
) -> HttpResponse:
    deliveries = list(webhook_delivery_list(endpoint=endpoint)[:DELIVERIES_SHOWN])
    response = render(
        request,
        "webhooks/detail.html",
        {
            "agency": agency,
            "endpoint": endpoint,
            "form": form,
            "new_secret": new_secret,
            "deliveries": deliveries,
        },
    )
    return _no_store(response, new_secret)


@require_http_methods(["GET", "POST"])
@login_required
def webhook_view(request: HttpRequest, agency_id: int, endpoint_id: int) -> HttpResponse:
    agency = administered_agency_get(user=request.user, id=agency_id)
    endpoint = webhook_endpoint_get(agency=agency, id=endpoint_id)
    tenants = _tenants(request, agency)
    initial = {
        "url": endpoint.url,
        "description": endpoint.description,
        "event_types": endpoint.event_types,
        "tenant": endpoint.tenant_id,
    }
    form = EndpointForm(request.POST or None, initial=initial, tenants=tenants)
    if request.method == "POST" and form.is_valid():
        try:
            webhook_endpoint_update(
                endpoint=endpoint,
                user=request.user,
                url=form.cleaned_data["url"],
                description=form.cleaned_data["description"],
                event_types=form.cleaned_data["event_types"],
                tenant=form.chosen_tenant(),
            )
        except LinkerError as exc:
            _errors_to_form(form, exc)
            endpoint.refresh_from_db()
        else:
            messages.success(request, "Endpoint saved.")
            return see_other(_detail_url(endpoint))
    return _detail(request, agency, endpoint, form)


def _detail_url(endpoint: WebhookEndpoint) -> str:
    return reverse(
        "webhook_detail", kwargs={"agency_id": endpoint.agency_id, "endpoint_id": endpoint.pk}
    )


@require_POST
@login_required
def webhook_enable_view(request: HttpRequest, agency_id: int, endpoint_id: int) -> HttpResponse:
    agency = administered_agency_get(user=request.user, id=agency_id)
    endpoint = webhook_endpoint_get(agency=agency, id=endpoint_id)
    enabled = choice_param(request.POST, "enabled", choices=("0", "1"), default="0") == "1"
    if webhook_endpoint_enable(endpoint=endpoint, user=request.user, enabled=enabled):
        messages.success(
            request,
            "Endpoint enabled: waiting events go out in order."
            if enabled
            else "Endpoint disabled: events are kept until you enable it.",
        )
    return see_other(_detail_url(endpoint))


@require_POST
@login_required
def webhook_rotate_view(request: HttpRequest, agency_id: int, endpoint_id: int) -> HttpResponse:
    agency = administered_agency_get(user=request.user, id=agency_id)
    endpoint = webhook_endpoint_get(agency=agency, id=endpoint_id)
    new_secret = webhook_endpoint_rotate_secret(endpoint=endpoint, user=request.user)
    form = EndpointForm(
        initial={
            "url": endpoint.url,
            "description": endpoint.description,
            "event_types": endpoint.event_types,
            "tenant": endpoint.tenant_id,
        },
        tenants=_tenants(request, agency),
    )
    return _detail(request, agency, endpoint, form, new_secret)


@require_POST
@login_required
def webhook_delete_view(request: HttpRequest, agency_id: int, endpoint_id: int) -> HttpResponse:
    agency = administered_agency_get(user=request.user, id=agency_id)
    endpoint = webhook_endpoint_get(agency=agency, id=endpoint_id)
    url = endpoint.url
    webhook_endpoint_delete(endpoint=endpoint, user=request.user)
    messages.success(request, f"Endpoint {url} deleted.")
    return see_other(reverse("webhooks", kwargs={"agency_id": agency.pk}))


@require_POST
@login_required
def webhook_replay_view(
    request: HttpRequest, agency_id: int, endpoint_id: int, delivery_id: int
) -> HttpResponse:
    agency = administered_agency_get(user=request.user, id=agency_id)
    endpoint = webhook_endpoint_get(agency=agency, id=endpoint_id)
    delivery = webhook_delivery_get(endpoint=endpoint, id=delivery_id)
    if webhook_delivery_replay(delivery=delivery, user=request.user):
        messages.success(request, f"Event {delivery.event.msg_id} queued to be sent again.")
    else:
        messages.info(request, "That event is being sent right now.")
    return see_other(_detail_url(endpoint))
