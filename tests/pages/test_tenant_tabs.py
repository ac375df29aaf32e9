"""The tenant page reorganised (issue 14): the state and the next step on top, the rest one
click away in tabs that are plain links; what each role is offered; the copy."""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth.hashers import make_password
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import Membership, Role, User
from linker.models import LinkState, RequestLedger, SyncRun, SyncSchedule, SyncState
from linker.sync.charts import nice_ceiling, sync_chart_list
from tests.conftest import World
from tests.factories import finished_run, link_tenant
from tests.pages.conftest import Mirror


def _url(world: World, **query: str) -> str:
    url = reverse("tenant_detail", kwargs={"tenant_id": world.tenant_a1.pk})
    return url + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


def _page(client: Client, world: World, **query: str) -> str:
    response = client.get(_url(world, **query))
    assert response.status_code == 200
    return response.content.decode()


def test_every_tab_has_the_state_on_top_and_only_its_own_section(mirror: Mirror) -> None:
    from linker.models import LinkEvent

    sections = {
        "overview": 'id="copernica-heading"',
        "syncs": 'data-testid="mirror-coverage"',
        "requests": 'data-testid="ledger"',
        "history": 'data-testid="events"',
    }
    LinkEvent.objects.create(link=mirror.link, kind="verified", message="probe")
    for tab, marker in sections.items():
        page = _page(mirror.staff, mirror.world, tab=tab)
        assert 'data-testid="next-step"' in page
        assert "Linked and syncing" in page
        assert f'aria-current="page">{tab.capitalize()}</a>' in page
        assert [m for m in sections.values() if m in page] == [marker], tab


def test_unknown_tab_shows_the_overview(mirror: Mirror) -> None:
    page = _page(mirror.staff, mirror.world, tab="nonsense")
    assert 'aria-current="page">Overview</a>' in page


def test_connect_link_card_sits_below_syncing_when_linked(mirror: Mirror) -> None:
    page = _page(mirror.staff, mirror.world)
    assert page.index('id="sync-heading"') < page.index('id="invite-heading"')


def test_unlinked_tenant_offers_connecting_first(world: World) -> None:
    staff = Client()
    staff.force_login(world.staff_a)
    page = _page(staff, world)
    assert "Not linked to Copernica" in page
    assert page.index("Connect Copernica") < page.index('id="invite-heading"')
    assert 'id="sync-heading"' not in page


def test_request_table_folds_days_without_requests(mirror: Mirror) -> None:
    """Issue 14: a 14-row table of zero counts. Requests on today, yesterday and six days
    ago: three day rows and two folded gaps."""
    today = timezone.localdate()
    RequestLedger.objects.create(
        link=mirror.link, account_key="k", day=today - timedelta(days=6), requests=44
    )
    page = _page(mirror.staff, mirror.world, tab="requests")
    ledger = page[page.index('data-testid="ledger"') : page.index("</table>", page.index("ledger"))]
    assert ledger.count('data-testid="ledger-gap"') == 2
    assert "no requests (4 days)" in ledger
    assert "no requests (7 days)" in ledger
    assert '<td class="num">0</td><td class="num">0</td><td class="num">0</td>' not in ledger
    print(f"ledger rows for 14 days with 3 active: {ledger.count('<tr')} (was 15)")


def test_charts_have_a_bar_per_run_and_labelled_round_axes(mirror: Mirror) -> None:
    """Issue 14: one dot or a flat line, without axis values. The mirror's two runs fetched
    118 and 120 profiles in 42 s each."""
    charts = sync_chart_list(link=mirror.link)
    assert [chart.title for chart in charts] == ["Profiles fetched per sync", "Time per sync"]
    profiles, took = charts
    assert len(profiles.bars) == 2
    assert [tick.label for tick in profiles.ticks] == ["0", "100", "200"]
    assert [tick.label for tick in took.ticks] == ["0 s", "25 s", "50 s"]
    assert took.unit_label == "seconds"
    assert 0 < profiles.bars[0].height < profiles.bars[1].height <= 100
    page = _page(mirror.staff, mirror.world, tab="syncs")
    assert (
        '<div class="chart-y" aria-hidden="true"><span>200</span><span>100</span><span>0</span>'
        in page
    )
    run = SyncRun.objects.filter(link=mirror.link).order_by("finished_at").first()
    assert run is not None
    assert reverse("sync_run_detail", args=[mirror.world.tenant_a1.pk, run.pk]) in page


def test_one_run_is_still_a_chart_with_axes(world: World) -> None:
    link = link_tenant(world.tenant_a1)
    finished_run(link, fetched=3000)
    profiles = sync_chart_list(link=link)[0]
    assert len(profiles.bars) == 1
    assert profiles.bars[0].height == 100.0
    assert [tick.label for tick in profiles.ticks] == ["0", "1,500", "3,000"]
    assert "1 run from" in profiles.summary


def test_long_durations_are_labelled_in_minutes(world: World) -> None:
    link = link_tenant(world.tenant_a1)
    run = finished_run(link)
    SyncRun.objects.filter(pk=run.pk).update(started_at=run.finished_at - timedelta(minutes=7))
    took = sync_chart_list(link=link)[1]
    assert took.unit_label == "minutes"
    assert [tick.label for tick in took.ticks] == ["0 min", "4 min", "8 min"]


def test_nice_ceiling_rounds_up_to_a_round_number() -> None:
    values = (0, 1, 3, 42, 120, 3000, 3001, 0.3, 7_100)
    assert [nice_ceiling(v) for v in values] == [1, 1, 3, 50, 200, 3000, 4000, 0.3, 8000]


def test_in_sync_counts_have_thousands_separators(world: World) -> None:
    """Issue 14: "in sync: 3000 / 3000" next to "3,000"."""
    link = link_tenant(world.tenant_a1)
    finished_run(link, remote_count=3000, local_count=3000, fetched=3000)
    staff = Client()
    staff.force_login(world.staff_a)
    for tab in ("overview", "syncs"):
        page = _page(staff, world, tab=tab)
        assert "in sync: 3,000 / 3,000" in page
        assert "3000 / 3000" not in page


def test_tenant_admin_is_not_told_to_use_a_sync_now_they_do_not_have(world: World) -> None:
    """Issue 14: "Start the first sync with Sync now" where there is no Sync now."""
    link_tenant(world.tenant_a1)
    admin = Client()
    admin.force_login(world.tenant_admin_a1)
    page = _page(admin, world)
    assert "Never synced" in page
    assert "Sync now" not in page
    assert "Sync changes now" not in page
    assert "The first sync starts on schedule." in page
    staff = Client()
    staff.force_login(world.staff_a)
    page = _page(staff, world)
    assert "Start the first sync with <strong>Sync now</strong>" in page
    assert page.count(">Sync now</button>") == 1


def test_needs_reconnect_page_does_not_promise_the_next_sync(world: World) -> None:
    """Issue 14: "No sync running. The next one comes on schedule." while the link needs
    reconnecting."""
    link = link_tenant(world.tenant_a1, state=LinkState.NEEDS_RECONNECT)
    finished_run(link)
    SyncSchedule.objects.create(link=link, next_incremental_at=timezone.now())
    for user in (world.staff_a, world.tenant_admin_a1, world.viewer_a1):
        client = Client()
        client.force_login(user)
        for tab in ("overview", "syncs"):
            page = _page(client, world, tab=tab)
            assert "Needs reconnecting" in page
            assert "comes on schedule" not in page
            assert "Next:" not in page
            assert ">Sync now</button>" not in page
    viewer = Client()
    viewer.force_login(world.viewer_a1)
    page = _page(viewer, world)
    assert "Reconnect Copernica" not in page
    assert "Ask an admin" in page


def test_failed_last_sync_leads_to_its_run(world: World) -> None:
    link = link_tenant(world.tenant_a1)
    run = finished_run(link, state=SyncState.FAILED, error_message="Copernica said: no access")
    staff = Client()
    staff.force_login(world.staff_a)
    page = _page(staff, world)
    assert "The last sync failed" in page
    assert "Copernica said: no access" in page
    assert reverse("sync_run_detail", args=[world.tenant_a1.pk, run.pk]) in page


def test_schedule_errors_show_next_to_their_fields_with_the_input_kept(mirror: Mirror) -> None:
    """Issue 14: errors only as a flash ("…greater than or equal to 5.;") and the fields
    quietly revert."""
    response = mirror.staff.post(
        reverse("sync_schedule", kwargs={"tenant_id": mirror.world.tenant_a1.pk}),
        {"enabled": "on", "incremental_minutes": "1", "full_hour": "30"},
    )
    assert response.status_code == 400
    page = response.content.decode()
    assert (
        'value="1" required aria-invalid="true" aria-describedby="error_incremental_minutes"'
        in page
    )
    assert 'value="30" required aria-invalid="true" aria-describedby="error_full_hour"' in page
    minutes = page.index('id="error_incremental_minutes"')
    assert "greater than or equal to 5" in page[minutes : minutes + 200]
    hour = page.index('id="error_full_hour"')
    assert "less than or equal to 23" in page[hour : hour + 200]
    assert ".;" not in page
    assert SyncSchedule.objects.get(link=mirror.link).incremental_minutes == 15


def _tenant_page_queries(client: Client, world: World, tab: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(_url(world, tab=tab)).status_code == 200
    return len(queries)


def test_tenant_page_queries_do_not_grow_with_runs_or_members(world: World) -> None:
    """Issue 14: the same number of queries per tab with 1 run and 1 member as with 1,000
    runs and 100 members (and a request log of 2,000 entries)."""
    from linker.models import RequestLogEntry

    link = link_tenant(world.tenant_a1)
    finished_run(link)
    SyncSchedule.objects.create(link=link)
    staff = Client()
    staff.force_login(world.staff_a)
    tabs = ("overview", "syncs", "requests", "history")
    small = {tab: _tenant_page_queries(staff, world, tab) for tab in tabs}

    now = timezone.now()
    SyncRun.objects.bulk_create(
        SyncRun(
            link=link,
            mode="incremental",
            state=SyncState.SUCCEEDED,
            started_at=now - timedelta(minutes=i, seconds=30),
            finished_at=now - timedelta(minutes=i),
            fetched=i,
        )
        for i in range(999)
    )
    users = User.objects.bulk_create(
        User(email=f"person{i}@alpha.example", password=make_password(None)) for i in range(100)
    )
    Membership.objects.bulk_create(
        Membership(user=user, tenant=world.tenant_a1, role=Role.TENANT_VIEWER) for user in users
    )
    RequestLogEntry.objects.bulk_create(
        RequestLogEntry(
            link=link, at=now, method="GET", path="/v4/databases", status=200, duration_ms=5
        )
        for _ in range(2000)
    )
    large = {tab: _tenant_page_queries(staff, world, tab) for tab in tabs}
    print(f"queries per tab, 1 run / 1,000 runs + 100 members: {small} / {large}")
    assert large == small
