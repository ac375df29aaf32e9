"""Signing in: users, passwords, two-factor authentication, sign-in throttling, password
reset and sessions (``accounts``)."""

from __future__ import annotations

import re
import sys
from datetime import timedelta

from linker.settings.base import DJANGO_ENV, env

# --- Auth -------------------------------------------------------------------------------------

AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
# django-axes first: it refuses a locked-out sign-in before a password is even checked.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Two-factor authentication (django-otp): the issuer shown in authenticator apps, and how long
# "remember this device" skips the code step (0 turns the option off).
OTP_TOTP_ISSUER = "Copernica Linker"
OTP_ADMIN_HIDE_SENSITIVE_DATA = True
LINKER_2FA_REMEMBER_DAYS = env.int("LINKER_2FA_REMEMBER_DAYS", default=30)
# What seals the authenticator apps' secrets (accounts.authenticator): the linker's key ring.
ACCOUNTS_KEY_RING = "linker.platform.vault.keyring"
if DJANGO_ENV == "test":
    # Hashing with PBKDF2's full cost in every factory call would dominate the suite's time.
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# --- Sign-in throttling, password reset, sessions (accounts.sign_in, .throttling, .sessions) ---

# Failed sign-ins (django-axes, counted in the database, so the embedded SQLite setup has them
# too) per account and, separately, per client address; at the limit both are refused, the
# right password included, until the cool-off has passed since the last failure.
LINKER_LOGIN_FAILURE_LIMIT = env.int("LINKER_LOGIN_FAILURE_LIMIT", default=5)
LINKER_LOGIN_COOLOFF_MINUTES = env.int("LINKER_LOGIN_COOLOFF_MINUTES", default=15)
AXES_FAILURE_LIMIT = LINKER_LOGIN_FAILURE_LIMIT
AXES_COOLOFF_TIME = timedelta(minutes=LINKER_LOGIN_COOLOFF_MINUTES)
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
# The login form's field is named "username" and holds the email address.
AXES_USERNAME_FORM_FIELD = "username"
AXES_USERNAME_CALLABLE = "accounts.sign_in.login_username"
# The address as the security log sees it (REMOTE_ADDR; a client cannot choose its own).
AXES_CLIENT_IP_CALLABLE = "accounts.security_log.client_address"
AXES_LOCKOUT_CALLABLE = "accounts.sign_in.lockout_response"
# Successful sign-ins are in the security log already. Failures are not reset by a success:
# an attacker with an account of their own could otherwise sign in to clear the count of
# their address between guesses at someone else's password.
AXES_DISABLE_ACCESS_LOG = True
AXES_RESET_ON_SUCCESS = False
# No start-up banner on stderr (a management command's error stays one line).
AXES_VERBOSE = False

# django-ratelimit rates ("count/period", period s, m, h or d, e.g. 5/h or 30/10m), counted in
# the shared cache: a password reset request per address and per email; a page opened with a
# secret link (connect link, invitation, reset link) per address; a pasted API token (each one
# is tried at Copernica) per user and per address.
LINKER_PASSWORD_RESET_RATE = env.str("LINKER_PASSWORD_RESET_RATE", default="5/h")
LINKER_TOKEN_LINK_RATE = env.str("LINKER_TOKEN_LINK_RATE", default="30/h")
LINKER_API_TOKEN_RATE = env.str("LINKER_API_TOKEN_RATE", default="10/h")
for _name, _rate in {
    "LINKER_PASSWORD_RESET_RATE": LINKER_PASSWORD_RESET_RATE,
    "LINKER_TOKEN_LINK_RATE": LINKER_TOKEN_LINK_RATE,
    "LINKER_API_TOKEN_RATE": LINKER_API_TOKEN_RATE,
}.items():
    if not re.fullmatch(r"[1-9][0-9]*/[0-9]*[smhd]", _rate):
        sys.exit(f"{_name} must look like 5/h or 30/10m, not {_rate!r}.")
RATELIMIT_USE_CACHE = "default"
RATELIMIT_VIEW = "accounts.throttling.throttled_view"
# Minutes an emailed password reset link works (once: a new password voids it).
LINKER_PASSWORD_RESET_MINUTES = env.int("LINKER_PASSWORD_RESET_MINUTES", default=60)

# A session ends after this long without a request, and this long after signing in at most.
LINKER_SESSION_IDLE_MINUTES = env.int("LINKER_SESSION_IDLE_MINUTES", default=60)
LINKER_SESSION_MAX_HOURS = env.int("LINKER_SESSION_MAX_HOURS", default=12)
for _name, _count in {
    "LINKER_LOGIN_FAILURE_LIMIT": LINKER_LOGIN_FAILURE_LIMIT,
    "LINKER_LOGIN_COOLOFF_MINUTES": LINKER_LOGIN_COOLOFF_MINUTES,
    "LINKER_PASSWORD_RESET_MINUTES": LINKER_PASSWORD_RESET_MINUTES,
    "LINKER_SESSION_IDLE_MINUTES": LINKER_SESSION_IDLE_MINUTES,
    "LINKER_SESSION_MAX_HOURS": LINKER_SESSION_MAX_HOURS,
}.items():
    if _count < 1:
        sys.exit(f"{_name} must be at least 1, not {_count}.")
SESSION_COOKIE_AGE = LINKER_SESSION_MAX_HOURS * 3600
