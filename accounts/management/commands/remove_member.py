from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.models import Agency, Tenant, User
from accounts.services import AccountsError, membership_remove


class Command(BaseCommand):
    help = (
        "Take away a user's role in an agency or a tenant. Their sessions end at once, on "
        "every device; the agency's security log records it."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("email")
        scope = parser.add_mutually_exclusive_group(required=True)
        scope.add_argument("--agency", help="Agency slug.")
        scope.add_argument("--tenant", type=int, help="Tenant id.")

    def handle(self, *args: Any, **options: Any) -> None:
        user = User.objects.filter(email=options["email"].strip().lower()).first()
        if user is None:
            raise CommandError(f"No user with email {options['email']!r}.")
        agency = tenant = None
        if options["agency"]:
            agency = Agency.objects.filter(slug=options["agency"]).first()
            if agency is None:
                raise CommandError(f"No agency with slug {options['agency']!r}.")
        else:
            tenant = Tenant.objects.filter(pk=options["tenant"]).first()
            if tenant is None:
                raise CommandError(f"No tenant with id {options['tenant']}.")
        try:
            removed = membership_remove(user=user, agency=agency, tenant=tenant)
        except AccountsError as exc:  # the agency's last admin
            raise CommandError(str(exc)) from None
        if not removed:
            raise CommandError(f"{user.email} has no role in {agency or tenant}.")
        self.stdout.write(f"Removed {user.email} from {agency or tenant}; their sessions ended.")
