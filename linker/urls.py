from django.contrib import admin
from django.urls import include, path

from linker.views import applications, health, linking, tenants

urlpatterns = [
    path("", tenants.tenant_list_view, name="home"),
    path("tenants/<int:tenant_id>/", tenants.tenant_detail_view, name="tenant_detail"),
    path("tenants/<int:tenant_id>/connect", linking.connect_start_view, name="connect_start"),
    path("tenants/<int:tenant_id>/token", linking.token_link_view, name="token_link"),
    path("tenants/<int:tenant_id>/confirm", linking.link_confirm_view, name="link_confirm"),
    path("tenants/<int:tenant_id>/disconnect", linking.disconnect_view, name="disconnect"),
    path(
        "tenants/<int:tenant_id>/connect-links",
        linking.connect_link_create_view,
        name="connect_link_create",
    ),
    path(
        "tenants/<int:tenant_id>/connect-links/<int:link_id>/revoke",
        linking.connect_link_revoke_view,
        name="connect_link_revoke",
    ),
    path("oauth/callback", linking.oauth_callback_view, name="oauth_callback"),
    path("connect/done", linking.connect_done_view, name="connect_done"),
    path("connect/<str:token>", linking.connect_link_open_view, name="connect_link_open"),
    path(
        "agencies/<int:agency_id>/applications", applications.applications_view, name="applications"
    ),
    path("healthz", health.healthz, name="healthz"),
    path("accounts/", include("accounts.urls")),
    path("admin/", admin.site.urls),
]

admin.site.site_header = "Copernica Linker administration"
admin.site.site_title = "Copernica Linker"
