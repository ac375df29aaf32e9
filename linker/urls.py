from django.contrib import admin
from django.urls import include, path

from linker.views import health, tenants

urlpatterns = [
    path("", tenants.tenant_list_view, name="home"),
    path("tenants/<int:tenant_id>/", tenants.tenant_detail_view, name="tenant_detail"),
    path("healthz", health.healthz, name="healthz"),
    path("accounts/", include("accounts.urls")),
    path("admin/", admin.site.urls),
]

admin.site.site_header = "Copernica Linker administration"
admin.site.site_title = "Copernica Linker"
