"""A tenant's link, its history, and its connect links."""

from __future__ import annotations

from rest_framework import serializers

from linker.api.serializers.common import email_of
from linker.linking.connect_links import connect_link_is_open
from linker.linking.links import link_mirror_read_only
from linker.models import ConnectLink, Link, LinkEvent, LinkState


class LinkSerializer(serializers.Serializer):
    state = serializers.ChoiceField(choices=LinkState.choices, read_only=True)
    state_reason = serializers.CharField(read_only=True)
    state_changed_at = serializers.DateTimeField(read_only=True, allow_null=True)
    copernica_account_id = serializers.CharField(read_only=True)
    copernica_account_name = serializers.CharField(read_only=True)
    copernica_company = serializers.CharField(read_only=True)
    linked_at = serializers.DateTimeField(read_only=True, allow_null=True)
    last_verified_at = serializers.DateTimeField(read_only=True, allow_null=True)
    read_only = serializers.SerializerMethodField(
        help_text="The mirror is kept but takes no changes (disconnected, not relinked)."
    )

    def get_read_only(self, link: Link) -> bool:
        return link_mirror_read_only(link=link)


class LinkEventSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    kind = serializers.ChoiceField(choices=LinkEvent.Kind.choices, read_only=True)
    message = serializers.CharField(read_only=True)
    actor = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField(read_only=True)

    def get_actor(self, event: LinkEvent) -> str | None:
        return email_of(event.actor)


class ConnectLinkSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    created_at = serializers.DateTimeField(read_only=True)
    expires_at = serializers.DateTimeField(read_only=True)
    used_at = serializers.DateTimeField(read_only=True, allow_null=True)
    revoked_at = serializers.DateTimeField(read_only=True, allow_null=True)
    is_open = serializers.SerializerMethodField(help_text="Neither used, revoked nor expired.")
    created_by = serializers.SerializerMethodField()

    def get_is_open(self, connect_link: ConnectLink) -> bool:
        return connect_link_is_open(connect_link)

    def get_created_by(self, connect_link: ConnectLink) -> str | None:
        return email_of(connect_link.created_by)


class ConnectLinkCreatedSerializer(ConnectLinkSerializer):
    url = serializers.SerializerMethodField(
        help_text="The link to send the client's admin: works once, shown only now."
    )

    def get_url(self, connect_link: ConnectLink) -> str:
        return str(self.context["url"])
