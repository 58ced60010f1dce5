"""The audit log: one helper writes every read and write of patient data."""

from __future__ import annotations

from collections.abc import Iterable

from tenants.models import AuditAction, AuditEvent


def _client_ip(request) -> str | None:
    # Behind the reverse proxy the first X-Forwarded-For hop is the client.
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    return forwarded.split(",")[0].strip() or request.META.get("REMOTE_ADDR") or None


def _event(*, request, user, action, object_type, object_id, patient, role) -> AuditEvent:
    from patients.selectors import role_used_for

    user = user or getattr(request, "user", None)
    authenticated = bool(user and user.is_authenticated)
    return AuditEvent(
        user=user if authenticated else None,
        username=user.get_username() if authenticated else "",
        role=role or (role_used_for(user, patient) if patient is not None and authenticated else ""),
        action=action,
        object_type=object_type,
        object_id=str(object_id or ""),
        patient_id=patient.pk if patient is not None else None,
        municipality_id=patient.municipality_id if patient is not None else None,
        ip=_client_ip(request) if request is not None else None,
        request_id=getattr(request, "request_id", "") if request is not None else "",
    )


def audit_record(
    *,
    action: AuditAction | str,
    object_type: str,
    object_id=None,
    patient=None,
    request=None,
    user=None,
    role: str = "",
) -> AuditEvent:
    """Record one access. `patient` fills patient and municipality; `request` fills user, IP and id."""
    event = _event(
        request=request,
        user=user,
        action=action,
        object_type=object_type,
        object_id=object_id,
        patient=patient,
        role=role,
    )
    event.save()
    return event


def audit_record_many(*, action, object_type: str, patients: Iterable, request=None, user=None) -> None:
    """One event per patient shown in a list: the log says exactly whose data was on screen."""
    AuditEvent.objects.bulk_create(
        [
            _event(
                request=request, user=user, action=action, object_type=object_type, object_id=p.pk, patient=p, role=""
            )
            for p in patients
        ]
    )


def audit_record_integration(*, integration, action, object_type: str, patient_counts: dict, request=None) -> None:
    """One event per patient a gateway wrote for: the log names the integration as the actor."""
    AuditEvent.objects.bulk_create(
        [
            AuditEvent(
                username=f"integrasjon:{integration.name}",
                role="integration",
                action=action,
                object_type=object_type,
                object_id=str(count),
                patient_id=patient_id,
                municipality_id=municipality_id,
                ip=_client_ip(request) if request is not None else None,
                request_id=getattr(request, "request_id", "") if request is not None else "",
            )
            for (patient_id, municipality_id), count in patient_counts.items()
        ]
    )
