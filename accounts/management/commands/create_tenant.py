from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.models import Agency
from accounts.services import AccountsError, tenant_create


class Command(BaseCommand):
    help = "Create a tenant (a client company that can be linked to a Copernica account)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="The client company's name.")
        parser.add_argument("--agency", help="Slug of the agency that manages this tenant.")

    def handle(self, *args: Any, **options: Any) -> None:
        agency = None
        if options["agency"]:
            agency = Agency.objects.filter(slug=options["agency"]).first()
            if agency is None:
                raise CommandError(f"No agency with slug {options['agency']!r}.")
        try:
            tenant = tenant_create(name=options["name"], agency=agency)
        except AccountsError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"Created tenant {tenant.name!r} (id {tenant.pk}).")
