"""The authenticator app a person signs in with: a TOTP device whose secret is encrypted at rest.

django-otp's own ``TOTPDevice`` keeps its secret as plain hex in the database, so anyone with a
copy of the database (a backup, a replica) could make valid codes for every person. This is the
same device — django-otp's ``Device`` with its throttling and timestamps, codes checked by
django-otp's ``TOTP`` — with the secret sealed by the project's key ring (AES-GCM, bound to the
row). ``accounts`` knows nothing of the linker, so the key ring is reached by its dotted path in
``ACCOUNTS_KEY_RING`` (an object with ``encrypt``/``decrypt(text, *, context)``).
"""

from __future__ import annotations

import time
import uuid
from base64 import b32encode
from typing import Any, Protocol
from urllib.parse import quote, urlencode

from django.conf import settings
from django.db import models
from django.utils.module_loading import import_string
from django_otp.models import Device, ThrottlingMixin, TimestampMixin
from django_otp.oath import TOTP
from django_otp.util import random_hex

#: Bytes of a new app's secret (RFC 4226 recommends 160 bits).
KEY_BYTES = 20


class SecretBox(Protocol):
    def encrypt(self, plaintext: str, *, context: str) -> str: ...

    def decrypt(self, stored: str, *, context: str) -> str: ...


def secret_box() -> SecretBox:
    """The project's key ring (``ACCOUNTS_KEY_RING`` names a callable returning it)."""
    box: SecretBox = import_string(settings.ACCOUNTS_KEY_RING)()
    return box


def key_context(uid: uuid.UUID | str) -> str:
    """The associated data binding a device's sealed secret to its row and field."""
    return f"accounts_authenticatorapp:{uid}:key"


class AuthenticatorApp(TimestampMixin, ThrottlingMixin, Device):
    """A person's authenticator app (TOTP, RFC 6238), its secret sealed."""

    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    key_encrypted = models.TextField(editable=False)
    step = models.PositiveSmallIntegerField(default=30)
    t0 = models.BigIntegerField(default=0)
    digits = models.PositiveSmallIntegerField(default=6)
    tolerance = models.PositiveSmallIntegerField(default=1)
    drift = models.SmallIntegerField(default=0)
    #: The time step of the last accepted code: a code is never accepted twice.
    last_t = models.BigIntegerField(default=-1)

    class Meta(Device.Meta):
        verbose_name = "authenticator app"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self.key_encrypted:
            self.key_set(random_hex(KEY_BYTES))
        super().save(*args, **kwargs)

    def key_set(self, key_hex: str) -> None:
        """Seal a hex secret (a new one, or one carried over from a plain-text device)."""
        bytes.fromhex(key_hex)  # refuses anything that is not hex before it is sealed
        self.key_encrypted = secret_box().encrypt(key_hex, context=key_context(self.uid))

    @property
    def bin_key(self) -> bytes:
        """The secret, unsealed for the moment it is used (never stored or logged)."""
        return bytes.fromhex(
            secret_box().decrypt(self.key_encrypted, context=key_context(self.uid))
        )

    @property
    def config_url(self) -> str:
        """The ``otpauth://`` URL an app scans (Google's Key Uri Format, as django-otp makes it)."""
        issuer = str(getattr(settings, "OTP_TOTP_ISSUER", "") or "").replace(":", "")
        label = str(self.user.get_username())
        params = urlencode(
            {
                "secret": b32encode(self.bin_key),
                "algorithm": "SHA1",
                "digits": self.digits,
                "period": self.step,
            }
        )
        if issuer:
            label = f"{issuer}:{label}"
            params += f"&issuer={quote(issuer)}"
        return f"otpauth://totp/{quote(label)}?{params}"

    def verify_token(self, token: Any) -> bool:
        # As django-otp's TOTPDevice.verify_token: throttled, drift followed, no code twice.
        allowed, _ = self.verify_is_allowed()
        if not allowed:
            return False
        try:
            code = int(token)
        except (TypeError, ValueError):
            verified = False
        else:
            totp = TOTP(self.bin_key, self.step, self.t0, self.digits, self.drift)
            totp.time = time.time()
            verified = totp.verify(code, self.tolerance, self.last_t + 1)
            if verified:
                self.last_t = totp.t()
                self.drift = totp.drift
                self.throttle_reset(commit=False)
                self.set_last_used_timestamp(commit=False)
                self.save()
        if not verified:
            self.throttle_increment(commit=True)
        return verified

    def get_throttle_factor(self) -> int:
        return 1
