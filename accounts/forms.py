"""Forms of the accounts pages."""

from __future__ import annotations

import zoneinfo

from django import forms

from accounts.models import SecurityEventKind, TwoFactorPolicy, User


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


class TwoFactorCodeForm(forms.Form):
    """The code from the authenticator app that confirms its setup."""

    code = forms.CharField(
        label="Code from your app",
        max_length=16,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}
        ),
        help_text="The six digits your authenticator app shows for Copernica Linker.",
    )


class TwoFactorVerifyForm(forms.Form):
    """The second step of signing in: a code from the app, or one recovery code."""

    code = forms.CharField(
        label="Code from your app, or a recovery code",
        max_length=32,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "autofocus": True}),
    )
    remember = forms.BooleanField(required=False)


class TwoFactorDisableForm(forms.Form):
    credential = forms.CharField(
        label="Your password, or a current code from your app",
        max_length=256,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )


class TwoFactorPolicyForm(forms.Form):
    two_factor = forms.ChoiceField(
        label="Who needs a second factor to sign in",
        choices=TwoFactorPolicy.choices,
        widget=forms.RadioSelect,
    )


class SecurityLogFilterForm(forms.Form):
    kind = forms.ChoiceField(
        label="Show",
        choices=[("", "Every kind of event"), *SecurityEventKind.choices],
        required=False,
    )
