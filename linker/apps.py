from django.apps import AppConfig


class LinkerConfig(AppConfig):
    name = "linker"
    verbose_name = "Copernica links"

    def ready(self) -> None:
        # Imported here, once the models are loaded: registers the start-up key check.
        from linker.platform import keys  # noqa: F401
