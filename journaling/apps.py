from django.apps import AppConfig


class JournalingConfig(AppConfig):
    name = "journaling"
    verbose_name = "Journalføring"

    def ready(self):
        from journaling import signals  # noqa: F401  (connects the receivers)
