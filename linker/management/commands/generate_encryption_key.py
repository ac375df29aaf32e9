from typing import Any

from django.core.management.base import BaseCommand

from linker.platform.vault import key_generate


class Command(BaseCommand):
    help = "Print a new random key for LINKER_ENCRYPTION_KEYS (put it first to rotate)."

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write(key_generate())
