import uuid

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from guardian.models import GroupObjectPermissionBase, UserObjectPermissionBase

from patients import national_id
from tenants.models import Municipality


class PatientStatus(models.TextChoices):
    ACTIVE = "active", _("Aktiv")
    PAUSED = "paused", _("Pause")
    ENDED = "ended", _("Avsluttet")


class Diagnosis(models.TextChoices):
    KOLS = "kols", _("KOLS")
    HEART_FAILURE = "hjertesvikt", _("Hjertesvikt")
    DIABETES = "diabetes", _("Diabetes")
    CANCER = "kreft", _("Kreft")
    MENTAL = "psykisk", _("Psykisk lidelse")


def validate_national_id(value: str) -> None:
    try:
        national_id.parse(value, allow_synthetic=settings.DHO_ALLOW_SYNTHETIC_IDS)
    except national_id.InvalidNationalId as exc:
        raise ValidationError(str(exc), code="invalid_national_id") from exc


class Patient(models.Model):
    """A person followed up at home. Always reached through patients.selectors, never directly."""

    # A UUID in every URL and API: no sequential ids that leak how many patients there are.
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    municipality = models.ForeignKey(
        Municipality, on_delete=models.PROTECT, related_name="patients", verbose_name=_("kommune")
    )
    name = models.CharField(_("navn"), max_length=200)
    national_id = models.CharField(_("fødselsnummer"), max_length=11, unique=True, validators=[validate_national_id])
    birth_date = models.DateField(_("fødselsdato"), null=True, blank=True, editable=False)
    gp = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="gp_patients",
        verbose_name=_("fastlege"),
    )
    status = models.CharField(_("status"), max_length=10, choices=PatientStatus.choices, default="active")
    diagnoses = ArrayField(
        models.CharField(max_length=20, choices=Diagnosis.choices),
        default=list,
        blank=True,
        verbose_name=_("diagnoser"),
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("pasient")
        verbose_name_plural = _("pasienter")
        permissions = [("follow_as_gp", _("Er fastlege for pasienten"))]
        indexes = [models.Index(fields=["municipality", "name"], name="patient_municipality_name")]

    def __str__(self) -> str:
        # Never the national id: __str__ ends up in logs and admin messages.
        return self.name

    def save(self, *args, **kwargs):
        # The birth date is derived, never typed: one source of truth.
        parsed = national_id.parse(self.national_id, allow_synthetic=True)
        self.birth_date = parsed.birth_date
        super().save(*args, **kwargs)

    @property
    def diagnosis_labels(self) -> list[str]:
        labels = dict(Diagnosis.choices)
        return [str(labels.get(code, code)) for code in self.diagnoses]

    @property
    def national_id_masked(self) -> str:
        return national_id.mask(self.national_id)

    @property
    def age(self) -> int | None:
        if not self.birth_date:
            return None
        today = timezone.localdate()
        had_birthday = (today.month, today.day) >= (self.birth_date.month, self.birth_date.day)
        return today.year - self.birth_date.year - (0 if had_birthday else 1)


# Direct foreign keys for django-guardian: the visibility join stays an indexed integer/uuid join
# instead of a generic (content type, text id) one.
class PatientUserObjectPermission(UserObjectPermissionBase):
    content_object = models.ForeignKey(Patient, on_delete=models.CASCADE)


class PatientGroupObjectPermission(GroupObjectPermissionBase):
    content_object = models.ForeignKey(Patient, on_delete=models.CASCADE)
