from typing import Any

from django.core.exceptions import PermissionDenied
from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.models import Agency, Role, User
from linker.platform.api_keys import api_key_create
from linker.platform.errors import LinkerError


class Command(BaseCommand):
    help = (
        "Make an API key for an agency and print it once (only its hash is kept). The key acts "
        "with the rights of an agency admin: --user, or the agency's only admin."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--agency", required=True, help="Agency slug.")
        parser.add_argument("--name", required=True, help="Which system uses the key.")
        parser.add_argument("--scopes", required=True, help="Comma-separated: read, write, admin.")
        parser.add_argument(
            "--user", help="Email of the agency admin the key acts as (needed if several)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        agency = Agency.objects.filter(slug=options["agency"]).first()
        if agency is None:
            raise CommandError(f"No agency with slug {options['agency']!r}.")
        maker = self._maker(agency, options["user"])
        try:
            made = api_key_create(
                agency=agency, user=maker, name=options["name"], scopes=options["scopes"]
            )
        except PermissionDenied:
            raise CommandError(f"{maker.email} is not an agency admin of {agency.slug}.") from None
        except LinkerError as exc:
            raise CommandError(exc.message) from None
        key = made.key
        self.stderr.write(
            f"API key {key.prefix}… ({key.name}) for {agency.slug}, scopes "
            f"{','.join(key.scopes)}, acting as {maker.email}. It is shown only now:"
        )
        self.stdout.write(made.secret)

    def _maker(self, agency: Agency, email: str | None) -> User:
        if email:
            user = User.objects.filter(email=email.strip().lower()).first()
            if user is None:
                raise CommandError(f"No user with email {email!r}.")
            return user
        admins = list(
            User.objects.filter(
                memberships__agency=agency, memberships__role=Role.AGENCY_ADMIN, is_active=True
            ).distinct()[:2]
        )
        if len(admins) != 1:
            count = "no agency admin" if not admins else "several agency admins"
            raise CommandError(
                f"{agency.slug} has {count}: name the one the key acts as with --user."
            )
        return admins[0]
