"""The document the kommune's EPJ receives: a FHIR R4 Bundle of type `document`, shaped after the
national VKP-DHO guide (the names and codes are journaling/vkp.py's).

- `alert_document(journal_note)`: a handled alert. Composition (the nurse's actions and note, and
  the note's text), Patient, Practitioner, the Device that raised the alert, a DetectedIssue for the
  alert, an Observation per reading and a QuestionnaireResponse (with its score Observation) per
  answer that opened or kept it.
- `contact_document(contact)`: a note without an alert (a routine contact, an evaluation, the patient
  calling in): the same shape without the DetectedIssue and its findings.

Built from stored rows only, never from the clock: the same rows give the same bytes
(`document_bytes`), so a document sent twice is the same document, with the same identifier. Every
fullUrl is `urn:uuid:` of a uuid5 of what the resource stands for (the reading, the alert, the
user …), every reference inside the document points at one of them.

A worker builds it, not a user's request: the caller has declared its scope (`system_scope(…)`, as
triage's tasks do, tenants/rls.py) and the build reads through the same selectors the pages use
(`triage.selectors.alert_readings` …). Building it is not an access a person made, so it is not
audited here; sending it is the outbox's step, and audited there.
"""

from __future__ import annotations

import html
import json
import uuid
from collections.abc import Iterable
from typing import Any

from django.utils import timezone

from measurements.fhir import reading_to_observation
from measurements.models import Questionnaire
from measurements.types import Colour
from patients.national_id import is_d_number
from tenants.people import display_name
from tenants.rls import current_scope
from tenants.selectors import hpr_number_of
from triage.models import AlertKind, ContactAction, ContactKind
from triage.selectors import alert_answers, alert_readings

from . import vkp

# Every id in a document is a uuid5 in this namespace. Never change it: the ids a receiver has seen
# would all change with it.
NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:dho:journaling")

ALERT_TITLE = "Digital hjemmeoppfølging – varsel fulgt opp"  # as the journal note's (triage/journal.py)
DEVICE_NAME = "DHO – automatisk vurdering av målinger og skjemasvar"
# A colour as Observation.interpretation (HL7 v3 ObservationInterpretation).
INTERPRETATION = {"green": ("N", "Normal"), "yellow": ("A", "Abnormal"), "red": ("AA", "Critical abnormal")}
COLOUR_LABEL = {c.value: c.label for c in Colour}  # «Rød», «Gul», «Grønn»


def document_bytes(document: dict) -> bytes:
    """The document as it is sent: keys sorted, no spaces, UTF-8. The same document, the same bytes."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _id(*parts: object) -> str:
    return str(uuid.uuid5(NAMESPACE, "/".join(str(p) for p in parts)))


def note_bundle_id(journal_note_id: int) -> uuid.UUID:
    """The Bundle.identifier (and Bundle.id) `alert_document` gives this journal note, known before
    the document is built: the outbox's row carries it from the start."""
    return uuid.UUID(_id(f"journal-note/{journal_note_id}"))


def contact_bundle_id(contact_id: int) -> uuid.UUID:
    """The Bundle.identifier `contact_document` gives this contact."""
    return uuid.UUID(_id(f"contact/{contact_id}"))


def _url(resource_id: str) -> str:
    return f"urn:uuid:{resource_id}"


def _time(value) -> str:
    # The default time zone, whatever a caller may have activated: the same row, the same text.
    return timezone.localtime(value, timezone.get_default_timezone()).isoformat()


def _ref(resource: dict, display: str = "") -> dict:
    reference = {"reference": _url(resource["id"])}
    return reference | {"display": display} if display else reference


def _div(paragraphs: Iterable[str]) -> dict:
    """Narrative: one <p> per paragraph, a line break where the text has one, everything escaped."""
    body = "".join(
        "<p>" + "<br/>".join(html.escape(line, quote=False) for line in text.splitlines()) + "</p>"
        for text in paragraphs
        if text.strip()
    )
    return {"status": "generated", "div": f'<div xmlns="{vkp.XHTML}">{body}</div>'}


def _scope_require(municipality_id: int) -> None:
    """The readings and answers are read under row-level security: outside a scope that sees the
    patient's kommune they would come back empty, and the document would be silently short."""
    scope = current_scope()
    if scope is None or municipality_id not in scope:
        raise RuntimeError(
            "Journaldokumentet må bygges i et omfang som ser pasientens kommune (system_scope i en jobb)."
        )


# --- who ---------------------------------------------------------------------------------------------


def patient_identifier(patient) -> dict:
    """Fødselsnummer or D-nummer (first digit 4–7), by the guide's OIDs."""
    system = vkp.DNR_SYSTEM if is_d_number(patient.national_id) else vkp.FNR_SYSTEM
    return {"system": system, "value": patient.national_id}


def _patient(patient) -> dict:
    return {
        "resourceType": "Patient",
        "id": _id("patient", patient.pk),
        "identifier": [patient_identifier(patient)],
        "name": [{"text": patient.name}],
    }


def _practitioner(user) -> dict:
    name: dict = {"text": display_name(user)}
    if user.last_name:
        name["family"] = user.last_name
    if user.first_name:
        name["given"] = [user.first_name]
    practitioner: dict[str, Any] = {"resourceType": "Practitioner", "id": _id("user", user.pk), "name": [name]}
    hpr = hpr_number_of(user)
    if hpr:
        practitioner["identifier"] = [{"system": vkp.HPR_SYSTEM, "value": hpr}]
    return practitioner


def _device() -> dict:
    return {
        "resourceType": "Device",
        "id": _id("device", "dho"),
        "deviceName": [{"name": DEVICE_NAME, "type": "user-friendly-name"}],
    }


# --- findings ----------------------------------------------------------------------------------------


def _interpretation(colour: str, reason: str) -> list[dict]:
    code, display = INTERPRETATION[colour]
    label = COLOUR_LABEL[colour]
    return [
        {
            "coding": [{"system": vkp.INTERPRETATION, "code": code, "display": display}],
            "text": f"{label}: {reason}" if reason else label,
        }
    ]


def _observation(reading, subject: dict) -> dict:
    """measurements.fhir's Observation of the reading (LOINC and UCUM from measurements.types), with
    the guide's profile and SNOMED CT code, the patient of this document and the reading's colour."""
    observation = reading_to_observation(reading)
    profile, snomed = vkp.OBSERVATION_PROFILES.get(reading.type, (vkp.OBSERVATION_PROFILE, ""))
    observation["id"] = _id("reading", reading.pk)
    observation["meta"] = {"profile": [profile]}
    # Ours, stable across documents; the gateway's own identifier means nothing to the EPJ.
    observation["identifier"] = [{"system": vkp.URI_SYSTEM, "value": _url(observation["id"])}]
    observation["subject"] = subject
    observation["effectiveDateTime"] = _time(reading.measured_at)
    observation["issued"] = _time(reading.received_at)
    if snomed:
        observation["code"]["coding"].append({"system": vkp.SNOMED, "code": snomed})
    for component, name in zip(observation.get("component", []), ("systolic", "diastolic"), strict=False):
        component["code"]["coding"].append({"system": vkp.SNOMED, "code": vkp.COMPONENT_SNOMED[name]})
    if reading.colour:
        observation["interpretation"] = _interpretation(reading.colour, reading.reason)
    return observation


def _question_texts(answer) -> dict[str, str]:
    """The daily questions' texts as the plan the answer was scored by put them (a plan's content is
    frozen once submitted, so the text does not move)."""
    content = answer.plan_version.content if answer.plan_version_id else {}
    questions = (content.get("questionnaires") or {}).get("daily_symptoms") or []
    return {q["code"]: q["text"] for q in questions if isinstance(q, dict) and q.get("code") and q.get("text")}


def _items(answer) -> list[dict]:
    if answer.questionnaire == Questionnaire.CAT:
        items = (answer.answers or {}).get("items") or []
        return [
            {"linkId": f"cat-{n}", "text": f"CAT spørsmål {n}", "answer": [{"valueInteger": value}]}
            for n, value in enumerate(items, start=1)
        ]
    texts = _question_texts(answer)
    order = {code: i for i, code in enumerate(texts)}
    codes = sorted(answer.answers or {}, key=lambda code: (order.get(code, len(order)), code))
    return [
        {"linkId": code, **({"text": texts[code]} if code in texts else {}),
         "answer": [{"valueBoolean": answer.answers[code] == "yes"}]}
        for code in codes
    ]  # fmt: skip


def _response(answer, subject: dict) -> dict:
    response: dict[str, Any] = {
        "resourceType": "QuestionnaireResponse",
        "id": _id("answer", answer.pk),
        "meta": {"profile": [vkp.QUESTIONNAIRE_RESPONSE_PROFILE]},
        "_questionnaire": {
            "extension": [{"url": vkp.DISPLAY_EXTENSION, "valueString": str(Questionnaire(answer.questionnaire).label)}]
        },
        "status": "completed",
        "subject": subject,
        "authored": _time(answer.answered_at),
    }
    items = _items(answer)
    if items:
        response["item"] = items
    return response


def _score(answer, response: dict, subject: dict) -> dict | None:
    """The answer's score as an Observation derived from its QuestionnaireResponse: the CAT sum, and
    for every scored answer its colour and reason."""
    if answer.total is None and not answer.colour:
        return None
    label = str(Questionnaire(answer.questionnaire).label)
    score: dict[str, Any] = {
        "resourceType": "Observation",
        "id": _id("answer", answer.pk, "score"),
        "meta": {"profile": [vkp.OBSERVATION_PROFILE]},
        "status": "final",
        "code": {"text": f"Skår: {label}" if answer.total is not None else f"Vurdering: {label}"},
        "subject": subject,
        "effectiveDateTime": _time(answer.answered_at),
        "derivedFrom": [_ref(response)],
    }
    if answer.total is not None:
        score["valueInteger"] = answer.total
    if answer.colour:
        score["interpretation"] = _interpretation(answer.colour, answer.reason)
    return score


def _detected_issue(alert, contact, subject: dict, author: dict, nurse: dict, implicated: list[dict]) -> dict:
    code, display = vkp.ALERT_CODES[alert.kind]
    issue: dict[str, Any] = {
        "resourceType": "DetectedIssue",
        "id": _id("alert", alert.pk),
        "meta": {"profile": [vkp.DETECTED_ISSUE_PROFILE]},
        "status": "final",
        "code": {
            "coding": [{"system": vkp.ALERT_CODE_SYSTEM, "code": code, "display": display}],
            "text": str(AlertKind(alert.kind).label),
        },
        "severity": vkp.SEVERITY[alert.colour],
        "patient": subject,
        "identifiedDateTime": _time(alert.opened_at),
        "author": _ref(author, DEVICE_NAME),
        "detail": f"{COLOUR_LABEL[alert.colour]}: {alert.reason}",
    }
    issue["identifier"] = [{"system": vkp.URI_SYSTEM, "value": _url(issue["id"])}]
    if implicated:
        issue["implicated"] = [_ref(resource) for resource in implicated]
    if contact.actions:
        issue["mitigation"] = [
            {"action": {"text": str(ContactAction(a).label)}, "date": _time(contact.at), "author": nurse}
            for a in contact.actions
        ]
    return issue


# --- the document ------------------------------------------------------------------------------------


def _follow_up_text(contact) -> list[str]:
    """The nurse's own part: what was done and the note, as they wrote it."""
    paragraphs = []
    if contact.actions:
        paragraphs.append("Tiltak: " + "; ".join(str(ContactAction(a).label) for a in contact.actions))
    if contact.note:
        paragraphs.append(f"Notat: {contact.note}")
    return paragraphs


def _bundle(key: str, timestamp, resources: list[dict]) -> dict:
    bundle_id = _id(key)
    return {
        "resourceType": "Bundle",
        "id": bundle_id,
        "identifier": {"system": vkp.URI_SYSTEM, "value": _url(bundle_id)},
        "type": "document",
        "timestamp": _time(timestamp),
        "entry": [{"fullUrl": _url(resource["id"]), "resource": resource} for resource in resources],
    }


def _composition(key: str, *, title: str, date, subject: dict, nurse: dict, sections: list[dict], period=None) -> dict:
    composition: dict[str, Any] = {
        "resourceType": "Composition",
        "id": _id(key, "composition"),
        "meta": {"profile": [vkp.COMPOSITION_PROFILE]},
        "status": "final",
        "type": {"coding": [vkp.COMPOSITION_TYPE]},
        "category": [{"coding": [vkp.CATEGORY_DHO]}],
        "subject": subject,
        "date": _time(date),
        "author": [nurse],
        "title": title,
        "section": sections,
    }
    if period:
        composition["event"] = [{"period": {"start": _time(period[0]), "end": _time(period[1])}}]
    return composition


def alert_document(journal_note) -> dict:
    """The document of a handled alert, from its journal note and the rows it was written from."""
    _scope_require(journal_note.municipality_id)
    with timezone.override(timezone.get_default_timezone()):
        alert, contact, patient = journal_note.alert, journal_note.contact, journal_note.patient
        key = f"journal-note/{journal_note.pk}"  # note_bundle_id
        patient_resource, practitioner, device = _patient(patient), _practitioner(contact.by), _device()
        subject = _ref(patient_resource) | {"identifier": patient_identifier(patient)}
        nurse = _ref(practitioner, display_name(contact.by))
        observations = [_observation(r, subject) for r in alert_readings(alert).order_by("measured_at", "pk")]
        responses, scores = [], []
        for answer in alert_answers(alert).select_related("plan_version").order_by("answered_at", "pk"):
            response = _response(answer, subject)
            responses.append(response)
            score = _score(answer, response, subject)
            if score is not None:
                scores.append(score)
        issue = _detected_issue(alert, contact, subject, device, nurse, observations + responses)
        findings = [issue, *observations, *responses, *scores]
        sections: list[dict[str, Any]] = [
            {
                "title": "Oppfølging av varsel",
                "code": {"coding": [vkp.SECTION_FOLLOW_UP]},
                "author": [nurse],
                "text": _div(_follow_up_text(contact)),
                "entry": [_ref(resource) for resource in findings],
            },
            {"title": "Journalnotat", "code": {"coding": [vkp.SECTION_COMPILED]}, "text": _div([journal_note.text])},
        ]
        composition = _composition(
            key, title=ALERT_TITLE, date=journal_note.created_at, subject=subject, nurse=nurse,
            sections=sections, period=(alert.opened_at, contact.at),
        )  # fmt: skip
        return _bundle(key, journal_note.created_at, [composition, patient_resource, practitioner, device, *findings])


def contact_document(contact) -> dict:
    """The document of a note without an alert: a routine contact, an evaluation, the patient calling
    in. A contact about an alert is sent as the alert's journal note (`alert_document`)."""
    if contact.kind == ContactKind.ALERT:
        raise ValueError("A contact about an alert is sent as its journal note: alert_document(contact.journal_note)")
    _scope_require(contact.municipality_id)
    with timezone.override(timezone.get_default_timezone()):
        key = f"contact/{contact.pk}"  # contact_bundle_id
        patient_resource, practitioner = _patient(contact.patient), _practitioner(contact.by)
        subject = _ref(patient_resource) | {"identifier": patient_identifier(contact.patient)}
        nurse = _ref(practitioner, display_name(contact.by))
        label = str(ContactKind(contact.kind).label)
        section = {
            "title": label,
            "code": {"coding": [vkp.SECTION_FOLLOW_UP]},
            "author": [nurse],
            "text": _div(_follow_up_text(contact)),
        }
        composition = _composition(
            key, title=f"Digital hjemmeoppfølging – {label.lower()}", date=contact.at, subject=subject,
            nurse=nurse, sections=[section],
        )  # fmt: skip
        return _bundle(key, contact.at, [composition, patient_resource, practitioner])
