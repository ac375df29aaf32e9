"""The Django admin, scoped like every other page: a non-superuser sees only their tenants."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.http import HttpRequest

from accounts.models import Agency, Membership, Tenant, User
from accounts.selectors import agency_list, tenant_list
from accounts.services import AccountsError, membership_add, membership_remove


class ScopedAdmin(admin.ModelAdmin):
    """Non-superusers may view what the selectors let them see, and change nothing here."""

    def scoped_queryset(self, request: HttpRequest, qs: QuerySet[Any]) -> QuerySet[Any]:
        raise NotImplementedError

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        qs = super().get_queryset(request)
        if request.user.is_superuser:
            return qs
        return self.scoped_queryset(request, qs)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.is_active and request.user.is_staff

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.is_active and request.user.is_staff

    def has_add_permission(self, request: HttpRequest) -> bool:
        return request.user.is_superuser

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.is_superuser

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.is_superuser


@admin.register(Agency)
class AgencyAdmin(ScopedAdmin):
    list_display = ("name", "slug", "created_at")
    search_fields = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}

    def scoped_queryset(self, request: HttpRequest, qs: QuerySet[Any]) -> QuerySet[Any]:
        return qs.filter(pk__in=agency_list(user=request.user).values("pk"))


@admin.register(Tenant)
class TenantAdmin(ScopedAdmin):
    list_display = ("name", "agency", "created_at")
    list_filter = ("agency",)
    search_fields = ("name",)
    list_select_related = ("agency",)

    def scoped_queryset(self, request: HttpRequest, qs: QuerySet[Any]) -> QuerySet[Any]:
        return qs.filter(pk__in=tenant_list(user=request.user).values("pk"))


@admin.register(Membership)
class MembershipAdmin(ScopedAdmin):
    list_display = ("user", "role", "agency", "tenant", "created_at")
    list_filter = ("role",)
    search_fields = ("user__email",)
    list_select_related = ("user", "agency", "tenant")
    autocomplete_fields = ("user",)

    def scoped_queryset(self, request: HttpRequest, qs: QuerySet[Any]) -> QuerySet[Any]:
        agencies = agency_list(user=request.user).values("pk")
        tenants = tenant_list(user=request.user).values("pk")
        return qs.filter(Q(agency__in=agencies) | Q(tenant__in=tenants))

    # A membership is added or removed, never edited in place: both go through the services,
    # like everywhere else, so a role change ends up in the agency's security log and a removal
    # ends the member's sessions at once. (To change a role, add it again: it replaces.)
    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    # The services' rules hold here too; a refusal (the agency's last admin) is a 403 page
    # with the reason rather than an error page.
    def save_model(self, request: HttpRequest, obj: Membership, form: Any, change: bool) -> None:
        try:
            saved = membership_add(
                user=obj.user,
                role=obj.role,
                agency=obj.agency,
                tenant=obj.tenant,
                actor=request.user if isinstance(request.user, User) else None,
            )
        except AccountsError as exc:
            raise PermissionDenied(str(exc)) from None
        obj.pk = saved.pk

    def delete_model(self, request: HttpRequest, obj: Membership) -> None:
        try:
            membership_remove(
                user=obj.user,
                agency=obj.agency,
                tenant=obj.tenant if obj.agency is None else None,
                actor=request.user if isinstance(request.user, User) else None,
            )
        except AccountsError as exc:
            raise PermissionDenied(str(exc)) from None

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        for membership in queryset.select_related("user", "agency", "tenant"):
            self.delete_model(request, membership)


@admin.register(User)
class UserAdmin(BaseUserAdmin, ScopedAdmin):
    ordering = ("email",)
    list_display = ("email", "full_name", "is_staff", "is_active", "date_joined")
    search_fields = ("email", "full_name")
    list_filter = ("is_staff", "is_superuser", "is_active")
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Profile", {"fields": ("full_name", "time_zone")}),
        ("Access", {"fields": ("is_active", "is_staff", "is_superuser", "groups")}),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "password1", "password2")}),)
    filter_horizontal = ("groups",)

    def scoped_queryset(self, request: HttpRequest, qs: QuerySet[Any]) -> QuerySet[Any]:
        # Colleagues: members of the same agencies or of tenants the user can see.
        agencies = agency_list(user=request.user).values("pk")
        tenants = tenant_list(user=request.user).values("pk")
        colleague_ids = Membership.objects.filter(
            Q(agency__in=agencies) | Q(tenant__in=tenants)
        ).values("user_id")
        return qs.filter(Q(pk__in=colleague_ids) | Q(pk=request.user.pk))
