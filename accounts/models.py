"""Who uses the linker: users, the agencies they work for and the tenants (client companies)."""

from __future__ import annotations

from typing import Any, ClassVar

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.crypto import salted_hmac


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **extra: Any) -> User:
        if not email:
            raise ValueError("A user needs an email address.")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        if password:
            user.set_password(password)
        else:
            user.set_unusable_password()
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **extra: Any) -> User:
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        return self.create_user(email, password, **extra)


class NoticePreference(models.TextChoices):
    EVERY = "every", "An email for every notice"
    DIGEST = "digest", "One daily digest"
    NONE = "none", "No emails"


# django-stubs cannot name the reverse manager of a model defined outside models.py
# (accounts.authenticator.AuthenticatorApp.user); nothing uses that manager.
class User(AbstractBaseUser, PermissionsMixin):  # type: ignore[django-manager-missing]
    """A person who logs in with their email address."""

    email = models.EmailField(unique=True)
    full_name = models.CharField(max_length=200, blank=True)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(
        default=False, help_text="May log in to the Django admin (scoped to their tenants)."
    )
    time_zone = models.CharField(
        max_length=64, blank=True, help_text="IANA time zone for showing times, e.g. Europe/Paris."
    )
    date_joined = models.DateTimeField(default=timezone.now)
    notice_emails = models.CharField(
        "Notice emails",
        max_length=10,
        choices=NoticePreference.choices,
        default=NoticePreference.EVERY,
        help_text="How you hear about links that need reconnecting and syncs that keep failing.",
    )
    # The last daily digest sent: a digest lists what was raised since then.
    notice_digest_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Part of every session's auth hash: one more ends all of the user's sessions at once
    # ("sign out everywhere", a membership taken away), wherever they are stored.
    session_generation = models.PositiveIntegerField(default=0, editable=False)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    def __str__(self) -> str:
        return self.email

    def get_full_name(self) -> str:
        return self.full_name or self.email

    def get_short_name(self) -> str:
        return self.full_name.split(" ")[0] if self.full_name else self.email

    def _get_session_auth_hash(self, secret: str | None = None) -> str:
        # Django's own hash while the generation is 0, so that sessions made before this field
        # existed stay valid; after a bump, no earlier session's hash matches any more.
        key_salt = "django.contrib.auth.models.AbstractBaseUser.get_session_auth_hash"
        value = self.password
        if self.session_generation:
            value = f"{self.password}:{self.session_generation}"
        return salted_hmac(key_salt, value, secret=secret, algorithm="sha256").hexdigest()


class TwoFactorPolicy(models.TextChoices):
    OFF = "off", "Not required"
    ADMINS = "admins", "Required for agency admins"
    AGENCY = "agency", "Required for agency admins and staff"


class Agency(models.Model):
    """A company that manages the Copernica accounts of many client companies."""

    name = models.CharField(max_length=200)
    slug = models.SlugField(unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    two_factor = models.CharField(
        "Two-factor authentication",
        max_length=10,
        choices=TwoFactorPolicy.choices,
        default=TwoFactorPolicy.OFF,
        help_text="Whose sign-in needs a second factor (an authenticator app) besides a password.",
    )

    class Meta:
        verbose_name_plural = "agencies"
        ordering = ("name",)

    def __str__(self) -> str:
        return self.name


class Tenant(models.Model):
    """One client company: the thing that gets linked to a Copernica account."""

    name = models.CharField(max_length=200)
    agency = models.ForeignKey(
        Agency, on_delete=models.PROTECT, null=True, blank=True, related_name="tenants"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # Set while archived: off the dashboard's default list, no syncs started, data kept.
    archived_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ("name", "id")
        indexes = [models.Index(fields=["agency", "name"])]

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    AGENCY_ADMIN = "agency_admin", "Agency admin"
    AGENCY_STAFF = "agency_staff", "Agency staff"
    TENANT_ADMIN = "tenant_admin", "Tenant admin"
    TENANT_VIEWER = "tenant_viewer", "Tenant viewer"


AGENCY_ROLES = frozenset({Role.AGENCY_ADMIN, Role.AGENCY_STAFF})
TENANT_ROLES = frozenset({Role.TENANT_ADMIN, Role.TENANT_VIEWER})


class Membership(models.Model):
    """A user's role in an agency (all its tenants) or in one tenant (only that one)."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=20, choices=Role.choices)
    agency = models.ForeignKey(
        Agency, on_delete=models.CASCADE, null=True, blank=True, related_name="memberships"
    )
    tenant = models.ForeignKey(
        Tenant, on_delete=models.CASCADE, null=True, blank=True, related_name="memberships"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                name="membership_scope_matches_role",
                condition=(
                    Q(
                        role__in=sorted(r.value for r in AGENCY_ROLES),
                        agency__isnull=False,
                        tenant__isnull=True,
                    )
                    | Q(
                        role__in=sorted(r.value for r in TENANT_ROLES),
                        tenant__isnull=False,
                        agency__isnull=True,
                    )
                ),
            ),
            models.UniqueConstraint(
                fields=["user", "agency"],
                condition=Q(agency__isnull=False),
                name="one_membership_per_agency",
            ),
            models.UniqueConstraint(
                fields=["user", "tenant"],
                condition=Q(tenant__isnull=False),
                name="one_membership_per_tenant",
            ),
        ]

    def __str__(self) -> str:
        scope = self.agency or self.tenant
        return f"{self.user} — {self.get_role_display()} of {scope}"


class SecurityEventKind(models.TextChoices):
    SIGN_IN = "sign_in", "Signed in"
    SIGN_IN_FAILED = "sign_in_failed", "Sign-in failed"
    LOCKED_OUT = "locked_out", "Locked out"
    SIGN_OUT = "sign_out", "Signed out"
    SIGN_OUT_EVERYWHERE = "sign_out_everywhere", "Signed out everywhere"
    PASSWORD_RESET_REQUESTED = "password_reset_requested", "Password reset requested"
    PASSWORD_CHANGED = "password_changed", "Password changed"
    TWO_FACTOR_ENABLED = "two_factor_enabled", "Two-factor enabled"
    TWO_FACTOR_DISABLED = "two_factor_disabled", "Two-factor disabled"
    TWO_FACTOR_FAILED = "two_factor_failed", "Two-factor code refused"
    RECOVERY_CODE_USED = "recovery_code_used", "Recovery code used"
    RECOVERY_CODES_REGENERATED = "recovery_codes_regenerated", "Recovery codes regenerated"
    TWO_FACTOR_POLICY_CHANGED = "two_factor_policy_changed", "Two-factor policy changed"
    MEMBER_ADDED = "member_added", "Member added"
    MEMBER_ROLE_CHANGED = "member_role_changed", "Member role changed"
    MEMBER_REMOVED = "member_removed", "Member removed"
    INVITATION_RESENT = "invitation_resent", "Invitation sent again"
    TENANT_RENAMED = "tenant_renamed", "Tenant renamed"
    TENANT_ARCHIVED = "tenant_archived", "Tenant archived"
    TENANT_RESTORED = "tenant_restored", "Tenant restored"
    TENANT_DELETED = "tenant_deleted", "Tenant deleted"
    LINK_MADE = "link_made", "Link made"
    LINK_REMOVED = "link_removed", "Link removed"
    KEY_ROTATED = "key_rotated", "Key rotated"
    API_KEY_CREATED = "api_key_created", "API key created"
    API_KEY_REVOKED = "api_key_revoked", "API key revoked"
    EXPORT = "export", "Export downloaded"
    THROTTLED = "throttled", "Request throttled"


class SecurityEvent(models.Model):
    """One entry of an agency's security log: who did what, when and from where.

    ``agency`` is null for events that belong to no agency (an unknown email failing to sign
    in); such rows are kept for the operator, and an agency never sees them.
    """

    agency = models.ForeignKey(
        Agency, on_delete=models.CASCADE, null=True, blank=True, related_name="security_events"
    )
    # Who acted (null for an anonymous or unknown one) and the email they gave.
    user = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="security_events"
    )
    email = models.CharField(max_length=254, blank=True)
    kind = models.CharField(max_length=32, choices=SecurityEventKind.choices)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    detail = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ("-created_at", "-id")
        indexes = [models.Index(fields=["agency", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.email or self.user_id} at {self.created_at}"


# The authenticator app model lives in its own module; imported here so Django registers it.
from accounts.authenticator import AuthenticatorApp  # noqa: E402, F401
