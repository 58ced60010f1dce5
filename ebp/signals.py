"""Ebp's answers to changes in the layers below it (they send, ebp listens: no upward import)."""

from django.db.models.signals import post_save
from django.dispatch import receiver

from ebp.services import centre_defaults_ensure, evaluation_draft_open, plan_move
from patients.models import StatusEvent
from patients.services import EvaluationOutcome, evaluation_recorded, status_changed
from tenants.models import Centre


@receiver(post_save, sender=Centre, dispatch_uid="ebp.centre_defaults")
def _centre_saved(sender, instance: Centre, created: bool, **kwargs):
    # A new centre can start plans at once: it gets the built-in templates and default thresholds.
    if created:
        centre_defaults_ensure(instance)


@receiver(evaluation_recorded, dispatch_uid="ebp.evaluation_adjusts_plan")
def _evaluated(sender, evaluation, patient, user, outcome, request=None, **kwargs):
    # «Planen justeres»: the nurse gets a draft to work on, in the evaluation's transaction.
    if outcome == EvaluationOutcome.ADJUST:
        evaluation.draft = evaluation_draft_open(patient=patient, user=user, request=request)


@receiver(status_changed, dispatch_uid="ebp.plan_follows_move")
def _status_changed(sender, change, **kwargs):
    # An accepted move writes its «moved» row after the record's municipality changed (in the move's
    # system scope): the plan's rows follow it there, in the same transaction.
    if change.event == StatusEvent.MOVED and change.patient_id is not None:
        plan_move(patient=change.patient, municipality_id=change.municipality_id, user=change.by)
