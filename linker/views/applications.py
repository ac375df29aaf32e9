"""The agency's Copernica applications page (agency admins only)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from accounts.selectors import agency_get, is_agency_admin
from linker.linking.applications import HOST_CHOICES, application_list, application_register
from linker.platform.errors import LinkerError
from linker.views.forms import ApplicationForm
from linker.views.responses import see_other


@require_http_methods(["GET", "POST"])
@login_required
def applications_view(request: HttpRequest, agency_id: int) -> HttpResponse:
    agency = agency_get(user=request.user, id=agency_id)
    is_admin = is_agency_admin(user=request.user, agency=agency)
    form = ApplicationForm(request.POST or None)
    if request.method == "POST":
        if not is_admin:
            raise PermissionDenied("Only agency admins register applications.")
        if form.is_valid():
            data = form.cleaned_data
            try:
                application = application_register(
                    name=data["name"],
                    client_id=data["client_id"],
                    client_secret=data["client_secret"],
                    redirect_uri=data["redirect_uri"],
                    agency=agency,
                    hosts=HOST_CHOICES[data["hosts"]](),
                    is_default=data["is_default"],
                    user=request.user,
                )
            except LinkerError as exc:
                form.add_error(None, exc.message)
            else:
                messages.success(request, f"Application {application.name} registered.")
                return see_other(reverse("applications", kwargs={"agency_id": agency.pk}))
    applications = application_list(user=request.user).filter(agency=agency).order_by("name")
    return render(
        request,
        "linking/applications.html",
        {"agency": agency, "applications": applications, "form": form, "is_admin": is_admin},
    )
