from __future__ import annotations

from django.test import Client
from django.urls import reverse

from tests.conftest import World
from tests.factories import PASSWORD


def test_login_with_email_and_password_lands_on_tenant_list(world: World) -> None:
    client = Client()
    response = client.post(
        reverse("login"), {"username": world.staff_a.email, "password": PASSWORD}, follow=True
    )
    assert response.redirect_chain[-1][0] == reverse("home")
    assert world.tenant_a1.name in response.content.decode()


def test_login_with_wrong_password_says_so(world: World) -> None:
    response = Client().post(reverse("login"), {"username": world.staff_a.email, "password": "x"})
    assert response.status_code == 200
    assert "do not match" in response.content.decode()


def test_login_ignores_an_offsite_next(world: World) -> None:
    response = Client().post(
        reverse("login") + "?next=https://evil.example/",
        {"username": world.staff_a.email, "password": PASSWORD, "next": "https://evil.example/"},
    )
    assert response.status_code == 302
    assert "evil.example" not in response["Location"]


def test_every_page_carries_the_security_headers(world: World) -> None:
    response = Client().get(reverse("login"))
    csp = response["Content-Security-Policy"]
    assert "default-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert "http" not in csp.split("form-action")[0]  # no third-party source but the consent page
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"


def test_healthz_answers_without_login(db: None) -> None:
    response = Client().get(reverse("healthz"))
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_unknown_page_is_a_friendly_404(world: World) -> None:
    client = Client()
    client.force_login(world.staff_a)
    response = client.get("/no/such/page/")
    assert response.status_code == 404
