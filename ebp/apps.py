from django.apps import AppConfig


class EbpConfig(AppConfig):
    name = "ebp"
    verbose_name = "Egenbehandlingsplaner"

    def ready(self):
        from ebp import access, signals  # noqa: F401  (access names the plan's steps for the templates)
