"""The copy problems of issue 14: "is needs reconnect", the set-password page that names no one,
only the ID column clickable, an empty *Modified* on a new profile, no favicon."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.contrib.auth.tokens import default_token_generator
from django.test import Client
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from accounts.models import Role
from linker.linking.errors import LinkNotUsableError
from linker.models import LinkState, RemoteProfile
from tests.conftest import World
from tests.factories import link_tenant, make_member, make_tenant, make_user
from tests.pages.conftest import Mirror


def test_an_unusable_link_is_described_in_a_sentence(world: World) -> None:
    for state, words in (
        (LinkState.NEEDS_RECONNECT, "needs reconnecting"),
        (LinkState.PENDING, "waits for confirmation"),
        (LinkState.DISCONNECTED, "is disconnected"),
    ):
        tenant = make_tenant(agency=world.agency_a, name=f"Tenant {state}")
        message = LinkNotUsableError(link_tenant(tenant, state=state)).message
        assert message.startswith(f"The Copernica link of Tenant {state} {words}")
        assert " is needs " not in message
        assert " is pending" not in message


def test_the_set_password_page_says_whose_password_it_is_and_for_which_tenant(
    world: World,
) -> None:
    invitee = make_user(email="partner@alpha-bikes.example")
    make_member(role=Role.TENANT_ADMIN, tenant=world.tenant_a1, user=invitee)
    uid = urlsafe_base64_encode(force_bytes(invitee.pk))
    token = default_token_generator.make_token(invitee)
    client = Client()
    page = client.get(
        reverse("invite_accept", kwargs={"uidb64": uid, "token": token}), follow=True
    ).content.decode()
    said = page[page.index('data-testid="invitee"') :]
    said = said[: said.index("</p>")]
    assert "<strong>partner@alpha-bikes.example</strong>" in said
    assert "Alpha Bikes (tenant admin)" in said


def test_a_broken_set_password_link_names_no_one(world: World) -> None:
    uid = urlsafe_base64_encode(force_bytes(world.tenant_admin_a1.pk))
    page = (
        Client()
        .get(reverse("invite_accept", kwargs={"uidb64": uid, "token": "bad-token"}), follow=True)
        .content.decode()
    )
    assert "already used or has expired" in page
    assert world.tenant_admin_a1.email not in page


def test_every_profile_row_is_one_link(mirror: Mirror) -> None:
    """A real link in the first cell, stretched over the row by CSS (no script)."""
    page = mirror.staff.get(
        reverse("profile_list", kwargs={"tenant_id": mirror.world.tenant_a1.pk})
    ).content.decode()
    table = page[page.index('data-testid="profiles"') : page.index("</table>")]
    rows = table.count('<tr class="row-link">')
    assert rows == 50  # a full page
    assert table.count('class="stretched">') == rows
    css = (Path(settings.BASE_DIR) / "static/css/app.css").read_text()
    assert 'a.stretched::after { content: ""; position: absolute; inset: 0; }' in css
    assert "tr.row-link { position: relative; }" in css


def test_profile_list_cells_carry_their_field_names_for_phones(mirror: Mirror) -> None:
    page = mirror.staff.get(
        reverse("profile_list", kwargs={"tenant_id": mirror.world.tenant_a1.pk})
    ).content.decode()
    assert '<td data-label="email">rider' in page
    assert '<td data-label="city">' in page


def test_a_profile_created_here_shows_a_sensible_modified(mirror: Mirror) -> None:
    """Only a sync writes Copernica's ``modified``; until then the page says so."""
    RemoteProfile.objects.create(
        link=mirror.link, database=mirror.database, copernica_id=1, fields={"email": "n@x.example"}
    )
    page = mirror.staff.get(
        reverse("profile_list", kwargs={"tenant_id": mirror.world.tenant_a1.pk})
    ).content.decode()
    body = page[page.index('data-testid="profiles"') :]
    body = body[body.index("<tbody>") :]
    first = body[: body.index("</tr>")]
    assert "n@x.example" in first
    assert "new, not synced yet" in first
    detail = mirror.staff.get(
        reverse("profile_detail", kwargs={"tenant_id": mirror.world.tenant_a1.pk, "profile_id": 1})
    ).content.decode()
    assert "created here, not synced yet" in detail


def test_every_page_links_the_favicon(world: World) -> None:
    page = Client().get(reverse("login")).content.decode()
    assert '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">' in page
    icon = (Path(settings.BASE_DIR) / "static/favicon.svg").read_text()
    assert icon.startswith("<svg")
