import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.models import Agency, SecurityEventKind
from accounts.security_log import security_event_record
from linker.platform import vault
from linker.platform.keys import rotate_all, rows_on_old_keys


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored secret with the first key of LINKER_ENCRYPTION_KEYS. Batches "
        "commit one by one, so a killed run loses nothing and the next run resumes."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--batch-size", type=int, default=200)
        parser.add_argument("--status", action="store_true", help="Only report what remains.")
        parser.add_argument(
            "--pause-ms", type=int, default=0, help="Pause between batches (to spare the DB)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1.")
        try:
            ring = vault.keyring()
        except vault.VaultError as exc:
            raise CommandError(str(exc)) from None
        if not options["status"]:
            pause = options["pause_ms"] / 1000

            def report(label: str, count: int) -> None:
                self.stdout.write(f"re-encrypted {count} row(s) of {label}")
                self.stdout.flush()
                if pause:
                    time.sleep(pause)

            try:
                done = rotate_all(batch_size=options["batch_size"], on_batch=report)
            except vault.VaultError as exc:
                raise CommandError(f"Stopped: {exc}") from None
            self.stdout.write(f"Re-encrypted {done} row(s) with key {ring.current_id}.")
            # Every agency's secrets are under the deployment's one key ring: each log has it.
            # (Recorded here, not in linker.platform.keys, which knows no accounts.)
            security_event_record(
                kind=SecurityEventKind.KEY_ROTATED,
                agencies=Agency.objects.all(),
                detail=f"manage.py rotate_keys: {done} stored secret(s) re-encrypted with key "
                f"{ring.current_id}.",
            )
        remaining = rows_on_old_keys()
        for label, count in remaining.items():
            self.stdout.write(f"{label}: {count} row(s) on old keys")
        if any(remaining.values()) and not options["status"]:
            raise CommandError("Some rows are still on old keys; run rotate_keys again.")
