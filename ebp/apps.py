from django.apps import AppConfig


class EbpConfig(AppConfig):
    name = "ebp"
    verbose_name = "Egenbehandlingsplaner"

    def ready(self):
        from ebp import signals  # noqa: F401
        from ebp.selectors import approved_at
        from ebp.services import can_edit
        from patients.extensions import PlanHooks, register_plan

        # patients' evaluation asks who may adjust the plan, and when the plan in force was approved
        register_plan(PlanHooks(may_edit=can_edit, approved_at=approved_at))
