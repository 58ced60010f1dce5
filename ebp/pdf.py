"""The patient's own copy of the active EBP as a PDF (weasyprint), in large type for reading at home.

Everything the template shows is prepared here as plain text, so the template stays simple.
Never prints the national id.
"""

from __future__ import annotations

import datetime

from django.template.loader import render_to_string
from django.utils import timezone

from ebp.content import PlanContent, parse_content
from ebp.selectors import answer_rule_text, band_segments, schedule_text, trend_rule_text
from measurements.types import COMPONENT_LABELS, SPECS, Colour, label, spec
from tenants.norwegian import date_text
from tenants.pdf import pdf_from_html
from tenants.people import display_name


def _date(value) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime.datetime):
        value = timezone.localtime(value).date() if timezone.is_aware(value) else value.date()
    return date_text(value)


def _colour_texts(bounds, unit: str) -> dict[str, str]:
    """Green, yellow and red in words, from the same bands the pages show («under 88 %»)."""
    texts: dict[str, list[str]] = {"green": [], "yellow": [], "red": []}
    for segment in band_segments(bounds, unit):
        texts[segment["colour"]].append(segment["text"])
    return {colour: " eller ".join(parts) for colour, parts in texts.items()}


def measurement_rows(content: PlanContent) -> list[dict]:
    """One traffic light per measurement type with thresholds; blood pressure lists both components."""
    rows = []
    for mtype in SPECS:
        components = {c: b for c, b in content.thresholds.get(mtype, {}).items() if b.present()}
        if not components:
            continue
        unit = spec(mtype).unit_label
        lines = {"green": [], "yellow": [], "red": []}
        for component, bounds in components.items():
            prefix = f"{COMPONENT_LABELS[component].capitalize()}: " if component != "value" else ""
            for colour, text in _colour_texts(bounds, unit).items():
                if text:
                    lines[colour].append(prefix + text)
        rows.append({"label": label(mtype), "unit": unit, **lines})
    return rows


def _todo(actions) -> list[tuple[str, str]]:
    items = [
        ("Medisiner", actions.patient_medicinal),
        ("Gjør dette", actions.patient_other),
        ("Ring", actions.whom_to_call),
    ]
    return [(head, text) for head, text in items if text]


def _lights(row: dict, content: PlanContent) -> list[dict]:
    """The table rows of one traffic light: colour in words, the values, what the patient does."""
    lights = [{"colour": "green", "word": f"{Colour.GREEN.label} – alt er som vanlig", "values": row["green"],
               "todo": [("", "Fortsett som vanlig.")]}]  # fmt: skip
    for colour, meaning in ((Colour.YELLOW, "følg med"), (Colour.RED, "ring nå")):
        if row[colour]:
            todo = _todo(getattr(content.actions, colour)) or [("", "Ring kontaktpersonen din.")]
            lights.append({"colour": colour.value, "word": f"{colour.label} – {meaning}", "values": row[colour],
                           "todo": todo})  # fmt: skip
    return lights


def plan_context(patient, version) -> dict:
    content = parse_content(version.content)
    return {
        "patient": {"name": patient.name, "birth_date": _date(patient.birth_date)},
        "version": {
            "number": version.number,
            "decided_at": _date(version.decided_at),
            "decided_by": display_name(version.decided_by),
        },
        "content": content,
        "measurements": [{**row, "lights": _lights(row, content)} for row in measurement_rows(content)],
        "trend_rules": [trend_rule_text(rule) for rule in content.trend_rules],
        "questions": [{"text": q.text, "rule": answer_rule_text(q)} for q in content.questionnaires.daily_symptoms],
        "cat": content.questionnaires.cat,
        "colours": {c.value: c for c in Colour},  # the traffic lights' print colours, from the one source
        "schedule": [{"label": label(t), "text": schedule_text(s)} for t, s in content.schedule.items()],
    }


def plan_pdf(patient, version) -> bytes:
    html = render_to_string("ebp/plan_pdf.html", plan_context(patient, version))
    return pdf_from_html(html)
