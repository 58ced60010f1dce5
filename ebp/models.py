"""Egenbehandlingsplan (EBP): one Plan per patient, a chain of immutable PlanVersions.

A version is edited only while it is a draft. Once submitted its content is frozen: the model refuses
to save a changed content and a database trigger refuses it again (migration 0002). Only the status
moves on: submitted → returned | active → superseded.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from patients.models import Diagnosis, Patient
from tenants.models import Centre, Municipality


class ImmutableVersion(Exception):
    """A submitted, returned, active or superseded version was asked to change its content."""


class Plan(models.Model):
    patient = models.OneToOneField(Patient, on_delete=models.CASCADE, related_name="plan")
    # Copied from the patient: every clinical row carries its municipality.
    municipality = models.ForeignKey(Municipality, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("egenbehandlingsplan")
        verbose_name_plural = _("egenbehandlingsplaner")

    def __str__(self) -> str:
        return f"EBP for {self.patient}"


class VersionStatus(models.TextChoices):
    DRAFT = "draft", _("Kladd")
    SUBMITTED = "submitted", _("Sendt til fastlege")
    RETURNED = "returned", _("Returnert av fastlege")
    ACTIVE = "active", _("Godkjent – gjeldende")
    SUPERSEDED = "superseded", _("Erstattet")


class PlanVersion(models.Model):
    plan = models.ForeignKey(Plan, on_delete=models.CASCADE, related_name="versions")
    municipality = models.ForeignKey(Municipality, on_delete=models.PROTECT, related_name="+")
    number = models.PositiveIntegerField(_("versjon"))
    status = models.CharField(_("status"), max_length=12, choices=VersionStatus.choices, default=VersionStatus.DRAFT)
    content = models.JSONField(_("innhold"), default=dict)  # ebp.content.PlanContent, validated on every write
    based_on = models.ForeignKey("self", on_delete=models.PROTECT, null=True, blank=True, related_name="+")

    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    submitted_at = models.DateTimeField(null=True, blank=True)
    # The fastlege's decision: approved (→ active) or returned, with a comment.
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_comment = models.TextField(_("kommentar fra fastlegen"), blank=True)
    superseded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["plan", "-number"]
        verbose_name = _("EBP-versjon")
        verbose_name_plural = _("EBP-versjoner")
        constraints = [
            models.UniqueConstraint(fields=["plan", "number"], name="planversion_number_unique"),
            # At most one version in work (draft or waiting for the fastlege) and one in force.
            models.UniqueConstraint(
                fields=["plan"], condition=Q(status__in=["draft", "submitted"]), name="planversion_one_open"
            ),
            models.UniqueConstraint(fields=["plan"], condition=Q(status="active"), name="planversion_one_active"),
        ]
        indexes = [models.Index(fields=["status", "municipality"], name="planversion_status")]

    def __str__(self) -> str:
        return f"{self.plan} v{self.number} ({self.get_status_display()})"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            stored = PlanVersion.objects.filter(pk=self.pk).values("status", "content").first()
            if stored and stored["status"] != VersionStatus.DRAFT and stored["content"] != self.content:
                raise ImmutableVersion("En innsendt eller godkjent EBP-versjon kan ikke endres; lag en ny kladd.")
        super().save(*args, **kwargs)


class PlanTemplate(models.Model):
    """A centre's starting point for a diagnosis (default bounds, questions and actions)."""

    centre = models.ForeignKey(Centre, on_delete=models.CASCADE, related_name="plan_templates")
    diagnosis = models.CharField(_("diagnose"), max_length=20, choices=Diagnosis.choices)
    name = models.CharField(_("navn"), max_length=100)
    content = models.JSONField(_("innhold"), default=dict)

    class Meta:
        ordering = ["centre", "name"]
        verbose_name = _("EBP-mal")
        verbose_name_plural = _("EBP-maler")
        constraints = [models.UniqueConstraint(fields=["centre", "diagnosis"], name="plantemplate_one_per_diagnosis")]

    def __str__(self) -> str:
        return f"{self.name} ({self.centre})"


class CentreThresholds(models.Model):
    """The centre's default grenseverdier, used for a patient who has no approved plan yet."""

    centre = models.OneToOneField(Centre, on_delete=models.CASCADE, related_name="default_thresholds")
    thresholds = models.JSONField(_("grenseverdier"), default=dict)  # PlanContent.thresholds shape
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("standard grenseverdier")
        verbose_name_plural = _("standard grenseverdier")

    def __str__(self) -> str:
        return f"Standard grenseverdier, {self.centre}"
