"""The applications page (issue 14: "the table spills out of its card; applications cannot be
edited or retired")."""

from __future__ import annotations

from django.test import Client
from django.urls import reverse

from linker.linking.applications import application_for_tenant, application_register
from linker.models import ApiApplication
from linker.platform import vault
from tests.conftest import World


def _application(world: World) -> ApiApplication:
    return application_register(
        name="Alpha app",
        client_id="alpha-client",
        client_secret="first secret",
        redirect_uri="https://linker.example/oauth/callback",
        agency=world.agency_a,
        is_default=True,
    )


def _admin(world: World) -> Client:
    client = Client()
    client.force_login(world.agency_admin_a)
    return client


def test_the_table_sits_in_its_card_and_wraps_long_values(world: World) -> None:
    _application(world)
    page = _admin(world).get(reverse("applications", args=[world.agency_a.pk])).content.decode()
    card = page[page.index('<section class="card"') :]
    assert card.index('<div class="table-wrap">') < card.index('data-testid="applications"')
    assert '<td data-label="Redirect URI" class="url">' in page


def test_an_admin_edits_name_redirect_uri_and_secret(world: World) -> None:
    application = _application(world)
    old_cipher = application.client_secret_encrypted
    url = reverse("application_edit", args=[world.agency_a.pk, application.pk])
    admin = _admin(world)
    assert 'value="Alpha app"' in admin.get(url).content.decode()
    response = admin.post(
        url,
        {
            "name": "Alpha app 2",
            "redirect_uri": "https://linker2.example/oauth/callback",
            "client_secret": "second secret",
        },
        follow=True,
    )
    assert "Application Alpha app 2 saved and its new secret stored." in response.content.decode()
    application.refresh_from_db()
    assert application.name == "Alpha app 2"
    assert application.redirect_uri == "https://linker2.example/oauth/callback"
    assert application.client_secret_encrypted != old_cipher
    assert "second secret" not in application.client_secret_encrypted
    from linker.linking.applications import application_secret

    assert application_secret(application) == "second secret"
    assert application.client_secret_fingerprint == vault.fingerprint("second secret")


def test_an_empty_secret_keeps_the_old_one_and_errors_show_next_to_the_field(
    world: World,
) -> None:
    application = _application(world)
    url = reverse("application_edit", args=[world.agency_a.pk, application.pk])
    admin = _admin(world)
    bad = admin.post(url, {"name": "Kept name", "redirect_uri": "not a url", "client_secret": ""})
    assert bad.status_code == 400
    page = bad.content.decode()
    assert 'value="Kept name"' in page
    assert "Enter a valid URL." in page
    admin.post(url, {"name": "Renamed", "redirect_uri": "https://x.example/cb"})
    application.refresh_from_db()
    assert application.name == "Renamed"
    from linker.linking.applications import application_secret

    assert application_secret(application) == "first secret"


def test_a_retired_application_is_used_for_no_new_connection(world: World) -> None:
    application = _application(world)
    assert application_for_tenant(agency=world.agency_a) == application
    admin = _admin(world)
    response = admin.post(
        reverse("application_retire", args=[world.agency_a.pk, application.pk]), follow=True
    )
    assert "Alpha app retired" in response.content.decode()
    application.refresh_from_db()
    assert application.retired_at is not None
    assert application.is_default is False
    assert application_for_tenant(agency=world.agency_a) is None
    edit = admin.get(reverse("application_edit", args=[world.agency_a.pk, application.pk]))
    assert edit.status_code == 303


def test_agency_staff_see_the_list_but_change_nothing(world: World) -> None:
    application = _application(world)
    staff = Client()
    staff.force_login(world.staff_a)
    page = staff.get(reverse("applications", args=[world.agency_a.pk])).content.decode()
    assert "Alpha app" in page
    assert "Retire" not in page
    assert reverse("application_edit", args=[world.agency_a.pk, application.pk]) not in page
    edit = reverse("application_edit", args=[world.agency_a.pk, application.pk])
    assert staff.post(edit, {"name": "x", "redirect_uri": "https://x.example"}).status_code == 403
    retire = reverse("application_retire", args=[world.agency_a.pk, application.pk])
    assert staff.post(retire).status_code == 403
    application.refresh_from_db()
    assert (application.name, application.retired_at) == ("Alpha app", None)


def test_a_deployment_wide_application_is_not_the_agencys_to_change(world: World) -> None:
    shared = application_register(
        name="Shared",
        client_id="shared",
        client_secret="s",
        redirect_uri="https://linker.example/oauth/callback",
    )
    admin = _admin(world)
    url = reverse("application_edit", args=[world.agency_a.pk, shared.pk])
    assert admin.get(url).status_code == 404
