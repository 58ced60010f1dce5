"""The outbox to the kommune's EPJ: where each kommune's notes go (`Route`), and one row per document
to send (`Delivery`), from `pending` to `journaled`. journaling/services.py moves the rows; the
document itself is built by journaling/document.py from triage's rows when it is first sent.

Both tables carry `municipality_id`, so both get the `dho_scope` policy of row-level security from
`migrate` (tenants/rls.py): a delivery is patient data, and the worker reads it in a named system scope.
"""

from __future__ import annotations

import re

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from patients.models import Patient
from tenants.models import Municipality
from triage.models import Contact, JournalNote

ORGNR_WEIGHTS = (3, 2, 7, 6, 5, 4, 3, 2)
ENV_NAME = re.compile(r"[A-Z][A-Z0-9_]{0,127}")
JFT_SCOPE = "nhn:jft/api"
VKP_CLIENT_TAKEN = _(
    "HelseID-klienten brukes allerede av en annen kommunes VKP-rute. VKP knytter hver klient til ett "
    "system i én kommune: bestill en egen klient for denne kommunen."
)


def orgnr_validate(value: str) -> None:
    """A Norwegian organisation number: nine digits, the last a mod-11 control digit (Enhetsregisteret)."""
    if not re.fullmatch(r"\d{9}", value or ""):
        raise ValidationError(_("Organisasjonsnummeret må ha nøyaktig ni sifre."))
    remainder = sum(int(d) * w for d, w in zip(value[:8], ORGNR_WEIGHTS, strict=True)) % 11
    control = 0 if remainder == 0 else 11 - remainder
    if control == 10 or control != int(value[8]):
        raise ValidationError(_("Kontrollsifferet i organisasjonsnummeret stemmer ikke."))


def key_reference_validate(value: str) -> None:
    """Where the private key is, never the key: an absolute file path, or the name of an environment
    variable that holds the JWK (from a secret store)."""
    if not value:
        return
    if value.lstrip().startswith("{") or "\n" in value:
        raise ValidationError(
            _("Oppgi hvor nøkkelen ligger (en filsti eller et miljøvariabelnavn), aldri selve nøkkelen.")
        )
    if not (value.startswith("/") or ENV_NAME.fullmatch(value)):
        raise ValidationError(
            _("Nøkkelreferansen må være en absolutt filsti (/…) eller navnet på en miljøvariabel (STORE_BOKSTAVER).")
        )


class RouteKind(models.TextChoices):
    JFT = "jft", _("Journalføringstjenesten (Norsk helsenett)")
    VKP = "vkp", _("Velferdsteknologisk knutepunkt (VKP)")
    NONE = "none", _("Ingen – notatet kopieres til journal for hånd")


class Route(models.Model):
    """Where a kommune's journal notes go, and as whom. The private key itself is never here: only
    where it is (`key_reference`). `problem` is a configuration error the last send met (wrong key,
    a refused token, 401/403): the centre admin's to fix, not the patient's."""

    municipality = models.OneToOneField(
        Municipality, on_delete=models.PROTECT, related_name="journal_route", verbose_name=_("kommune")
    )
    kind = models.CharField(_("mottak"), max_length=4, choices=RouteKind.choices, default=RouteKind.NONE)
    orgnr = models.CharField(_("organisasjonsnummer"), max_length=9, blank=True, validators=[orgnr_validate])
    base_url = models.URLField(_("adresse"), max_length=300, blank=True)
    client_id = models.CharField(_("HelseID-klient"), max_length=200, blank=True)
    key_reference = models.CharField(
        _("nøkkelreferanse"),
        max_length=300,
        blank=True,
        validators=[key_reference_validate],
        help_text=_("Filsti eller miljøvariabel med klientens private nøkkel (JWK). Aldri selve nøkkelen."),
    )
    scope = models.CharField(_("scope"), max_length=200, default=JFT_SCOPE)
    problem = models.TextField(_("feil i oppsettet"), blank=True)
    problem_at = models.DateTimeField(_("feil sist sett"), null=True, blank=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("journalrute")
        verbose_name_plural = _("journalruter")
        constraints = [
            # VKP identifies the sender by its HelseID client, which it ties to one system in one
            # kommune (the client's VKP-id, «leverandør_system_kommune»): a client another kommune's
            # VKP route uses would be refused there. JFT's client is one for every kommune.
            models.UniqueConstraint(
                fields=["client_id"], condition=Q(kind="vkp"), name="route_vkp_client_one_kommune",
                violation_error_message=VKP_CLIENT_TAKEN,
            ),
        ]  # fmt: skip

    def __str__(self) -> str:
        return f"{self.municipality_id}: {self.get_kind_display()}"

    @property
    def sends(self) -> bool:
        return self.kind in (RouteKind.JFT, RouteKind.VKP)

    def clean(self) -> None:
        if not self.sends:
            return
        missing = {
            "orgnr": self.orgnr,
            "base_url": self.base_url,
            "client_id": self.client_id,
            "key_reference": self.key_reference,
        }
        errors = {name: _("Må fylles ut når notatene sendes.") for name, value in missing.items() if not value}
        if self.base_url and not self.base_url.startswith("https://"):
            errors["base_url"] = _("Adressen må begynne med https://.")
        if errors:
            raise ValidationError(errors)


class DeliveryState(models.TextChoices):
    PENDING = "pending", _("Venter på sending")
    SENT = "sent", _("Sendt")
    REGISTERED = "registered", _("Mottatt")
    READ = "read", _("Hentet av journalsystemet")
    JOURNALED = "journaled", _("Journalført")
    FAILED = "failed", _("Feilet – prøver igjen")
    DEAD = "dead", _("Stoppet – trenger oppfølging")


class Delivery(models.Model):
    """One document to the kommune's EPJ: a handled alert's journal note or a contact (exactly one),
    sent at least once under the same Bundle.identifier (`bundle_id`) and the same bytes
    (`sent_document`, kept from the first build)."""

    municipality = models.ForeignKey(Municipality, on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="journal_deliveries")
    journal_note = models.ForeignKey(
        JournalNote, on_delete=models.PROTECT, null=True, blank=True, related_name="deliveries"
    )
    contact = models.ForeignKey(Contact, on_delete=models.PROTECT, null=True, blank=True, related_name="deliveries")
    bundle_id = models.UUIDField(unique=True)  # the Bundle.identifier (urn:uuid:…), a uuid5 of the source
    transport = models.CharField(max_length=4, choices=RouteKind.choices)  # the route's kind at the last try
    state = models.CharField(max_length=10, choices=DeliveryState.choices, default=DeliveryState.PENDING)
    tries = models.PositiveIntegerField(default=0)
    next_try_at = models.DateTimeField(default=timezone.now)
    # A worker's claim: set for the time of one send, so no other worker sends the row meanwhile;
    # a claim older than services.CLAIM_LEASE is a dead worker's and is taken over by the sweep.
    claim = models.UUIDField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    registered_at = models.DateTimeField(null=True, blank=True)
    read_at = models.DateTimeField(null=True, blank=True)
    journaled_at = models.DateTimeField(null=True, blank=True)
    polled_at = models.DateTimeField(null=True, blank=True)
    overdue_at = models.DateTimeField(null=True, blank=True)  # flagged: not journaled in time
    status_url = models.URLField(max_length=500, blank=True)
    last_http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)  # Norwegian, for the centre admin
    outcome = models.JSONField(null=True, blank=True)  # the receiver's OperationOutcome, as it came
    sent_document = models.BinaryField(null=True, blank=True)  # the bytes exactly as sent
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("journalsending")
        verbose_name_plural = _("journalsendinger")
        constraints = [
            models.CheckConstraint(
                condition=Q(journal_note__isnull=False, contact__isnull=True)
                | Q(journal_note__isnull=True, contact__isnull=False),
                name="delivery_one_source",
            ),
            models.UniqueConstraint(fields=["journal_note"], condition=Q(journal_note__isnull=False),
                                    name="delivery_one_per_note"),
            models.UniqueConstraint(fields=["contact"], condition=Q(contact__isnull=False),
                                    name="delivery_one_per_contact"),
        ]  # fmt: skip
        indexes = [
            models.Index(fields=["next_try_at"], name="delivery_due",
                         condition=Q(state__in=["pending", "failed"])),
            models.Index(fields=["polled_at"], name="delivery_polled",
                         condition=Q(state__in=["sent", "registered", "read"])),
            models.Index(fields=["municipality", "state"], name="delivery_municipality_state"),
        ]  # fmt: skip

    def __str__(self) -> str:
        return f"Journalsending {self.bundle_id} ({self.get_state_display()})"
