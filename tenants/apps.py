from axes.apps import AppConfig as AxesAppConfig
from django.apps import AppConfig
from django_otp.plugins.otp_static.apps import DefaultConfig as OTPStaticConfig
from django_otp.plugins.otp_totp.apps import DefaultConfig as OTPTOTPConfig
from guardian.apps import GuardianConfig as GuardianAppConfig


class TenantsConfig(AppConfig):
    default = True  # the app's own config; the others below are the third-party apps' Norwegian names
    name = "tenants"
    verbose_name = "Kommuner og sentre"

    def ready(self):
        # Logging out or changing the password ends every session and API token (receivers there).
        # A login stamps its session's start for the idle and absolute limits (receiver there).
        # A login whose second factor came with the password marks its session (tenants/login.py).
        from django.db.backends.signals import connection_created
        from django.db.models.signals import post_migrate

        from tenants import (
            checks,  # noqa: F401  (check --deploy: the HelseID login's settings)
            login,  # noqa: F401
            rls,
            sessions,  # noqa: F401
            timestamps,
            tokens,  # noqa: F401
        )

        # Timestamps read with psycopg's C parser, not Django's pure-Python one (tenants/timestamps.py).
        connection_created.connect(timestamps.connection_register, dispatch_uid="tenants.timestamps")

        # After every migrate: the row-level security policies, the app role and its rights, for the
        # tables of every app, those added later included (tenants/rls.py).
        post_migrate.connect(rls.walls_ensure, sender=self, dispatch_uid="tenants.rls.walls_ensure")


# --- Norwegian names for the third-party apps in the admin ---------------------------------------------
# Installed under these configs (dho/settings.py INSTALLED_APPS). Their field and model names that the
# apps mark for translation are in locale/nb; those they do not mark (knox, django-otp's devices) are
# named here. Only `_meta.verbose_name*` is set, never `original_attrs`, so no migration follows.


def _name_model(label: str, singular: str, plural: str) -> None:
    from django.apps import apps

    meta = apps.get_model(label)._meta
    meta.verbose_name, meta.verbose_name_plural = singular, plural


class AxesConfig(AxesAppConfig):
    verbose_name = "Innloggingsforsøk"


class OtpTotpConfig(OTPTOTPConfig):
    verbose_name = "Tofaktor: autentiseringsapper"

    def ready(self):
        super().ready()
        _name_model("otp_totp.TOTPDevice", "autentiseringsapp", "autentiseringsapper")


class OtpStaticConfig(OTPStaticConfig):
    verbose_name = "Tofaktor: reservekoder"

    def ready(self):
        super().ready()
        _name_model("otp_static.StaticDevice", "reservekodeliste", "reservekodelister")
        _name_model("otp_static.StaticToken", "reservekode", "reservekoder")


class KnoxConfig(AppConfig):
    name = "knox"
    verbose_name = "API-nøkler"

    def ready(self):
        _name_model("knox.AuthToken", "API-nøkkel", "API-nøkler")


class GuardianConfig(GuardianAppConfig):
    verbose_name = "Objekttilganger"
