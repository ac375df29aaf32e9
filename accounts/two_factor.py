"""Two-factor authentication: an authenticator app (TOTP) and single-use recovery codes.

django-otp holds the devices and checks the codes (our ``AuthenticatorApp``, its secret sealed at
rest, and django-otp's ``StaticDevice``), with its exponential throttling after wrong codes on each
device; this module decides who must have a
second factor, enrols, regenerates, turns off and resets, and writes each step to the agency
security log. Nothing here computes a TOTP code itself.
"""

from __future__ import annotations

import base64
import math
import re
from dataclasses import dataclass
from datetime import datetime

import segno
from django.conf import settings
from django.core import signing
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.http import HttpRequest
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac
from django_otp import verify_token
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken

from accounts.authenticator import AuthenticatorApp
from accounts.models import (
    Agency,
    Membership,
    Role,
    SecurityEventKind,
    TwoFactorPolicy,
    User,
)
from accounts.security_log import security_event_record

RECOVERY_CODE_COUNT = 10
APP_DEVICE_NAME = "Authenticator app"
RECOVERY_DEVICE_NAME = "Recovery codes"
REMEMBER_COOKIE = "linker_2fa_remember"
_REMEMBER_SALT = "accounts.two_factor.remember"

_TOTP_CODE = re.compile(r"[0-9]{6}")
# StaticToken.random_token(): 5 random bytes in lower-case base32, 8 characters.
_RECOVERY_CODE = re.compile(r"[a-z2-7]{8}")
_SEPARATORS = re.compile(r"[\s-]+")


class TwoFactorError(ValueError):
    """A two-factor step that cannot be carried out; the message is for the person."""


class TwoFactorThrottledError(TwoFactorError):
    """Too many wrong codes in a row: django-otp refuses the next one for a while."""


@dataclass(frozen=True)
class TwoFactorState:
    """What the sign-in gate needs to know about a user, read in one query."""

    has_device: bool
    required: bool


@dataclass(frozen=True)
class TwoFactorStatus:
    """What the settings page shows."""

    enabled: bool
    required: bool
    recovery_codes_left: int


def _policy_covers() -> Q:
    """Memberships whose agency's policy covers their role (tenant roles are never covered)."""
    return Q(
        role=Role.AGENCY_ADMIN,
        agency__two_factor__in=[TwoFactorPolicy.ADMINS, TwoFactorPolicy.AGENCY],
    ) | Q(role=Role.AGENCY_STAFF, agency__two_factor=TwoFactorPolicy.AGENCY)


def two_factor_required(*, user: User) -> bool:
    """Whether any of the user's agencies requires a second factor for their role there."""
    return Membership.objects.filter(_policy_covers(), user=user).exists()


def two_factor_state(*, user: User) -> TwoFactorState:
    """A confirmed authenticator app, and whether one is required: one query per request."""
    row = (
        User.objects.filter(pk=user.pk)
        .annotate(
            has_device=Exists(AuthenticatorApp.objects.filter(user=OuterRef("pk"), confirmed=True)),
            required=Exists(Membership.objects.filter(_policy_covers(), user=OuterRef("pk"))),
        )
        .values_list("has_device", "required")
        .first()
    )
    if row is None:
        return TwoFactorState(has_device=False, required=False)
    return TwoFactorState(has_device=bool(row[0]), required=bool(row[1]))


def two_factor_device(*, user: User) -> AuthenticatorApp | None:
    """The user's confirmed authenticator app, if they turned two-factor on."""
    return AuthenticatorApp.objects.filter(user=user, confirmed=True).order_by("pk").first()


def two_factor_status(*, user: User) -> TwoFactorStatus:
    enabled = two_factor_device(user=user) is not None
    left = (
        StaticToken.objects.filter(device__user=user, device__confirmed=True).count()
        if enabled
        else 0
    )
    return TwoFactorStatus(
        enabled=enabled, required=two_factor_required(user=user), recovery_codes_left=left
    )


def two_factor_setup_device(*, user: User) -> AuthenticatorApp:
    """The unconfirmed device being set up, made on first call and kept until confirmed.

    Kept so that reloading the setup page shows the same secret the person may have scanned.
    """
    if two_factor_device(user=user) is not None:
        raise TwoFactorError("Two-factor authentication is already on for your account.")
    device = AuthenticatorApp.objects.filter(user=user, confirmed=False).order_by("pk").first()
    if device is None:
        device = AuthenticatorApp.objects.create(user=user, name=APP_DEVICE_NAME, confirmed=False)
    return device


def totp_secret_text(device: AuthenticatorApp) -> str:
    """The secret in base32 as authenticator apps take it by hand, in groups of four."""
    secret = base64.b32encode(device.bin_key).decode("ascii").rstrip("=")
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def totp_qr_svg(device: AuthenticatorApp) -> str:
    """The ``otpauth://`` URL as an inline SVG QR code, drawn here (no image service).

    Inline ``<svg>`` markup has no inline style, so the strict Content-Security-Policy holds.
    """
    qr = segno.make(device.config_url, error="m")
    return str(
        qr.svg_inline(
            scale=4,
            dark="#000",
            light="#fff",
            title="QR code for your authenticator app",
            svgclass="qr",
        )
    )


def _normalised(code: str) -> str:
    return _SEPARATORS.sub("", code or "").lower()


def _check_totp(*, user: User, device: AuthenticatorApp, code: str) -> bool:
    """``code`` against ``device`` under django-otp's throttling; raises while throttled."""
    allowed, info = device.verify_is_allowed()
    if not allowed:
        raise TwoFactorThrottledError(_wait_message(info))
    if not _TOTP_CODE.fullmatch(code):
        device.throttle_increment(commit=True)
        return False
    # verify_token locks the device row, so one code cannot be accepted twice concurrently.
    return verify_token(user, device.persistent_id, code) is not None


def _wait_message(info: dict[str, object] | None) -> str:
    until = (info or {}).get("locked_until")
    seconds = (
        max(1, math.ceil((until - timezone.now()).total_seconds()))
        if isinstance(until, datetime)
        else 1
    )
    return (
        f"Too many wrong codes in a row: wait {seconds} second{'' if seconds == 1 else 's'} "
        "before the next try (each wrong code doubles the wait)."
    )


def _recovery_codes_make(*, user: User) -> list[str]:
    StaticDevice.objects.filter(user=user).delete()
    device = StaticDevice.objects.create(user=user, name=RECOVERY_DEVICE_NAME, confirmed=True)
    codes = [StaticToken.random_token() for _ in range(RECOVERY_CODE_COUNT)]
    StaticToken.objects.bulk_create(StaticToken(device=device, token=code) for code in codes)
    return codes


def two_factor_enable(
    *, user: User, device: AuthenticatorApp, code: str, request: HttpRequest | None = None
) -> list[str]:
    """Confirm the app with a code from it; returns the new recovery codes (shown once)."""
    if device.user_id != user.pk or device.confirmed:
        raise TwoFactorError("This setup has expired. Start again from your settings.")
    if not _check_totp(user=user, device=device, code=_normalised(code)):
        security_event_record(
            kind=SecurityEventKind.TWO_FACTOR_FAILED,
            request=request,
            user=user,
            detail="Wrong code while setting up two-factor authentication.",
        )
        raise TwoFactorError(
            "That code is not the one your app shows. Check the time on your phone and try "
            "the newest code."
        )
    with transaction.atomic():
        # Only one app per person: a half-finished setup from another tab goes too.
        AuthenticatorApp.objects.filter(user=user).exclude(pk=device.pk).delete()
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        codes = _recovery_codes_make(user=user)
        security_event_record(kind=SecurityEventKind.TWO_FACTOR_ENABLED, request=request, user=user)
    return codes


def recovery_codes_regenerate(*, user: User, request: HttpRequest | None = None) -> list[str]:
    """New recovery codes; the old ones stop working at once."""
    if two_factor_device(user=user) is None:
        raise TwoFactorError("Turn on two-factor authentication first.")
    with transaction.atomic():
        codes = _recovery_codes_make(user=user)
        security_event_record(
            kind=SecurityEventKind.RECOVERY_CODES_REGENERATED, request=request, user=user
        )
    return codes


def two_factor_verify(
    *, user: User, code: str, request: HttpRequest | None = None
) -> AuthenticatorApp | StaticDevice | None:
    """The device that accepts ``code`` (an app code or an unused recovery code), else None.

    A recovery code is deleted as it is accepted (django-otp), so each works once. Raises
    ``TwoFactorThrottledError`` while django-otp makes the person wait after wrong codes.
    Every refusal goes to the security log.
    """
    try:
        accepted = _verify(user=user, code=_normalised(code))
    except TwoFactorThrottledError:
        _failure_record(
            user=user, request=request, detail="Code refused: waiting after wrong codes."
        )
        raise
    if accepted is None:
        _failure_record(user=user, request=request, detail="Wrong code at sign-in.")
    elif isinstance(accepted, StaticDevice):
        left = StaticToken.objects.filter(device=accepted).count()
        security_event_record(
            kind=SecurityEventKind.RECOVERY_CODE_USED,
            request=request,
            user=user,
            detail=f"{left} recovery code{'' if left == 1 else 's'} left.",
        )
    return accepted


def _verify(*, user: User, code: str) -> AuthenticatorApp | StaticDevice | None:
    if _RECOVERY_CODE.fullmatch(code):
        return _check_recovery_code(user=user, code=code)
    device = two_factor_device(user=user)
    if device is None:
        return None
    return device if _check_totp(user=user, device=device, code=code) else None


def _failure_record(*, user: User, request: HttpRequest | None, detail: str) -> None:
    security_event_record(
        kind=SecurityEventKind.TWO_FACTOR_FAILED, request=request, user=user, detail=detail
    )


def _check_recovery_code(*, user: User, code: str) -> StaticDevice | None:
    device = StaticDevice.objects.filter(user=user, confirmed=True).order_by("pk").first()
    if device is None:
        return None
    allowed, info = device.verify_is_allowed()
    if not allowed:
        raise TwoFactorThrottledError(_wait_message(info))
    return device if verify_token(user, device.persistent_id, code) is not None else None


def two_factor_disable(*, user: User, credential: str, request: HttpRequest | None = None) -> None:
    """Turn two-factor off, given a current code from the app or the account's password."""
    if two_factor_required(user=user):
        raise TwoFactorError(
            "Your agency requires two-factor authentication for your role, so it cannot be "
            "turned off. An agency admin can change that on the agency's security page."
        )
    device = two_factor_device(user=user)
    if device is None:
        raise TwoFactorError("Two-factor authentication is not on for your account.")
    code = _normalised(credential)
    accepted = False
    if _TOTP_CODE.fullmatch(code):
        try:
            accepted = _check_totp(user=user, device=device, code=code)
        except TwoFactorThrottledError:
            accepted = False
    if not accepted:
        accepted = bool(credential) and user.check_password(credential)
    if not accepted:
        security_event_record(
            kind=SecurityEventKind.TWO_FACTOR_FAILED,
            request=request,
            user=user,
            detail="Refused turning two-factor off: neither the password nor a current code.",
        )
        raise TwoFactorError("That is neither your password nor a current code from your app.")
    _devices_delete(user=user)
    security_event_record(kind=SecurityEventKind.TWO_FACTOR_DISABLED, request=request, user=user)


def two_factor_reset(*, user: User) -> int:
    """An operator's reset (lost phone): every device goes; returns how many there were.

    The person signs in with their password alone next time, and is asked to enrol again if
    their agency requires a second factor. Sessions verified with the old app lose that.
    """
    removed = _devices_delete(user=user)
    security_event_record(
        kind=SecurityEventKind.TWO_FACTOR_DISABLED,
        user=user,
        detail="Reset by an operator (manage.py two_factor_reset).",
    )
    return removed


def _devices_delete(*, user: User) -> int:
    with transaction.atomic():
        apps, _ = AuthenticatorApp.objects.filter(user=user).delete()
        codes, _ = StaticDevice.objects.filter(user=user).delete()
    return apps + codes


def agency_two_factor_set(
    *, agency: Agency, policy: str, user: User, request: HttpRequest | None = None
) -> bool:
    """Set whose sign-in at ``agency`` needs a second factor; False when nothing changed.

    The caller checked that ``user`` administers ``agency``.
    """
    if policy not in TwoFactorPolicy.values:
        raise TwoFactorError("Choose one of the offered policies.")
    before = TwoFactorPolicy(agency.two_factor)
    after = TwoFactorPolicy(policy)
    if before == after:
        return False
    agency.two_factor = after
    agency.save(update_fields=["two_factor"])
    security_event_record(
        kind=SecurityEventKind.TWO_FACTOR_POLICY_CHANGED,
        request=request,
        user=user,
        agency=agency,
        detail=f"{before.label} → {after.label}.",
    )
    return True


@dataclass(frozen=True)
class MemberTwoFactor:
    email: str
    name: str
    role: str
    enrolled: bool
    covered: bool


def agency_two_factor_members(*, agency: Agency) -> list[MemberTwoFactor]:
    """The agency's admins and staff: whether the policy covers them and whether they enrolled.

    The caller checked that the viewer administers ``agency``.
    """
    rows = (
        Membership.objects.filter(agency=agency)
        .select_related("user")
        .annotate(
            enrolled=Exists(
                AuthenticatorApp.objects.filter(user=OuterRef("user_id"), confirmed=True)
            )
        )
        .order_by("role", "user__email")
    )
    covered_roles = {
        TwoFactorPolicy.OFF: set(),
        TwoFactorPolicy.ADMINS: {Role.AGENCY_ADMIN.value},
        TwoFactorPolicy.AGENCY: {Role.AGENCY_ADMIN.value, Role.AGENCY_STAFF.value},
    }[TwoFactorPolicy(agency.two_factor)]
    return [
        MemberTwoFactor(
            email=row.user.email,
            name=row.user.full_name,
            role=row.get_role_display(),
            enrolled=bool(row.enrolled),
            covered=row.role in covered_roles,
        )
        for row in rows
    ]


# --- Remembered devices ---------------------------------------------------------------------


def _key_fingerprint(device: AuthenticatorApp) -> str:
    # Bound to the app's secret: a device set up again (a new secret) never matches. The
    # unsealed secret, not its ciphertext: rotating the key ring must not forget devices.
    return salted_hmac(_REMEMBER_SALT, device.bin_key.hex()).hexdigest()[:32]


def remember_cookie_value(*, device: AuthenticatorApp) -> str:
    """The signed, timestamped value of the "remember this device" cookie."""
    return signing.dumps([device.user_id, device.pk, _key_fingerprint(device)], salt=_REMEMBER_SALT)


def remember_days() -> int:
    return max(0, int(settings.LINKER_2FA_REMEMBER_DAYS))


def remembered_device_get(*, user: User, value: str | None) -> AuthenticatorApp | None:
    """The user's app if ``value`` is a valid, unexpired cookie made for it, else None."""
    days = remember_days()
    if not value or days == 0:
        return None
    try:
        user_id, device_id, fingerprint = signing.loads(
            value, salt=_REMEMBER_SALT, max_age=days * 86_400
        )
    except (signing.BadSignature, TypeError, ValueError):
        return None
    if user_id != user.pk:
        return None
    device = AuthenticatorApp.objects.filter(pk=device_id, user=user, confirmed=True).first()
    if device is None or not constant_time_compare(str(fingerprint), _key_fingerprint(device)):
        return None
    return device
