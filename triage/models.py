"""The nurses' worklist items. An Alert is opened by scoring (a yellow or red reading or answer) or by
the silence checks (nothing arrived when the plan expected it), and closed by a nurse or by data."""

import uuid

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from measurements.types import Colour
from patients.models import Patient
from tenants.models import Municipality
from tenants.norwegian import datetime_text


class AlertKind(models.TextChoices):
    """The five alert types of the national VKP-DHO FHIR guide."""

    OUT_OF_RANGE = "out_of_range", _("Måling utenfor grenseverdi")
    MISSING_MEASUREMENT = "missing_measurement", _("Manglende måling")
    DEVIATING_ANSWER = "deviating_answer", _("Avvikende svar på spørreskjema")
    MISSING_ANSWER = "missing_answer", _("Manglende svar på spørreskjema")
    INACTIVE_PATIENT = "inactive_patient", _("Inaktiv pasient")


class AlertColour(models.TextChoices):
    """An alert is yellow or red, never green (the words and ranks are measurements.types.Colour's)."""

    YELLOW = Colour.YELLOW.value, Colour.YELLOW.label
    RED = Colour.RED.value, Colour.RED.label


class AlertStatus(models.TextChoices):
    OPEN = "open", _("Åpen")
    CLOSED = "closed", _("Lukket")


class Alert(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # Indexed by alert_patient_opened (patient first), not on its own.
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="alerts", db_index=False)
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
    # The measurement type of the latest finding (out of range), for the worklist's small trend.
    measurement = models.CharField(max_length=20, blank=True)
    # «Jeg tar denne»: one nurse calls the patient, the others see who.
    taken_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    taken_at = models.DateTimeField(null=True, blank=True)
    retry_at = models.DateTimeField(null=True, blank=True)  # not reached: try again from then
    handled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    handled_at = models.DateTimeField(null=True, blank=True)
    # The first time a nurse acted on it (its first taken, not reached or handled event), kept by
    # triage.services.events_record: the time to first action insight counts, without the events.
    first_action_at = models.DateTimeField(null=True, blank=True)
    seconds_to_handle = models.PositiveIntegerField(null=True, blank=True)  # opened → handled

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
        indexes = [
            models.Index(fields=["status", "municipality", "colour"], name="alert_worklist"),
            models.Index(fields=["municipality", "opened_at"], name="alert_area_opened"),  # a period's alerts
            # A patient's alerts, newest first (the patient page's thirty): read in order and stopped
            # there, not every alert of the patient's years fetched and sorted.
            models.Index(fields=["patient", "-opened_at"], name="alert_patient_opened"),
        ]

    def __str__(self) -> str:
        return f"{self.get_colour_display()}: {self.reason}"


class AlertEventKind(models.TextChoices):
    OPENED = "opened", _("Åpnet")
    RAISED = "raised", _("Hevet")
    TAKEN = "taken", _("Tatt")
    RELEASED = "released", _("Sluppet")
    NOT_REACHED = "not_reached", _("Ikke nådd, nytt forsøk")
    HANDLED = "handled", _("Håndtert")
    CLOSED_BY_DATA = "closed_by_data", _("Lukket av data")
    CLOSED_BY_END = "closed_by_end", _("Lukket: forløp avsluttet")


# A nurse acting on an alert: the first of these is its `first_action_at`.
FIRST_ACTIONS = (AlertEventKind.TAKEN, AlertEventKind.NOT_REACHED, AlertEventKind.HANDLED)


class AlertEvent(models.Model):
    """A change of an alert's colour or state, as a row (Healthchecks' `Flip`): the alert keeps its
    current state, the events keep how it got there, so a yellow finding survives its raise to red.
    Append-only in use; written by triage.services only."""

    # Indexed by alert_event_history (alert first), not on its own.
    alert = models.ForeignKey(Alert, on_delete=models.PROTECT, related_name="events", db_index=False)
    municipality = models.ForeignKey(Municipality, on_delete=models.PROTECT, related_name="+")
    # The alert's patient, kept beside it (written by triage.services.events_record) so that a period's
    # events of one kind are counted per patient from the index alone, not joined with every alert
    # (insight's retries). No index of its own: events are found by alert or by kommune, kind and time.
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="+", db_index=False)
    kind = models.CharField(max_length=16, choices=AlertEventKind.choices)
    at = models.DateTimeField(default=timezone.now)
    colour = models.CharField(_("farge"), max_length=6, choices=AlertColour.choices)  # the alert's, after
    previous_colour = models.CharField(max_length=6, choices=AlertColour.choices, blank=True)  # raised: before
    reason = models.CharField(_("begrunnelse"), max_length=300, blank=True)  # the finding, or the outcome
    # The reading or answer that opened or raised the alert (none for the silence checks), as plain
    # indexed ids and not foreign keys: readings and answers are partitioned by month, their primary
    # key is (id, measured_at), and a foreign key into a partitioned table must name the whole key
    # (docs/readings-and-fhir.md, «Partitions and retention»). An archived month's reading is gone
    # from the live table while its alert's event keeps the id.
    reading_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    answer_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+")

    class Meta:
        ordering = ["at", "id"]
        verbose_name = _("varselhendelse")
        verbose_name_plural = _("varselhendelser")
        indexes = [
            # The patient page's history (triage.selectors.HISTORY_EVENT_FIELDS), by an index-only scan:
            # an alert's events lie in a heap page each, and at national size most of them are not in
            # memory. municipality is there for the row-level security policy, which reads it.
            models.Index(
                fields=["alert", "at"],
                include=["id", "municipality", "kind", "colour", "previous_colour", "reason", "by"],
                name="alert_event_history",
            ),
            # a period's events of one kind per patient (insight's retries), by an index-only scan
            models.Index(fields=["municipality", "kind", "at"], include=["patient"], name="alert_event_area_kind_time"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {datetime_text(self.at)}"


class ContactAction(models.TextChoices):
    CALLED_REACHED = "called_reached", _("Ringte pasienten – fikk svar")
    CALLED_NOT_REACHED = "called_not_reached", _("Ringte pasienten – fikk ikke svar")
    ADVISED_EBP = "advised_ebp", _("Ga råd etter egenbehandlingsplanen")
    CONTACTED_GP = "contacted_gp", _("Kontaktet fastlegen")
    CONTACTED_LEGEVAKT = "contacted_legevakt", _("Kontaktet legevakten")
    HOMECARE_VISIT = "homecare_visit", _("Ba hjemmetjenesten om besøk")
    NO_ACTION = "no_action", _("Ingen tiltak nødvendig")


class ContactKind(models.TextChoices):
    ALERT = "alert", _("Oppfølging av varsel")
    ROUTINE = "routine", _("Rutinekontakt")
    EVALUATION = "evaluation", _("Evaluering")
    CALL_IN = "call_in", _("Henvendelse fra pasienten")  # the patient called in, nothing due


class Contact(models.Model):
    """What a nurse did: handling an alert, a routine contact or an evaluation. Append-only in use."""

    # Indexed by contact_patient_time (patient first), not on its own.
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="contacts", db_index=False)
    municipality = models.ForeignKey(Municipality, on_delete=models.PROTECT, related_name="+")
    alert = models.ForeignKey(Alert, on_delete=models.PROTECT, null=True, blank=True, related_name="contacts")
    kind = models.CharField(max_length=12, choices=ContactKind.choices)
    actions = ArrayField(models.CharField(max_length=24, choices=ContactAction.choices), default=list)
    note = models.TextField(_("notat"), blank=True)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField(default=timezone.now)
    retry_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-at"]
        verbose_name = _("kontakt")
        verbose_name_plural = _("kontakter")
        indexes = [models.Index(fields=["patient", "-at"], name="contact_patient_time")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {datetime_text(self.at)}"

    def get_actions_display(self) -> list[str]:
        return [str(ContactAction(a).label) for a in self.actions]

    @property
    def reached(self) -> bool:
        return ContactAction.CALLED_NOT_REACHED not in self.actions


class JournalNote(models.Model):
    """The structured note of a handled alert, to copy into the municipal record and (later) to send
    through VKP as the DHO guide's document Bundle: DetectedIssue (the alert, with severity), the
    Observations or QuestionnaireResponse it concerns, and a Composition with the nurse's text."""

    # Indexed by journal_note_patient_time (patient first), not on its own.
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="journal_notes", db_index=False)
    municipality = models.ForeignKey(Municipality, on_delete=models.PROTECT, related_name="+")
    alert = models.OneToOneField(Alert, on_delete=models.PROTECT, related_name="journal_note")
    contact = models.OneToOneField(Contact, on_delete=models.PROTECT, related_name="journal_note")
    created_at = models.DateTimeField(default=timezone.now)
    # {"detected_issue": {...}, "observations": [...], "questionnaire_responses": [...], "composition": {...}}
    document = models.JSONField()
    text = models.TextField()  # the same, as plain Norwegian text for the record

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("journalnotat")
        verbose_name_plural = _("journalnotater")
        indexes = [models.Index(fields=["patient", "-created_at"], name="journal_note_patient_time")]

    def __str__(self) -> str:
        return f"Journalnotat {datetime_text(self.created_at)}"
