"""Oppstart and avslutning of a forløp: the steps around the equipment.

Oppstart (`patient_start`) needs, in this order: a patient not already started, a granted vedtak
in the patient's municipality, and a recorded samtykke; its date lies within the vedtak's period.
It lends the devices (or a kit) through `equipment.devices_lend`, records the training, own phone
or a lent nettbrett and the trial period on a `Start` row, and writes ONE `started` StatusChange row
tied to both the referral and the patient (`status.referral_change_record`), so the referral becomes
«startet» and the patient «aktiv». All or nothing: a refused device leaves no start behind.

Avslutning (`patient_end`) writes the `ended` row through `status.status_change_record` (triage then
closes the open alerts) and takes back the devices named in the same transaction; the caller lists
what is still out (`patients.selectors.loans_out_for`).

A started patient without an approved plan: patients sits below ebp and cannot see plans, so the
«uten godkjent plan» listing belongs to the worklist and the patient page (triage/ebp), not here.

Refusals raise `StatusRefused` (a 400, message in Norwegian); a user without the role gets
`StatusRoleRequired` or `EquipmentRoleRequired` (403).
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable

from django.db import transaction
from django.utils import timezone

from patients.access import can_change_status, require
from patients.forlop import START, offers
from patients.models import (
    Decision,
    DecisionOutcome,
    DeviceLoan,
    DeviceType,
    Patient,
    Referral,
    ReferralStatus,
    Start,
    StatusChange,
    StatusEvent,
)
from patients.services.equipment import EquipmentRefused, device_return, devices_lend, kit_for, serial_key
from patients.services.referrals import consent_given
from patients.services.status import (
    StatusRefused,
    StatusRoleRequired,
    referral_change_record,
    status_change_record,
)
from tenants.models import AuditAction
from tenants.norwegian import date_text
from tenants.services import audit_record


def _start_refusal(patient: Patient, referral) -> str | None:
    """Why the patient cannot start now. «Already started» is read from the status (the state table
    offers no oppstart to a running forløp, one from before the status history included), whatever
    the referrals say: a new vedtak for a forløp that runs (a new period) waits for no oppstart."""
    if not offers(patient.status, START.key):  # started: the state table offers no oppstart
        started = patient.starts.first()
        since = f" (oppstart {date_text(started.started_on)})" if started else ""
        return f"Pasienten er allerede startet{since}; forløpet må avsluttes før en ny oppstart."
    if referral is None:
        return f"Pasienten har ikke et innvilget vedtak i {patient.municipality.name}; oppstart krever vedtak først."
    if not consent_given(patient):
        return "Samtykke er ikke registrert; registrer pasientens samtykke før oppstart."
    return None


def _date_refusal(
    patient: Patient, referral: Referral, started_on: datetime.date, trial_until: datetime.date | None
) -> str | None:
    if started_on > timezone.localdate():
        return "Oppstartsdatoen kan ikke være fram i tid."
    # The vedtak grants the service for its period: no oppstart before it begins or after it ran out.
    decision = Decision.objects.filter(referral=referral, outcome=DecisionOutcome.GRANTED).first()
    if decision is not None and decision.period_from and started_on < decision.period_from:
        return f"Oppstartsdatoen kan ikke være før vedtaksperioden begynner ({date_text(decision.period_from)})."
    if decision is not None and decision.period_to and started_on > decision.period_to:
        return f"Vedtaksperioden gikk ut {date_text(decision.period_to)}; oppstart krever et nytt vedtak."
    last = patient.status_changes.order_by("-effective_date").values_list("effective_date", flat=True).first()
    if last and started_on < last:
        return f"Oppstartsdatoen kan ikke være før siste endring i forløpet ({date_text(last)})."
    if trial_until is not None and trial_until <= started_on:
        return f"Innkjøringsperioden må slutte etter oppstartsdatoen ({date_text(started_on)})."
    return None


def _has_tablet(loans: Iterable[DeviceLoan], patient: Patient) -> bool:
    lent = [loan.device.type for loan in loans]
    lent += list(patient.device_loans.filter(returned_on__isnull=True).values_list("device__type", flat=True))
    return DeviceType.TABLET in lent


@transaction.atomic
def patient_start(
    *,
    patient: Patient,
    user,
    devices: Iterable[str] = (),
    kit: str | None = None,
    own_phone: bool = False,
    training: str = "",
    trial_until: datetime.date | None = None,
    started_on: datetime.date | None = None,
    request=None,
) -> StatusChange:
    """Oppstart (see the module docstring): the `started` row, after the loans and the Start row."""
    require(
        can_change_status,
        user,
        patient,
        StatusRoleRequired("Bare sykepleiere og koordinatorer for pasienten kan starte forløpet."),
    )
    patient = Patient.objects.select_for_update().select_related("municipality").get(pk=patient.pk)
    referral = patient.referrals.filter(municipality_id=patient.municipality_id, status=ReferralStatus.GRANTED).first()
    refusal = _start_refusal(patient, referral)
    if refusal or referral is None:  # no granted referral is one of the refusals
        raise StatusRefused(refusal)
    started_on = started_on or timezone.localdate()
    refusal = _date_refusal(patient, referral, started_on, trial_until)
    if refusal:
        raise StatusRefused(refusal)
    serials = [s for s in devices if s and s.strip()]
    loans = []
    try:
        if serials or kit:
            the_kit = kit_for(patient, kit) if kit else None
            loans = devices_lend(patient=patient, user=user, serials=serials, kit=the_kit, lent_on=started_on,
                                 request=request)  # fmt: skip
    except EquipmentRefused as exc:
        raise StatusRefused(str(exc)) from None
    if not own_phone and not _has_tablet(loans, patient):
        raise StatusRefused("Pasienten bruker ikke egen telefon: lån ut et nettbrett, eller oppgi egen telefon.")
    start = Start.objects.create(
        patient=patient, referral=referral, municipality_id=patient.municipality_id, started_on=started_on,
        own_phone=own_phone, training=(training or "").strip(), trial_until=trial_until, by=user,
    )  # fmt: skip
    audit_record(action=AuditAction.CREATE, object_type="start", object_id=start.pk, patient=patient,
                 request=request, user=user)  # fmt: skip
    note = f"Innkjøringsperiode til {date_text(trial_until)}" if trial_until else ""
    return referral_change_record(referral=referral, patient=patient, event=StatusEvent.STARTED,
                                  effective_date=started_on, note=note, user=user, request=request)  # fmt: skip


def evaluation_next_set(*, patient: Patient, next_date: datetime.date | None, user, request=None) -> Start | None:
    """The next evaluation date of the patient's current forløp (set when an evaluation continues it);
    None when the patient has no oppstart row (a forløp from before the status history)."""
    start = patient.starts.select_for_update().first()
    if start is None:
        return None
    start.next_evaluation = next_date
    start.save(update_fields=["next_evaluation"])
    audit_record(action=AuditAction.UPDATE, object_type="start", object_id=start.pk, patient=patient,
                 request=request, user=user)  # fmt: skip
    return start


@transaction.atomic
def patient_end(
    *,
    patient: Patient,
    user,
    reason: str,
    effective_date: datetime.date | None = None,
    note: str = "",
    returned: Iterable[str] = (),
    request=None,
) -> StatusChange:
    """Avslutning: the `ended` row, and the devices named in `returned` taken back on its date."""
    change = status_change_record(patient=patient, user=user, event=StatusEvent.ENDED, end_reason=reason,
                                  effective_date=effective_date, note=note, request=request)  # fmt: skip
    open_loans = patient.device_loans.filter(returned_on__isnull=True).select_related("device")
    out = {serial_key(loan.device.serial): loan for loan in open_loans}
    serials = list(dict.fromkeys(s.strip() for s in returned if s and s.strip()))
    missing = [s for s in serials if serial_key(s) not in out]
    if missing:
        raise StatusRefused(" ".join(f"Enheten «{s}» er ikke utlånt til pasienten." for s in missing))
    try:
        for serial in serials:
            device = out[serial_key(serial)].device
            device_return(device=device, user=user, returned_on=change.effective_date, request=request)
    except EquipmentRefused as exc:
        raise StatusRefused(str(exc)) from None
    return change
