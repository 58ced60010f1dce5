from django.apps import AppConfig


class TenantsConfig(AppConfig):
    name = "tenants"
    verbose_name = "Kommuner og sentre"

    def ready(self):
        # Logging out or changing the password ends every session and API token (receivers there).
        # A login stamps its session's start for the idle and absolute limits (receiver there).
        from tenants import (
            sessions,  # noqa: F401
            tokens,  # noqa: F401
        )
