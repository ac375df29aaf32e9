from django.contrib import admin
from django.urls import include, path

from linker.views import (
    api_keys,
    applications,
    dashboard,
    inbound,
    linking,
    metrics,
    people,
    probes,
    profiles,
    subprofiles,
    tenant_settings,
    tenants,
    webhooks,
)

urlpatterns = [
    path("", dashboard.dashboard_view, name="home"),
    path("tenants.csv", dashboard.dashboard_export_view, name="dashboard_export"),
    path("tenants/bulk", dashboard.tenant_bulk_view, name="tenant_bulk"),
    path(
        "agencies/<int:agency_id>/tenants/new", dashboard.tenant_create_view, name="tenant_create"
    ),
    path("invite/<uidb64>/<token>/", dashboard.invite_accept_view, name="invite_accept"),
    path("tenants/<int:tenant_id>/", tenants.tenant_detail_view, name="tenant_detail"),
    path("tenants/<int:tenant_id>/people", people.tenant_people_view, name="tenant_people"),
    path(
        "tenants/<int:tenant_id>/people/<int:membership_id>/role",
        people.tenant_person_role_view,
        name="tenant_person_role",
    ),
    path(
        "tenants/<int:tenant_id>/people/<int:membership_id>/remove",
        people.tenant_person_remove_view,
        name="tenant_person_remove",
    ),
    path(
        "tenants/<int:tenant_id>/people/<int:membership_id>/resend",
        people.tenant_person_resend_view,
        name="tenant_person_resend",
    ),
    path(
        "tenants/<int:tenant_id>/settings",
        tenant_settings.tenant_settings_view,
        name="tenant_settings",
    ),
    path(
        "tenants/<int:tenant_id>/archive",
        tenant_settings.tenant_archive_view,
        name="tenant_archive",
    ),
    path(
        "tenants/<int:tenant_id>/restore",
        tenant_settings.tenant_restore_view,
        name="tenant_restore",
    ),
    path(
        "tenants/<int:tenant_id>/delete", tenant_settings.tenant_delete_view, name="tenant_delete"
    ),
    path("tenants/<int:tenant_id>/sync", tenants.sync_now_view, name="sync_now"),
    path("tenants/<int:tenant_id>/sync/progress", tenants.sync_progress_view, name="sync_progress"),
    path("tenants/<int:tenant_id>/schedule", tenants.sync_schedule_view, name="sync_schedule"),
    path(
        "tenants/<int:tenant_id>/runs/<int:run_id>",
        tenants.sync_run_detail_view,
        name="sync_run_detail",
    ),
    path(
        "tenants/<int:tenant_id>/requests.csv",
        tenants.request_ledger_export_view,
        name="request_ledger_export",
    ),
    path("tenants/<int:tenant_id>/profiles/", profiles.profile_list_view, name="profile_list"),
    path(
        "tenants/<int:tenant_id>/profiles.csv", profiles.profile_export_view, name="profile_export"
    ),
    path(
        "tenants/<int:tenant_id>/profiles/new", profiles.profile_create_view, name="profile_create"
    ),
    path(
        "tenants/<int:tenant_id>/profiles/<int:profile_id>/",
        profiles.profile_detail_view,
        name="profile_detail",
    ),
    path(
        "tenants/<int:tenant_id>/profiles/<int:profile_id>/delete",
        profiles.profile_delete_view,
        name="profile_delete",
    ),
    path(
        "tenants/<int:tenant_id>/profiles/<int:profile_id>/collections/<int:collection_id>/new",
        subprofiles.subprofile_create_view,
        name="subprofile_create",
    ),
    path(
        "tenants/<int:tenant_id>/profiles/<int:profile_id>/subprofiles/<int:subprofile_id>/",
        subprofiles.subprofile_detail_view,
        name="subprofile_detail",
    ),
    path(
        "tenants/<int:tenant_id>/profiles/<int:profile_id>/subprofiles/<int:subprofile_id>/delete",
        subprofiles.subprofile_delete_view,
        name="subprofile_delete",
    ),
    path(
        "tenants/<int:tenant_id>/changes",
        profiles.profile_change_states_view,
        name="profile_change_states",
    ),
    path(
        "tenants/<int:tenant_id>/changes/<int:change_id>/resolve",
        profiles.profile_change_resolve_view,
        name="profile_change_resolve",
    ),
    path(
        "tenants/<int:tenant_id>/changes/<int:change_id>/retry",
        profiles.profile_change_retry_view,
        name="profile_change_retry",
    ),
    path(
        "tenants/<int:tenant_id>/changes/<int:change_id>/cancel",
        profiles.profile_change_cancel_view,
        name="profile_change_cancel",
    ),
    path("tenants/<int:tenant_id>/connect", linking.connect_start_view, name="connect_start"),
    path("tenants/<int:tenant_id>/token", linking.token_link_view, name="token_link"),
    path("tenants/<int:tenant_id>/confirm", linking.link_confirm_view, name="link_confirm"),
    path("tenants/<int:tenant_id>/disconnect", linking.disconnect_view, name="disconnect"),
    path("tenants/<int:tenant_id>/mirror/delete", linking.mirror_delete_view, name="mirror_delete"),
    path(
        "tenants/<int:tenant_id>/connect-links",
        linking.connect_link_create_view,
        name="connect_link_create",
    ),
    path(
        "tenants/<int:tenant_id>/connect-links/email",
        linking.connect_link_email_view,
        name="connect_link_email",
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
    path(
        "agencies/<int:agency_id>/applications/<int:application_id>",
        applications.application_edit_view,
        name="application_edit",
    ),
    path(
        "agencies/<int:agency_id>/applications/<int:application_id>/retire",
        applications.application_retire_view,
        name="application_retire",
    ),
    path("agencies/<int:agency_id>/members", people.agency_members_view, name="agency_members"),
    path(
        "agencies/<int:agency_id>/members/<int:membership_id>/role",
        people.agency_member_role_view,
        name="agency_member_role",
    ),
    path(
        "agencies/<int:agency_id>/members/<int:membership_id>/remove",
        people.agency_member_remove_view,
        name="agency_member_remove",
    ),
    path(
        "agencies/<int:agency_id>/members/<int:membership_id>/resend",
        people.agency_member_resend_view,
        name="agency_member_resend",
    ),
    path("agencies/<int:agency_id>/api-keys", api_keys.api_keys_view, name="api_keys"),
    path(
        "agencies/<int:agency_id>/api-keys/<int:key_id>/revoke",
        api_keys.api_key_revoke_view,
        name="api_key_revoke",
    ),
    path("agencies/<int:agency_id>/webhooks", webhooks.webhooks_view, name="webhooks"),
    path(
        "agencies/<int:agency_id>/webhooks/<int:endpoint_id>",
        webhooks.webhook_view,
        name="webhook_detail",
    ),
    path(
        "agencies/<int:agency_id>/webhooks/<int:endpoint_id>/enable",
        webhooks.webhook_enable_view,
        name="webhook_enable",
    ),
    path(
        "agencies/<int:agency_id>/webhooks/<int:endpoint_id>/rotate-secret",
        webhooks.webhook_rotate_view,
        name="webhook_rotate",
    ),
    path(
        "agencies/<int:agency_id>/webhooks/<int:endpoint_id>/delete",
        webhooks.webhook_delete_view,
        name="webhook_delete",
    ),
    path(
        "agencies/<int:agency_id>/webhooks/<int:endpoint_id>/deliveries/<int:delivery_id>/replay",
        webhooks.webhook_replay_view,
        name="webhook_replay",
    ),
    path("api/v1/", include("linker.api.urls")),
    path("healthz", probes.healthz, name="healthz"),
    path("metrics", metrics.metrics_view, name="metrics"),
    # Copernica's webhook deliveries: public, checked by signature (linker.inbound.receiver).
    path(
        "inbound/copernica/<str:handler_id>",
        inbound.inbound_copernica_view,
        name="inbound_copernica",
    ),
    path("accounts/", include("accounts.urls")),
    path("admin/", admin.site.urls),
]

admin.site.site_header = "Copernica Linker administration"
admin.site.site_title = "Copernica Linker"
