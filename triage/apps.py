from django.apps import AppConfig


class TriageConfig(AppConfig):
    name = "triage"
    verbose_name = "Oppfølging"

    def ready(self):
        from triage import access, signals  # noqa: F401  (connects the receivers; names the pages for the menu)
