from django.apps import AppConfig


class EbpConfig(AppConfig):
    name = "ebp"
    verbose_name = "Egenbehandlingsplaner"

    def ready(self):
        from ebp import signals  # noqa: F401
