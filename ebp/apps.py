from django.apps import AppConfig


class EbpConfig(AppConfig):
    name = "ebp"
    verbose_name = "Egenbehandlingsplaner"

    def ready(self):
        from django.utils.translation import gettext_lazy as _

        from ebp import signals  # noqa: F401
        from ebp.selectors import approved_at, plan_missing_among
        from ebp.services import can_edit
        from patients.extensions import BoardMark, PlanHooks, register_board_mark, register_plan

        # ebp's parts of patients' forløp (patients/extensions.py): patients imports nothing of ebp.
        # The evaluation asks who may adjust the plan and when the plan in force was approved; the
        # board marks started patients without an approved plan, one query for the whole board.
        register_plan(PlanHooks(may_edit=can_edit, approved_at=approved_at))
        register_board_mark(BoardMark("ebp.plan_missing", _("Mangler godkjent plan"), plan_missing_among))
