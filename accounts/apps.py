from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts and access"

    def ready(self) -> None:
        from axes.signals import user_locked_out
        from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed

        from accounts import sign_in

        # The security log of signing in and out (accounts.sign_in explains the order).
        user_logged_in.connect(sign_in.on_signed_in, dispatch_uid="accounts.sign_in.in")
        user_logged_out.connect(sign_in.on_signed_out, dispatch_uid="accounts.sign_in.out")
        user_login_failed.connect(sign_in.on_sign_in_failed, dispatch_uid="accounts.sign_in.fail")
        user_locked_out.connect(sign_in.on_locked_out, dispatch_uid="accounts.sign_in.lockout")
