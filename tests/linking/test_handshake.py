"""The OAuth handshake against the sandbox (reliability.md cases 1-10)."""

from __future__ import annotations

import random
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client, override_settings
from django.urls import reverse
from django.utils import timezone

from linker.models import Link, LinkEvent, LinkState, OAuthState
from tests.linking.conftest import REDIRECT_URI, Linking


def _token_stored() -> bool:
    """A failed handshake stores no token (its Link row may exist, to hold the history)."""
    return Link.objects.exclude(access_token_encrypted="").exists()


def test_connect_and_allow_links_the_tenant(linking: Linking) -> None:
    params = linking.consent(linking.start())
    response = linking.callback(params)
    tenant = linking.world.tenant_a1
    assert response.status_code == 303
    assert response["Location"] == reverse("tenant_detail", kwargs={"tenant_id": tenant.pk})
    link = Link.objects.get(tenant=tenant)
    assert link.state == LinkState.ACTIVE
    assert link.copernica_account_id == linking.account.account_id
    assert link.copernica_account_name == "Fietsen BV"
    assert link.linked_by == linking.world.staff_a
    assert link.application == linking.application
    assert link.events.filter(kind=LinkEvent.Kind.LINKED).count() == 1
    assert linking.sandbox.stats()["token_calls"] == 1
    page = linking.client.get(response["Location"]).content.decode()
    assert "Fietsen BV" in page
    assert "Linked to Copernica account Fietsen BV" in page


def test_state_is_256_bit_random_and_unique(linking: Linking) -> None:
    states = [parse_qs(urlsplit(linking.start()).query)["state"][0] for _ in range(20)]
    assert len(set(states)) == 20
    assert all(len(s) >= 43 for s in states)  # 32 bytes of secrets.token_urlsafe
    # Only hashes are stored.
    stored = set(OAuthState.objects.values_list("state_hash", flat=True))
    assert not stored & set(states)


def test_callback_answers_303_to_a_clean_url_with_no_referrer_and_no_store(
    linking: Linking,
) -> None:
    response = linking.callback(linking.consent(linking.start()))
    assert response.status_code == 303
    assert "code" not in response["Location"]
    assert "state" not in response["Location"]
    assert response["Referrer-Policy"] == "no-referrer"
    assert "no-store" in response["Cache-Control"]


def test_replayed_callback_exchanges_once_and_stores_one_token(linking: Linking) -> None:
    params = linking.consent(linking.start())
    responses = [linking.callback(params) for _ in range(10)]
    assert [r.status_code for r in responses].count(303) == 1
    assert all(r.status_code == 400 for r in responses[1:])
    assert linking.sandbox.stats()["token_calls"] == 1
    assert Link.objects.count() == 1
    assert Link.objects.get().token_version == 1


@pytest.mark.parametrize("who", ["other_user", "anonymous"])
def test_callback_in_another_session_stores_nothing(linking: Linking, who: str) -> None:
    params = linking.consent(linking.start())
    other = Client()
    if who == "other_user":
        other.force_login(linking.world.agency_admin_a)  # may link the same tenant, other browser
    response = linking.callback(params, client=other)
    assert response.status_code == 400
    assert not Link.objects.exists()
    assert linking.sandbox.stats()["token_calls"] == 0
    # The rightful browser can still finish.
    assert linking.callback(params).status_code == 303


def test_expired_state_is_refused(linking: Linking) -> None:
    params = linking.consent(linking.start())
    OAuthState.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    response = linking.callback(params)
    assert response.status_code == 400
    assert not Link.objects.exists()
    assert linking.sandbox.stats()["token_calls"] == 0


def test_tampered_tenant_on_callback_is_ignored(linking: Linking) -> None:
    params = linking.consent(linking.start())
    tenant_a2 = linking.world.tenant_a2
    response = linking.client.get(
        reverse("oauth_callback"), {**params, "tenant": tenant_a2.pk, "tenant_id": tenant_a2.pk}
    )
    assert response.status_code == 303
    assert list(Link.objects.values_list("tenant_id", flat=True)) == [linking.world.tenant_a1.pk]


def test_connect_without_csrf_token_is_refused(linking: Linking) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(linking.world.staff_a)
    response = client.post(
        reverse("connect_start", kwargs={"tenant_id": linking.world.tenant_a1.pk})
    )
    assert response.status_code == 403
    assert not OAuthState.objects.exists()


def test_connect_by_viewer_or_foreign_staff_is_refused(linking: Linking) -> None:
    viewer = Client()
    viewer.force_login(linking.world.viewer_a1)
    response = viewer.post(
        reverse("connect_start", kwargs={"tenant_id": linking.world.tenant_a1.pk})
    )
    assert response.status_code == 403  # a role check: PermissionDenied, never a redirect
    foreign = Client()
    foreign.force_login(linking.world.staff_b)
    response = foreign.post(
        reverse("connect_start", kwargs={"tenant_id": linking.world.tenant_a1.pk})
    )
    assert response.status_code == 404
    assert not OAuthState.objects.exists()


@override_settings(ALLOWED_HOSTS=["testserver", "evil.example"], USE_X_FORWARDED_HOST=True)
def test_redirect_uri_is_the_registered_constant_whatever_the_host(linking: Linking) -> None:
    response = linking.client.post(
        reverse("connect_start", kwargs={"tenant_id": linking.world.tenant_a1.pk}),
        HTTP_HOST="evil.example",
        HTTP_X_FORWARDED_HOST="evil.example",
    )
    query = parse_qs(urlsplit(response["Location"]).query)
    assert query["redirect_uri"] == [REDIRECT_URI]
    params = linking.consent(response["Location"])
    assert linking.callback(params).status_code == 303


def test_callback_ignores_next_parameters(linking: Linking) -> None:
    params = linking.consent(linking.start())
    response = linking.client.get(
        reverse("oauth_callback"), {**params, "next": "https://evil.example/"}
    )
    assert response.status_code == 303
    assert "evil" not in response["Location"]


def test_access_denied_shows_a_retry_and_stores_nothing(linking: Linking) -> None:
    params = linking.consent(linking.start(), decision="deny")
    assert params["error"] == "access_denied"
    response = linking.callback(params)
    assert response.status_code == 303
    page = linking.client.get(response["Location"]).content.decode()
    assert "Access was not granted" in page
    assert "Connect Copernica" in page  # the retry
    assert not _token_stored()
    assert linking.sandbox.stats()["token_calls"] == 0


def test_deny_on_a_never_linked_tenant_is_in_the_link_history(linking: Linking) -> None:
    tenant = linking.world.tenant_a1
    response = linking.callback(linking.consent(linking.start(), decision="deny"))
    event = LinkEvent.objects.get(link__tenant=tenant)
    assert event.kind == LinkEvent.Kind.ACCESS_DENIED
    assert event.actor == linking.world.staff_a
    link = Link.objects.get(tenant=tenant)
    assert not link.access_token_encrypted
    assert not link.copernica_account_id
    page = linking.client.get(response["Location"], {"tab": "history"}).content.decode()
    assert "Access denied at Copernica" in page  # the tenant page's History tab
    assert "not linked to a Copernica account yet" in page
    home = linking.client.get(reverse("home")).content.decode()
    assert "Not linked" in home


def test_deny_then_allow_links_the_tenant_with_the_whole_history(linking: Linking) -> None:
    linking.callback(linking.consent(linking.start(), decision="deny"))
    linking.callback(linking.consent(linking.start()))
    link = Link.objects.get(tenant=linking.world.tenant_a1)
    assert link.state == LinkState.ACTIVE
    kinds = list(link.events.order_by("id").values_list("kind", flat=True))
    assert kinds[0] == LinkEvent.Kind.ACCESS_DENIED
    assert kinds[-1] == LinkEvent.Kind.LINKED


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        ({"status": 503}, "HTTP 503"),
        ({"status": 500}, "HTTP 500"),
        ({"status": 502}, "HTTP 502"),
        ({"drop": "before"}, "could not be reached"),
    ],
)
def test_token_endpoint_failure_shows_a_clear_page_and_stores_nothing(
    linking: Linking, fault: dict[str, object], expected: str
) -> None:
    params = linking.consent(linking.start())
    linking.sandbox.fault(path="/v4/token", **fault)
    response = linking.callback(params)
    page = linking.client.get(response["Location"]).content.decode()
    assert "Copernica did not hand over access" in page
    assert expected in page
    assert "Connect Copernica" in page
    assert not _token_stored()


def test_token_endpoint_400_is_not_retried(linking: Linking) -> None:
    params = linking.consent(linking.start())
    response = linking.callback({**params, "code": "0" * 32})
    page = linking.client.get(response["Location"]).content.decode()
    assert "the sign-in code was refused" in page
    assert linking.sandbox.stats()["token_calls"] == 1
    assert not _token_stored()


@override_settings(COPERNICA_TIMEOUT=0.5)
def test_token_endpoint_timeout_shows_a_clear_page(linking: Linking) -> None:
    params = linking.consent(linking.start())
    linking.sandbox.fault(path="/v4/token", delay_ms=1500)
    response = linking.callback(params)
    page = linking.client.get(response["Location"]).content.decode()
    assert "Copernica could not be reached in time" in page
    assert not _token_stored()


def _hostile_values(rng: random.Random) -> list[object]:
    return [
        None,
        "",
        "x" * rng.choice([1, 31, 33, 4000, 20000]),
        "<script>alert(1)</script>",
        '"><img src=x onerror=alert(1)>',
        "%FF%FE%00",
        "\udcff".encode("utf-8", "surrogatepass").decode("latin-1"),
        "A" * 43,
        "../../etc/passwd",
        "state\r\nSet-Cookie: x=1",
    ]


def test_hundreds_of_hostile_callbacks_change_nothing(linking: Linking) -> None:
    linking.start()  # a real pending state exists and must survive
    rng = random.Random(34)
    statuses = []
    for _ in range(300):
        params = {}
        for key in ("state", "code", "error", "error_description"):
            value = rng.choice(_hostile_values(rng))
            if value is not None:
                params[key] = value
        query = "&".join(f"{k}={v}" for k, v in params.items())
        response = linking.client.get(f"{reverse('oauth_callback')}?{query}")
        statuses.append(response.status_code)
        body = response.content.decode(errors="replace")
        assert "<script>alert(1)</script>" not in body
        assert "<img src=x" not in body
    assert max(statuses) < 500
    assert linking.sandbox.stats()["token_calls"] == 0
    assert not Link.objects.exists()
    assert OAuthState.objects.filter(consumed_at__isnull=True).count() == 1


def test_reconnect_keeps_the_same_link(linking: Linking) -> None:
    linking.callback(linking.consent(linking.start()))
    first = Link.objects.get()
    linking.callback(linking.consent(linking.start()))
    again = Link.objects.get()
    assert again.pk == first.pk
    assert again.token_version == 2
    assert again.events.filter(kind=LinkEvent.Kind.RELINKED).count() == 1


def test_linking_an_account_another_tenant_holds_needs_confirmation(linking: Linking) -> None:
    linking.callback(linking.consent(linking.start()))
    response = linking.callback(
        linking.consent(linking.start(tenant_id=linking.world.tenant_a2.pk))
    )
    second = Link.objects.get(tenant=linking.world.tenant_a2)
    assert second.state == LinkState.PENDING
    page = linking.client.get(response["Location"]).content.decode()
    assert "already linked to Alpha Bikes" in page
    linking.client.post(reverse("link_confirm", kwargs={"tenant_id": linking.world.tenant_a2.pk}))
    second.refresh_from_db()
    assert second.state == LinkState.ACTIVE


def test_malformed_answer_of_the_token_endpoint_stores_nothing(linking: Linking) -> None:
    class Garbage(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"<html>not json</html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Garbage)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        linking.application.token_url = f"http://127.0.0.1:{server.server_port}/v4/token"
        linking.application.save()
        response = linking.callback(linking.consent(linking.start()))
    finally:
        server.shutdown()
    page = linking.client.get(response["Location"]).content.decode()
    assert "Copernica did not hand over access" in page
    assert not _token_stored()
