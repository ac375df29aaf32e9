"""The *API keys* page of an agency (agency admins only): make a key (shown once), list and
revoke keys, and the API section of the security log (the requests made with them)."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from accounts.selectors import administered_agency_get
from linker.models import ApiKeyScope
from linker.platform.api_keys import (
    NAME_MAX,
    api_key_create,
    api_key_get,
    api_key_list,
    api_key_revoke,
    api_request_list,
)
from linker.platform.errors import NON_FIELD, LinkerError
from linker.views.responses import see_other

#: Requests shown in the page's API section (the API's GET /requests pages through them all).
REQUESTS_SHOWN = 100


class ApiKeyForm(forms.Form):
    name = forms.CharField(
        max_length=NAME_MAX, help_text="Which system uses it, so that you know what to revoke."
    )
    scopes = forms.MultipleChoiceField(
        choices=ApiKeyScope.choices,
        widget=forms.CheckboxSelectMultiple,
        initial=[ApiKeyScope.READ, ApiKeyScope.WRITE],
        help_text="Read: see everything. Write: queue changes, start syncs, connect links. "
        "Admin: create tenants, manage keys.",
    )


@require_http_methods(["GET", "POST"])
@login_required
def api_keys_view(request: HttpRequest, agency_id: int) -> HttpResponse:
    # Staff, another agency's admin and a missing agency all get the same 404.
    agency = administered_agency_get(user=request.user, id=agency_id)
    form = ApiKeyForm(request.POST or None)
    new_key = None
    if request.method == "POST" and form.is_valid():
        try:
            new_key = api_key_create(
                agency=agency,
                user=request.user,
                name=form.cleaned_data["name"],
                scopes=form.cleaned_data["scopes"],
            )
        except LinkerError as exc:
            for field, problems in exc.field_errors.items():
                for problem in problems:
                    form.add_error(None if field == NON_FIELD else field, problem)
        else:
            form = ApiKeyForm()
    response = render(
        request,
        "api/keys.html",
        {
            "agency": agency,
            "form": form,
            "new_key": new_key,
            "keys": api_key_list(agency=agency),
            "requests": api_request_list(agency=agency)[:REQUESTS_SHOWN],
        },
    )
    if new_key is not None:
        # The page holds a secret (in its body, not its URL): kept out of every cache.
        response["Cache-Control"] = "no-store"
    return response


@require_POST
@login_required
def api_key_revoke_view(request: HttpRequest, agency_id: int, key_id: int) -> HttpResponse:
    agency = administered_agency_get(user=request.user, id=agency_id)
    key = api_key_get(agency=agency, id=key_id)
    if api_key_revoke(key=key, user=request.user):
        messages.success(request, f"Key {key.prefix}… ({key.name}) revoked: it stopped working.")
    else:
        messages.info(request, f"Key {key.prefix}… ({key.name}) was already revoked.")
    return see_other(reverse("api_keys", kwargs={"agency_id": agency.pk}))
