"""The audit log: one helper writes every read and write of patient data. The login's security
events (a lock-out starting or lifted, an activation code issued, a second factor set up or reset)
are written the same way, without a patient (no municipality: the centre admin reads them in their
own lists, tenants/admin.py)."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from django.utils import timezone

from tenants.bulk import bulk_insert
from tenants.models import AuditAction, AuditEvent
from tenants.selectors import role_for_patient


def client_address(request) -> str | None:
    """The address dho.middleware worked out (X-Forwarded-For only from a trusted proxy). A request
    that did not pass it (a test's RequestFactory) gives its peer, and only if that is an address."""
    if hasattr(request, "client_ip"):
        return request.client_ip
    try:
        return str(ipaddress.ip_address((request.META.get("REMOTE_ADDR") or "").split("%", 1)[0]))
    except ValueError:
        return None


def _role(user, patient) -> str:
    # The patient's own fields, read here: tenants sits below patients and never imports it.
    return role_for_patient(user, municipality_id=patient.municipality_id, gp_id=patient.gp_id)


def _event(*, request, user, action, object_type, object_id, patient, role, system="") -> AuditEvent:
    user = user or getattr(request, "user", None)
    authenticated = bool(user and user.is_authenticated) and not system
    return AuditEvent(
        user=user if authenticated else None,
        username=user.get_username() if authenticated else (f"system:{system}"[:150] if system else ""),
        role=role or (_role(user, patient) if patient is not None and authenticated else ""),
        action=action,
        object_type=object_type,
        object_id=str(object_id or ""),
        patient_id=patient.pk if patient is not None else None,
        municipality_id=patient.municipality_id if patient is not None else None,
        ip=client_address(request) if request is not None else None,
        request_id=getattr(request, "request_id", "") if request is not None else "",
        upstream_request_id=getattr(request, "upstream_request_id", "") if request is not None else "",
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
    system: str = "",
) -> AuditEvent:
    """Record one access. `patient` fills patient and municipality; `request` fills user, IP and id.
    `system` names a management command or the platform itself as the actor (`system:<name>`, as
    tenants.rls.system_scope writes), for what no person did."""
    event = _event(
        request=request,
        user=user,
        action=action,
        object_type=object_type,
        object_id=object_id,
        patient=patient,
        role=role,
        system=system,
    )
    event.save()
    return event


def audit_record_many(*, action, object_type: str, patients: Iterable, request=None, user=None, role: str = "") -> None:
    """One event per patient shown in a list: the log says exactly whose data was on screen.
    Lists are long and refresh often, so the events go in with one INSERT … SELECT unnest.
    `role` names the role used when it is not one that reaches patients (a centre admin)."""
    audit_record_many_objects(
        action=action,
        object_type=object_type,
        objects=[(p.pk, p) for p in patients],
        request=request,
        user=user,
        role=role,
    )


def audit_record_many_objects(
    *, action, object_type: str, objects: Iterable[tuple], request=None, user=None, role: str = ""
) -> None:
    """One event per (object id, subject) in one INSERT, for lists whose rows are not patients: a
    referral before the grant has no patient yet, only its municipality. The subject is a patient,
    or anything with `pk` (None: no patient), `municipality_id` and `gp_id`
    (patients.services.status.NoPatientYet); the object id is what the row shows (the referral's)."""
    objects = list(objects)
    if not objects:
        return
    user = user or getattr(request, "user", None)
    authenticated = bool(user and user.is_authenticated)

    def role_used(subject) -> str:
        return role or (_role(user, subject) if authenticated else "")

    _insert_events(
        request,
        action,
        object_type,
        user_id=user.pk if authenticated else None,
        username=user.get_username() if authenticated else "",
        rows=[(str(oid or ""), s.pk, s.municipality_id, role_used(s)) for oid, s in objects],
    )


def audit_record_integration(*, integration, action, object_type: str, patient_counts: dict, request=None) -> None:
    """One event per patient a gateway wrote for, the integration named as the actor."""
    if not patient_counts:
        return
    _insert_events(
        request,
        action,
        object_type,
        user_id=None,
        username=f"integrasjon:{integration.name}",
        rows=[(str(count), pid, mid, "integration") for (pid, mid), count in patient_counts.items()],
    )


def audit_record_integration_event(*, integration, action, object_type: str, object_id, request=None) -> None:
    """One event of a gateway's that concerns no patient (its quarantine full for the day), in its
    centre's host municipality, so the centre admin finds it in the centre's log."""
    _insert_events(
        request,
        action,
        object_type,
        user_id=None,
        username=f"integrasjon:{integration.name}",
        rows=[(str(object_id), None, integration.centre.host_id, "integration")],
    )


def _insert_events(request, action, object_type: str, *, user_id, username: str, rows: list[tuple]) -> None:
    """rows: (object_id, patient_id, municipality_id, role). A 1,000-row batch is one statement."""
    bulk_insert(
        AuditEvent,
        {
            "at": timezone.now(),
            "user_id": user_id,
            "username": username,
            "role": [r[3] for r in rows],
            "action": str(action),
            "object_type": object_type,
            "object_id": [r[0] for r in rows],
            "patient_id": [r[1] for r in rows],
            "municipality_id": [r[2] for r in rows],
            "ip": client_address(request) if request is not None else None,
            "request_id": getattr(request, "request_id", "") if request is not None else "",
            "upstream_request_id": getattr(request, "upstream_request_id", "") if request is not None else "",
        },
    )
