from django.apps import AppConfig


class TriageConfig(AppConfig):
    name = "triage"
    verbose_name = "Oppfølging"

    def ready(self):
        from measurements.extensions import ArchiveHold, register_archive_hold
        from patients.extensions import EndCloses, PatientSection, register_end_closes, register_patient_section
        from triage import access, signals  # noqa: F401  (connects the receivers; names the pages for the menu)
        from triage.patient_page import alerts_the_end_closes, patient_follow_up
        from triage.selectors import months_open_alerts_need

        # triage's parts of patients' pages (patients/extensions.py): patients imports nothing of triage
        register_patient_section(PatientSection("triage.follow_up", patient_follow_up))
        register_end_closes(EndCloses("triage.open_alerts", "triage/_end_alerts.html", alerts_the_end_closes))
        # an open alert's readings and answers stay live (measurements/extensions.py)
        register_archive_hold(ArchiveHold("triage.open_alerts", months_open_alerts_need))
