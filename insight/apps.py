from django.apps import AppConfig


class InsightConfig(AppConfig):
    name = "insight"
    verbose_name = "Innsikt"

    def ready(self):
        from django.utils.translation import gettext_lazy as _

        from insight import access  # noqa: F401  (names the «insight» page for the templates)
        from insight.gevinst import access as gevinst_access  # noqa: F401  (the gevinst's step and pages)
        from insight.gevinst.patient_page import gevinst_section
        from insight.gevinst.selectors import due_labels
        from insight.models import ServiceUseKind
        from patients.extensions import BoardMark, PatientSection, register_board_mark, register_patient_section

        # The gevinst's parts of patients' pages (patients/extensions.py): patients imports nothing of
        # insight. The patient page's «Gevinst»; on the forløp board a mark per registration that is due.
        register_patient_section(PatientSection("insight.gevinst", gevinst_section))
        labels = {
            ServiceUseKind.BASELINE: _("Tjenestebruk: null-punkt skal registreres"),
            ServiceUseKind.MONTH_6: _("Tjenestebruk: 6 måneder skal registreres"),
            ServiceUseKind.MONTH_12: _("Tjenestebruk: 12 måneder skal registreres"),
            ServiceUseKind.END: _("Tjenestebruk ved avslutning skal registreres"),
        }
        register_board_mark(BoardMark("insight.gevinst", due_labels({k.value: label for k, label in labels.items()})))
