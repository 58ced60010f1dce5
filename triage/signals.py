"""Triage's answers to changes in the layers below it (patients sends, triage listens: no upward import)."""

from django.dispatch import receiver
from django.utils import timezone

from patients.models import StatusEvent
from patients.services import status_changed
from triage.services.alerts import alerts_close_for_end


@receiver(status_changed, dispatch_uid="triage.close_alerts_when_forlop_ends")
def _forlop_ended(sender, change, **kwargs):
    # Same transaction as the status change: the end and the closed alerts commit together.
    if change.event == StatusEvent.ENDED:
        alerts_close_for_end(change.patient_id, timezone.now())
