from django.contrib.auth import views as auth_views
from django.urls import path

from accounts import password_reset, two_factor_views
from accounts.throttling import throttle
from accounts.views import account_settings_view, security_log_view, sign_out_everywhere_view

urlpatterns = [
    path(
        "login/",
        auth_views.LoginView.as_view(redirect_authenticated_user=True),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("settings/", account_settings_view, name="account_settings"),
    path("sign-out-everywhere", sign_out_everywhere_view, name="sign_out_everywhere"),
    path("agencies/<int:agency_id>/security-log", security_log_view, name="security_log"),
    path(
        "password-reset/",
        throttle("password_reset")(password_reset.PasswordResetRequestView.as_view()),
        name="password_reset",
    ),
    path(
        "password-reset/sent/",
        password_reset.PasswordResetDoneView.as_view(),
        name="password_reset_done",
    ),
    path(
        "reset/<uidb64>/<token>/",
        throttle("reset_link")(password_reset.PasswordResetConfirmView.as_view()),
        name="password_reset_confirm",
    ),
    path(
        "reset/done/",
        password_reset.PasswordResetCompleteView.as_view(),
        name="password_reset_complete",
    ),
    path("two-factor/setup", two_factor_views.two_factor_setup_view, name="two_factor_setup"),
    path(
        "two-factor/recovery-codes",
        two_factor_views.two_factor_recovery_codes_view,
        name="two_factor_recovery_codes",
    ),
    path(
        "two-factor/recovery-codes/regenerate",
        two_factor_views.two_factor_recovery_codes_regenerate_view,
        name="two_factor_recovery_codes_regenerate",
    ),
    path("two-factor/disable", two_factor_views.two_factor_disable_view, name="two_factor_disable"),
    path("two-factor/verify", two_factor_views.two_factor_verify_view, name="two_factor_verify"),
    path(
        "agencies/<int:agency_id>/security",
        two_factor_views.agency_security_view,
        name="agency_security",
    ),
]
