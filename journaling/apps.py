from django.apps import AppConfig


class JournalingConfig(AppConfig):
    name = "journaling"
    verbose_name = "Journalføring"
