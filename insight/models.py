"""Gevinst (benefits realisation): what insight itself stores, the koordinator's registrations of what
the service achieved (docs/insight.md, «Gevinst»). The figures of the other sections are computed
from the other apps' rows and stored nowhere.

- `ServiceUse`: a patient's use of the kommune's services over a period, as the EPJ shows it, at the
  null-punkt (the period before oppstart), 6 and 12 months after oppstart and at the end;
- `SurveyAnswer`: a brukerundersøkelse entered from paper (one that a tablet sends arrives as a
  `measurements.Answer` with questionnaire «survey» and is read beside these);
- `ComparisonServiceUse`: the kommune's comparison group, anonymous rows (a løpenummer, never a
  name or a fødselsnummer) with the same fields.

Each table carries `municipality_id`, so each gets the `dho_scope` policy of row-level security from
`migrate` (tenants/rls.py), and the app's role its grants, like every patient table.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from measurements.survey import QUESTIONS
from patients.models import Patient
from tenants.models import Municipality
from tenants.norwegian import date_text

HOURS_PER_WEEK_MAX = Decimal(168)


class ServiceUseKind(models.TextChoices):
    """When in the forløp a registration is made: its due date counts from the oppstart."""

    BASELINE = "baseline", _("Null-punkt (oppstart)")
    MONTH_6 = "month_6", _("6 måneder")
    MONTH_12 = "month_12", _("12 måneder")
    END = "end", _("Avslutning")


FOLLOW_UPS = (ServiceUseKind.MONTH_6.value, ServiceUseKind.MONTH_12.value, ServiceUseKind.END.value)


class Source(models.TextChoices):
    FORM = "form", _("Registrert i skjema")
    IMPORT = "import", _("Importert fra EPJ-uttrekk")
    API = "api", _("Registrert gjennom API-et")


@dataclass(frozen=True)
class ServiceField:
    """One figure of a registration: `per_week` a weekly average over the period (hours), else a
    count over the whole period (days, contacts, admissions, consultations)."""

    name: str
    label: object  # lazy
    unit: object  # lazy
    per_week: bool
    csv: str  # the CSV import's column


SERVICE_FIELDS: tuple[ServiceField, ...] = (
    ServiceField(
        "home_nursing_hours_per_week", _("Hjemmesykepleie"), _("timer per uke"), True, "hjemmesykepleie_timer_per_uke"
    ),
    ServiceField(
        "practical_help_hours_per_week",
        _("Praktisk bistand"),
        _("timer per uke"),
        True,
        "praktisk_bistand_timer_per_uke",
    ),
    ServiceField("short_stay_days", _("Korttidsopphold"), _("døgn"), False, "korttidsopphold_dogn"),
    ServiceField("emergency_contacts", _("Legevaktkontakter"), _("kontakter"), False, "legevaktkontakter"),
    ServiceField("hospital_admissions", _("Sykehusinnleggelser"), _("innleggelser"), False, "sykehusinnleggelser"),
    ServiceField("bed_days", _("Liggedøgn på sykehus"), _("døgn"), False, "liggedogn"),
    ServiceField("gp_consultations", _("Fastlegekonsultasjoner"), _("konsultasjoner"), False, "fastlegekonsultasjoner"),
)
FIELD_NAMES = tuple(f.name for f in SERVICE_FIELDS)


def _hours(label):
    return models.DecimalField(
        label,
        max_digits=5,
        decimal_places=2,
        default=Decimal(0),
        validators=[MinValueValidator(Decimal(0)), MaxValueValidator(HOURS_PER_WEEK_MAX)],
    )


class ServiceUseFields(models.Model):
    """The service-use figures of one period, shared by a patient's registration and the comparison
    group's: hours are a weekly average over the period, the rest counts over the period."""

    home_nursing_hours_per_week = _hours(_("hjemmesykepleie (timer per uke)"))
    practical_help_hours_per_week = _hours(_("praktisk bistand (timer per uke)"))
    short_stay_days = models.PositiveIntegerField(_("korttidsopphold (døgn)"), default=0)
    emergency_contacts = models.PositiveIntegerField(_("legevaktkontakter"), default=0)
    hospital_admissions = models.PositiveIntegerField(_("sykehusinnleggelser"), default=0)
    bed_days = models.PositiveIntegerField(_("liggedøgn på sykehus"), default=0)
    gp_consultations = models.PositiveIntegerField(_("fastlegekonsultasjoner"), default=0)
    kind = models.CharField(_("registrering"), max_length=10, choices=ServiceUseKind.choices)
    period_from = models.DateField(_("periode fra"))
    period_to = models.DateField(_("periode til"))
    municipality = models.ForeignKey(
        Municipality, on_delete=models.PROTECT, related_name="+", verbose_name=_("kommune")
    )
    registered_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    registered_at = models.DateTimeField(_("registrert"), default=timezone.now)

    class Meta:
        abstract = True

    @property
    def days(self) -> int:
        return (self.period_to - self.period_from).days + 1

    def values(self) -> dict[str, Decimal | int]:
        return {name: getattr(self, name) for name in FIELD_NAMES}


def _period_checks(prefix: str) -> list[models.BaseConstraint]:
    hours = [
        models.CheckConstraint(condition=Q(**{f"{f}__gte": 0, f"{f}__lte": HOURS_PER_WEEK_MAX}), name=f"{prefix}_{f}")
        for f in ("home_nursing_hours_per_week", "practical_help_hours_per_week")
    ]
    return [models.CheckConstraint(condition=Q(period_from__lte=F("period_to")), name=f"{prefix}_period"), *hours]


class ServiceUse(ServiceUseFields):
    """A patient's use of the kommune's services over one period (from the EPJ), at one point of the
    forløp. Written only by insight.gevinst.services (a form, the CSV import, the API)."""

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="+", verbose_name=_("pasient"))
    source = models.CharField(_("kilde"), max_length=10, choices=Source.choices, default=Source.FORM)

    class Meta:
        ordering = ["period_from", "registered_at"]
        verbose_name = _("tjenestebruk")
        verbose_name_plural = _("tjenestebruk")
        constraints = [
            *_period_checks("serviceuse"),
            models.UniqueConstraint(fields=["patient", "kind", "period_from", "period_to"], name="serviceuse_once"),
        ]
        indexes = [
            models.Index(fields=["municipality", "period_to"], name="serviceuse_report"),
            models.Index(fields=["patient", "kind"], name="serviceuse_patient"),
        ]

    def __str__(self) -> str:  # never the patient: logs
        return f"{self.get_kind_display()} {date_text(self.period_from)}–{date_text(self.period_to)}"


def _survey_field(code: str):
    question = next(q for q in QUESTIONS if q.code == code)
    return models.CharField(question.short, max_length=10, choices=question.choices(), blank=True)


class SurveyAnswer(models.Model):
    """A brukerundersøkelse entered from paper by the koordinator or a nurse. An empty answer is «ikke
    besvart». The questions are measurements.survey's, which a tablet's answer uses too."""

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="+", verbose_name=_("pasient"))
    municipality = models.ForeignKey(Municipality, on_delete=models.PROTECT, related_name="+")
    answered_on = models.DateField(_("besvart"))
    safer = _survey_field("safer")
    health = _survey_field("health")
    joy = _survey_field("joy")
    understanding = _survey_field("understanding")
    fewer_gp_visits = _survey_field("fewer_gp_visits")
    fewer_admissions = _survey_field("fewer_admissions")
    comment = models.TextField(_("kommentar"), blank=True)
    registered_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    registered_at = models.DateTimeField(_("registrert"), default=timezone.now)

    class Meta:
        ordering = ["answered_on", "registered_at"]
        verbose_name = _("brukerundersøkelse")
        verbose_name_plural = _("brukerundersøkelser")
        indexes = [models.Index(fields=["municipality", "answered_on"], name="surveyanswer_report")]

    def __str__(self) -> str:
        return f"Brukerundersøkelse {date_text(self.answered_on)}"

    def answers(self) -> dict[str, str]:
        """{question: option} of the questions answered (as a tablet's answer stores them)."""
        return {q.code: getattr(self, q.code) for q in QUESTIONS if getattr(self, q.code)}


class ComparisonServiceUse(ServiceUseFields):
    """One person of the kommune's comparison group (not followed up with DHO), anonymous: a løpenummer
    the koordinator keeps, so the same person's rows can be followed from null-punkt to the end."""

    code = models.CharField(_("løpenummer"), max_length=20)

    class Meta:
        ordering = ["code", "period_from"]
        verbose_name = _("sammenligningsgruppe: tjenestebruk")
        verbose_name_plural = _("sammenligningsgruppe: tjenestebruk")
        constraints = [
            *_period_checks("comparison"),
            models.UniqueConstraint(
                fields=["municipality", "code", "kind", "period_from", "period_to"], name="comparison_once"
            ),
        ]
        indexes = [models.Index(fields=["municipality", "period_to"], name="comparison_report")]

    def __str__(self) -> str:
        return f"{self.code}: {self.get_kind_display()}"
