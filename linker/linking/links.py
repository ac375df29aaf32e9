"""A link's lifecycle after the handshake: store a token, confirm, verify, disconnect; and the
one way to get a tenant's link."""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from accounts.models import Agency, SecurityEventKind, Tenant, User
from accounts.security_log import security_event_record
from accounts.selectors import AnyUser, can_link_tenant, can_manage_tenant, tenant_list
from api_client import CopernicaError, NotFoundError
from linker.linking.client import jwt_cache_key, metered_session
from linker.linking.errors import LinkingError, LinkNotUsableError
from linker.linking.identity import Endpoints, Identity
from linker.models import (
    ACTIVE_SYNC_STATES,
    ApiApplication,
    ConnectLink,
    InboundLink,
    InboundWebhook,
    Link,
    LinkEvent,
    LinkState,
    Notification,
    ProfileChange,
    RemoteCollection,
    RemoteDatabase,
    RemoteProfile,
    RemoteSubprofile,
    SyncRun,
    SyncSchedule,
    SyncState,
    WebhookHealth,
)
from linker.notifications.services import notices_resolve
from linker.platform import vault
from linker.platform.delivery import Task, enqueue
from linker.platform.errors import LinkerError
from linker.platform.keys import token_context

logger = logging.getLogger(__name__)


def link_list(*, user: AnyUser) -> QuerySet[Link]:
    return Link.objects.filter(tenant__in=tenant_list(user=user)).select_related("tenant")


def link_get(*, tenant: Tenant) -> Link | None:
    """The tenant's link, if it ever had one (the caller reached ``tenant`` through
    ``accounts.selectors``, which checked the user's access)."""
    return Link.objects.filter(tenant=tenant).select_related("tenant", "application").first()


def _actor(user: AnyUser | None) -> User | None:
    return user if isinstance(user, User) and user.is_authenticated else None


def _log_agencies(tenant: Tenant) -> list[Agency]:
    """The security log a link event goes to: its tenant's agency (none for a lone tenant)."""
    return [tenant.agency] if tenant.agency else []


#: The states in which a link holds its Copernica account (another link of it waits in *pending*).
_HOLDING = (LinkState.ACTIVE, LinkState.NEEDS_RECONNECT)


def _duplicate_holder(*, tenant: Tenant, account_id: str) -> Link | None:
    return (
        Link.objects.filter(copernica_account_id=account_id, state__in=_HOLDING)
        .exclude(tenant=tenant)
        .select_related("tenant")
        .first()
    )


def link_duplicate_warning(*, link: Link, user: AnyUser) -> str:
    """What the tenant page says about a link waiting in *pending* (reliability.md case 41).

    The other tenants that hold the same Copernica account are named only when ``user`` may see
    them (``accounts.selectors.tenant_list``): the holder may be another agency's client, and
    even within an agency a tenant admin sees only their own tenant. The others are "elsewhere".
    """
    account = link.copernica_account_name or link.copernica_account_id
    holders = Link.objects.filter(
        copernica_account_id=link.copernica_account_id, state__in=_HOLDING
    ).exclude(tenant_id=link.tenant_id)
    if not link.copernica_account_id:  # a tokenless link holds no account
        holders = holders.none()
    visible = dict(
        tenant_list(user=user)
        .filter(pk__in=holders.values("tenant_id"))
        .order_by("name")
        .values_list("pk", "name")
    )
    hidden = holders.exclude(tenant_id__in=list(visible)).exists()
    confirm = "Confirm to link it here too."
    if visible:
        where = ", ".join(visible.values()) + (" and elsewhere" if hidden else "")
        return f"Copernica account {account} is already linked to {where}. {confirm}"
    if hidden:
        return f"Copernica account {account} is already linked elsewhere. {confirm}"
    return (
        f"Copernica account {account} was linked elsewhere when this link was made. Confirm to "
        "link it here too."
    )


def link_store_token(
    *,
    tenant: Tenant,
    api_token: str,
    identity: Identity,
    endpoints: Endpoints,
    application: ApiApplication | None,
    user: AnyUser | None,
    how: str,
) -> Link:
    """Store a verified token on the tenant's link (creating it once; reconnects reuse it).

    If another tenant already holds the same Copernica account, the link waits in *pending*
    until someone confirms the warning on the tenant page; nothing calls Copernica meanwhile.
    """
    actor = _actor(user)
    with transaction.atomic():
        link = Link.objects.select_for_update().filter(tenant=tenant).first()
        is_new = link is None or link.linked_at is None
        link = link or Link(tenant=tenant)
        old_key = jwt_cache_key(link) if link.pk else None
        previous_account = link.copernica_account_id
        holder = _duplicate_holder(tenant=tenant, account_id=identity.account_id)
        link.token_version += 1
        link.access_token_encrypted = vault.encrypt(api_token, context=token_context(link))
        link.token_fingerprint = vault.fingerprint(api_token)
        link.application = application
        link.auth_url, link.api_url, link.rest_url = (
            endpoints.auth_url,
            endpoints.api_url,
            endpoints.rest_url,
        )
        link.copernica_account_id = identity.account_id
        link.copernica_account_name = identity.name
        link.copernica_company = identity.company
        link.linked_by = actor
        link.linked_at = timezone.now()
        link.last_verified_at = link.linked_at
        link.state_changed_at = link.linked_at
        if holder is not None:
            link.state = LinkState.PENDING
            link.state_reason = (
                # Never the holder's name: this row is shown to people who may not see that
                # tenant (another agency's, most likely); the page names it to those who may,
                # through ``link_duplicate_warning``.
                f"Copernica account {identity.name or identity.account_id} is already linked to "
                "another tenant. Confirm to link it here too."
            )
        else:
            link.state = LinkState.ACTIVE
            link.state_reason = f"Linked {how}."
        link.save()
        message = f"Copernica account {identity.name} (id {identity.account_id}) linked {how}."
        if previous_account and previous_account != identity.account_id:
            _mirror_forget(link=link)
            message += (
                f" It replaces account id {previous_account}: the copy of that account's data "
                "was cleared and its queued changes were cancelled."
            )
        if holder is not None:
            message += " Waiting for confirmation: another tenant holds this account."
        # The tenant has its token now: an open invitation would only let someone relink it.
        revoked = ConnectLink.objects.filter(
            tenant=tenant, used_at__isnull=True, revoked_at__isnull=True
        ).update(revoked_at=link.linked_at)
        if revoked:
            message += f" {revoked} open connect link{'s' if revoked != 1 else ''} revoked."
        LinkEvent.objects.create(
            link=link,
            kind=LinkEvent.Kind.LINKED if is_new else LinkEvent.Kind.RELINKED,
            message=message[:500],
            actor=actor,
        )
        # Never the other tenant's name: the log's readers may not see that tenant.
        security_event_record(
            kind=SecurityEventKind.LINK_MADE,
            user=actor,
            agencies=_log_agencies(tenant),
            detail=f"{tenant.name}: Copernica account {identity.name} "
            f"(id {identity.account_id}) {'linked' if is_new else 'relinked'} {how}"
            + (
                "; waiting for confirmation (another tenant holds this account)."
                if holder is not None
                else "."
            ),
        )
        if old_key:
            transaction.on_commit(lambda: cache.delete(old_key))
        if link.state == LinkState.ACTIVE:
            _link_usable_again(link)
    return link


def _link_usable_again(link: Link) -> None:
    """In the transaction that made the link usable: its "needs reconnect" notice ends now,
    and the profile changes that waited for the reconnect go out, in order, after the commit."""
    notices_resolve(link=link, kind=Notification.Kind.NEEDS_RECONNECT)
    enqueue(Task.PROFILE_CHANGES_RELEASE, link.pk)
    if settings.LINKER_WEBHOOKS_REGISTER:
        # Copernica's webhooks for this account (linker.inbound), registered or repaired.
        enqueue(Task.INBOUND_WEBHOOKS_REGISTER, link.pk)


#: Changes not sent yet (a change being sent finishes on its own: its worker holds the row).
_UNSENT = (ProfileChange.State.QUEUED, ProfileChange.State.WAITING)


def _mirror_forget(*, link: Link) -> None:
    """The link now points at another Copernica account: drop what came from the old one.

    Profiles of the old account must never be browsed, counted or written back under this link.
    Databases stay (marked removed) so that the change history keeps its references.
    """
    now = timezone.now()
    SyncRun.objects.filter(link=link, state__in=ACTIVE_SYNC_STATES).update(
        state=SyncState.CANCELLED, finished_at=now, claim=""
    )
    ProfileChange.objects.filter(link=link, state__in=_UNSENT).update(
        state=ProfileChange.State.CANCELLED,
        finished_at=now,
        error_message="Cancelled: the tenant was linked to a different Copernica account.",
    )
    RemoteProfile.objects.filter(link=link).delete()
    Link.objects.filter(pk=link.pk).update(profiles_mirrored=0, copernica_count=None)
    RemoteSubprofile.objects.filter(link=link).delete()
    RemoteCollection.objects.filter(link=link, removed_at=None).update(removed_at=now)
    RemoteDatabase.objects.filter(link=link, removed_at=None).update(removed_at=now)
    SyncSchedule.objects.filter(link=link).update(
        pending_removal_fingerprint="", pending_removal_count=0, pending_removal_run=None
    )


def link_confirm_duplicate(*, link: Link, user: AnyUser) -> Link:
    """Accept the warning that another tenant holds the same Copernica account."""
    if not can_link_tenant(user=user, tenant=link.tenant):
        raise PermissionDenied("Your role does not allow linking this tenant.")
    with transaction.atomic():
        locked = Link.objects.select_for_update().get(pk=link.pk)
        if locked.state != LinkState.PENDING or not locked.access_token_encrypted:
            raise LinkingError("There is nothing waiting for confirmation on this link.")
        locked.state = LinkState.ACTIVE
        locked.state_changed_at = timezone.now()
        locked.state_reason = "Linked after confirming the shared-account warning."
        locked.save(update_fields=["state", "state_changed_at", "state_reason"])
        LinkEvent.objects.create(
            link=locked,
            kind=LinkEvent.Kind.LINKED,
            message="Confirmed: this Copernica account is shared with another tenant.",
            actor=_actor(user),
        )
        security_event_record(
            kind=SecurityEventKind.LINK_MADE,
            user=_actor(user),
            agencies=_log_agencies(locked.tenant),
            detail=f"{locked.tenant.name}: linked to Copernica account "
            f"{locked.copernica_account_name or locked.copernica_account_id} after confirming "
            "that another tenant holds it too.",
        )
        _link_usable_again(locked)
    return locked


def link_disconnect(*, link: Link, user: AnyUser | None, reason: str = "") -> Link:
    """Delete the token and every cached JWT of the link in one transaction.

    The JWT cache key carries the token version, which this bumps: from the commit on, no
    process can find a JWT of the old token, and queued work sees a disconnected link.
    """
    if user is not None and not can_link_tenant(user=user, tenant=link.tenant):
        raise PermissionDenied("Your role does not allow disconnecting this tenant.")
    _webhooks_unregister(link)
    with transaction.atomic():
        locked = Link.objects.select_for_update().get(pk=link.pk)
        old_key = jwt_cache_key(locked)
        # The old handler URL names no link from now on: its deliveries are refused (401).
        InboundWebhook.objects.filter(inbound__link=locked).delete()
        InboundLink.objects.filter(link=locked).update(
            handler_id=InboundLink.new_handler_id(),
            state=WebhookHealth.MISSING,
            state_reason="Disconnected: no webhooks.",
            healthy_since=None,
        )
        locked.access_token_encrypted = ""
        locked.token_fingerprint = ""
        locked.token_version += 1
        locked.state = LinkState.DISCONNECTED
        locked.state_changed_at = timezone.now()
        locked.state_reason = reason or "Disconnected by a user."
        locked.save()
        # Nothing will send them now: a reconnect later must not replay old edits unasked.
        ProfileChange.objects.filter(link=locked, state__in=_UNSENT).update(
            state=ProfileChange.State.CANCELLED,
            finished_at=timezone.now(),
            error_message="Cancelled: the Copernica link was disconnected.",
        )
        LinkEvent.objects.create(
            link=locked,
            kind=LinkEvent.Kind.DISCONNECTED,
            message=locked.state_reason,
            actor=_actor(user),
        )
        security_event_record(
            kind=SecurityEventKind.LINK_REMOVED,
            user=_actor(user),
            agencies=_log_agencies(locked.tenant),
            detail=f"{locked.tenant.name}: disconnected from Copernica account "
            f"{locked.copernica_account_name or locked.copernica_account_id}. "
            f"{locked.state_reason}",
        )
        # Now, and again after the commit, in case another process re-cached a JWT of the
        # old token before it could see this transaction.
        cache.delete(old_key)
        transaction.on_commit(lambda: cache.delete(old_key))
    return locked


def _webhooks_unregister(link: Link) -> None:
    """Remove the link's webhooks at Copernica while its token can still do so (linker.inbound
    registered them). Best effort: what fails here is refused by the receiver from the commit
    on, as the handler id changes."""
    webhook_ids = list(
        InboundWebhook.objects.filter(inbound__link=link).values_list("webhook_id", flat=True)
    )
    if not webhook_ids or not link.is_usable:
        return
    try:
        with metered_session(link, max_retries=1) as session:
            for webhook_id in webhook_ids:
                with contextlib.suppress(NotFoundError):  # removed at Copernica already
                    session.client.webhook_delete(webhook_id)
    except (CopernicaError, LinkerError) as error:
        logger.warning("Removing the webhooks of link %s failed: %s", link.pk, type(error).__name__)


MIRROR_READ_ONLY = (
    "This tenant is disconnected from Copernica, so its mirrored profiles are read-only: "
    "nothing can be created, changed or deleted. Connect it again to make changes."
)


def link_mirror_read_only(*, link: Link | None) -> bool:
    """After *Disconnect* the mirror stays for reading only (until it is deleted or relinked)."""
    return link is not None and link.linked_at is not None and not link.access_token_encrypted


@dataclass(frozen=True)
class MirrorDeleted:
    profiles: int
    subprofiles: int
    collections: int
    databases: int


def link_mirror_delete(*, link: Link, user: AnyUser) -> MirrorDeleted:
    """*Delete mirrored data* of a disconnected link: its profiles, subprofiles, collections
    and databases, logged in the link's history.

    The change history (``ProfileChange``) stays: it is the record of what was written to
    Copernica and by whom. Its rows point at their database and collection, so those few stay
    too, marked removed, holding only names and field definitions; every other mirror row goes.
    """
    if not can_manage_tenant(user=user, tenant=link.tenant):
        raise PermissionDenied("Only agency staff can delete a tenant's mirrored data.")
    with transaction.atomic():
        locked = Link.objects.select_for_update().get(pk=link.pk)
        if locked.access_token_encrypted:
            raise LinkingError(
                "This tenant is still linked. Disconnect it first, then delete its mirrored data."
            )
        now = timezone.now()
        subprofiles, _ = RemoteSubprofile.objects.filter(link=locked).delete()
        profiles, _ = RemoteProfile.objects.filter(link=locked).delete()
        Link.objects.filter(pk=locked.pk).update(profiles_mirrored=0, copernica_count=None)
        changes = ProfileChange.objects.filter(link=locked)
        kept_collections = changes.exclude(collection=None).values("collection_id")
        collections, _ = (
            RemoteCollection.objects.filter(link=locked).exclude(pk__in=kept_collections).delete()
        )
        RemoteCollection.objects.filter(link=locked).update(
            removed_at=now, remote_count=None, local_count=None
        )
        databases = RemoteDatabase.objects.filter(link=locked).exclude(
            pk__in=changes.values("database_id")
        )
        databases = databases.exclude(
            pk__in=RemoteCollection.objects.filter(link=locked).values("database_id")
        )
        databases_deleted = databases.count()
        databases.delete()
        RemoteDatabase.objects.filter(link=locked).update(
            removed_at=now, remote_count=None, local_count=None
        )
        SyncSchedule.objects.filter(link=locked).update(
            pending_removal_fingerprint="", pending_removal_count=0, pending_removal_run=None
        )
        result = MirrorDeleted(
            profiles=profiles,
            subprofiles=subprofiles,
            collections=collections,
            databases=databases_deleted,
        )
        LinkEvent.objects.create(
            link=locked,
            kind=LinkEvent.Kind.MIRROR_DELETED,
            message=(
                f"Deleted the mirror: {profiles} profiles, {subprofiles} subprofiles, "
                f"{collections} collections, {databases_deleted} databases. The change history "
                "was kept."
            ),
            actor=_actor(user),
        )
    return result


def link_verify(*, link: Link) -> bool:
    """The daily identity probe: records *last verified*, or moves the link to reconnect."""
    try:
        with metered_session(link) as session:
            identity = Identity.from_api(session.client.identity())
    except LinkNotUsableError:
        return False
    Link.objects.filter(pk=link.pk).update(last_verified_at=timezone.now())
    if identity.account_id != link.copernica_account_id:
        LinkEvent.objects.create(
            link=link,
            kind=LinkEvent.Kind.VERIFIED,
            message=f"Copernica now reports account id {identity.account_id}.",
        )
    return True
