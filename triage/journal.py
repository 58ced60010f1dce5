"""The journal note of a handled alert, shaped after the national VKP-DHO FHIR guide: the FHIR document
sent to the municipal record (journaling/document.py, a layer above) carries the same parts:

- `detected_issue`  → DetectedIssue: the alert, its kind (one of the guide's five) and severity;
- `observations`    → Observation per reading (LOINC code, UCUM unit, value, time, interpretation);
- `questionnaire_responses` → QuestionnaireResponse per answer, with the score where there is one;
- `composition`     → Composition: the nurse's actions and note, author and time.

`journal_text` renders the same document as plain Norwegian text to paste into the record today.
"""

from __future__ import annotations

from datetime import datetime

from measurements.types import Colour, spec
from tenants.norwegian import datetime_text, number
from tenants.people import display_name
from triage.models import AlertKind, ContactAction
from triage.selectors import alert_answers, alert_readings

SEVERITY = {"red": "high", "yellow": "moderate"}  # DetectedIssue.severity in the DHO guide


def _colour_word(colour: str) -> str:
    return Colour(colour).word if colour else "ikke vurdert"


def _time(value) -> str:
    return datetime_text(value) if value else ""


def _observation(reading) -> dict:
    type_spec = spec(reading.type)
    value = (
        {"components": {"systolic": reading.systolic, "diastolic": reading.diastolic}}
        if reading.value is None
        else {"value": reading.value}
    )
    return {
        "type": reading.type,
        "code": {"system": "http://loinc.org", "code": type_spec.loinc[0]},
        "unit": type_spec.unit,
        **value,
        "effective": reading.measured_at.isoformat(),
        "interpretation": reading.colour,
        "reason": reading.reason,
    }


def _response(answer) -> dict:
    return {
        "questionnaire": answer.questionnaire,
        "answers": answer.answers,
        "score": answer.total,
        "authored": answer.answered_at.isoformat(),
        "interpretation": answer.colour,
        "reason": answer.reason,
    }


def journal_document(alert, contact) -> dict:
    author = display_name(contact.by)
    return {
        "patient": {"id": str(alert.patient_id), "name": alert.patient.name},
        "detected_issue": {
            "code": alert.kind,
            "display": str(AlertKind(alert.kind).label),
            "severity": SEVERITY[alert.colour],
            "colour": alert.colour,
            "detail": alert.reason,
            "identified": alert.opened_at.isoformat(),
            "without_plan": alert.without_plan,
        },
        "observations": [_observation(r) for r in alert_readings(alert).order_by("measured_at")],
        "questionnaire_responses": [_response(a) for a in alert_answers(alert).order_by("answered_at")],
        "composition": {
            "title": "Digital hjemmeoppfølging – varsel fulgt opp",
            "date": contact.at.isoformat(),
            "author": author,
            "actions": [{"code": a, "display": str(ContactAction(a).label)} for a in contact.actions],
            "text": contact.note,
            "minutes_to_handle": round((contact.at - alert.opened_at).total_seconds() / 60),
        },
    }


def _value_text(o: dict) -> str:
    type_spec = spec(o["type"])
    if "components" in o:
        shown = "/".join(number(o["components"][c], type_spec.decimals) for c in type_spec.components)
    else:
        shown = number(o["value"], type_spec.decimals)
    return f"{shown} {type_spec.unit_label}"


def journal_text(document: dict) -> str:
    issue, comp = document["detected_issue"], document["composition"]
    lines = [
        comp["title"],
        f"Pasient: {document['patient']['name']}",
        f"Varsel: {issue['display']} ({_colour_word(issue['colour'])}), "
        f"åpnet {_time(datetime.fromisoformat(issue['identified']))}",
        f"Begrunnelse: {issue['detail']}",
    ]
    for o in document["observations"]:
        lines.append(
            f"Måling {_time(datetime.fromisoformat(o['effective']))}: {spec(o['type']).label} "
            f"{_value_text(o)} ({_colour_word(o['interpretation'])})"
        )
    for q in document["questionnaire_responses"]:
        score = f", {q['score']} poeng" if q["score"] is not None else ""
        lines.append(
            f"Skjema {_time(datetime.fromisoformat(q['authored']))}: {q['questionnaire']}{score} – {q['reason']}"
        )
    lines.append("Tiltak: " + "; ".join(a["display"] for a in comp["actions"]))
    if comp["text"]:
        lines.append(f"Notat: {comp['text']}")
    lines.append(
        f"Fulgt opp av {comp['author']} {_time(datetime.fromisoformat(comp['date']))} "
        f"({comp['minutes_to_handle']} min etter varselet)"
    )
    return "\n".join(lines)
