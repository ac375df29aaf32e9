"""Registering Copernica applications: page, command, admin."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.urls import reverse

from linker.linking.applications import application_secret
from linker.models import ApiApplication
from linker.platform import vault
from tests.conftest import World

FORM = {
    "name": "Production",
    "client_id": "client-123",
    "client_secret": "very-secret-value-0123456789",
    "redirect_uri": "https://linker.example.com/oauth/callback",
    "hosts": "copernica",
    "is_default": "on",
}


def test_agency_admin_registers_an_application_and_never_sees_the_secret_again(
    world: World,
) -> None:
    client = Client()
    client.force_login(world.agency_admin_a)
    url = reverse("applications", kwargs={"agency_id": world.agency_a.pk})
    response = client.post(url, FORM)
    assert response.status_code == 303
    application = ApiApplication.objects.get()
    assert application.agency == world.agency_a
    assert application.is_default
    assert application.authorize_url == "https://www.copernica.com/en/authorize"
    assert application_secret(application) == FORM["client_secret"]
    assert FORM["client_secret"] not in application.client_secret_encrypted
    page = client.get(url).content.decode()
    assert "Production" in page
    assert FORM["client_secret"] not in page
    assert application.client_secret_fingerprint in page


def test_application_form_shows_what_is_wrong_and_keeps_nothing(world: World) -> None:
    client = Client()
    client.force_login(world.agency_admin_a)
    url = reverse("applications", kwargs={"agency_id": world.agency_a.pk})
    response = client.post(url, {**FORM, "redirect_uri": "not a url", "client_id": ""})
    assert response.status_code == 200
    page = response.content.decode()
    assert "Enter a valid URL" in page
    assert "This field is required" in page
    assert not ApiApplication.objects.exists()


def test_agency_staff_cannot_register_applications(world: World) -> None:
    client = Client()
    client.force_login(world.staff_a)
    url = reverse("applications", kwargs={"agency_id": world.agency_a.pk})
    assert client.get(url).status_code == 200
    assert client.post(url, FORM).status_code == 403
    assert not ApiApplication.objects.exists()


def test_a_new_default_replaces_the_old_one(world: World) -> None:
    client = Client()
    client.force_login(world.agency_admin_a)
    url = reverse("applications", kwargs={"agency_id": world.agency_a.pk})
    client.post(url, FORM)
    client.post(url, {**FORM, "name": "Second"})
    assert list(ApiApplication.objects.filter(is_default=True).values_list("name", flat=True)) == [
        "Second"
    ]


def test_register_application_command(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APP_SECRET", "command-secret-0123456789")
    call_command(
        "register_application", "From shell", "--client-id", "cid", "--secret-env", "APP_SECRET",
        "--redirect-uri", "https://linker.example.com/oauth/callback", "--agency",
        world.agency_a.slug, "--default",
    )  # fmt: skip
    application = ApiApplication.objects.get()
    assert application_secret(application) == "command-secret-0123456789"
    assert application.client_secret_fingerprint == vault.fingerprint("command-secret-0123456789")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--secret-env", "NOPE"], "NOPE is empty"),
        (["--secret-env", "APP_SECRET", "--agency", "missing"], "No agency"),
    ],
)
def test_register_application_bad_arguments(
    db: None, monkeypatch: pytest.MonkeyPatch, args: list[str], message: str
) -> None:
    monkeypatch.setenv("APP_SECRET", "x" * 20)
    with pytest.raises(CommandError, match=message):
        call_command(
            "register_application", "X", "--client-id", "c",
            "--redirect-uri", "https://x.example/cb", *args,
        )  # fmt: skip
    assert not ApiApplication.objects.exists()
