"""The agency's Copernica applications: list and register, edit one, retire one (agency admins
change them; the agency's staff see the list)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from accounts.models import Agency
from accounts.selectors import agency_get, is_agency_admin
from linker.linking.applications import (
    HOST_CHOICES,
    application_get,
    application_list,
    application_register,
    application_retire,
    application_update,
)
from linker.models import ApiApplication
from linker.platform.errors import LinkerError
from linker.views.forms import ApplicationEditForm, ApplicationForm
from linker.views.responses import see_other


def _applications_url(agency: Agency) -> str:
    return reverse("applications", kwargs={"agency_id": agency.pk})


def _own_application(request: HttpRequest, agency: Agency, application_id: int) -> ApiApplication:
    """One of the agency's own applications (not a deployment-wide one), for its admins."""
    application = application_get(user=request.user, agency=agency, id=application_id)
    if application is None:
        raise Http404("No such application.")
    if not is_agency_admin(user=request.user, agency=agency):
        raise PermissionDenied("Only agency admins change applications.")
    return application


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
                return see_other(_applications_url(agency))
    applications = (
        application_list(user=request.user).filter(agency=agency).order_by("retired_at", "name")
    )
    return render(
        request,
        "linking/applications.html",
        {"agency": agency, "applications": applications, "form": form, "is_admin": is_admin},
    )


@require_http_methods(["GET", "POST"])
@login_required
def application_edit_view(
    request: HttpRequest, agency_id: int, application_id: int
) -> HttpResponse:
    agency = agency_get(user=request.user, id=agency_id)
    application = _own_application(request, agency, application_id)
    if application.retired_at is not None:
        messages.info(request, f"{application.name} is retired and cannot be changed.")
        return see_other(_applications_url(agency))
    form = ApplicationEditForm(
        request.POST or None,
        initial={"name": application.name, "redirect_uri": application.redirect_uri},
    )
    if request.method == "POST" and form.is_valid():
        try:
            application_update(
                application=application,
                user=request.user,
                name=form.cleaned_data["name"],
                redirect_uri=form.cleaned_data["redirect_uri"],
                client_secret=form.cleaned_data["client_secret"],
            )
        except LinkerError as exc:
            form.add_error(None, exc.message)
        else:
            changed = " and its new secret stored" if form.cleaned_data["client_secret"] else ""
            messages.success(request, f"Application {application.name} saved{changed}.")
            return see_other(_applications_url(agency))
    return render(
        request,
        "linking/application_edit.html",
        {"agency": agency, "application": application, "form": form},
        status=400 if form.errors else 200,
    )


@require_POST
@login_required
def application_retire_view(
    request: HttpRequest, agency_id: int, application_id: int
) -> HttpResponse:
    agency = agency_get(user=request.user, id=agency_id)
    application = _own_application(request, agency, application_id)
    application_retire(application=application, user=request.user)
    messages.success(
        request,
        f"{application.name} retired: new connections use the agency's default application"
        " (register one if there is none).",
    )
    return see_other(_applications_url(agency))
