from django.apps import AppConfig


class EbpConfig(AppConfig):
    name = "ebp"
    verbose_name = "Egenbehandlingsplaner"

    def ready(self):
        from django.utils.translation import gettext_lazy as _

        from ebp import access, signals  # noqa: F401  (access names the plan's steps for the templates)
        from ebp.access import can_edit_plan
        from ebp.selectors import approved_at, plan_missing_among
        from patients.extensions import BoardMark, PlanHooks, register_board_mark, register_plan

        # ebp's parts of patients' forløp (patients/extensions.py): patients imports nothing of ebp.
        # The evaluation asks who may adjust the plan and when the plan in force was approved; the
        # board marks started patients without an approved plan, one query for the whole board.
        register_plan(PlanHooks(may_edit=can_edit_plan, approved_at=approved_at))
        register_board_mark(BoardMark.one("ebp.plan_missing", _("Mangler godkjent plan"), plan_missing_among))
