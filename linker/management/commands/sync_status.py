"""``manage.py sync_status``: every link with its last sync run, counts and errors."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from linker.models import Link, SyncRun


class Command(BaseCommand):
    help = "Show every Copernica link with its last sync run."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", type=int, help="Only this tenant id.")

    def handle(self, *args: Any, **options: Any) -> None:
        links = Link.objects.select_related("tenant").order_by("tenant__name", "pk")
        if options.get("tenant") is not None:
            links = links.filter(tenant_id=options["tenant"])
            if not links.exists():
                raise CommandError(f"There is no link for tenant {options['tenant']}.")
        header = (
            "tenant",
            "link",
            "last run",
            "state",
            "finished",
            "fetched",
            "created",
            "updated",
            "removed",
            "requests",
            "in sync",
            "error",
        )
        rows: list[tuple[str, ...]] = [header]
        for link in links:
            run = SyncRun.objects.filter(link=link).order_by("-queued_at", "-pk").first()
            if run is None:
                rows.append((str(link.tenant), link.state, "-", "", "", "", "", "", "", "", "", ""))
                continue
            finished = (
                timezone.localtime(run.finished_at).strftime("%Y-%m-%d %H:%M")
                if run.finished_at
                else ""
            )
            in_sync = (
                f"{run.local_count} / {run.remote_count}" if run.remote_count is not None else ""
            )
            rows.append(
                (
                    str(link.tenant)[:30],
                    link.state,
                    f"#{run.pk} {run.mode}",
                    run.state,
                    finished,
                    str(run.fetched),
                    str(run.created_count),
                    str(run.updated_count),
                    str(run.removed_count),
                    str(run.requests),
                    in_sync,
                    (run.error_message or run.error_class)[:60],
                )
            )
        widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
        for row in rows:
            self.stdout.write(
                "  ".join(
                    cell.ljust(width) for cell, width in zip(row, widths, strict=True)
                ).rstrip()
            )
