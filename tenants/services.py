"""The audit log: one helper writes every read and write of patient data."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import connection
from django.utils import timezone

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
    """One event per patient a gateway wrote for, the integration named as the actor. Written with one
    INSERT … SELECT unnest: a 1,000-reading batch touches up to 1,000 patients."""
    if not patient_counts:
        return
    now = timezone.now()
    ip = _client_ip(request) if request is not None else None
    request_id = getattr(request, "request_id", "") if request is not None else ""
    keys = list(patient_counts)
    columns = {
        "at": ("timestamptz[]", [now] * len(keys)),
        "username": ("text[]", [f"integrasjon:{integration.name}"] * len(keys)),
        "role": ("text[]", ["integration"] * len(keys)),
        "action": ("text[]", [str(action)] * len(keys)),
        "object_type": ("text[]", [object_type] * len(keys)),
        "object_id": ("text[]", [str(patient_counts[k]) for k in keys]),
        "patient_id": ("uuid[]", [k[0] for k in keys]),
        "municipality_id": ("bigint[]", [k[1] for k in keys]),
        "ip": ("inet[]", [ip] * len(keys)),
        "request_id": ("text[]", [request_id] * len(keys)),
    }
    unnest = ", ".join(f"%s::{t}" for t, _ in columns.values())
    sql = f"INSERT INTO tenants_auditevent ({', '.join(columns)}) SELECT * FROM unnest({unnest})"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, [values for _, values in columns.values()])
