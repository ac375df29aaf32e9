import os
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.models import Agency, Role, Tenant
from accounts.services import AccountsError, membership_add, user_get_or_create


class Command(BaseCommand):
    help = (
        "Give a user a role in an agency or a tenant, creating the user if new. The password "
        "of a new user is read from the environment variable named by --password-env."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("email")
        parser.add_argument("--role", required=True, choices=[r.value for r in Role])
        scope = parser.add_mutually_exclusive_group(required=True)
        scope.add_argument("--agency", help="Agency slug (for agency roles).")
        scope.add_argument("--tenant", type=int, help="Tenant id (for tenant roles).")
        parser.add_argument(
            "--password-env",
            help="Name of an environment variable holding the new user's password "
            "(never pass a password on the command line).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        agency = tenant = None
        if options["agency"]:
            agency = Agency.objects.filter(slug=options["agency"]).first()
            if agency is None:
                raise CommandError(f"No agency with slug {options['agency']!r}.")
        else:
            tenant = Tenant.objects.filter(pk=options["tenant"]).first()
            if tenant is None:
                raise CommandError(f"No tenant with id {options['tenant']}.")
        password = None
        if options["password_env"]:
            password = os.environ.get(options["password_env"])
            if not password:
                raise CommandError(f"The environment variable {options['password_env']} is empty.")
        try:
            user, created = user_get_or_create(email=options["email"], password=password)
            membership = membership_add(
                user=user, role=options["role"], agency=agency, tenant=tenant
            )
        except AccountsError as exc:
            raise CommandError(str(exc)) from None
        verb = "Created user and added" if created else "Added"
        self.stdout.write(
            f"{verb} {user.email} as {membership.get_role_display()} of {agency or tenant}."
        )
