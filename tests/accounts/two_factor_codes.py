"""What an authenticator app does, for the two-factor tests: codes from a secret, on a clock.

Codes come from django-otp's own ``TOTP`` (RFC 6238), as a phone app would compute them from
the secret the setup page shows; nothing here reaches into the server's checks.
"""

from __future__ import annotations

import base64
import time
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
from django_otp.oath import TOTP

from accounts.authenticator import AuthenticatorApp

STEP = 30


def secret_key(secret_text: str) -> bytes:
    """The key behind the secret as the setup page prints it (base32 in groups of four)."""
    compact = "".join(secret_text.split()).upper()
    return base64.b32decode(compact + "=" * (-len(compact) % 8))


def app_code(key: bytes, *, at: float, digits: int = 6) -> str:
    totp = TOTP(key, step=STEP, digits=digits)
    totp.time = at
    return f"{totp.token():0{digits}d}"


def next_app_code(key: bytes, *, after_step: int, now: float | None = None) -> tuple[str, int]:
    """The app's code for the first 30-second step after ``after_step`` (and that step).

    A code once accepted is never accepted again (django-otp keeps ``last_t``), so a second
    sign-in inside the same 30 seconds uses the app's next code, as a person waiting for the
    app to move on would; django-otp accepts one step of drift either way.
    """
    current = int(now if now is not None else time.time()) // STEP
    step = max(current, after_step + 1)
    return app_code(key, at=step * STEP), step


class OtpClock:
    """django-otp's notion of now (TOTP steps and throttling delays), moved by the test."""

    def __init__(self) -> None:
        self.now = float(time.time())

    def time(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def code(self, device: AuthenticatorApp) -> str:
        """The code the device's app shows now."""
        device.refresh_from_db()
        return app_code(device.bin_key, at=self.now, digits=device.digits)


def install_otp_clock(monkeypatch: pytest.MonkeyPatch) -> OtpClock:
    """A clock for django-otp only (TOTP steps, throttling delays): no sleeps between codes."""
    from django_otp import models as otp_models

    from accounts import authenticator

    clock = OtpClock()
    monkeypatch.setattr(authenticator, "time", clock)
    monkeypatch.setattr(
        otp_models,
        "timezone",
        SimpleNamespace(now=lambda: datetime.fromtimestamp(clock.now, tz=UTC)),
    )
    return clock
