import uuid

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Upper
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from guardian.models import GroupObjectPermissionBase, UserObjectPermissionBase

from patients import national_id
from tenants.configuration import WrittenThroughFunction
from tenants.models import Municipality
from tenants.norwegian import date_text


class PatientStatus(models.TextChoices):
    PENDING = "pending", _("Venter på oppstart")  # granted, not started: no alerts, no silence checks
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
    # Unique per municipality, not nationally: a kommune that grants a person followed up elsewhere
    # gets a record of its own (what it entered, nothing of the other), until the other side accepts
    # the move (MoveNotice) and the two become one.
    national_id = models.CharField(_("fødselsnummer"), max_length=11, validators=[validate_national_id])
    birth_date = models.DateField(_("fødselsdato"), null=True, blank=True, editable=False)
    gp = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="gp_patients",
        verbose_name=_("fastlege"),
    )
    # The call sheet's facts: the nurse calls this number. Given on the henvisning (Referral.phone and
    # next_of_kin hold what was entered there until the grant creates the record), kept here from then on
    # and edited on the patient page (patients.services.contact_info_set).
    phone = models.CharField(_("telefon"), max_length=20, blank=True)
    next_of_kin = models.TextField(_("pårørende"), blank=True)
    # Derived from the status history and written only with it (patients.services.status_change_record),
    # kept here because the worklist, the silence checks and the scope lists filter on it.
    status = models.CharField(_("status"), max_length=10, choices=PatientStatus.choices, default="active")
    status_until = models.DateField(_("pause til"), null=True, blank=True)
    diagnoses = ArrayField(
        models.CharField(max_length=20, choices=Diagnosis.choices),
        default=list,
        blank=True,
        verbose_name=_("diagnoser"),
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # A kommune's own record of a person, merged into the record that moved to it when the other
    # side accepted the move (patients.services.moves): kept, ended, for the rows it holds.
    merged_into = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("slått sammen med")
    )

    class Meta:
        ordering = ["name"]
        verbose_name = _("pasient")
        verbose_name_plural = _("pasienter")
        permissions = [("follow_as_gp", _("Er fastlege for pasienten"))]
        indexes = [
            models.Index(fields=["municipality", "name"], name="patient_municipality_name"),
            models.Index(fields=["national_id"], name="patient_national_id"),  # ingest by fødselsnummer
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["municipality", "national_id"],
                condition=Q(merged_into__isnull=True),
                name="patient_national_id_per_municipality",
            )
        ]

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

    def pause_text(self, today=None) -> str:
        """What a paused patient's badge says: «Pause til 3. des.», or, once that day has passed and
        nobody has resumed the patient (the status stays «pause»; the silence checks count them as
        active again), «Pausen gikk ut 3. des.». «Pause» without an until-date; "" if not paused."""
        if self.status != PatientStatus.PAUSED:
            return ""
        if not self.status_until:
            return str(_("Pause"))
        if self.status_until < (today or timezone.localdate()):
            return str(_("Pausen gikk ut %(date)s")) % {"date": date_text(self.status_until)}
        return str(_("Pause til %(date)s")) % {"date": date_text(self.status_until)}

    @property
    def age(self) -> int | None:
        if not self.birth_date:
            return None
        today = timezone.localdate()
        had_birthday = (today.month, today.day) >= (self.birth_date.month, self.birth_date.day)
        return today.year - self.birth_date.year - (0 if had_birthday else 1)


class Referrer(models.TextChoices):
    HOSPITAL = "hospital", _("Sykehus")
    GP = "gp", _("Fastlege")
    HOMECARE = "homecare", _("Hjemmetjenesten")
    SELF = "self", _("Pasienten selv")
    NEXT_OF_KIN = "next_of_kin", _("Pårørende")
    OTHER = "other", _("Annet")


class ReferralStatus(models.TextChoices):
    RECEIVED = "received", _("Mottatt")
    ASSESSED = "assessed", _("Vurdert")
    GRANTED = "granted", _("Innvilget")
    REFUSED = "refused", _("Avslått")
    STARTED = "started", _("Startet")
    ENDED = "ended", _("Avsluttet")


class Referral(models.Model):
    """A henvisning and the forløp that follows it (henvisning → vurdering → vedtak → oppstart …).
    The candidate's facts are kept here, not on a Patient: a Patient record exists (or is linked)
    from the grant on, so registering a national id never touches another municipality's patient.
    `status` is derived from the referral's StatusChange rows and written only with them."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    municipality = models.ForeignKey(
        Municipality, on_delete=models.PROTECT, related_name="+", verbose_name=_("kommune")
    )
    patient = models.ForeignKey(
        Patient, on_delete=models.PROTECT, null=True, blank=True, related_name="referrals", verbose_name=_("pasient")
    )
    national_id = models.CharField(_("fødselsnummer"), max_length=11, validators=[validate_national_id])
    name = models.CharField(_("navn"), max_length=200)
    referrer = models.CharField(_("henvist av"), max_length=12, choices=Referrer.choices)
    referrer_name = models.CharField(_("navn på henviser"), max_length=200, blank=True)
    diagnoses = ArrayField(
        models.CharField(max_length=20, choices=Diagnosis.choices),
        default=list,
        blank=True,
        verbose_name=_("diagnoser"),
    )
    reason = models.TextField(_("begrunnelse for henvisningen"))
    gp = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("fastlege"),
    )
    # As given on the henvisning, before a Patient exists: copied to the patient at the grant
    # (referrals._patient_for_grant), which holds the fact from then on (Patient.phone, next_of_kin).
    phone = models.CharField(_("telefon"), max_length=20, blank=True)
    next_of_kin = models.TextField(_("pårørende"), blank=True)
    status = models.CharField(_("status"), max_length=10, choices=ReferralStatus.choices, default="received")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("henvisning")
        verbose_name_plural = _("henvisninger")
        indexes = [models.Index(fields=["municipality", "status"], name="referral_board")]  # the forløp board

    def __str__(self) -> str:
        return f"Henvisning {date_text(self.created_at)}"  # never the name or national id: logs

    @property
    def national_id_masked(self) -> str:
        return national_id.mask(self.national_id)


# The eight inclusion criteria for digital hjemmeoppfølging (the vurdering), in the order the checklist shows them.
ASSESSMENT_CRITERIA = {
    "observable": _("Tilstanden kan observeres på avstand"),
    "motivated": _("Pasienten er motivert"),
    "responsible": _("Forsvarlig og ønskelig"),
    "patient_benefit": _("Forventet nytte for pasienten"),
    "service_effect": _("Forventet effekt på bruk av tjenester"),
    "consent_competent": _("Samtykkekompetent og kan følge en plan (eventuelt med pårørende)"),
    "technology": _("Kan bruke enkel teknologi etter opplæring"),
    "coverage": _("Nettdekning hjemme"),
}


class CriterionAnswer(models.TextChoices):
    YES = "yes", _("Ja")
    NO = "no", _("Nei")
    UNKNOWN = "unknown", _("Vet ikke")


class Assessment(models.Model):
    """A vurdering of a referral: the criteria checklist and the kartlegging. A referral may be
    assessed again (a new row); the latest is the one that counts."""

    referral = models.ForeignKey(Referral, on_delete=models.PROTECT, related_name="assessments")
    # {code: {"answer": "yes"|"no"|"unknown", "comment": str}} for every code of ASSESSMENT_CRITERIA
    criteria = models.JSONField(_("kriterier"), default=dict)
    what_matters = models.TextField(_("Hva er viktig for deg?"), blank=True)
    assessed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    assessed_at = models.DateTimeField(_("vurdert"), default=timezone.now)

    class Meta:
        ordering = ["-assessed_at"]
        verbose_name = _("vurdering")
        verbose_name_plural = _("vurderinger")

    def __str__(self) -> str:
        return f"Vurdering {date_text(self.assessed_at)}"


class DecisionOutcome(models.TextChoices):
    GRANTED = "granted", _("Innvilget")
    REFUSED = "refused", _("Avslått")


class Decision(models.Model):
    """The enkeltvedtak of the referral's municipality: granted for a period, or refused."""

    referral = models.OneToOneField(Referral, on_delete=models.PROTECT, related_name="decision")
    outcome = models.CharField(_("vedtak"), max_length=10, choices=DecisionOutcome.choices)
    reason = models.TextField(_("begrunnelse"))
    legal_basis = models.TextField(_("hjemmel"))  # copied from the municipality when decided: the letter's text
    period_from = models.DateField(_("periode fra"), null=True, blank=True)
    period_to = models.DateField(_("periode til"), null=True, blank=True)
    evaluation_date = models.DateField(_("evalueringsdato"), null=True, blank=True)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    decided_at = models.DateTimeField(_("vedtatt"), default=timezone.now)

    class Meta:
        verbose_name = _("vedtak")
        verbose_name_plural = _("vedtak")
        constraints = [
            models.CheckConstraint(
                condition=Q(outcome="refused")
                | Q(period_from__isnull=False, period_to__isnull=False, evaluation_date__isnull=False),
                name="decision_granted_has_period",
            )
        ]

    def __str__(self) -> str:
        return f"Vedtak {date_text(self.decided_at)}"


class AppealOutcome(models.TextChoices):
    PENDING = "pending", _("Til behandling")
    UPHELD = "upheld", _("Vedtaket opprettholdt")
    REVERSED = "reversed", _("Vedtaket omgjort")


class Appeal(models.Model):
    """A klage on a decision, registered when received; its outcome is recorded later."""

    decision = models.ForeignKey(Decision, on_delete=models.PROTECT, related_name="appeals")
    received_on = models.DateField(_("mottatt"))
    note = models.TextField(_("merknad"), blank=True)
    outcome = models.CharField(_("utfall"), max_length=10, choices=AppealOutcome.choices, default="pending")
    outcome_on = models.DateField(_("avgjort"), null=True, blank=True)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["received_on", "id"]
        verbose_name = _("klage")
        verbose_name_plural = _("klager")

    def __str__(self) -> str:
        return f"Klage {date_text(self.received_on)}"


class ConsentGivenBy(models.TextChoices):
    PATIENT = "patient", _("Pasienten")
    REPRESENTATIVE = "representative", _("Representant")


class ConsentMethod(models.TextChoices):
    WRITTEN = "written", _("Skriftlig")
    VERBAL = "verbal", _("Muntlig")


class Consent(models.Model):
    """The patient's samtykke to digital hjemmeoppfølging, recorded before oppstart."""

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="consents")
    municipality = models.ForeignKey(Municipality, on_delete=models.PROTECT, related_name="+")
    referral = models.ForeignKey(Referral, on_delete=models.PROTECT, null=True, blank=True, related_name="consents")
    given_by = models.CharField(_("gitt av"), max_length=15, choices=ConsentGivenBy.choices)
    representative_name = models.CharField(_("representantens navn"), max_length=200, blank=True)
    representative_role = models.CharField(_("representantens rolle"), max_length=100, blank=True)
    method = models.CharField(_("form"), max_length=10, choices=ConsentMethod.choices)
    given_on = models.DateField(_("gitt"))
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-given_on", "-recorded_at"]
        verbose_name = _("samtykke")
        verbose_name_plural = _("samtykker")

    def __str__(self) -> str:
        return f"Samtykke {date_text(self.given_on)}"


class StatusEvent(models.TextChoices):
    """The changes of a forløp. The referral steps (received …
    refused) come with the referral pages; today's services write the ones after oppstart."""

    RECEIVED = "received", _("Henvisning mottatt")
    ASSESSED = "assessed", _("Vurdert")
    GRANTED = "granted", _("Innvilget")
    REFUSED = "refused", _("Avslått")
    STARTED = "started", _("Oppstart")
    PAUSED = "paused", _("Pause")
    RESUMED = "resumed", _("Gjenopptatt")
    EVALUATED = "evaluated", _("Evaluert")
    ENDED = "ended", _("Avsluttet")
    MOVED = "moved", _("Flyttet kommune")


class EndReason(models.TextChoices):
    NO_BENEFIT = "no_benefit", _("Ingen nytte")
    TOO_ILL = "too_ill", _("For dårlig / innlagt lenge")
    MOVED = "moved", _("Flyttet")
    DECEASED = "deceased", _("Død")
    WITHDREW = "withdrew", _("Ønsker ikke lenger")
    TRANSFERRED = "transferred", _("Overført annen tjeneste")
    OTHER = "other", _("Annet")


class AppendOnlyQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise PermissionError("Statushistorikken kan ikke endres.")

    def delete(self):
        raise PermissionError("Statushistorikken kan ikke slettes.")


class StatusChange(models.Model):
    """One change of a patient's forløp, as a row: the patient's status is derived from
    these (patients.services.status_of) and billing reads them by effective date. Append-only: the
    ORM refuses updates and deletes and a database trigger repeats the rule. A correction is a new
    row, back-dated where needed (`effective_date` may lie before `at`; both are kept and audited)."""

    # Before the grant a change belongs to the referral alone; from then on to the patient as well.
    referral = models.ForeignKey(
        Referral, on_delete=models.PROTECT, null=True, blank=True, related_name="status_changes"
    )
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, null=True, blank=True, related_name="status_changes")
    municipality = models.ForeignKey(Municipality, on_delete=models.PROTECT, related_name="+")
    # moved: the municipality the patient came from (this row's municipality is the new one)
    previous_municipality = models.ForeignKey(
        Municipality, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    event = models.CharField(_("hendelse"), max_length=10, choices=StatusEvent.choices)
    effective_date = models.DateField(_("gjelder fra"))
    until = models.DateField(_("til"), null=True, blank=True)  # a pause's planned end
    end_reason = models.CharField(_("årsak"), max_length=12, choices=EndReason.choices, blank=True)
    note = models.TextField(_("merknad"), blank=True)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    at = models.DateTimeField(_("registrert"), default=timezone.now)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["effective_date", "at", "id"]
        verbose_name = _("statusendring")
        verbose_name_plural = _("statushistorikk")
        indexes = [models.Index(fields=["patient", "effective_date"], name="status_patient_date")]  # status_of
        constraints = [
            models.CheckConstraint(
                condition=Q(referral__isnull=False) | Q(patient__isnull=False), name="status_change_has_subject"
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_event_display()} {date_text(self.effective_date)}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise PermissionError("Statushistorikken kan ikke endres.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionError("Statushistorikken kan ikke slettes.")


# Direct foreign keys for django-guardian: the visibility join stays an indexed integer/uuid join
# instead of a generic (content type, text id) one.
# Part of a fastlege's and specialist's database scope, so written only through the owner's function,
# for a patient in the writer's scope and logged (tenants.configuration).
class PatientUserObjectPermission(WrittenThroughFunction, UserObjectPermissionBase):
    write_function = "dho_patient_permission_write"
    content_object = models.ForeignKey(Patient, on_delete=models.CASCADE)

    class Meta(UserObjectPermissionBase.Meta):  # guardian's unique_together, not the mixin's Meta
        abstract = False


class PatientGroupObjectPermission(WrittenThroughFunction, GroupObjectPermissionBase):
    write_function = "dho_patient_permission_write"
    content_object = models.ForeignKey(Patient, on_delete=models.CASCADE)

    class Meta(GroupObjectPermissionBase.Meta):  # guardian's unique_together, not the mixin's Meta
        abstract = False


# --- equipment: the centre's device register, kits and loans (patients.services.equipment) -------


class DeviceType(models.TextChoices):
    PULSE_OXIMETER = "pulsoksymeter", _("Pulsoksymeter")
    BLOOD_PRESSURE = "blodtrykk", _("Blodtrykksmåler")
    SCALE = "vekt", _("Vekt")
    THERMOMETER = "termometer", _("Termometer")
    GLUCOSE_METER = "blodsukker", _("Blodsukkermåler")
    TABLET = "nettbrett", _("Nettbrett")
    OTHER = "annet", _("Annet")


class DeviceState(models.TextChoices):
    IN_STOCK = "in_stock", _("På lager")
    LENT = "lent", _("Utlånt")
    RETURNED = "returned", _("Returnert – til rengjøring")
    CLEANED = "cleaned", _("Rengjort")
    DISCARDED = "discarded", _("Kassert")
    LOST = "lost", _("Tapt")


class Device(models.Model):
    """One device in a centre's register, known by its serial number (unique per centre). Its state
    follows the loans: lent, returned (to be cleaned: infection control), cleaned, lent again."""

    centre = models.ForeignKey("tenants.Centre", on_delete=models.PROTECT, related_name="devices")
    type = models.CharField(_("type"), max_length=20, choices=DeviceType.choices)
    model = models.CharField(_("modell"), max_length=100, blank=True)
    serial = models.CharField(_("serienummer"), max_length=100)
    state = models.CharField(_("tilstand"), max_length=10, choices=DeviceState.choices, default="in_stock")
    note = models.TextField(_("merknad"), blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["type", "serial"]
        verbose_name = _("enhet")
        verbose_name_plural = _("enheter")
        # Case-insensitive: «ox-1» typed at oppstart is the device labelled «OX-1» (the serial is kept
        # as registered, and looked up by its upper case through this index).
        constraints = [
            models.UniqueConstraint(F("centre"), Upper("serial"), name="device_serial_per_centre_ci"),
        ]

    def __str__(self) -> str:
        return f"{self.get_type_display()} {self.serial}"


class Kit(models.Model):
    """A centre's set of device types lent together for a diagnosis (KOLS: pulsoksymeter + nettbrett)."""

    centre = models.ForeignKey("tenants.Centre", on_delete=models.PROTECT, related_name="kits")
    name = models.CharField(_("navn"), max_length=100)
    diagnosis = models.CharField(_("diagnose"), max_length=20, choices=Diagnosis.choices, blank=True)
    device_types = ArrayField(
        models.CharField(max_length=20, choices=DeviceType.choices), verbose_name=_("enhetstyper")
    )

    class Meta:
        ordering = ["name"]
        verbose_name = _("utstyrspakke")
        verbose_name_plural = _("utstyrspakker")
        constraints = [models.UniqueConstraint(fields=["centre", "name"], name="kit_name_per_centre")]

    def __str__(self) -> str:
        return self.name


class DeviceLoan(models.Model):
    """A device lent to a patient from `lent_on` to `returned_on` (both days included; open while
    null). Ingest finds a reading's patient by the loan active on the day it was measured."""

    device = models.ForeignKey(Device, on_delete=models.PROTECT, related_name="loans")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="device_loans")
    municipality = models.ForeignKey(Municipality, on_delete=models.PROTECT, related_name="+")
    lent_on = models.DateField(_("utlånt fra"))
    returned_on = models.DateField(_("returnert"), null=True, blank=True)
    lent_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    returned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    # Set by a database trigger on every UPDATE (a return, a corrected date): billing recomputes a
    # locked month whose loans changed after it was locked (billing.selectors.changed_since_locked).
    updated_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-lent_on", "-created_at"]
        verbose_name = _("utlån")
        verbose_name_plural = _("utlån")
        indexes = [
            models.Index(fields=["device", "lent_on", "returned_on"], name="loan_device_period"),  # ingest by serial
            models.Index(fields=["patient", "returned_on"], name="loan_patient_open"),  # what is still out
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["device"], condition=Q(returned_on__isnull=True), name="loan_one_open_per_device"
            ),
            models.CheckConstraint(
                condition=Q(returned_on__isnull=True) | Q(returned_on__gte=models.F("lent_on")),
                name="loan_dates_ordered",
            ),
        ]

    def __str__(self) -> str:
        return f"Utlån {date_text(self.lent_on)}"  # never the patient's name: logs


# --- oppstart: what was agreed when the forløp started (patients.services.oppstart) --------------


class Start(models.Model):
    """The oppstart of a forløp: the training given, own phone or a lent tablet, the trial period
    (innkjøringsperiode). One per granted referral; the `started` StatusChange row is the status,
    this row the facts around it. `next_evaluation` is the one field written later: the date set
    at the last evaluation («fortsetter»), read by the evaluation due list."""

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="starts")
    referral = models.OneToOneField(Referral, on_delete=models.PROTECT, related_name="start")
    municipality = models.ForeignKey(Municipality, on_delete=models.PROTECT, related_name="+")
    started_on = models.DateField(_("oppstart"))
    own_phone = models.BooleanField(_("bruker egen telefon"), default=False)  # else a lent nettbrett
    training = models.TextField(_("opplæring"), blank=True)
    trial_until = models.DateField(_("innkjøringsperiode til"), null=True, blank=True)
    next_evaluation = models.DateField(_("neste evaluering"), null=True, blank=True)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-started_on", "-at"]
        verbose_name = _("oppstart")
        verbose_name_plural = _("oppstarter")

    def __str__(self) -> str:
        return f"Oppstart {date_text(self.started_on)}"


# --- «mulig flytting»: a person granted in one kommune while another has a record of them ----------


class MoveState(models.TextChoices):
    OPEN = "open", _("Venter på svar")
    ACCEPTED = "accepted", _("Godtatt")
    DECLINED = "declined", _("Avslått")
    SEEN = "seen", _("Lest")  # an «accepted» notice the requesting side has seen


class MoveKind(models.TextChoices):
    REQUEST = "request", _("Mulig flytting")  # to the side that has the record
    ACCEPTED = "accepted", _("Flytting godtatt")  # to the side that asked, once the other said yes


class MoveNotice(models.Model):
    """A notice on the board and worklist of `municipality` (walled like any patient row): another
    kommune granted a person this side has a record of. Nothing of the record moves or closes until
    this side accepts (patients.services.moves); it tells them the requesting kommune and the date,
    nothing else. Accepting writes a second notice, kind «accepted», for the side that asked."""

    municipality = models.ForeignKey(Municipality, on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="move_notices")
    kind = models.CharField(max_length=10, choices=MoveKind.choices, default=MoveKind.REQUEST)
    other_municipality = models.ForeignKey(Municipality, on_delete=models.PROTECT, related_name="+")
    # The requesting kommune's own record (a request only; gone once merged into `patient`).
    incoming_patient = models.ForeignKey(Patient, on_delete=models.SET_NULL, null=True, related_name="+")
    requested_on = models.DateField(_("dato"))
    state = models.CharField(_("status"), max_length=10, choices=MoveState.choices, default=MoveState.OPEN)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+")
    decided_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-requested_on", "-created_at"]
        verbose_name = _("mulig flytting")
        verbose_name_plural = _("mulige flyttinger")
        indexes = [models.Index(fields=["municipality", "state"], name="move_notice_open")]  # board, worklist

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {date_text(self.requested_on)}"
