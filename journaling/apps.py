from django.apps import AppConfig


class JournalingConfig(AppConfig):
    name = "journaling"
    verbose_name = "Journalføring"

    def ready(self):
        from journaling import access, signals  # noqa: F401  (connects the receivers; names the page for the menu)
        from journaling.patient_page import note_marks
        from journaling.selectors import months_undelivered_documents_need
        from measurements.extensions import ArchiveHold, register_archive_hold
        from triage.extensions import NoteMarks, register_note_marks

        # the state of each note's delivery beside it on the patient page (triage/extensions.py):
        # triage imports nothing of journaling
        register_note_marks(NoteMarks("journaling.delivery_state", note_marks))
        # an undelivered document's readings and answers stay live (measurements/extensions.py)
        register_archive_hold(ArchiveHold("journaling.undelivered", months_undelivered_documents_need))
