"""FHIR R4 vital-signs Observations → the ingest API's reading items, and errors → OperationOutcome;
a stored reading → an Observation again; the server's CapabilityStatement.

fhir.resources (R4B models: Observation is identical in R4) checks the structure; it does not check
code bindings or profiles, so the LOINC code and the UCUM unit are checked here.
"""

from __future__ import annotations

import datetime
import hashlib
import re
import uuid
from dataclasses import dataclass, field

from django.utils import timezone
from fhir.resources.R4B.observation import Observation
from pydantic import ValidationError

from measurements.ingest import MAX_BATCH, ItemError
from measurements.norwegian import pydantic_errors
from measurements.types import COMPONENT_LABELS, COMPONENT_LOINC, SPECS, spec, type_for_loinc

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
FNR_SYSTEMS = ("urn:oid:2.16.578.1.12.4.1.4.1", "urn:oid:2.16.578.1.12.4.1.4.2")  # fødselsnummer, D-nummer

# ObservationStatus (R4, a required binding). Only a finished measurement is scored: final, and a
# final one amended or corrected. registered and preliminary are not finished yet (a reading scored
# and put on the worklist must be the measurement itself), unknown says nothing, and cancelled and
# entered-in-error say there is no measurement.
ACCEPTED_STATUSES = ("final", "amended", "corrected")
EXTERNAL_ID_LENGTH = 100  # Reading.external_id


@dataclass
class Converted:
    item: dict | None = None  # the ingest item, without patient_id when the subject is a fødselsnummer
    fnr: str | None = None
    errors: list[ItemError] = field(default_factory=list)
    # Where each blood-pressure value was in the resource ("systolic" → "component[0].valueQuantity.value"),
    # so the ingest's errors about it name the element the gateway sent (located).
    positions: dict[str, str] = field(default_factory=dict)


def _loinc_codes(concept) -> list[str]:
    return [c.code for c in (concept.coding or []) if c.system == LOINC and c.code] if concept else []


def _quantity(q, where: str, errors: list[ItemError]) -> tuple[float | None, str | None]:
    if q is None or q.value is None:
        errors.append(ItemError(where, "mangler valueQuantity.value"))
        return None, None
    if q.comparator is not None:  # a modifier (R4): "< 85" is no reading of 85, and cannot be scored as one
        errors.append(
            ItemError(
                f"{where}.comparator",
                f"comparator «{q.comparator}» tas ikke imot: bare en målt verdi kan vurderes; "
                "send verdien uten comparator",
                code="not-supported",
            )
        )
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
    if obs.effectivePeriod is not None:
        out.errors.append(
            ItemError("effectivePeriod", "et tidsrom tas ikke imot; send tidspunktet i effectiveDateTime")
        )
        return
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
        for index, component in enumerate(obs.component or []):
            for code in _loinc_codes(component.code):
                if code in wanted:
                    where = f"component[{index}].valueQuantity"
                    out.positions[wanted[code]] = f"{where}.value"
                    parts[wanted[code]] = (*_quantity(component.valueQuantity, where, out.errors), where)
        for name in components:
            if name not in parts:
                out.errors.append(ItemError("component", f"mangler {name} ({COMPONENT_LOINC[name]})"))
        if not out.errors:
            out.positions["unit"] = f"{parts[components[0]][2]}.code"
            _component_units(mtype, [parts[name] for name in components], out)
        if not out.errors:
            out.item |= {name: parts[name][0] for name in components} | {"unit": parts[components[0]][1]}
        return
    value, unit = _quantity(obs.valueQuantity, "valueQuantity", out.errors)
    out.item |= {"value": value, "unit": unit or ""}


def _component_units(mtype: str, parts: list[tuple], out: Converted) -> None:
    """Each component in the unit of the first (the ingest checks that one against the type, and the
    values are stored together in it): a diastolic in cm[H2O] beside a systolic in mm[Hg] is refused."""
    unit = parts[0][1]
    for _value, other, where in parts[1:]:
        if other != unit:
            out.errors.append(
                ItemError(f"{where}.code", f"enheten «{other}» passer ikke til {mtype}; bruk {spec(mtype).unit} "
                                           "i hver komponent", code="code-invalid")
            )  # fmt: skip


def _fits(text: str) -> str:
    """An identifier as external_id: as it is when it fits the column; longer, a SHA-256 digest of the
    whole text, never a cut (two identifiers alike in their first 100 characters would be one reading,
    and the second would be answered as a duplicate of the first and lost). The same text gives the
    same digest on every resend, so a resend is still known. The system stays in front when it fits
    beside the digest, so the identifier read back (`_identifier_out`) keeps it."""
    if len(text) <= EXTERNAL_ID_LENGTH:
        return text
    digest = "sha256:" + hashlib.sha256(text.encode()).hexdigest()
    system, bar, _value = text.partition("|")
    prefix = f"{system}|" if bar and len(system) + 1 + len(digest) <= EXTERNAL_ID_LENGTH else ""
    return prefix + digest


def external_id_of(obs: dict, full_url: str | None = None) -> str | None:
    for identifier in obs.get("identifier") or []:
        if identifier.get("value"):
            return _fits(f"{identifier.get('system', '')}|{identifier['value']}")
    return (obs.get("id") or full_url or None) and _fits(str(obs.get("id") or full_url))


def _modifier_extensions(node, path: str) -> list[ItemError]:
    """Every modifierExtension anywhere in the resource: R4 forbids ignoring one that is not
    understood (it changes what the element means), and this server understands none."""
    if isinstance(node, list):
        return [e for i, child in enumerate(node) for e in _modifier_extensions(child, f"{path}[{i}]")]
    if not isinstance(node, dict):
        return []
    errors = []
    for key, child in node.items():
        where = f"{path}.{key}" if path else key
        if key == "modifierExtension" and child:
            message = "modifierExtension tas ikke imot: den endrer hva målingen betyr, og denne serveren kjenner ingen"
            errors.append(ItemError(where, message, code="not-supported"))
        else:
            errors += _modifier_extensions(child, where)
    return errors


# A FHIR dateTime with a time of day but no zone ("2026-11-23T08:01:00"): checked before fhir.resources
# reads it, which would refuse it in English.
_NO_ZONE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+")
NO_ZONE_MESSAGE = "tidspunktet mangler tidssone (f.eks. +01:00)"


def _zone_errors(resource: dict) -> list[ItemError]:
    return [ItemError(name, NO_ZONE_MESSAGE) for name in ("effectiveDateTime", "effectiveInstant")
            if isinstance(resource.get(name), str) and _NO_ZONE.fullmatch(resource[name])]  # fmt: skip


# fhir.resources' own checks, in English: a required element missing, and a primitive's form
# ("Value error, Decimal value string does not match spec regex.") → what is wrong, in Norwegian.
_SPEC_REGEX = re.compile(r"Value error, (\w+) value string does not match spec regex\.?")
_PRIMITIVES = {
    "Decimal": "må være et tall",
    "Integer": "må være et heltall",
    "PositiveInt": "må være et positivt heltall",
    "UnsignedInt": "må være et heltall, 0 eller mer",
    "DateTime": "må være et tidspunkt i ISO 8601 med tidssone",
    "Instant": "må være et tidspunkt i ISO 8601 med tidssone",
    "Date": "må være en dato (ÅÅÅÅ-MM-DD)",
    "Boolean": "må være true eller false",
}


_REQUIRED = re.compile(r"Value for the field '\w+' is required\.")


# A choice element (value[x], effective[x]) given in two forms, or a required one in none.
_CHOICE_TWICE = re.compile(
    r"Value error, Any of one field value is expected from this list \[(.*)\], but got multiple!"
)
_CHOICE_NONE = re.compile(r"Value error, Expect any of field value from this list \[(.*)\]\.?")


def _choice(names: str) -> str:
    """«['valueQuantity', 'valueString']» → «value[x]»: the choice's name is the lower-case start."""
    found = re.match(r"[a-z]+", names.strip("[ '"))
    return (found[0] if found else "value") + "[x]"


def _norwegian(message: str) -> str:
    if _REQUIRED.fullmatch(message):
        return "mangler"
    if match := _CHOICE_TWICE.fullmatch(message):
        return f"bare ett av {_choice(match[1])} kan være med, ikke flere"
    if match := _CHOICE_NONE.fullmatch(message):
        return f"mangler {_choice(match[1])}"
    match = _SPEC_REGEX.fullmatch(message)
    if match is None:
        return message
    return _PRIMITIVES.get(match[1], f"har feil form for FHIR-typen {match[1]}")


def _element(path: tuple[str, ...]) -> str:
    """pydantic's path as FHIRPath: ("component", "1", "valueQuantity") → component[1].valueQuantity."""
    out = ""
    for part in path:
        out += f"[{part}]" if part.isdigit() else f".{part}" if out else part
    return out or "Observation"


def observation_to_item(resource: dict, full_url: str | None = None) -> Converted:
    out = Converted(item={})
    if not isinstance(resource, dict) or resource.get("resourceType") != "Observation":
        out.errors.append(ItemError("resourceType", "må være Observation"))
        return out
    zone_errors = _zone_errors(resource)
    without_zone = {e.field for e in zone_errors}
    try:
        # Without the time that has no zone, so the rest is still checked and named in one answer.
        obs = Observation.model_validate({k: v for k, v in resource.items() if k not in without_zone})
    except ValidationError as exc:
        out.errors = zone_errors + [
            ItemError(_element(path), _norwegian(message)) for path, message in pydantic_errors(exc)
        ]
        return out
    out.errors += zone_errors + _modifier_extensions(resource, "")
    if obs.status not in ACCEPTED_STATUSES:
        message = f"status «{obs.status}» tas ikke imot: bare en ferdig måling ({', '.join(ACCEPTED_STATUSES)})"
        out.errors.append(ItemError("status", message, code="code-invalid"))
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
    if not zone_errors:
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


def _issue_code(error: dict) -> str:
    return error.get("code") or ISSUE_CODES.get(error["field"].split(".")[0], "invalid")


def located(errors: list[dict], positions: dict[str, str]) -> list[dict]:
    """The ingest's errors about a blood pressure's values named by the component they came in."""
    return [e | {"field": positions[e["field"]], "code": _issue_code(e)} if e["field"] in positions else e
            for e in errors]  # fmt: skip


def operation_outcome(errors: list[dict], severity: str = "error") -> dict:
    """ingest errors ({"field", "message"}) as a FHIR OperationOutcome."""
    return {
        "resourceType": "OperationOutcome",
        "issue": [
            {
                "severity": severity,
                "code": _issue_code(e),
                "diagnostics": e["message"],
                "expression": [_expression("Observation", e["field"])],
            }
            for e in errors
        ],
    }


def _expression(resource: str, field: str) -> str:
    """The FHIRPath of an ingest error's field within `resource`; an error about the resource as a
    whole (a structure error without a path: field «Observation») is the resource itself."""
    return resource if field == "Observation" else f"{resource}.{_fhir_path(field)}"


def _fhir_path(field: str) -> str:
    return {
        "patient_id": "subject",
        "measured_at": "effectiveDateTime",
        "value": "valueQuantity.value",
        "unit": "valueQuantity.code",
        "systolic": "component",
        "diastolic": "component",
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


def request_outcome(errors: list[dict], *, whole: bool = False) -> dict:
    """Bundle entries that ask for something other than a create (errors with a FHIRPath field from
    the Bundle): a batch entry's outcome, or (`whole`) why a transaction was refused whole."""
    issues = [{"severity": "error", "code": e["code"], "diagnostics": e["message"], "expression": [e["field"]]}
              for e in errors]  # fmt: skip
    if whole:
        summary = ("Transaksjonen er avvist, og ingenting i den er lagret: denne serveren oppretter bare "
                   "Observation (POST). Fjern de andre entry og send transaksjonen på nytt.")  # fmt: skip
        issues.insert(0, {"severity": "error", "code": "not-supported", "diagnostics": summary,
                          "expression": ["Bundle.entry"]})  # fmt: skip
    return {"resourceType": "OperationOutcome", "issue": issues}


def transaction_outcome(failed: list[tuple[int, str | None, list[dict]]], total: int) -> dict:
    """Why a transaction Bundle was refused whole: a first issue saying nothing was stored, then
    each error of each bad entry, named by its index and fullUrl (what the gateway can find it by)."""
    summary = (
        f"Transaksjonen er avvist, og ingenting i den er lagret: {len(failed)} av {total} entry er feil. "
        "Hele innholdet er lagt i karantenen. Rett feilen og send hele transaksjonen på nytt."
    )
    issues = [{"severity": "error", "code": "processing", "diagnostics": summary, "expression": ["Bundle.entry"]}]
    for index, full_url, errors in failed:
        named = f"entry[{index}]" + (f" ({full_url})" if full_url else "")
        issues += [
            {
                "severity": "error",
                "code": _issue_code(e),
                "diagnostics": f"{named}: {e['message']}",
                "expression": [_expression(f"Bundle.entry[{index}].resource", e["field"])],
            }
            for e in errors
        ]
    return {"resourceType": "OperationOutcome", "issue": issues}


# --- a stored reading as FHIR ---------------------------------------------------------------------

VERSION_ID = "1"  # a gateway's reading is never changed through the API: every one is version 1
VITAL_SIGNS = {
    "coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "vital-signs",
                "display": "Vital Signs"}],
}  # fmt: skip


def _quantity_out(value: float, unit: str, unit_label: str) -> dict:
    return {"value": value, "unit": unit_label, "system": UCUM, "code": unit}


def _identifier_out(external_id: str) -> list[dict]:
    """The identifier the gateway sent («system|value», as external_id_of keeps it); an Observation's
    id or fullUrl (when it sent no identifier) comes back as a value without a system."""
    system, bar, value = external_id.partition("|")
    if not bar:
        return [{"value": external_id}] if external_id else []
    return [{"system": system, "value": value} if system else {"value": value}]


def reading_to_observation(reading) -> dict:
    """One stored reading as the vital-signs Observation it was received as: id the reading's id, the
    type's first LOINC code, the value in the type's one stored unit (a weight sent in [lb_av] comes
    back in kg). Blood pressure is one row (systolic and diastolic) and one Observation with two
    components, as it arrives."""
    type_spec = spec(reading.type)
    observation = {
        "resourceType": "Observation",
        "id": str(reading.pk),
        "meta": {"versionId": VERSION_ID, "lastUpdated": timezone.localtime(reading.received_at).isoformat()},
        "identifier": _identifier_out(reading.external_id),
        "status": "final",
        "category": [VITAL_SIGNS],
        "code": {"coding": [{"system": LOINC, "code": type_spec.loinc[0], "display": type_spec.label}],
                 "text": type_spec.label},
        "subject": {"reference": f"Patient/{reading.patient_id}"},
        "effectiveDateTime": timezone.localtime(reading.measured_at).isoformat(),
        "issued": timezone.localtime(reading.received_at).isoformat(),
    }  # fmt: skip
    if not observation["identifier"]:
        del observation["identifier"]
    if type_spec.components == ("value",):
        observation["valueQuantity"] = _quantity_out(reading.value, type_spec.unit, type_spec.unit_label)
        return observation
    observation["component"] = [
        {
            "code": {
                "coding": [{"system": LOINC, "code": COMPONENT_LOINC[name]}],
                "text": f"{type_spec.label} {COMPONENT_LABELS[name]}",
            },
            "valueQuantity": _quantity_out(getattr(reading, name), type_spec.unit, type_spec.unit_label),
        }
        for name in type_spec.components
    ]
    return observation


# --- the CapabilityStatement (GET [base]/metadata) ------------------------------------------------

FHIR_VERSION = "4.0.1"
CAPABILITY_DATE = "2026-12-07"  # when what the statement says last changed (R4 requires a date)


def _accepted_line(type_code: str) -> str:
    type_spec = SPECS[type_code]
    codes = ", ".join(type_spec.loinc)
    if type_spec.components != ("value",):
        parts = " og ".join(f"{COMPONENT_LOINC[name]} ({COMPONENT_LABELS[name]})" for name in type_spec.components)
        codes += f" med komponentene {parts}"
    units = f"`{type_spec.unit}`"
    if type_spec.conversions:
        units += " (også " + ", ".join(f"`{unit}`" for unit in type_spec.conversions) + ")"
    return f"- {type_spec.label}: LOINC {codes}; UCUM-enhet {units}"


def accepted_codes_markdown() -> str:
    """What Observation.code and the unit may be, read from the catalogue (measurements.types.SPECS)
    as it is now: a type added there is listed here with no other edit."""
    lines = [_accepted_line(code) for code in SPECS]
    return (
        "Vitale målinger tas imot med disse LOINC-kodene (Observation.code, system http://loinc.org) "
        f"og enhetene (valueQuantity.code, system {UCUM}):\n\n" + "\n".join(lines) + "\n\n"
        "Pasienten er subject.reference `Patient/<uuid>`, subject.identifier med fødselsnummer "
        f"({FNR_SYSTEMS[0]}) eller D-nummer ({FNR_SYSTEMS[1]}), eller enheten som var utlånt "
        "(device.identifier.value). identifier (eller id) kjenner igjen en ny sending av samme måling. "
        f"status er {', '.join(ACCEPTED_STATUSES)} (en ferdig måling); valueQuantity.comparator og "
        "modifierExtension tas ikke imot."
    )


def capability_statement(base_url: str) -> dict:
    """The server's CapabilityStatement: an instance of FHIR R4 in JSON that creates and reads
    Observations and takes batch and transaction Bundles, for device gateways with a bearer token."""
    return {
        "resourceType": "CapabilityStatement",
        "id": "dho",
        "url": f"{base_url}/metadata",
        "name": "DHOFhirMottak",
        "title": "DHO – FHIR-mottak for målinger fra enhetsgatewayer",
        "status": "active",
        "experimental": False,
        "date": CAPABILITY_DATE,
        "publisher": "DHO",
        "description": "Enhetsgatewayer sender vitale målinger (Observation) for pasienter i digital "
        "hjemmeoppfølging, og leser tilbake det de selv har sendt.",
        "kind": "instance",
        "software": {"name": "DHO"},
        "implementation": {"description": "DHO FHIR-mottak", "url": base_url},
        "fhirVersion": FHIR_VERSION,
        "format": ["json", "application/fhir+json"],
        "rest": [
            {
                "mode": "server",
                "documentation": "Svar er application/fhir+json (application/json når klienten ber om det); "
                "feil er OperationOutcome med norsk tekst i diagnostics.",
                "security": {
                    "cors": False,
                    "service": [{"text": "Bearer-token (integrasjonens nøkkel)"}],
                    "description": "Hver forespørsel unntatt denne (metadata) sender `Authorization: Bearer "
                    "<token>` med nøkkelen til en integrasjon (enhetsgateway), som senterets administrator "
                    "oppretter og får vist én gang. En gateway sender for pasientene i kommunene senteret "
                    "betjener, og leser bare målinger den selv har sendt.",
                },
                "resource": [
                    {
                        "type": "Observation",
                        "profile": "http://hl7.org/fhir/StructureDefinition/Observation",
                        "supportedProfile": ["http://hl7.org/fhir/StructureDefinition/vitalsigns"],
                        "documentation": accepted_codes_markdown(),
                        "interaction": [
                            {
                                "code": "create",
                                "documentation": "201 med den lagrede Observation (Prefer: "
                                "return=representation er standard; return=minimal gir tom kropp, "
                                "return=OperationOutcome en OperationOutcome). Samme identifier fra samme "
                                "gateway igjen: 200 med det som alt er lagret; med en annen verdi (en rettet "
                                "måling): 400 (conflict), og den legges i karantenen.",
                            },
                            {"code": "read", "documentation": "Bare målinger denne gatewayen har sendt; ellers 404."},
                            {"code": "vread", "documentation": "Som read; en måling har bare versjon 1."},
                        ],
                        "versioning": "versioned",
                        "readHistory": False,
                        "updateCreate": False,
                        "conditionalCreate": False,
                        "conditionalRead": "not-supported",
                        "conditionalUpdate": False,
                        "conditionalDelete": "not-supported",
                    }
                ],
                "interaction": [
                    {
                        "code": "batch",
                        "documentation": "Hver entry for seg (batch-response): en feil entry "
                        "koster ikke de andre plassen. Bare request POST Observation utføres; en annen "
                        "request (GET, PUT, DELETE …) får 405 og utføres ikke.",
                    },
                    {
                        "code": "transaction",
                        "documentation": "Alt eller ingenting: én feil entry gir 400 med en "
                        "OperationOutcome som navngir den, ingenting lagres, og hele innholdet legges i karantenen. "
                        "En request annet enn POST Observation gir 400, og ingenting lagres eller legges i karantenen.",
                    },
                ],
            }
        ],
    }


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
        "status": {"type": "string", "enum": list(ACCEPTED_STATUSES)},
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
            "items": {
                "type": "object",
                "properties": {
                    "fullUrl": {"type": "string"},
                    "resource": OBSERVATION_SCHEMA,
                    "request": {
                        "type": "object",
                        "description": "Bare POST Observation (uten request leses entry slik); ellers 405 i en "
                        "batch, og en transaction avvises hel",
                        "properties": {
                            "method": {"type": "string", "enum": ["POST"]},
                            "url": {"type": "string", "enum": ["Observation"]},
                        },
                    },
                },
            },
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
OBSERVATION_OUT_SCHEMA = {
    "type": "object",
    "description": "Den lagrede målingen som FHIR R4 Observation (id er målingens id).",
    "properties": {
        **OBSERVATION_SCHEMA["properties"],
        "meta": {
            "type": "object",
            "properties": {"versionId": {"type": "string"}, "lastUpdated": {"type": "string", "format": "date-time"}},
        },
        "category": {"type": "array", "items": _CONCEPT},
        "issued": {"type": "string", "format": "date-time"},
    },
    "required": ["resourceType", "id", "status", "code", "subject", "effectiveDateTime"],
}
CREATED_SCHEMA = {
    "oneOf": [OBSERVATION_OUT_SCHEMA, OUTCOME_SCHEMA],
    "description": "Prefer: return=representation (standard): den lagrede Observation; "
    "return=OperationOutcome: en OperationOutcome; return=minimal: tom kropp.",
}
_INTERACTIONS = {"type": "array", "items": {"type": "object", "properties": {"code": {"type": "string"},
                                                                         "documentation": {"type": "string"}},
                                             "required": ["code"]}}  # fmt: skip
CAPABILITY_SCHEMA = {
    "type": "object",
    "description": "FHIR R4 CapabilityStatement: hva serveren kan (Observation create/read, batch, transaction).",
    "properties": {
        "resourceType": {"type": "string", "enum": ["CapabilityStatement"]},
        "status": {"type": "string", "enum": ["active"]},
        "kind": {"type": "string", "enum": ["instance"]},
        "fhirVersion": {"type": "string", "enum": [FHIR_VERSION]},
        "format": {"type": "array", "items": {"type": "string"}},
        "rest": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "mode": {"type": "string", "enum": ["server"]},
                    "security": {"type": "object"},
                    "resource": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "type": {"type": "string"},
                                "documentation": {"type": "string"},
                                "interaction": _INTERACTIONS,
                            },
                        },
                    },
                    "interaction": _INTERACTIONS,
                },
            },
        },
    },
    "required": ["resourceType", "status", "date", "kind", "fhirVersion", "format", "rest"],
}
