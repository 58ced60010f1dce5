"""The forløp's status history: every change is an append-only StatusChange row, and the patient's
status is derived from the rows. Billing reads the rows by effective date; triage
listens to `status_changed` (an ended forløp closes its alerts) so that patients imports nothing above it."""

import datetime
from collections.abc import Iterable

from django.db import transaction
from django.dispatch import Signal
from django.utils import timezone

from patients.access import can_change_status, require
from patients.forlop import allowed_events
from patients.models import EndReason, Patient, PatientStatus, Referral, ReferralStatus, StatusChange, StatusEvent
from tenants.errors import NotAllowed, Refused
from tenants.models import AuditAction
from tenants.norwegian import date_text
from tenants.services import audit_record

# Sent inside the transaction that wrote a StatusChange (sender=StatusChange, change=…): upper layers
# act on it without patients importing them (triage closes a patient's alerts when the forløp ends).
status_changed = Signal()

# What each event does to the status; an event not named here (evaluated, moved) leaves it as it is.
REFERRAL_STEPS = {StatusEvent.RECEIVED, StatusEvent.ASSESSED, StatusEvent.GRANTED, StatusEvent.REFUSED}
STATUS_AFTER: dict[str, PatientStatus] = {
    StatusEvent.GRANTED: PatientStatus.PENDING,
    StatusEvent.STARTED: PatientStatus.ACTIVE,
    StatusEvent.PAUSED: PatientStatus.PAUSED,
    StatusEvent.RESUMED: PatientStatus.ACTIVE,
    StatusEvent.ENDED: PatientStatus.ENDED,
}
# Which events may follow which status: the state table's (patients.forlop.NEXT_STEPS, which the
# patient page shows as its next steps). The first start of a patient without any history is always
# allowed.
ALLOWED: dict[str, frozenset[StatusEvent]] = {status: allowed_events(status) for status in PatientStatus}


class StatusRefused(Refused):
    """The change cannot be made as asked (message in Norwegian, safe to show; the API's 400)."""


STATUS_ROLE_REQUIRED = "Bare sykepleiere og koordinatorer for pasienten kan endre forløpet."


class StatusRoleRequired(NotAllowed):
    """Only the patient's nurses and koordinator change the forløp (a 403 wherever it is raised)."""


def status_of(changes: Iterable[StatusChange]) -> tuple[str, datetime.date | None]:
    """The status (and a pause's until-date) that a history adds up to, in effective order. A history
    that begins with the henvisning starts as «venter på oppstart»; one that begins with a start (or
    a patient from before the history) as active. A new vedtak for a patient already followed up
    changes nothing; after an end it makes them wait for their new oppstart. A history that begins
    with the move in starts as ended: the rows before it are the old municipality's, which the new
    one's koordinator does not see (row-level security), and its forløp ended with the move."""
    rows = sorted(changes, key=lambda c: (c.effective_date, c.at, c.pk or 0))
    status = PatientStatus.ACTIVE
    if rows and rows[0].event in REFERRAL_STEPS:
        status = PatientStatus.PENDING
    elif rows and rows[0].event == StatusEvent.MOVED:
        status = PatientStatus.ENDED
    until = None
    for change in rows:
        if change.event == StatusEvent.GRANTED and status in (PatientStatus.ACTIVE, PatientStatus.PAUSED):
            continue
        status = STATUS_AFTER.get(change.event, status)
        until = change.until if change.event == StatusEvent.PAUSED else (until if status == "paused" else None)
    return status, until


def _check(patient: Patient, event: str, effective_date: datetime.date, until, end_reason: str) -> None:
    first_start = event == StatusEvent.STARTED and not patient.status_changes.exists()
    if not first_start and event not in ALLOWED.get(patient.status, frozenset()):
        label, now = StatusEvent(event).label, PatientStatus(patient.status).label
        raise StatusRefused(f"«{label}» er ikke mulig når pasienten har status «{str(now).lower()}».")
    if effective_date > timezone.localdate():
        raise StatusRefused("Datoen kan ikke være fram i tid.")
    last = patient.status_changes.order_by("-effective_date").values_list("effective_date", flat=True).first()
    if last and effective_date < last:
        raise StatusRefused(f"Datoen kan ikke være før siste endring i forløpet ({date_text(last)}).")
    if event == StatusEvent.PAUSED and (until is None or until <= effective_date):
        raise StatusRefused("En pause trenger en til-dato etter startdatoen.")
    if event == StatusEvent.ENDED and end_reason not in EndReason.values:
        raise StatusRefused("Velg en årsak til avslutningen.")


@transaction.atomic
def status_change_record(
    *,
    patient: Patient,
    user,
    event: str,
    effective_date: datetime.date | None = None,
    until: datetime.date | None = None,
    end_reason: str = "",
    note: str = "",
    request=None,
) -> StatusChange:
    """Append one change to the patient's forløp and derive the status from the history. Back-dating
    is allowed (not before the last change, not into the future) and audited like any write."""
    require(
        can_change_status,
        user,
        patient,
        StatusRoleRequired(STATUS_ROLE_REQUIRED),
    )
    patient = Patient.objects.select_for_update().get(pk=patient.pk)  # one change at a time per patient
    effective_date = effective_date or timezone.localdate()
    _check(patient, event, effective_date, until, end_reason)
    change = StatusChange.objects.create(
        patient=patient,
        municipality_id=patient.municipality_id,
        event=event,
        effective_date=effective_date,
        until=until if event == StatusEvent.PAUSED else None,
        end_reason=end_reason if event == StatusEvent.ENDED else "",
        note=(note or "").strip(),
        by=user,
    )
    patient.status, patient.status_until = status_of(patient.status_changes.all())
    patient.save(update_fields=["status", "status_until"])
    audit_record(
        action=AuditAction.CREATE, object_type="status_change", object_id=change.pk, patient=patient, request=request,
        user=user,
    )  # fmt: skip
    status_changed.send(sender=StatusChange, change=change)
    return change


# What each event does to a referral's status; an event not named here (paused, moved …) leaves it.
REFERRAL_STATUS_AFTER: dict[str, ReferralStatus] = {
    StatusEvent.RECEIVED: ReferralStatus.RECEIVED,
    StatusEvent.ASSESSED: ReferralStatus.ASSESSED,
    StatusEvent.GRANTED: ReferralStatus.GRANTED,
    StatusEvent.REFUSED: ReferralStatus.REFUSED,
    StatusEvent.STARTED: ReferralStatus.STARTED,
    StatusEvent.ENDED: ReferralStatus.ENDED,
}


@transaction.atomic
def referral_change_record(
    *,
    referral: Referral | None,
    event: str,
    user,
    effective_date: datetime.date | None = None,
    note: str = "",
    request=None,
    patient: Patient | None = None,
    municipality_id: int | None = None,
    end_reason: str = "",
    previous_municipality_id: int | None = None,
    until: datetime.date | None = None,
) -> StatusChange:
    """Append one step of the henvisning process (received, assessed, granted, refused; and the end
    and move rows of a patient who moves) and derive Referral.status — and Patient.status for a row
    with a patient — from the rows. The caller (patients.services.referrals) has checked the step and
    the user's role; the referral's status follows the steps in the order they were recorded, the
    effective date is what billing reads."""
    patient = patient or (referral.patient if referral is not None else None)
    if not municipality_id:
        owner = referral if referral is not None else patient
        assert owner is not None, "a status row without a municipality id names its referral or its patient"
        municipality_id = owner.municipality_id
    change = StatusChange.objects.create(
        referral=referral,
        patient=patient,
        municipality_id=municipality_id,
        previous_municipality_id=previous_municipality_id,
        event=event,
        effective_date=effective_date or timezone.localdate(),
        end_reason=end_reason if event == StatusEvent.ENDED else "",
        until=until if event == StatusEvent.PAUSED else None,
        note=(note or "").strip(),
        by=user,
    )
    if referral is not None:
        last = referral.status_changes.filter(event__in=list(REFERRAL_STATUS_AFTER)).order_by("-at", "-id").first()
        assert last is not None, "a referral has at least the row of its receipt"
        referral.status = REFERRAL_STATUS_AFTER[last.event]
        referral.save(update_fields=["status"])
    if patient is not None:
        patient.status, patient.status_until = status_of(patient.status_changes.all())
        patient.save(update_fields=["status", "status_until"])
    # Before the grant there is no patient: the log names the referral's municipality and no patient.
    audit_record(
        action=AuditAction.CREATE, object_type="status_change", object_id=change.pk,
        patient=patient or NoPatientYet(municipality_id=change.municipality_id), request=request, user=user,
    )  # fmt: skip
    if patient is not None:
        status_changed.send(sender=StatusChange, change=change)
    return change


class NoPatientYet:
    """What the audit log reads of a patient (pk, municipality, fastlege) for a step that has none yet."""

    pk = None
    gp_id = None

    def __init__(self, *, municipality_id: int):
        self.municipality_id = municipality_id
