"""The patient record and who may see it. Each write is audited by its caller, which has the request
context (tenants.services.audit_record)."""

from django.contrib.auth.models import Permission

from patients.access import GP_PERMISSION, SHARE_PERMISSION
from patients.models import Patient, PatientUserObjectPermission


def _permission(codename: str) -> Permission:
    return Permission.objects.get(content_type__app_label="patients", codename=codename)


def gp_permission_sync(patient: Patient) -> None:
    """Exactly the patient's current fastlege holds `follow_as_gp` on the patient."""
    perm = _permission(GP_PERMISSION)
    stale = PatientUserObjectPermission.objects.filter(content_object=patient, permission=perm)
    if patient.gp_id:
        stale = stale.exclude(user_id=patient.gp_id)
        PatientUserObjectPermission.objects.get_or_create(
            content_object=patient, permission=perm, user_id=patient.gp_id
        )
    for row in stale:  # one at a time, through the owner's audited function (tenants.configuration)
        row.delete()


def patient_share_with(*, patient: Patient, user) -> None:
    """Give a specialist read access to one patient (object permission)."""
    PatientUserObjectPermission.objects.get_or_create(
        content_object=patient, permission=_permission(SHARE_PERMISSION), user=user
    )


def patient_create(
    *, municipality, name: str, national_id: str, gp=None, status="active", diagnoses=(), phone="", next_of_kin=""
):
    patient = Patient(
        municipality=municipality,
        name=name,
        national_id=national_id,
        gp=gp,
        status=status,
        diagnoses=list(diagnoses),
        phone=phone,
        next_of_kin=next_of_kin,
    )
    patient.full_clean()
    patient.save()
    return patient
