"""Forms of the accounts pages."""

from __future__ import annotations

import zoneinfo

from django import forms

from accounts.models import User


def _time_zone_choices() -> list[tuple[str, str]]:
    zones = sorted(
        z for z in zoneinfo.available_timezones() if "/" in z and not z.startswith("Etc/")
    )
    return [("", "The deployment's default"), *((z, z.replace("_", " ")) for z in zones)]


class AccountSettingsForm(forms.ModelForm):
    time_zone = forms.ChoiceField(
        choices=_time_zone_choices,
        required=False,
        help_text="Times on every page are shown in this zone.",
    )

    class Meta:
        model = User
        fields = ("full_name", "time_zone", "notice_emails")
        labels = {"full_name": "Your name"}
        help_texts = {
            "notice_emails": (
                "For the tenants you administer: links that need reconnecting and syncs that "
                "keep failing. The dashboard shows them either way."
            )
        }
