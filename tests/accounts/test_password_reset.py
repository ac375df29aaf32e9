"""Forgot password (reliability.md case 38): the same answer for known and unknown emails; a
reset link works once and expires; requests are throttled per address and per email."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from unittest import mock

from django.contrib.auth.tokens import default_token_generator
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from accounts.models import SecurityEvent, SecurityEventKind, User
from accounts.password_reset import password_reset_tokens
from tests.conftest import World
from tests.factories import PASSWORD, make_user

NEW_PASSWORD = "a brand new passphrase 77"
_LINK = re.compile(r"https?://\S+/accounts/reset/\S+/")


def _ask(client: Client, email: str, address: str = "203.0.113.5"):  # type: ignore[no-untyped-def]
    return client.post(reverse("password_reset"), {"email": email}, REMOTE_ADDR=address)


def _without_csrf(content: bytes) -> str:
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]*"', "", content.decode())


def _link_in_mail(email: str) -> str:
    (message,) = [m for m in mail.outbox if email in m.to]
    found = _LINK.search(message.body)
    assert found, message.body
    return found.group(0)


def _path(url: str) -> str:
    return "/" + url.split("/", 3)[3]


def _set_password(client: Client, link: str, password: str = NEW_PASSWORD):  # type: ignore[no-untyped-def]
    opened = client.get(_path(link))
    assert opened.status_code == 302  # Django moves the token into the session first
    return client.post(opened["Location"], {"new_password1": password, "new_password2": password})


def test_known_and_unknown_emails_get_the_same_answer(world: World) -> None:
    """Case 38: the answer tells nothing; only the account's owner gets an email."""
    inactive = make_user(is_active=False)
    answers = {}
    for label, email in (
        ("known", world.staff_a.email),
        ("unknown", "nobody@example.com"),
        ("inactive", inactive.email),
    ):
        response = _ask(Client(), email)
        page = Client().get(response["Location"])
        answers[label] = (response.status_code, response["Location"], _without_csrf(page.content))
    print(
        f"case 38: known, unknown and inactive emails: {len(set(answers.values()))} distinct "
        f"answer(s); emails sent: {len(mail.outbox)}"
    )
    assert len(set(answers.values())) == 1
    assert answers["known"][0] == 302
    assert [m.to for m in mail.outbox] == [[world.staff_a.email]]


def test_a_reset_link_works_once(world: World) -> None:
    """Case 38: the emailed link sets a new password once; opened again, it is refused."""
    _ask(Client(), world.staff_a.email)
    link = _link_in_mail(world.staff_a.email)
    done = _set_password(Client(), link)
    assert done.status_code == 302
    assert done["Location"] == reverse("password_reset_complete")
    user = User.objects.get(pk=world.staff_a.pk)
    assert user.check_password(NEW_PASSWORD)

    again = Client().get(_path(link), follow=True)
    page = again.content.decode()
    print(f"case 38: the same link a second time: {again.status_code}, refused")
    assert "already used or has expired" in page
    assert 'name="new_password1"' not in page
    assert User.objects.get(pk=user.pk).check_password(NEW_PASSWORD)
    signed_in = Client()
    assert (
        signed_in.post(
            reverse("login"), {"username": user.email, "password": NEW_PASSWORD}
        ).status_code
        == 302
    )


def test_an_expired_reset_link_is_refused(world: World, settings) -> None:  # type: ignore[no-untyped-def]
    """Case 38: a link older than LINKER_PASSWORD_RESET_MINUTES sets nothing."""
    minutes = settings.LINKER_PASSWORD_RESET_MINUTES
    made_at = datetime.now() - timedelta(minutes=minutes, seconds=5)
    with mock.patch.object(password_reset_tokens, "_now", return_value=made_at):
        token = password_reset_tokens.make_token(world.staff_a)
    uid = urlsafe_base64_encode(force_bytes(world.staff_a.pk))
    page = Client().get(
        reverse("password_reset_confirm", kwargs={"uidb64": uid, "token": token}), follow=True
    )
    print(f"case 38: a link {minutes} min 5 s old: refused")
    assert "already used or has expired" in page.content.decode()
    fresh = password_reset_tokens.make_token(world.staff_a)
    assert password_reset_tokens.check_token(world.staff_a, fresh)
    assert not password_reset_tokens.check_token(world.staff_a, token)


def test_an_invitation_token_is_not_a_reset_token(world: World) -> None:
    invitation = default_token_generator.make_token(world.staff_a)
    assert not password_reset_tokens.check_token(world.staff_a, invitation)


def test_requests_are_throttled_per_address(world: World, settings) -> None:  # type: ignore[no-untyped-def]
    """Case 38: one address asking for many emails is refused after the rate's count."""
    settings.LINKER_PASSWORD_RESET_RATE = "3/h"
    emails = [make_user().email for _ in range(5)]
    statuses = [_ask(Client(), email).status_code for email in emails]
    print(f"case 38: 5 reset requests from one address at 3/h: {statuses}")
    assert statuses == [302, 302, 302, 429, 429]
    assert len(mail.outbox) == 3
    assert _ask(Client(), emails[4], address="198.51.100.1").status_code == 302


def test_requests_are_throttled_per_email(world: World, settings) -> None:  # type: ignore[no-untyped-def]
    """Case 38: one email asked for from many addresses is refused after the rate's count."""
    settings.LINKER_PASSWORD_RESET_RATE = "3/h"
    email = world.staff_a.email
    spellings = [email, email.upper(), f" {email} ", email, email]
    statuses = [
        _ask(Client(), spelling, address=f"192.0.2.{n}").status_code
        for n, spelling in enumerate(spellings, start=1)
    ]
    print(f"case 38: 5 reset requests for one email from 5 addresses at 3/h: {statuses}")
    assert statuses == [302, 302, 302, 429, 429]
    assert len(mail.outbox) == 3


def test_a_throttled_request_gets_the_clear_page_and_is_logged_once(
    world: World,
    settings,  # type: ignore[no-untyped-def]
) -> None:
    settings.LINKER_PASSWORD_RESET_RATE = "1/h"
    _ask(Client(), world.staff_a.email)
    first = _ask(Client(), world.staff_a.email)
    _ask(Client(), world.staff_a.email)
    page = first.content.decode()
    assert first.status_code == 429
    assert "<h1>Too many password reset requests</h1>" in page
    assert re.search(r"Try again in \d+ minutes?\.", page)
    assert int(first["Retry-After"]) > 0
    throttled = SecurityEvent.objects.filter(kind=SecurityEventKind.THROTTLED)
    assert [(e.agency, e.email) for e in throttled] == [(world.agency_a, world.staff_a.email)]


def test_a_new_password_ends_every_session_of_the_account(world: World) -> None:
    elsewhere = Client()
    elsewhere.force_login(world.staff_a)
    assert elsewhere.get(reverse("home")).status_code == 200
    _ask(Client(), world.staff_a.email)
    _set_password(Client(), _link_in_mail(world.staff_a.email))
    response = elsewhere.get(reverse("home"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_the_emailed_link_uses_the_configured_address_not_the_host_header(
    world: World,
    settings,  # type: ignore[no-untyped-def]
) -> None:
    settings.LINKER_BASE_URL = "https://linker.example.com"
    settings.ALLOWED_HOSTS = ["testserver", "evil.example"]
    Client().post(
        reverse("password_reset"), {"email": world.staff_a.email}, HTTP_HOST="evil.example"
    )
    assert _link_in_mail(world.staff_a.email).startswith("https://linker.example.com/accounts/")


def test_requests_and_changes_are_in_the_security_log(world: World) -> None:
    _ask(Client(), world.staff_a.email)
    _ask(Client(), "nobody@example.com")
    _set_password(Client(), _link_in_mail(world.staff_a.email))
    requested = SecurityEvent.objects.filter(kind=SecurityEventKind.PASSWORD_RESET_REQUESTED)
    assert {(e.agency, e.email, e.ip_address) for e in requested} == {
        (world.agency_a, world.staff_a.email, "203.0.113.5"),
        (None, "nobody@example.com", "203.0.113.5"),
    }
    changed = SecurityEvent.objects.get(kind=SecurityEventKind.PASSWORD_CHANGED)
    assert (changed.agency, changed.user) == (world.agency_a, world.staff_a)


def test_the_login_page_links_to_the_reset_page(db: None) -> None:
    page = Client().get(reverse("login")).content.decode()
    assert f'href="{reverse("password_reset")}"' in page
    assert "Forgot your password?" in page


def test_a_bad_email_gets_a_form_error(db: None) -> None:
    make_user(email="ann@example.com", password=PASSWORD)
    for value in ("not an email", "ann\x00@example.com", "x" * 400 + "@example.com"):
        response = _ask(Client(), value)
        assert response.status_code == 200
        assert 'class="error"' in response.content.decode()
    assert mail.outbox == []


def test_a_throttled_request_with_junk_in_the_email_gets_the_page_not_an_error(
    world: World,
    settings,  # type: ignore[no-untyped-def]
) -> None:
    """Case 42: the first refused request is logged before any form runs; a NUL in its email
    (which PostgreSQL refuses) once made that a 500."""
    settings.LINKER_PASSWORD_RESET_RATE = "1/h"
    _ask(Client(), "Beta\x00Foods")
    refused = _ask(Client(), "Beta\x00Foods")
    assert refused.status_code == 429
    throttled = SecurityEvent.objects.filter(kind=SecurityEventKind.THROTTLED)
    assert [(e.user, e.email) for e in throttled] == [(None, "")]
