"""Responses every view module uses."""

from __future__ import annotations

from django.http import HttpResponseRedirect
from django.urls import reverse


def see_other(url: str) -> HttpResponseRedirect:
    """303 See Other: after a POST, the browser GETs the next page (no resubmission)."""
    response = HttpResponseRedirect(url)
    response.status_code = 303
    return response


def tenant_url(tenant_id: int) -> str:
    return reverse("tenant_detail", kwargs={"tenant_id": tenant_id})
