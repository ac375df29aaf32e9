"""The user's own settings page."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from accounts.forms import AccountSettingsForm


@require_http_methods(["GET", "POST"])
@login_required
def account_settings_view(request: HttpRequest) -> HttpResponse:
    form = AccountSettingsForm(request.POST or None, instance=request.user)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, "Your settings are saved.")
        response = HttpResponseRedirect(reverse("account_settings"))
        response.status_code = 303
        return response
    return render(request, "registration/account_settings.html", {"form": form})
