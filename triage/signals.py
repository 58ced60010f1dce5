"""Triage's answers to changes in the layers below it (patients sends, triage listens: no upward import)."""

from django.dispatch import receiver
from django.utils import timezone

from patients.models import StatusEvent
from patients.services import evaluation_recorded, status_changed
from tenants.services import user_access_reduced
from triage.services.alerts import alerts_close_for_end
from triage.services.followup import alerts_release_unfollowed, evaluation_contact_record


@receiver(status_changed, dispatch_uid="triage.close_alerts_when_forlop_ends")
def _forlop_ended(sender, change, **kwargs):
    # Same transaction as the status change: the end and the closed alerts commit together.
    if change.event == StatusEvent.ENDED:
        alerts_close_for_end(change.patient_id, timezone.now())


@receiver(evaluation_recorded, dispatch_uid="triage.evaluation_contact")
def _evaluated(sender, evaluation, patient, user, text, request=None, **kwargs):
    # The evaluation is in the contact log too: it settles the evaluation on the follow-up list.
    evaluation.contact = evaluation_contact_record(patient=patient, user=user, text=text, request=request)


@receiver(user_access_reduced, dispatch_uid="triage.release_alerts_of_reduced_user")
def _access_reduced(sender, user, by=None, request=None, **kwargs):
    # Same transaction as the deactivation or the ended role: the worklist never shows an alert held
    # by someone who can no longer take it up.
    alerts_release_unfollowed(user=user, by=by, request=request)
