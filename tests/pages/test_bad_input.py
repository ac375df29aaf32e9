"""Inputs that answered 500 before issue 13 (reliability.md case 42), on the real pages: now
the page, page 1, or a plain 400. The parsers' own rules are in ``tests/web/test_params.py``."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from linker.models import ProfileChange, SyncRun
from tests.pages.conftest import Mirror


@pytest.mark.parametrize("query", ["q=%C2%B2", "q=Rider%001", "q=%D9%A3"])
def test_profile_search_with_unicode_digits_or_nul_answers_the_page(
    mirror: Mirror, query: str
) -> None:
    url = reverse("profile_list", kwargs={"tenant_id": mirror.world.tenant_a1.pk})
    response = mirror.staff.get(f"{url}?{query}")
    assert response.status_code == 200
    assert "No profile matches" in response.content.decode()


def test_profile_search_of_only_a_nul_is_no_search(mirror: Mirror) -> None:
    url = reverse("profile_list", kwargs={"tenant_id": mirror.world.tenant_a1.pk})
    response = mirror.staff.get(f"{url}?q=%00")
    assert response.status_code == 200
    assert "120 profiles in Customers." in response.content.decode()


@pytest.mark.parametrize(("query", "rows"), [("q=%C2%B2", 0), ("q=%00", 120), ("q=Rider7%00", 11)])
def test_profile_export_with_unicode_digits_or_nul_answers_a_csv(
    mirror: Mirror, query: str, rows: int
) -> None:
    url = reverse("profile_export", kwargs={"tenant_id": mirror.world.tenant_a1.pk})
    response = mirror.staff.get(f"{url}?{query}")
    assert response.status_code == 200
    lines = b"".join(response.streaming_content).decode().splitlines()  # type: ignore[attr-defined]
    assert lines[0].startswith("id,email")
    assert len(lines) == 1 + rows


def test_nul_inside_a_profile_search_searches_the_text_around_it(mirror: Mirror) -> None:
    url = reverse("profile_list", kwargs={"tenant_id": mirror.world.tenant_a1.pk})
    page = mirror.staff.get(f"{url}?q=rider7%00@alpha").content.decode()
    # The NUL became a space: "rider7 @alpha" matches nothing, and nothing failed.
    assert "No profile matches “rider7 @alpha”" in page


@pytest.mark.parametrize("url", ["/?q=%00", "/?q=Alpha%00", "/tenants.csv?q=%00"])
def test_dashboard_and_its_csv_take_a_nul_in_the_search(mirror: Mirror, url: str) -> None:
    response = mirror.staff.get(url)
    assert response.status_code == 200
    if response.streaming:
        b"".join(response.streaming_content)  # type: ignore[attr-defined]


def test_change_states_with_a_unicode_digit_id_is_a_400(mirror: Mirror) -> None:
    url = reverse("profile_change_states", kwargs={"tenant_id": mirror.world.tenant_a1.pk})
    response = mirror.staff.get(f"{url}?ids=%C2%B2")
    assert response.status_code == 400
    assert "We could not read that request" in response.content.decode()


def test_change_states_reads_ids_given_as_a_list_or_repeated(mirror: Mirror) -> None:
    changes = [
        ProfileChange.objects.create(
            link=mirror.link, database=mirror.database, kind="update", copernica_profile_id=1000
        )
        for _ in range(3)
    ]
    url = reverse("profile_change_states", kwargs={"tenant_id": mirror.world.tenant_a1.pk})
    a, b, c = (change.pk for change in changes)
    response = mirror.staff.get(f"{url}?ids={a},{b}&ids={c}")
    assert response.status_code == 200
    assert sorted(row["id"] for row in response.json()["changes"]) == [a, b, c]


@pytest.mark.parametrize("run", ["%C2%B2", "-1", "1e3", str(2**63)])
def test_sync_progress_with_a_malformed_run_is_a_400(mirror: Mirror, run: str) -> None:
    url = reverse("sync_progress", kwargs={"tenant_id": mirror.world.tenant_a1.pk})
    assert mirror.staff.get(f"{url}?run={run}").status_code == 400


def test_sync_progress_of_a_given_run(mirror: Mirror) -> None:
    run = SyncRun.objects.filter(link=mirror.link).order_by("pk").first()
    assert run is not None
    url = reverse("sync_progress", kwargs={"tenant_id": mirror.world.tenant_a1.pk})
    assert mirror.staff.get(f"{url}?run={run.pk}").json()["id"] == run.pk
    assert mirror.staff.get(f"{url}?run=").json() == {"active": False}


def test_a_bad_page_number_shows_page_one(mirror: Mirror) -> None:
    url = reverse("profile_list", kwargs={"tenant_id": mirror.world.tenant_a1.pk})
    for page in ("%C2%B2", "-3", "abc", "9" * 5000):
        response = mirror.staff.get(f"{url}?page={page}")
        assert response.status_code == 200, page
        assert "Page 1 of 3" in response.content.decode() or page == "9" * 5000


def test_the_pages_links_carry_only_parsed_parameters(mirror: Mirror) -> None:
    url = reverse("profile_list", kwargs={"tenant_id": mirror.world.tenant_a1.pk})
    page = mirror.staff.get(f"{url}?q=Rider&junk=1&sort=-id&q=x%00y").content.decode()
    # The last ``q`` wins, cleaned; an unknown key is not repeated into the sort and page links.
    assert "junk" not in page
    assert "q=x+y" in page


def test_bulk_action_goes_back_to_the_parsed_dashboard_query(mirror: Mirror) -> None:
    response = mirror.staff.post(
        reverse("tenant_bulk"),
        {
            "action": "sync",
            "tenants": [mirror.world.tenant_a1.pk],
            "back": "q=Alpha&sort=-name&evil=//x.example&page=%C2%B2",
        },
    )
    assert response.status_code == 303
    assert response["Location"] == "/?q=Alpha&sort=-name"


def test_bulk_action_with_a_malformed_tenant_id_is_a_400(mirror: Mirror) -> None:
    response = mirror.staff.post(reverse("tenant_bulk"), {"action": "sync", "tenants": ["²"]})
    assert response.status_code == 400
    assert not SyncRun.objects.filter(state="queued").exists()


def test_a_400_page_is_plain_and_shows_no_traceback(mirror: Mirror) -> None:
    url = reverse("profile_change_states", kwargs={"tenant_id": mirror.world.tenant_a1.pk})
    response = Client()
    response.force_login(mirror.world.staff_a)
    page = response.get(f"{url}?ids=abc").content.decode()
    assert "We could not read that request" in page
    assert "Traceback" not in page
    assert "abc" not in page


@pytest.mark.parametrize(
    "path",
    [
        "/tenants/{huge}/",
        "/tenants/{tenant}/profiles/{huge}/",
        "/tenants/{tenant}/profiles/1000/subprofiles/{huge}/",
        "/tenants/{tenant}/profiles/1000/collections/{huge}/new",
        "/tenants/{tenant}/changes/{huge}/retry",
        "/agencies/{huge}/applications",
    ],
)
def test_ids_past_bigint_in_the_path_are_not_found(mirror: Mirror, path: str) -> None:
    url = path.format(huge=10**30, tenant=mirror.world.tenant_a1.pk)
    method = mirror.staff.post if url.endswith("retry") else mirror.staff.get
    assert method(url).status_code == 404
