"""The one way to read patients: every page, API view, export and task goes through here."""

from __future__ import annotations

import uuid

from django.db.models import Q, QuerySet
from django.http import Http404

from patients.models import Patient, PatientUserObjectPermission
from patients.services import GP_PERMISSION, SHARE_PERMISSION
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
