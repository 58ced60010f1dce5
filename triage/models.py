"""The nurses' worklist items. An Alert is opened by scoring (a yellow or red reading or answer) or by
the silence checks (nothing arrived when the plan expected it), and closed by a nurse or by data."""

import uuid

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from patients.models import Patient
from tenants.models import Municipality


class AlertKind(models.TextChoices):
    """The five alert types of the national VKP-DHO FHIR guide."""

    OUT_OF_RANGE = "out_of_range", _("Måling utenfor grenseverdi")
    MISSING_MEASUREMENT = "missing_measurement", _("Manglende måling")
    DEVIATING_ANSWER = "deviating_answer", _("Avvikende svar på spørreskjema")
    MISSING_ANSWER = "missing_answer", _("Manglende svar på spørreskjema")
    INACTIVE_PATIENT = "inactive_patient", _("Inaktiv pasient")


class AlertColour(models.TextChoices):
    YELLOW = "yellow", _("Gul")
    RED = "red", _("Rød")


class AlertStatus(models.TextChoices):
    OPEN = "open", _("Åpen")
    CLOSED = "closed", _("Lukket")


COLOUR_RANK = {"green": 0, "yellow": 1, "red": 2}


class Alert(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="alerts")
    municipality = models.ForeignKey(Municipality, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(_("type"), max_length=24, choices=AlertKind.choices)
    # What the alert is about within its kind: the measurement type or questionnaire that is missing.
    subject = models.CharField(max_length=30, blank=True)
    colour = models.CharField(_("farge"), max_length=6, choices=AlertColour.choices)
    reason = models.CharField(_("begrunnelse"), max_length=300)
    without_plan = models.BooleanField(default=False)  # scored against the centre's defaults
    status = models.CharField(max_length=6, choices=AlertStatus.choices, default=AlertStatus.OPEN)
    opened_at = models.DateTimeField(default=timezone.now)
    raised_at = models.DateTimeField(null=True, blank=True)  # when a red followed a yellow
    updated_at = models.DateTimeField(default=timezone.now)
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_reason = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-opened_at"]
        verbose_name = _("varsel")
        verbose_name_plural = _("varsler")
        constraints = [
            # One open alert per patient and concern: concurrent tasks attach instead of duplicating.
            models.UniqueConstraint(
                fields=["patient", "kind", "subject"], condition=Q(status="open"), name="alert_one_open"
            )
        ]
        indexes = [models.Index(fields=["status", "municipality", "colour"], name="alert_worklist")]

    def __str__(self) -> str:
        return f"{self.get_colour_display()}: {self.reason}"
