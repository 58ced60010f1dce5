"""Reads of the quarantine for centre admins. A quarantined payload is patient data (a FHIR subject
carries the full fødselsnummer), so its patient is found from the payload's own identifier, with
one exact lookup among the patients of the municipalities the item's centre serves (the ones its
gateways may deliver for), and never picked from a list of names. Every read of a payload is
audited as the admin: `quarantine_patient_for`."""

from __future__ import annotations

import datetime
import uuid
from dataclasses import dataclass

from django.utils.dateparse import parse_datetime

from measurements.fhir import FNR_SYSTEMS
from measurements.models import Integration, QuarantinedItem, Reading
from patients.models import Patient
from patients.selectors import records_by_national_id
from patients.services.equipment import loan_for_serial
from tenants.models import AuditAction, Role
from tenants.selectors import served_by_centre
from tenants.services import audit_record, audit_record_integration_event

NATIONAL_ID, PATIENT_ID, DEVICE_SERIAL = "national_id", "patient_id", "device_serial"


@dataclass(frozen=True)
class PayloadIdentifier:
    """Whom a quarantined payload names: a fødselsnummer (FHIR subject.identifier), a patient id
    (JSON patient_id, FHIR subject.reference) or a device serial with the time it measured (the
    patient is whoever had it on loan that day). `kind` is "" when the payload names no one."""

    kind: str = ""
    value: str = ""
    at: datetime.datetime | None = None


def _dict(value) -> dict:
    return value if isinstance(value, dict) else {}


def _text(value) -> str:
    return value.strip() if isinstance(value, str) else ""


def _measured_at(payload: dict) -> datetime.datetime | None:
    for key in ("measured_at", "answered_at", "effectiveDateTime"):
        try:
            at = parse_datetime(_text(payload.get(key)))
        except ValueError:  # well formed but impossible (month 13): as if not there
            at = None
        if at is not None and at.tzinfo is not None:
            return at
    return None


def _fhir_identifier(payload: dict) -> PayloadIdentifier:
    subject = _dict(payload.get("subject"))
    identifier = _dict(subject.get("identifier"))
    if identifier.get("system") in FNR_SYSTEMS and _text(identifier.get("value")):
        return PayloadIdentifier(NATIONAL_ID, _text(identifier["value"]).replace(" ", ""))
    if _text(subject.get("reference")):
        return PayloadIdentifier(PATIENT_ID, _text(subject["reference"]).removeprefix("Patient/"))
    serial = _text(_dict(_dict(payload.get("device")).get("identifier")).get("value"))
    return PayloadIdentifier(DEVICE_SERIAL, serial, _measured_at(payload)) if serial else PayloadIdentifier()


def payload_identifier(item: QuarantinedItem) -> PayloadIdentifier:
    """The identifier the gateway itself sent with the item (nothing is guessed)."""
    payload = _dict(item.payload)
    if item.kind == "fhir":
        return _fhir_identifier(payload)
    if _text(payload.get("patient_id")):
        return PayloadIdentifier(PATIENT_ID, _text(payload["patient_id"]))
    if _text(payload.get("device_serial")):
        return PayloadIdentifier(DEVICE_SERIAL, _text(payload["device_serial"]), _measured_at(payload))
    return PayloadIdentifier()


def _served_patients(item: QuarantinedItem):
    return Patient.objects.filter(served_by_centre(item.centre)).select_related("municipality")


def _by_identifier(item: QuarantinedItem, identifier: PayloadIdentifier) -> Patient | None:
    patients = _served_patients(item)
    if identifier.kind == NATIONAL_ID:
        return records_by_national_id(patients, [identifier.value]).get(identifier.value)
    if identifier.kind == PATIENT_ID:
        try:
            return patients.filter(id=uuid.UUID(identifier.value)).first()
        except ValueError:
            return None
    if identifier.kind == DEVICE_SERIAL and identifier.at is not None:
        loan = loan_for_serial(centre=item.centre, serial=identifier.value, at=identifier.at)
        return patients.filter(id=loan.patient_id).first() if loan else None
    return None


def quarantine_patient(item: QuarantinedItem, national_id: str = "") -> Patient | None:
    """The patient a quarantined item is for, among those of the municipalities its centre serves:
    the one with `national_id` when the admin gives a corrected fødselsnummer, else the one the
    payload's own identifier names. None when there is no such patient there. Not audited: the caller
    audits what it does with the patient (the resubmission, the discarding, the page shown)."""
    identifier = PayloadIdentifier(NATIONAL_ID, national_id) if national_id else payload_identifier(item)
    return _by_identifier(item, identifier)


def quarantine_patient_for(*, item: QuarantinedItem, request, national_id: str = "") -> Patient | None:
    """quarantine_patient, audited as the admin who reads the item: one event for the payload shown,
    naming its patient when there is one in the centre's municipalities (else the item alone)."""
    patient = quarantine_patient(item, national_id)
    audit_record(action=AuditAction.VIEW, object_type="quarantined_item", object_id=item.pk, patient=patient,
                 request=request, role=Role.ADMIN)  # fmt: skip
    return patient


# --- a gateway's own readings, read back (the FHIR read) -----------------------------------------


def integration_reading(*, integration: Integration, reading_id: int) -> Reading | None:
    """A reading this gateway stored, or None: another gateway's reading (even of the same centre)
    and an unknown id look the same. Not audited (the caller audits what it shows)."""
    return Reading.objects.select_related("patient").filter(pk=reading_id, integration=integration).first()


def integration_reading_read(*, integration: Integration, reading_id: int, request) -> Reading | None:
    """integration_reading, audited as the gateway: one view event of the reading, under its patient."""
    reading = integration_reading(integration=integration, reading_id=reading_id)
    if reading is not None:
        audit_record_integration_event(integration=integration, action=AuditAction.VIEW, object_type="reading",
                                       object_id=reading.pk, patient=reading.patient, request=request)  # fmt: skip
    return reading
