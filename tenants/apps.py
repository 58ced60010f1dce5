from django.apps import AppConfig


class TenantsConfig(AppConfig):
    name = "tenants"
    verbose_name = "Kommuner og sentre"

    def ready(self):
        # Logging out or changing the password ends every session and API token (receivers there).
        # A login stamps its session's start for the idle and absolute limits (receiver there).
        # A login whose second factor came with the password marks its session (tenants/login.py).
        from django.db.models.signals import post_migrate

        from tenants import (
            login,  # noqa: F401
            rls,
            sessions,  # noqa: F401
            tokens,  # noqa: F401
        )

        # After every migrate: the row-level security policies, the app role and its rights, for the
        # tables of every app, those added later included (tenants/rls.py).
        post_migrate.connect(rls.walls_ensure, sender=self, dispatch_uid="tenants.rls.walls_ensure")
