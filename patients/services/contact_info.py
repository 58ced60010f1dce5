"""The patient's phone and pårørende: the nurse's call sheet. Given on the henvisning and copied to the
patient at the grant (referrals._patient_for_grant); from then on the patient holds the fact and its
nurses and koordinator edit it on the patient page or over the API, audited."""

from __future__ import annotations

from django.db import transaction

from patients.access import can_edit_contact_info, require
from patients.models import Patient
from patients.services.fastlege import FastlegeRoleRequired
from tenants.errors import Refused
from tenants.models import AuditAction
from tenants.services import audit_record

PHONE_MAX = 20


class ContactInfoRefused(Refused):
    """The values cannot be saved as given (message in Norwegian, safe to show; a 400)."""


def _clean_phone(phone: str) -> str:
    phone = " ".join((phone or "").split())
    if len(phone) > PHONE_MAX:
        raise ContactInfoRefused(f"Telefon: høyst {PHONE_MAX} tegn.")
    if phone and not all(c.isdigit() or c in " +-()" for c in phone):
        raise ContactInfoRefused("Telefon: bare sifre, mellomrom, + og bindestrek.")
    return phone


@transaction.atomic
def contact_info_set(*, patient: Patient, user, phone: str, next_of_kin: str, request=None) -> Patient:
    """Save the patient's phone and pårørende (both replaced; empty clears)."""
    require(
        can_edit_contact_info,
        user,
        patient,
        FastlegeRoleRequired("Bare sykepleiere og koordinatorer for pasienten kan endre kontaktopplysningene."),
    )
    phone, next_of_kin = _clean_phone(phone), (next_of_kin or "").strip()
    patient = Patient.objects.select_for_update().get(pk=patient.pk)
    patient.phone, patient.next_of_kin = phone, next_of_kin
    patient.save(update_fields=["phone", "next_of_kin"])
    audit_record(action=AuditAction.UPDATE, object_type="patient_contact_info", object_id=patient.pk,
                 patient=patient, request=request, user=user)  # fmt: skip
    return patient
