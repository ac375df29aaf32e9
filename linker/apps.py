from django.apps import AppConfig


class LinkerConfig(AppConfig):
    name = "linker"
    verbose_name = "Copernica links"

    def ready(self) -> None:
        # Imported here, once the models are loaded: ``keys`` registers the start-up key
        # check; ``api_keys`` holds the receiver connected below.
        from django.db.models.signals import post_delete

        from accounts.models import Membership
        from linker.platform import api_keys, keys  # noqa: F401

        # A person removed from an agency takes the API keys they made with them (case 43);
        # connected from this side because accounts knows nothing of the linker.
        post_delete.connect(
            api_keys.on_membership_deleted,
            sender=Membership,
            dispatch_uid="linker.api_keys.membership_deleted",
        )
