from django.apps import AppConfig


class PatientsConfig(AppConfig):
    name = "patients"
    verbose_name = "Pasienter"

    def ready(self):
        from patients import signals  # noqa: F401
