"""What devices send: readings, questionnaire answers, the gateways that send them, and the quarantine
that keeps every item that could not be stored (nothing a device sent is lost silently)."""

import hashlib
import secrets

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from measurements.types import SPECS, Colour, label, spec
from patients.models import Patient
from tenants.models import Centre, Municipality
from tenants.norwegian import date_text, datetime_text, number


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Integration(models.Model):
    """A device gateway's credential. The token is shown once and stored only as a SHA-256 hash:
    a leaked database does not let anyone post readings."""

    centre = models.ForeignKey(Centre, on_delete=models.PROTECT, related_name="integrations")
    name = models.CharField(_("navn"), max_length=100)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    token_prefix = models.CharField(_("tokenstart"), max_length=8, editable=False)  # to tell tokens apart
    active = models.BooleanField(_("aktiv"), default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["centre", "name"]
        verbose_name = _("integrasjon")
        verbose_name_plural = _("integrasjoner")
        constraints = [models.UniqueConstraint(fields=["centre", "name"], name="integration_name_unique")]

    def __str__(self) -> str:
        return f"{self.name} ({self.centre})"

    def set_new_token(self) -> str:
        token = f"dho_{secrets.token_urlsafe(32)}"
        self.token_hash, self.token_prefix = token_hash(token), token[:8]
        return token


class Reading(models.Model):
    """One observed value. Stored unscored first; a Celery task sets colour, reason and scored_at.

    The table is partitioned by month of `measured_at` (migration 0007, measurements/partitions.py):
    the database's primary key is (id, measured_at), while `id` stays the model's pk — unique in
    practice, every id comes from the one sequence. No foreign key points here (it would need both)."""

    # No index of their own on patient, integration and plan version: every read by patient is served
    # by reading_by_patient (patient first), a gateway's by reading_external_id_unique
    # (integration first), and nothing reads by plan version (a version is never deleted). Each index
    # costs every insert and every scoring update (docs/readings-and-fhir.md, «The indexes»).
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="readings", db_index=False)
    municipality = models.ForeignKey(Municipality, on_delete=models.PROTECT, related_name="+")
    integration = models.ForeignKey(
        Integration, on_delete=models.PROTECT, null=True, blank=True, related_name="+", db_index=False
    )
    external_id = models.CharField(max_length=100, blank=True)
    # A code of measurements.types.SPECS, checked at the door (ingest): no choices here, so the
    # catalogue stays the one place a type is added and a migration is not needed for it.
    type = models.CharField(_("type"), max_length=20)
    value = models.FloatField(null=True, blank=True)  # in the type's one unit; null for blood pressure
    systolic = models.FloatField(null=True, blank=True)
    diastolic = models.FloatField(null=True, blank=True)
    original = models.CharField(max_length=40, blank=True)  # "180 [lb_av]" when the unit was converted
    measured_at = models.DateTimeField(_("målt"))
    received_at = models.DateTimeField(_("mottatt"), default=timezone.now)
    colour = models.CharField(_("farge"), max_length=6, choices=Colour.choices(), blank=True)
    reason = models.CharField(_("begrunnelse"), max_length=300, blank=True)
    scored_at = models.DateTimeField(null=True, blank=True)
    plan_version = models.ForeignKey(
        "ebp.PlanVersion", on_delete=models.PROTECT, null=True, blank=True, related_name="+", db_index=False
    )
    # The triage.Alert this reading raised or kept open, as a plain indexed uuid and not a foreign key:
    # measurements sits below triage (CONTRIBUTING, "Layers") and its models and migrations name
    # nothing of it. Scoring writes it (triage.services.scoring); an alert is never deleted. Indexed
    # only where set (reading_alert): most readings raise no alert, and cost that index nothing.
    alert_id = models.UUIDField(null=True, blank=True)

    class Meta:
        ordering = ["-measured_at"]
        verbose_name = _("måling")
        verbose_name_plural = _("målinger")
        constraints = [
            # A gateway's retry never stores a reading twice. (Rows without an integration have a
            # NULL there, and NULLs never conflict: manual entries need no external id.) The table is
            # partitioned by month of measured_at (migration 0007), and every unique key of a
            # partitioned table holds the partition key: a resend carries the same measured time, so
            # it still meets its first copy here (docs/readings-and-fhir.md, «Partitions and retention»).
            models.UniqueConstraint(
                fields=["integration", "external_id", "measured_at"], name="reading_external_id_unique"
            )
        ]
        indexes = [
            # Covering: the reads by patient (trends, the worklist's lines) select these columns, and the
            # row-level security policy reads municipality; with them in the index a patient's readings
            # are an index-only scan, not one heap page per reading (migration 0009).
            models.Index(
                fields=["patient", "type", "-measured_at"],
                include=["municipality", "value", "systolic", "diastolic", "colour"],
                name="reading_by_patient",
            ),
            # The sweeper's scan: only the (few) unscored rows are in this index.
            models.Index(fields=["received_at"], condition=Q(scored_at__isnull=True), name="reading_unscored"),
            # An alert's readings (triage.selectors): `alert_id = …` implies the condition.
            models.Index(fields=["alert_id"], condition=Q(alert_id__isnull=False), name="reading_alert"),
        ]

    def __str__(self) -> str:
        known = self.type in SPECS  # a row of a type since taken out of the catalogue still prints
        decimals = spec(self.type).decimals if known else None
        if self.value is None:
            shown = f"{number(self.systolic, decimals)}/{number(self.diastolic, decimals)}"
        else:
            shown = number(self.value, decimals)
        return f"{label(self.type)} {shown} {spec(self.type).unit_label}" if known else f"{self.type} {shown}"


class Questionnaire(models.TextChoices):
    DAILY_SYMPTOMS = "daily_symptoms", _("Daglige symptomspørsmål")
    CAT = "cat", _("CAT (KOLS)")
    # The brukerundersøkelse (measurements.survey): not scored, read by insight's gevinst report.
    SURVEY = "survey", _("Brukerundersøkelse")


class Answer(models.Model):
    """One filled-in questionnaire (a QuestionnaireResponse), scored by the plan's answer rules.
    Partitioned by month of `answered_at`, as Reading is by measured_at."""

    # Indexed as Reading: by patient through answer_patient_time, by gateway through its unique key.
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="answers", db_index=False)
    municipality = models.ForeignKey(Municipality, on_delete=models.PROTECT, related_name="+")
    integration = models.ForeignKey(
        Integration, on_delete=models.PROTECT, null=True, blank=True, related_name="+", db_index=False
    )
    external_id = models.CharField(max_length=100, blank=True)
    questionnaire = models.CharField(_("skjema"), max_length=20, choices=Questionnaire.choices)
    # daily_symptoms: {code: "yes"|"no"}; cat: {"items": [0–5 × 8]}; survey: {question: option} (measurements.survey)
    answers = models.JSONField(default=dict)
    total = models.PositiveSmallIntegerField(null=True, blank=True)  # CAT sum 0–40
    answered_at = models.DateTimeField(_("besvart"))
    received_at = models.DateTimeField(default=timezone.now)
    colour = models.CharField(max_length=6, choices=Colour.choices(), blank=True)
    reason = models.CharField(max_length=300, blank=True)
    scored_at = models.DateTimeField(null=True, blank=True)
    plan_version = models.ForeignKey(
        "ebp.PlanVersion", on_delete=models.PROTECT, null=True, blank=True, related_name="+", db_index=False
    )
    alert_id = models.UUIDField(null=True, blank=True)  # a triage.Alert, as Reading.alert_id

    class Meta:
        ordering = ["-answered_at"]
        verbose_name = _("skjemasvar")
        verbose_name_plural = _("skjemasvar")
        # Partitioned by month of answered_at, as Reading by measured_at: the key holds it.
        constraints = [
            models.UniqueConstraint(
                fields=["integration", "external_id", "answered_at"], name="answer_external_id_unique"
            )
        ]
        indexes = [
            models.Index(fields=["patient", "questionnaire", "-answered_at"], name="answer_patient_time"),
            models.Index(fields=["received_at"], condition=Q(scored_at__isnull=True), name="answer_unscored"),
            models.Index(fields=["alert_id"], condition=Q(alert_id__isnull=False), name="answer_alert"),
        ]

    def __str__(self) -> str:
        return f"{self.questionnaire} {datetime_text(self.answered_at)}"


class QuarantineStatus(models.TextChoices):
    OPEN = "open", _("Til behandling")
    RESUBMITTED = "resubmitted", _("Sendt inn på nytt")
    DISCARDED = "discarded", _("Forkastet")


class QuarantinedItem(models.Model):
    """An item a gateway sent that could not be stored, kept verbatim with the reasons.

    Centre admins read it and, after correcting the patient mapping, send it through ingest again."""

    integration = models.ForeignKey(Integration, on_delete=models.PROTECT, related_name="quarantine")
    centre = models.ForeignKey(Centre, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=20)  # reading | answer | fhir
    index = models.PositiveIntegerField(null=True, blank=True)  # position in the batch it came in
    payload = models.JSONField()
    # A FHIR Bundle entry's fullUrl: an Observation without id or identifier is known by it (its
    # external id comes from it), so a resubmission needs it to store the reading as that one.
    full_url = models.TextField(blank=True, default="")
    errors = models.JSONField(default=list)  # [{"field": …, "message": …}]
    received_at = models.DateTimeField(default=timezone.now, db_index=True)
    status = models.CharField(max_length=12, choices=QuarantineStatus.choices, default=QuarantineStatus.OPEN)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    result = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-received_at"]
        verbose_name = _("avvist element")
        verbose_name_plural = _("karantene (avviste elementer)")
        indexes = [
            # The daily cap counts one gateway's items since midnight (measurements.services).
            models.Index(fields=["integration", "received_at"], name="quarantine_integration_time"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} #{self.index} fra {self.integration.name}"

    @property
    def error_text(self) -> str:
        return "; ".join(f"{e.get('field')}: {e.get('message')}" for e in self.errors)


class QuarantineNotice(models.Model):
    """A gateway's quarantine was full on a day (`DHO_QUARANTINE_DAILY_LIMIT`): what the centre admin
    is told, one row per gateway and day, in the admin beside the quarantine. The items refused are
    not lost: the gateway was answered 429 and keeps them; `refused` counts them as they come."""

    integration = models.ForeignKey(Integration, on_delete=models.PROTECT, related_name="quarantine_notices")
    centre = models.ForeignKey(Centre, on_delete=models.PROTECT, related_name="+")
    day = models.DateField(_("dag"))
    first_refused_at = models.DateTimeField(_("først avvist"), default=timezone.now)
    last_refused_at = models.DateTimeField(_("sist avvist"), default=timezone.now)
    refused = models.PositiveIntegerField(_("elementer ikke tatt imot"), default=0)

    class Meta:
        ordering = ["-day", "integration"]
        verbose_name = _("full karantene")
        verbose_name_plural = _("full karantene (varsler)")
        constraints = [models.UniqueConstraint(fields=["integration", "day"], name="quarantine_notice_once_a_day")]

    def __str__(self) -> str:
        return f"{self.integration.name} {date_text(self.day)}"
