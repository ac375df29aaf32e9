"""Admin for links and applications: scoped like the pages, secrets shown as fingerprints."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest

from accounts.admin import ScopedAdmin
from accounts.selectors import tenant_list
from linker.linking.applications import application_list, application_register
from linker.models import ApiApplication, Link, LinkEvent


class ApiApplicationForm(forms.ModelForm):
    redirect_uri = forms.URLField(max_length=500, assume_scheme="https")
    client_secret = forms.CharField(
        widget=forms.PasswordInput, help_text="Stored encrypted; never shown again."
    )

    class Meta:
        model = ApiApplication
        fields = ("name", "agency", "client_id", "redirect_uri", "is_default")


@admin.register(ApiApplication)
class ApiApplicationAdmin(ScopedAdmin):
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    list_display = ("name", "agency", "client_id", "client_secret_fingerprint", "is_default")
    readonly_fields = (
        "client_secret_fingerprint",
        "authorize_url",
        "token_url",
        "auth_url",
        "api_url",
        "rest_url",
        "created_at",
    )

    def get_form(
        self, request: HttpRequest, obj: Any | None = None, change: bool = False, **kwargs: Any
    ) -> Any:
        if obj is None:
            kwargs["form"] = ApiApplicationForm
        return super().get_form(request, obj, change, **kwargs)

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return ("name", "agency", "client_id", "client_secret", "redirect_uri", "is_default")
        return ("name", "agency", "client_id", "redirect_uri", "is_default", *self.readonly_fields)

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        created = application_register(
            name=form.cleaned_data["name"],
            client_id=form.cleaned_data["client_id"],
            client_secret=form.cleaned_data["client_secret"],
            redirect_uri=form.cleaned_data["redirect_uri"],
            agency=form.cleaned_data["agency"],
            is_default=form.cleaned_data["is_default"],
            user=request.user,
        )
        obj.pk = created.pk

    def scoped_queryset(self, request: HttpRequest, qs: QuerySet[Any]) -> QuerySet[Any]:
        return qs.filter(pk__in=application_list(user=request.user).values("pk"))


class LinkEventInline(admin.TabularInline):
    model = LinkEvent
    extra = 0
    can_delete = False
    fields = ("created_at", "kind", "message", "actor")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Link)
class LinkAdmin(ScopedAdmin):
    list_display = ("tenant", "state", "copernica_account_name", "linked_at", "last_verified_at")
    list_filter = ("state",)
    search_fields = ("tenant__name", "copernica_account_name", "copernica_account_id")
    list_select_related = ("tenant",)
    readonly_fields = (
        "tenant",
        "application",
        "state",
        "state_changed_at",
        "state_reason",
        "token_fingerprint",
        "copernica_account_id",
        "copernica_account_name",
        "copernica_company",
        "linked_by",
        "linked_at",
        "last_verified_at",
        "auth_url",
        "api_url",
        "rest_url",
    )
    fields = readonly_fields
    inlines = (LinkEventInline,)

    def scoped_queryset(self, request: HttpRequest, qs: QuerySet[Any]) -> QuerySet[Any]:
        return qs.filter(tenant__in=tenant_list(user=request.user))
