from django.apps import AppConfig


class LinkerConfig(AppConfig):
    name = "linker"
    verbose_name = "Copernica links"

    def ready(self) -> None:
        # Imported here, once the models are loaded: ``keys`` registers the start-up key
        # check; ``api_keys`` holds the receiver connected below.
        from django.db.models.signals import post_delete, post_init, post_save

        from accounts.models import Membership
        from linker.outbound import events as webhook_events
        from linker.platform import api_keys, keys  # noqa: F401

        # A person removed from an agency takes the API keys they made with them (case 43);
        # connected from this side because accounts knows nothing of the linker.
        post_delete.connect(
            api_keys.on_membership_deleted,
            sender=Membership,
            dispatch_uid="linker.api_keys.membership_deleted",
        )
        # Outbound webhook events, written in the transaction of the state change that causes
        # them: the state an instance was loaded with, compared when it is saved.
        for model in webhook_events.TRACKED_MODELS:
            label = model._meta.label_lower
            post_init.connect(
                webhook_events.on_model_init,
                sender=model,
                dispatch_uid=f"linker.webhook_events.init.{label}",
            )
            post_save.connect(
                webhook_events.on_model_saved,
                sender=model,
                dispatch_uid=f"linker.webhook_events.saved.{label}",
            )
