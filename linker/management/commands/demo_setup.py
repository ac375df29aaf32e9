"""Sets up the demo: an agency with tenants and a login. Safe to run again."""

from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction

from accounts.models import Agency, Role, Tenant
from accounts.services import membership_add, user_get_or_create

DEMO_TENANTS = ("Fietsenwinkel De Ketting", "Bakkerij Van Dam", "Tuincentrum Groen")


class Command(BaseCommand):
    help = "Create the demo agency, its tenants and the demo login (idempotent)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--email", default="demo@example.com")
        parser.add_argument("--password", default="copernica-demo")

    @transaction.atomic
    def handle(self, *args: Any, **options: Any) -> None:
        agency, _ = Agency.objects.get_or_create(
            slug="demo-agency", defaults={"name": "Demo Marketing Agency"}
        )
        for name in DEMO_TENANTS:
            Tenant.objects.get_or_create(name=name, agency=agency)
        user, _ = user_get_or_create(email=options["email"])
        user.full_name = user.full_name or "Demo Admin"
        user.is_staff = True
        user.set_password(options["password"])
        user.save()
        membership_add(user=user, role=Role.AGENCY_ADMIN, agency=agency)
        self.stdout.write(f"Demo agency {agency.name!r} with {agency.tenants.count()} tenants.")
