"""``manage.py sync <tenant id> [--full]``: sync one tenant's account in the foreground."""

from __future__ import annotations

import sys
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.models import Tenant
from linker.linking.links import link_get
from linker.models import RemoteProfile, SyncMode, SyncRun
from linker.sync.runs import sync_run_foreground, sync_run_request


class Command(BaseCommand):
    help = "Sync a tenant's Copernica account now, in this process (no worker needed)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("tenant_id", help="The id of the tenant whose account to sync.")
        parser.add_argument(
            "--full", action="store_true", help="Walk every profile and reconcile deletions."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            tenant_id = int(options["tenant_id"])
        except ValueError:
            raise CommandError(
                f"Tenant id must be a number, not {options['tenant_id']!r}."
            ) from None
        tenant = Tenant.objects.filter(pk=tenant_id).first()
        if tenant is None:
            raise CommandError(f"There is no tenant with id {tenant_id}.")
        link = link_get(tenant=tenant)
        if link is None:
            raise CommandError(f"{tenant} has no Copernica link; connect it first.")
        mode = SyncMode.FULL if options["full"] else SyncMode.INCREMENTAL
        run, created = sync_run_request(link=link, mode=mode, trigger="command", enqueue=False)
        if run.state == "skipped":
            raise CommandError(run.error_message)
        if not created:
            self.stderr.write(f"Run {run.pk} ({run.mode}) was already queued; running it here.")
        estimate = (
            SyncRun.objects.filter(link=link, remote_count__isnull=False)
            .values_list("remote_count", flat=True)
            .first()
            or RemoteProfile.objects.filter(link=link, removed_at=None).count()
        )
        bar = _ProgressBar(estimate if run.mode == SyncMode.FULL else 0)
        run = sync_run_foreground(run=run, progress=bar.update)
        bar.close()
        if run.state != "succeeded":
            raise CommandError(
                f"Sync run {run.pk} {run.state}: {run.error_message or run.error_class}"
            )
        self.stdout.write(
            f"Run {run.pk} ({run.mode}) succeeded: {run.fetched} fetched, {run.created_count} "
            f"created, {run.updated_count} updated, {run.removed_count} removed, "
            f"{run.requests} requests. {run.in_sync_label}".strip()
        )


class _ProgressBar:
    """A one-line progress bar on standard error."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.started = time.monotonic()
        self.tty = sys.stderr.isatty()
        self.last = 0.0

    def update(self, run: SyncRun) -> None:
        now = time.monotonic()
        if now - self.last < 0.2:
            return
        self.last = now
        rate = run.fetched / max(now - self.started, 1e-6)
        if self.total:
            share = min(run.fetched / self.total, 1.0)
            filled = int(share * 30)
            bar = f"[{'#' * filled}{'.' * (30 - filled)}] {share:4.0%} "
        else:
            bar = ""
        line = f"{bar}{run.fetched:,} profiles, {run.pages} pages, {rate:,.0f}/s"
        sys.stderr.write(("\r" + line) if self.tty else line + "\n")
        sys.stderr.flush()

    def close(self) -> None:
        if self.tty:
            sys.stderr.write("\n")
