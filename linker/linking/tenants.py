"""A tenant's end: deleted from the pages with its link disconnected and its mirror removed."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db import transaction

from accounts.models import Tenant
from accounts.selectors import AnyUser, can_delete_tenant
from accounts.services import tenant_delete
from linker.linking.links import link_disconnect, link_get, link_mirror_delete
from linker.platform.errors import InvalidInputError


def tenant_delete_confirmed(*, user: AnyUser, tenant: Tenant, typed_name: str) -> None:
    """*Delete tenant*, confirmed by typing its name: disconnect its link (the token and cached
    JWTs gone, unsent changes cancelled, logged), delete its mirror, then the tenant and every
    row that belongs to it. All in one transaction: a failure leaves the tenant as it was.

    Only the agency's admins (``PermissionDenied``); a name that does not match is an
    ``InvalidInputError`` on ``confirm_name``.
    """
    if not can_delete_tenant(user=user, tenant=tenant):
        raise PermissionDenied("Only the agency's admins can delete a tenant.")
    if typed_name.strip() != tenant.name:
        raise InvalidInputError(
            f"Type the tenant's name, {tenant.name}, exactly as shown to delete it.",
            field="confirm_name",
        )
    with transaction.atomic():
        link = link_get(tenant=tenant)
        if link is not None:
            if link.access_token_encrypted:
                link = link_disconnect(link=link, user=user, reason="The tenant was deleted.")
            link_mirror_delete(link=link, user=user)
        tenant_delete(actor=user, tenant=tenant)
