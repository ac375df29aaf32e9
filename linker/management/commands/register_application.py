import os
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.models import Agency
from linker.linking.applications import HOST_CHOICES, application_register
from linker.linking.errors import ApplicationError


class Command(BaseCommand):
    help = (
        "Register a Copernica API application. The client secret is read from the environment "
        "variable named by --secret-env, never from the command line."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name")
        parser.add_argument("--client-id", required=True)
        parser.add_argument("--secret-env", required=True, help="Variable holding the secret.")
        parser.add_argument("--redirect-uri", required=True)
        parser.add_argument("--agency", help="Agency slug (default: for the whole deployment).")
        parser.add_argument("--hosts", choices=sorted(HOST_CHOICES), default="configured")
        parser.add_argument("--default", action="store_true", help="Use for Connect buttons.")

    def handle(self, *args: Any, **options: Any) -> None:
        secret = os.environ.get(options["secret_env"], "")
        if not secret:
            raise CommandError(f"The environment variable {options['secret_env']} is empty.")
        agency = None
        if options["agency"]:
            agency = Agency.objects.filter(slug=options["agency"]).first()
            if agency is None:
                raise CommandError(f"No agency with slug {options['agency']!r}.")
        try:
            application = application_register(
                name=options["name"],
                client_id=options["client_id"],
                client_secret=secret,
                redirect_uri=options["redirect_uri"],
                agency=agency,
                hosts=HOST_CHOICES[options["hosts"]](),
                is_default=options["default"],
            )
        except ApplicationError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(
            f"Registered application {application.name!r} (id {application.pk}, secret "
            f"fingerprint {application.client_secret_fingerprint})."
        )
