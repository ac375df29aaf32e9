from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.services import AccountsError, agency_create


class Command(BaseCommand):
    help = "Create an agency (a company that manages many client accounts)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="The agency's display name.")
        parser.add_argument("--slug", help="A short unique identifier (default: from the name).")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            agency = agency_create(name=options["name"], slug=options["slug"])
        except AccountsError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"Created agency {agency.name!r} (slug {agency.slug}, id {agency.pk}).")
