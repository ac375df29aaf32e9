from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.models import User
from accounts.two_factor import two_factor_reset


class Command(BaseCommand):
    help = (
        "Turn off a person's two-factor authentication (a lost phone): their app and recovery "
        "codes are removed, and they set it up again at their next sign-in if their agency "
        "requires it. Recorded in the agency security log."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("email", help="The person's sign-in email address.")

    def handle(self, *args: Any, **options: Any) -> None:
        email = User.objects.normalize_email(options["email"].strip()).lower()
        user = User.objects.filter(email=email).first()
        if user is None:
            raise CommandError(f"No user with the email {email!r}.")
        removed = two_factor_reset(user=user)
        if removed:
            self.stdout.write(f"Two-factor authentication reset for {user.email}.")
        else:
            self.stdout.write(f"{user.email} had no two-factor devices; recorded the reset anyway.")
