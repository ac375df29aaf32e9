"""Forms of the pages: they parse and validate input; the services decide.

New tenant, bulk actions, schedule override, pasted API token, application, and the profile and
subprofile editors whose fields come from the mirrored Copernica database or collection.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from django import forms
from django.core.validators import RegexValidator

from linker.linking.applications import HOST_CHOICES
from linker.models import RemoteCollection, RemoteDatabase, RemoteProfile
from linker.platform.errors import LinkerError
from linker.profiles.fields import FieldSchema, profile_fields_clean

# One line of text: a tenant's name goes into email subjects, where a line break is an error
# (and, unchecked, a header of its own); other control characters are never meant.
single_line = RegexValidator(
    r"[\x00-\x1f\x7f-\x9f]",
    inverse_match=True,
    message="Use one line of text, without line breaks or control characters.",
)


class TenantCreateForm(forms.Form):
    name = forms.CharField(max_length=200, label="Client company", validators=[single_line])
    admin_email = forms.EmailField(
        required=False,
        label="Partner admin's email",
        help_text="They get an email with a connect link and a link to choose a password.",
    )


class ScheduleForm(forms.Form):
    enabled = forms.BooleanField(required=False, label="Sync on a schedule")
    incremental_minutes = forms.IntegerField(
        min_value=5, max_value=24 * 60, label="Changed profiles every (minutes)"
    )
    full_hour = forms.IntegerField(min_value=0, max_value=23, label="Full sync at (hour, 0-23)")


class BulkForm(forms.Form):
    action = forms.ChoiceField(
        choices=[("sync", "Sync now"), ("connect_link", "Send connect link")]
    )
    tenants = forms.TypedMultipleChoiceField(coerce=int, choices=[])

    def __init__(self, *args: Any, tenant_ids: list[int], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["tenants"].choices = [(pk, pk) for pk in tenant_ids]  # type: ignore[attr-defined]


class ApiTokenForm(forms.Form):
    api_token = forms.CharField(
        label="API token",
        max_length=512,
        widget=forms.PasswordInput(attrs={"autocomplete": "off"}),
        help_text="Made in Copernica under Admin > Account > Access tokens.",
    )


class ApplicationForm(forms.Form):
    name = forms.CharField(max_length=200, validators=[single_line])
    client_id = forms.CharField(label="Client id", max_length=200, validators=[single_line])
    client_secret = forms.CharField(
        label="Client secret",
        max_length=500,
        validators=[single_line],
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


class ApplicationEditForm(forms.Form):
    """What an agency admin may change of a registered application (its Copernica hosts and
    client id identify it and stay)."""

    name = forms.CharField(max_length=200, validators=[single_line])
    redirect_uri = forms.URLField(
        label="Redirect URI",
        max_length=500,
        assume_scheme="https",
        help_text="Exactly as registered at Copernica.",
    )
    client_secret = forms.CharField(
        label="New client secret",
        max_length=500,
        required=False,
        validators=[single_line],
        widget=forms.PasswordInput(attrs={"autocomplete": "off"}),
        help_text="Leave empty to keep the current one. Stored encrypted; never shown again.",
    )


# Field types whose empty value Copernica would turn into something else (0, a date):
# the editor asks for a value instead of sending an empty one.
_TYPED = {"integer", "float", "date", "datetime"}


def _form_field(kind: str, label: str) -> forms.Field:
    required = kind in _TYPED
    attrs: dict[str, str] = {}
    widget: forms.Widget
    if kind == "email":
        widget = forms.EmailInput(attrs={"autocomplete": "off"})
    elif kind == "integer":
        widget = forms.NumberInput(attrs={"step": "1"})
    elif kind == "float":
        widget = forms.NumberInput(attrs={"step": "any"})
    elif kind in ("date", "empty_date"):
        widget = forms.DateInput(attrs={"type": "date"})
    elif kind in ("datetime", "empty_datetime"):
        attrs["placeholder"] = "YYYY-MM-DD hh:mm:ss"
        widget = forms.TextInput(attrs=attrs)
    elif kind == "big":
        widget = forms.Textarea(attrs={"rows": 3})
    else:
        widget = forms.TextInput()
    if kind == "email":
        return forms.EmailField(label=label, required=False, widget=widget)
    return forms.CharField(
        label=label, required=required, widget=widget, max_length=10_000, strip=True
    )


class FieldsForm(forms.Form):
    """One input per field of a database or collection, typed as Copernica types it.

    Given the ``values`` of a mirror copy (an editor), the values the user saw travel with the
    form, so only what they changed is sent, and ``version`` (the copy's version) travels as
    ``base_modified``, so the outbox can tell whether Copernica changed it since. The values
    are checked again (and turned into Copernica's strings) by the submit services of
    ``linker.profiles.changes``; their errors land on the matching inputs.
    """

    base_modified = forms.CharField(required=False, widget=forms.HiddenInput, max_length=64)

    def __init__(
        self,
        *args: Any,
        schema: FieldSchema,
        values: Mapping[str, object] | None = None,
        version: datetime | None = None,
        **kwargs: Any,
    ) -> None:
        initial: dict[str, Any] = dict(kwargs.pop("initial", None) or {})
        self.names: dict[str, str] = {}
        self.editing = values is not None
        if values is not None:
            initial.update({f"f_{name}": value for name, value in values.items()})
            initial["base_modified"] = version.isoformat() if version else ""
        kwargs["initial"] = initial
        super().__init__(*args, **kwargs)
        self.schema = schema
        if not self.editing:
            del self.fields["base_modified"]
        types = schema.field_types()
        lengths = schema.field_lengths()
        for name in schema.field_names:
            key = f"f_{name}"
            self.names[key] = name
            self.fields[key] = _form_field(types.get(name.lower(), "text"), name)
            if name.lower() in lengths:
                self.fields[key].widget.attrs["maxlength"] = str(lengths[name.lower()])

    def _show_initial(self) -> None:
        # The values the user saw travel with the form, so only what they changed is sent:
        # a form opened before a change landed must not send the old values back.
        for key, field in self.fields.items():
            if key != "base_modified":
                field.show_hidden_initial = True

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        # Copernica's types (whole numbers, dates...) checked here too, so every problem shows
        # at once; the write service checks again before it queues anything.
        values = {
            name: data[key]
            for key, name in self.names.items()
            if data.get(key) not in (None, "") and key not in self.errors
        }
        try:
            profile_fields_clean(database=self.schema, fields=values)
        except LinkerError as exc:
            self.add_service_errors(exc)
        return data

    def base_version(self) -> datetime | None:
        """The version of the copy the user edited (``None`` when the form did not carry one)."""
        try:
            value = datetime.fromisoformat(self.cleaned_data.get("base_modified") or "")
        except ValueError:
            return None
        return value if value.tzinfo is not None else None

    def field_values(self) -> dict[str, str]:
        return {name: self.cleaned_data.get(key) or "" for key, name in self.names.items()}

    def filled_values(self) -> dict[str, str]:
        """The fields the user filled in (a create)."""
        return {name: value for name, value in self.field_values().items() if value}

    def changed_fields(self) -> dict[str, str]:
        """The fields the user changed (compared with what the form showed them)."""
        values = self.field_values()
        return {
            self.names[key]: values[self.names[key]]
            for key in self.changed_data
            if key in self.names
        }

    def add_service_errors(self, exc: LinkerError) -> None:
        """Put the messages of a service's error on the matching inputs (the rest on top)."""
        by_name = {name.lower(): key for key, name in self.names.items()}
        for name, messages in exc.field_errors.items():
            key = by_name.get(name.lower())
            if name == "interests" and "interests" in self.fields:
                key = "interests"
            for message in messages:
                if key is None or key in self.fields:
                    self.add_error(key, message)


class ProfileForm(FieldsForm):
    """The profile editor (or creator): the database's fields, and its interests as boxes."""

    def __init__(
        self,
        *args: Any,
        database: RemoteDatabase,
        profile: RemoteProfile | None = None,
        version: datetime | None = None,
        **kwargs: Any,
    ) -> None:
        initial: dict[str, Any] = dict(kwargs.pop("initial", None) or {})
        if profile is not None:
            initial["interests"] = list(profile.interests or [])
        super().__init__(
            *args,
            schema=database,
            values=(profile.fields or {}) if profile is not None else None,
            version=version,
            initial=initial,
            **kwargs,
        )
        self.database = database
        self.interest_choices = database.interest_names
        if self.interest_choices:
            self.fields["interests"] = forms.MultipleChoiceField(
                choices=[(name, name) for name in self.interest_choices],
                required=False,
                widget=forms.CheckboxSelectMultiple,
            )
        if profile is not None:
            self._show_initial()

    def interests_chosen(self) -> list[str]:
        return list(self.cleaned_data.get("interests") or [])

    def interest_changes(self) -> dict[str, int] | None:
        """The interests the user ticked or unticked, as ``{name: 1 or 0}``."""
        if "interests" not in self.fields or "interests" not in self.changed_data:
            return None
        field = self.fields["interests"]
        shown = field.hidden_widget().value_from_datadict(
            self.data, self.files, self.add_initial_prefix("interests")
        )
        before = set(shown or [])
        after = set(self.interests_chosen())
        if before == after:
            return None
        return {name: int(name in after) for name in sorted(before ^ after)}


class SubprofileForm(FieldsForm):
    """The subprofile editor (or creator): the collection's fields."""

    def __init__(
        self,
        *args: Any,
        collection: RemoteCollection,
        values: Mapping[str, object] | None = None,
        version: datetime | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, schema=collection, values=values, version=version, **kwargs)
        self.collection = collection
        if values is not None:
            self._show_initial()


class ResolveForm(forms.Form):
    """A decision about a change in conflict."""

    action = forms.ChoiceField(choices=[("send", "Send anyway"), ("discard", "Discard")])
