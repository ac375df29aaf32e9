from __future__ import annotations

from django.test import Client
from django.urls import reverse

from tests.conftest import World


def test_user_sets_their_time_zone_and_times_follow_it(world: World) -> None:
    client = Client()
    client.force_login(world.staff_a)
    response = client.post(
        reverse("account_settings"),
        {"full_name": "Ann Staff", "time_zone": "America/New_York", "notice_emails": "every"},
    )
    assert response.status_code == 303
    world.staff_a.refresh_from_db()
    assert world.staff_a.time_zone == "America/New_York"
    assert world.staff_a.full_name == "Ann Staff"
    page = client.get(reverse("account_settings")).content.decode()
    assert "Your settings are saved" in page


def test_unknown_time_zone_is_refused_and_nothing_changes(world: World) -> None:
    client = Client()
    client.force_login(world.staff_a)
    response = client.post(reverse("account_settings"), {"time_zone": "Mars/Olympus"})
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    world.staff_a.refresh_from_db()
    assert world.staff_a.time_zone == ""


def test_settings_page_needs_a_login(db: None) -> None:
    response = Client().get(reverse("account_settings"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_user_chooses_a_daily_digest_of_notices(world: World) -> None:
    client = Client()
    client.force_login(world.tenant_admin_a1)
    page = client.get(reverse("account_settings")).content.decode()
    assert "One daily digest" in page
    response = client.post(reverse("account_settings"), {"notice_emails": "digest"})
    assert response.status_code == 303
    world.tenant_admin_a1.refresh_from_db()
    assert world.tenant_admin_a1.notice_emails == "digest"
