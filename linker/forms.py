"""Forms: they parse and validate input; the services decide."""

from __future__ import annotations

from django import forms

from linker.applications import HOST_CHOICES


class ApiTokenForm(forms.Form):
    api_token = forms.CharField(
        label="API token",
        max_length=512,
        widget=forms.PasswordInput(attrs={"autocomplete": "off"}),
        help_text="Made in Copernica under Admin > Account > Access tokens.",
    )


class ApplicationForm(forms.Form):
    name = forms.CharField(max_length=200)
    client_id = forms.CharField(label="Client id", max_length=200)
    client_secret = forms.CharField(
        label="Client secret",
        max_length=500,
        widget=forms.PasswordInput(attrs={"autocomplete": "off"}),
        help_text="Stored encrypted; it is never shown again.",
    )
    redirect_uri = forms.URLField(
        label="Redirect URI",
        max_length=500,
        assume_scheme="https",
        help_text="Exactly as registered at Copernica, e.g. https://linker.example.com/oauth/callback",
    )
    hosts = forms.ChoiceField(
        choices=[
            ("configured", "The hosts of this deployment's settings"),
            ("copernica", "Real Copernica"),
        ],
        initial="configured",
    )
    is_default = forms.BooleanField(
        label="Use for Connect buttons of this agency", required=False, initial=True
    )

    def clean_hosts(self) -> str:
        value = self.cleaned_data["hosts"]
        if value not in HOST_CHOICES:
            raise forms.ValidationError("Choose where this application's Copernica lives.")
        return str(value)
