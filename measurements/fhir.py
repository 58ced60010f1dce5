"""FHIR R4 vital-signs Observations → the ingest API's reading items, and errors → OperationOutcome.

fhir.resources (R4B models: Observation is identical in R4) checks the structure; it does not check
code bindings or profiles, so the LOINC code and the UCUM unit are checked here.
"""

from __future__ import annotations

import datetime
import uuid
from dataclasses import dataclass, field

from fhir.resources.R4B.observation import Observation
from pydantic import ValidationError

from measurements.ingest import MAX_BATCH, ItemError
from measurements.norwegian import pydantic_errors
from measurements.types import COMPONENT_LOINC, spec, type_for_loinc

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
FNR_SYSTEMS = ("urn:oid:2.16.578.1.12.4.1.4.1", "urn:oid:2.16.578.1.12.4.1.4.2")  # fødselsnummer, D-nummer

REJECTED_STATUSES = {"entered-in-error", "cancelled"}


@dataclass
class Converted:
    item: dict | None = None  # the ingest item, without patient_id when the subject is a fødselsnummer
    fnr: str | None = None
    errors: list[ItemError] = field(default_factory=list)


def _loinc_codes(concept) -> list[str]:
    return [c.code for c in (concept.coding or []) if c.system == LOINC and c.code] if concept else []


def _quantity(q, where: str, errors: list[ItemError]) -> tuple[float | None, str | None]:
    if q is None or q.value is None:
        errors.append(ItemError(where, "mangler valueQuantity.value"))
        return None, None
    if q.system not in (None, UCUM):
        errors.append(ItemError(f"{where}.system", f"enheten må være UCUM ({UCUM})"))
    unit = q.code or q.unit
    if not unit:
        errors.append(ItemError(f"{where}.code", "mangler UCUM-enhet"))
    return float(q.value), unit


def _device_serial(obs: Observation) -> str | None:
    """The serial number in `Observation.device.identifier.value` (the device's own, as in the register)."""
    identifier = obs.device.identifier if obs.device is not None else None
    if identifier is None:
        return None
    return (identifier.value or "").strip() or None


def _subject(obs: Observation, out: Converted) -> None:
    subject = obs.subject
    if subject is None:
        serial = _device_serial(obs)
        if serial:  # the patient is whoever had the device on loan then (measurements.services)
            out.item["device_serial"] = serial
            return
        out.errors.append(ItemError("subject", "mangler pasient (subject) eller enhet (device.identifier)"))
        return
    if subject.identifier is not None and subject.identifier.system in FNR_SYSTEMS:
        out.fnr = (subject.identifier.value or "").replace(" ", "")
        return
    ref = subject.reference or ""
    try:
        out.item["patient_id"] = str(uuid.UUID(ref.removeprefix("Patient/")))
    except ValueError:
        out.errors.append(
            ItemError(
                "subject", "ukjent pasient: bruk Patient/<uuid> eller fødselsnummer (urn:oid:2.16.578.1.12.4.1.4.1)"
            )
        )


def _effective(obs: Observation, out: Converted) -> None:
    at = obs.effectiveDateTime or (obs.effectiveInstant if hasattr(obs, "effectiveInstant") else None)
    if not isinstance(at, datetime.datetime):
        out.errors.append(ItemError("effectiveDateTime", "må være et tidspunkt med klokkeslett og tidssone"))
        return
    if at.tzinfo is None:
        out.errors.append(ItemError("effectiveDateTime", "tidspunktet mangler tidssone (f.eks. +01:00)"))
        return
    out.item["measured_at"] = at.isoformat()


def _values(obs: Observation, mtype: str, out: Converted) -> None:
    components = spec(mtype).components
    if components != ("value",):  # blood pressure: one Observation, a component per value
        wanted = {COMPONENT_LOINC[name]: name for name in components}
        parts = {}
        for component in obs.component or []:
            for code in _loinc_codes(component.code):
                if code in wanted:
                    parts[wanted[code]] = _quantity(
                        component.valueQuantity, f"component[{code}].valueQuantity", out.errors
                    )
        for name in components:
            if name not in parts:
                out.errors.append(ItemError("component", f"mangler {name} ({COMPONENT_LOINC[name]})"))
        if not out.errors:
            out.item |= {name: parts[name][0] for name in components} | {"unit": parts[components[0]][1]}
        return
    value, unit = _quantity(obs.valueQuantity, "valueQuantity", out.errors)
    out.item |= {"value": value, "unit": unit or ""}


def external_id_of(obs: dict, full_url: str | None = None) -> str | None:
    for identifier in obs.get("identifier") or []:
        if identifier.get("value"):
            return f"{identifier.get('system', '')}|{identifier['value']}"[:100]
    return (obs.get("id") or full_url or None) and str(obs.get("id") or full_url)[:100]


def observation_to_item(resource: dict, full_url: str | None = None) -> Converted:
    out = Converted(item={})
    if not isinstance(resource, dict) or resource.get("resourceType") != "Observation":
        out.errors.append(ItemError("resourceType", "må være Observation"))
        return out
    try:
        obs = Observation.model_validate(resource)
    except ValidationError as exc:
        out.errors = [ItemError(".".join(path) or "Observation", message) for path, message in pydantic_errors(exc)]
        return out
    if obs.status in REJECTED_STATUSES:
        out.errors.append(ItemError("status", f"status «{obs.status}» tas ikke imot"))
    codes = _loinc_codes(obs.code)
    mtype = next((t for t in map(type_for_loinc, codes) if t is not None), None)  # the first code we know
    if mtype is None:
        out.errors.append(ItemError("code", f"ukjent eller manglende LOINC-kode {codes or ''}".strip()))
        return out
    out.item["type"] = mtype
    out.item["external_id"] = external_id_of(resource, full_url)
    if not out.item["external_id"]:
        out.errors.append(
            ItemError("identifier", "mangler identifier eller id (trengs for å kjenne igjen en ny sending)")
        )
    _subject(obs, out)
    _effective(obs, out)
    _values(obs, mtype, out)
    return out


ISSUE_CODES = {
    "patient_id": "not-found",
    "subject": "not-found",
    "device_serial": "not-found",
    "code": "code-invalid",
    "unit": "code-invalid",
}


def operation_outcome(errors: list[dict], severity: str = "error") -> dict:
    """ingest errors ({"field", "message"}) as a FHIR OperationOutcome."""
    return {
        "resourceType": "OperationOutcome",
        "issue": [
            {
                "severity": severity,
                "code": ISSUE_CODES.get(e["field"].split(".")[0], "invalid"),
                "diagnostics": e["message"],
                "expression": [f"Observation.{_fhir_path(e['field'])}"],
            }
            for e in errors
        ],
    }


def _fhir_path(field: str) -> str:
    return {
        "patient_id": "subject",
        "measured_at": "effectiveDateTime",
        "value": "valueQuantity.value",
        "unit": "valueQuantity.code",
        "systolic": "component.valueQuantity",
        "diastolic": "component.valueQuantity",
        "type": "code",
        "device_serial": "device.identifier",
    }.get(field, field)


def information(message: str) -> dict:
    return {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "information", "code": "informational", "diagnostics": message}],
    }


# HTTP status → OperationOutcome issue code, for errors found before any resource is read.
_HTTP_ISSUE_CODES = {400: "invalid", 401: "login", 403: "forbidden", 404: "not-found", 405: "not-supported",
                     413: "too-costly", 415: "not-supported", 429: "throttled"}  # fmt: skip


def error_outcome(message: str, *, code: str | None = None, expression: str | None = None, http_status=400) -> dict:
    """One error as an OperationOutcome: a Bundle built wrong, a body that is no JSON, a bad token."""
    issue = {"severity": "error", "code": code or _HTTP_ISSUE_CODES.get(http_status, "exception"),
             "diagnostics": message}  # fmt: skip
    if expression:
        issue["expression"] = [expression]
    return {"resourceType": "OperationOutcome", "issue": [issue]}


def is_outcome(data) -> bool:
    return isinstance(data, dict) and data.get("resourceType") == "OperationOutcome"


# --- what the OpenAPI schema says the FHIR endpoints take and give (drf-spectacular raw schemas) ---

_CODING = {"type": "object", "properties": {"system": {"type": "string"}, "code": {"type": "string"},
                                            "display": {"type": "string"}}}  # fmt: skip
_CONCEPT = {"type": "object", "properties": {"coding": {"type": "array", "items": _CODING}, "text": {"type": "string"}}}
_IDENTIFIER = {"type": "object", "properties": {"system": {"type": "string"}, "value": {"type": "string"}}}
_QUANTITY = {
    "type": "object",
    "properties": {
        "value": {"type": "number"},
        "unit": {"type": "string"},
        "system": {"type": "string"},
        "code": {"type": "string"},
    },
}
OBSERVATION_SCHEMA = {
    "type": "object",
    "description": "FHIR R4 vital-signs Observation: LOINC-kode, UCUM-enhet, pasienten som "
    "Patient/<uuid> eller fødselsnummer (subject.identifier), eller enheten (device.identifier).",
    "properties": {
        "resourceType": {"type": "string", "enum": ["Observation"]},
        "id": {"type": "string"},
        "identifier": {"type": "array", "items": _IDENTIFIER},
        "status": {"type": "string", "enum": ["registered", "preliminary", "final", "amended", "corrected"]},
        "code": _CONCEPT,
        "subject": {"type": "object", "properties": {"reference": {"type": "string"}, "identifier": _IDENTIFIER}},
        "device": {"type": "object", "properties": {"identifier": _IDENTIFIER}},
        "effectiveDateTime": {"type": "string", "format": "date-time"},
        "valueQuantity": _QUANTITY,
        "component": {
            "type": "array",
            "items": {"type": "object", "properties": {"code": _CONCEPT, "valueQuantity": _QUANTITY}},
        },
    },
    "required": ["resourceType", "status", "code"],
}
OUTCOME_SCHEMA = {
    "type": "object",
    "properties": {
        "resourceType": {"type": "string", "enum": ["OperationOutcome"]},
        "issue": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "severity": {"type": "string", "enum": ["fatal", "error", "warning", "information"]},
                    "code": {"type": "string"},
                    "diagnostics": {"type": "string"},
                    "expression": {"type": "array", "items": {"type": "string"}},
                },
                "required": ["severity", "code"],
            },
        },
    },
    "required": ["resourceType", "issue"],
}
BUNDLE_SCHEMA = {
    "type": "object",
    "properties": {
        "resourceType": {"type": "string", "enum": ["Bundle"]},
        "type": {"type": "string", "enum": ["batch", "transaction"]},
        "entry": {
            "type": "array",
            "minItems": 1,
            "maxItems": MAX_BATCH,
            "items": {"type": "object", "properties": {"fullUrl": {"type": "string"}, "resource": OBSERVATION_SCHEMA}},
        },
    },
    "required": ["resourceType", "type", "entry"],
}
BUNDLE_RESPONSE_SCHEMA = {
    "type": "object",
    "properties": {
        "resourceType": {"type": "string", "enum": ["Bundle"]},
        "type": {"type": "string", "enum": ["batch-response", "transaction-response"]},
        "entry": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "response": {
                        "type": "object",
                        "properties": {
                            "status": {"type": "string"},
                            "location": {"type": "string"},
                            "outcome": OUTCOME_SCHEMA,
                        },
                        "required": ["status"],
                    }
                },
            },
        },
    },
    "required": ["resourceType", "type", "entry"],
}
