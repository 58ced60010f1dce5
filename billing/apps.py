from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "billing"
    verbose_name = "Økonomi"

    def ready(self):
        from billing import access  # noqa: F401  (names the pages for the menu)
