from django.apps import AppConfig


class EbpConfig(AppConfig):
    name = "ebp"
    verbose_name = "Egenbehandlingsplaner"
