"""The one way to read patients: every page, API view, export and task goes through here."""

from __future__ import annotations

import uuid

from django.db.models import Q, QuerySet
from django.http import Http404

from patients.models import Device, DeviceLoan, Patient, PatientUserObjectPermission, Referral
from patients.services import GP_PERMISSION, SHARE_PERMISSION, referral_municipality_ids, register_centre_ids
from tenants.models import Role
from tenants.selectors import role_for_patient, user_scope


def visible_patients(user) -> QuerySet[Patient]:
    """Patients this user may see, by the scope table in ARCHITECTURE.md. Finance and admins: none."""
    scope = user_scope(user)
    condition = Q(municipality_id__in=scope.municipality_ids)
    codenames = []
    if scope.has(Role.GP):
        codenames.append(GP_PERMISSION)
    if scope.has(Role.SPECIALIST):
        codenames.append(SHARE_PERMISSION)
    if codenames:
        permitted = PatientUserObjectPermission.objects.filter(user=user, permission__codename__in=codenames).values(
            "content_object_id"
        )
        condition |= Q(id__in=permitted)
    if not scope.municipality_ids and not codenames:
        return Patient.objects.none()
    return Patient.objects.filter(condition)


def get_patient_for(user, patient_id) -> Patient:
    """The patient if this user may see it; Http404 for a missing and a foreign one alike."""
    try:
        patient_uuid = uuid.UUID(str(patient_id))
    except ValueError:
        raise Http404 from None
    patient = visible_patients(user).select_related("municipality", "gp").filter(id=patient_uuid).first()
    if patient is None:
        raise Http404
    return patient


def visible_referrals(user) -> QuerySet[Referral]:
    """Referrals of the municipalities this user handles as nurse or koordinator (not fastlege or
    specialist: a henvisning is the municipality's case, before any object permission exists)."""
    return Referral.objects.filter(municipality_id__in=referral_municipality_ids(user))


def get_referral_for(user, referral_id) -> Referral:
    """The referral if this user handles it; Http404 for a missing and a foreign one alike."""
    try:
        referral_uuid = uuid.UUID(str(referral_id))
    except ValueError:
        raise Http404 from None
    referral = visible_referrals(user).select_related("municipality", "patient").filter(id=referral_uuid).first()
    if referral is None:
        raise Http404
    return referral


def role_used_for(user, patient: Patient) -> str:
    """Which of the user's roles opened this patient (the audit log's role, nurse-only steps)."""
    return role_for_patient(user, municipality_id=patient.municipality_id, gp_id=patient.gp_id)


def search_patients(qs: QuerySet[Patient], *, search: str = "", municipality: str = "") -> QuerySet[Patient]:
    """Narrow an already scoped queryset: by name, by (start of) national id, by kommunenummer."""
    search = (search or "").strip()
    if search:
        digits = search.replace(" ", "")
        qs = qs.filter(national_id__startswith=digits) if digits.isdigit() else qs.filter(name__icontains=search)
    if municipality:
        qs = qs.filter(municipality__number=municipality)
    return qs


# --- equipment --------------------------------------------------------------------------------------


def devices_for(user) -> QuerySet[Device]:
    """The devices of the centres whose register this user keeps (nurse or admin there)."""
    return Device.objects.filter(centre_id__in=register_centre_ids(user))


def get_device_for(user, serial: str, centre: str = "") -> Device:
    """The device with this serial in the user's centres (`centre`: a slug, when the serial is in
    two of them); Http404 for a missing device and another centre's alike."""
    devices = devices_for(user).filter(serial=serial).select_related("centre")
    if centre:
        devices = devices.filter(centre__slug=centre)
    found = list(devices[:2])
    if len(found) != 1:
        raise Http404  # two centres of one user with the same serial: the caller names the centre
    return found[0]


def loans_of(patient: Patient) -> QuerySet[DeviceLoan]:
    """Every loan of the patient (scope checked by the caller), newest first."""
    return patient.device_loans.select_related("device", "lent_by", "returned_by")


def loans_out_for(patient: Patient) -> QuerySet[DeviceLoan]:
    """What the patient still has (avslutning lists it until everything is back)."""
    return loans_of(patient).filter(returned_on__isnull=True)
