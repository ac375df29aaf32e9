"""Forgot password: Django's reset flow with our own token lifetime, throttles and log.

The request page answers the same for every email, known or not (Django's
``PasswordResetView`` sends mail only to an active account with a password). The emailed link
carries Django's signed token: it is tied to the password, so it works once, and it expires
after ``LINKER_PASSWORD_RESET_MINUTES``. A new password also ends every open session of the
account (the session hash includes the password).
"""

from __future__ import annotations

from typing import Any

from axes.utils import reset as axes_reset
from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.tokens import PasswordResetTokenGenerator
from django.http import HttpResponse
from django.urls import reverse_lazy
from django.utils.http import base36_to_int

from accounts.models import SecurityEventKind, User
from accounts.security_log import security_event_record


class PasswordResetLinkTokens(PasswordResetTokenGenerator):
    """Django's reset token, salted apart from invitations and valid for minutes, not days.

    Invitations (``invite_accept``) use Django's default generator and
    ``PASSWORD_RESET_TIMEOUT``; a reset link is short-lived and cannot stand in for one.
    """

    key_salt = "accounts.password_reset.PasswordResetLinkTokens"

    def check_token(self, user: User | None, token: str | None) -> bool:
        if user is None or token is None or not super().check_token(user, token):
            return False
        try:
            made_at = base36_to_int(token.partition("-")[0])
        except ValueError:
            return False
        age = self._num_seconds(self._now()) - made_at
        return age <= settings.LINKER_PASSWORD_RESET_MINUTES * 60


password_reset_tokens = PasswordResetLinkTokens()


class PasswordResetRequestView(auth_views.PasswordResetView):
    template_name = "registration/password_reset_form.html"
    email_template_name = "registration/password_reset_email.txt"
    subject_template_name = "registration/password_reset_subject.txt"
    token_generator = password_reset_tokens
    success_url = reverse_lazy("password_reset_done")

    def form_valid(self, form: Any) -> HttpResponse:
        # Links in the email point at the configured address, never at a Host header.
        base_url = settings.LINKER_BASE_URL or self.request.build_absolute_uri("/")
        self.extra_email_context = {
            "base_url": base_url.rstrip("/"),
            "minutes": settings.LINKER_PASSWORD_RESET_MINUTES,
        }
        response = super().form_valid(form)
        email = form.cleaned_data["email"]
        user = User.objects.filter(email__iexact=email).first()
        if user is None:
            detail = "No account has this email: nothing was sent."
        elif user.is_active and user.has_usable_password():
            detail = "A reset link was emailed."
        else:
            detail = "The account is inactive or has no password yet: nothing was sent."
        security_event_record(
            kind=SecurityEventKind.PASSWORD_RESET_REQUESTED,
            request=self.request,
            user=user,
            email=email,
            detail=detail,
        )
        return response


class PasswordResetDoneView(auth_views.PasswordResetDoneView):
    template_name = "registration/password_reset_done.html"


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    template_name = "registration/password_reset_confirm.html"
    token_generator = password_reset_tokens
    success_url = reverse_lazy("password_reset_complete")
    post_reset_login = False

    def form_valid(self, form: Any) -> HttpResponse:
        response = super().form_valid(form)
        user = form.user
        security_event_record(
            kind=SecurityEventKind.PASSWORD_CHANGED,
            request=self.request,
            user=user,
            detail="New password set with an emailed reset link; every session was ended.",
        )
        # Whoever proved they read the account's email may sign in with the new password now,
        # not after the cool-off of failures that may have sent them here.
        axes_reset(username=user.email)
        return response


class PasswordResetCompleteView(auth_views.PasswordResetCompleteView):
    template_name = "registration/password_reset_complete.html"
