"""The API's addresses under ``/api/v1/`` (mounted by ``linker.urls``).

Every view is wrapped by ``recorded`` (the API request log). The patterns have no names on
purpose: the site's page tables (tests/web/routes.py) walk named pages as a signed-in person,
while the API is reached with keys and walked by its own tests from the OpenAPI document
(tests/api/), which lists every operation here.
"""

from __future__ import annotations

from django.urls import path, re_path

from linker.api.recording import recorded
from linker.api.views import changes, keys, links, mirror, reference, syncs, tenants, webhooks

T = "tenants/<int:tenant_id>"
W = "webhooks/<int:endpoint_id>"

urlpatterns = [
    path("openapi.json", recorded(reference.SchemaView.as_view())),
    path("docs", recorded(reference.DocsView.as_view())),
    path("problems/<slug:slug>", recorded(reference.ProblemTypeView.as_view())),
    path("key", recorded(keys.CurrentKeyView.as_view())),
    path("keys", recorded(keys.ApiKeyListView.as_view())),
    path("keys/<int:key_id>/revoke", recorded(keys.ApiKeyRevokeView.as_view())),
    path("requests", recorded(keys.ApiRequestListView.as_view())),
    path("webhooks", recorded(webhooks.WebhookEndpointListView.as_view())),
    path(W, recorded(webhooks.WebhookEndpointDetailView.as_view())),
    path(f"{W}/rotate-secret", recorded(webhooks.WebhookRotateSecretView.as_view())),
    path(f"{W}/deliveries", recorded(webhooks.WebhookDeliveryListView.as_view())),
    path(
        f"{W}/deliveries/<int:delivery_id>/replay",
        recorded(webhooks.WebhookReplayView.as_view()),
    ),
    path("tenants", recorded(tenants.TenantListView.as_view())),
    path(T, recorded(tenants.TenantDetailView.as_view())),
    path(f"{T}/archive", recorded(tenants.TenantArchiveView.as_view())),
    path(f"{T}/restore", recorded(tenants.TenantRestoreView.as_view())),
    path(f"{T}/link", recorded(links.LinkView.as_view())),
    path(f"{T}/link/history", recorded(links.LinkHistoryView.as_view())),
    path(f"{T}/link/disconnect", recorded(links.LinkDisconnectView.as_view())),
    path(f"{T}/connect-links", recorded(links.ConnectLinkListView.as_view())),
    path(
        f"{T}/connect-links/<int:connect_link_id>/revoke",
        recorded(links.ConnectLinkRevokeView.as_view()),
    ),
    path(f"{T}/sync-runs", recorded(syncs.SyncRunListView.as_view())),
    path(f"{T}/sync-runs/<int:run_id>", recorded(syncs.SyncRunDetailView.as_view())),
    path(f"{T}/schedule", recorded(syncs.ScheduleView.as_view())),
    path(f"{T}/requests", recorded(syncs.RequestLedgerView.as_view())),
    path(f"{T}/databases", recorded(mirror.DatabaseListView.as_view())),
    path(f"{T}/databases/<int:database_id>", recorded(mirror.DatabaseDetailView.as_view())),
    path(f"{T}/collections", recorded(mirror.CollectionListView.as_view())),
    path(f"{T}/collections/<int:collection_id>", recorded(mirror.CollectionDetailView.as_view())),
    path(f"{T}/profiles", recorded(mirror.ProfileListView.as_view())),
    path(f"{T}/profiles/<int:profile_id>", recorded(mirror.ProfileDetailView.as_view())),
    path(f"{T}/subprofiles", recorded(mirror.SubprofileListView.as_view())),
    path(f"{T}/subprofiles/<int:subprofile_id>", recorded(mirror.SubprofileDetailView.as_view())),
    path(f"{T}/changes", recorded(changes.ChangeListView.as_view())),
    path(f"{T}/changes/<int:change_id>", recorded(changes.ChangeDetailView.as_view())),
    path(f"{T}/profile-changes", recorded(changes.ProfileChangeCreateView.as_view())),
    path(f"{T}/subprofile-changes", recorded(changes.SubprofileChangeCreateView.as_view())),
    re_path(r"^.*$", recorded(reference.NotFoundView.as_view())),
]
