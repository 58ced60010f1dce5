"""The patient's PDF copy of the EBP: own bounds, actions and emergency numbers, never the national id."""

import datetime
import io
from types import SimpleNamespace

import pypdf
import pytest

from ebp.pdf import plan_pdf

CONTENT = {
    "goals": "Å kunne gå tur med hunden hver dag.",
    "diagnoses": ["kols"],
    "schedule": {"spo2": {"frequency": "daily", "times_per_day": 1, "times": ["08:00"]}},
    "thresholds": {
        "spo2": {"value": {"red_below": 88, "yellow_below": 92}},
        "blood_pressure": {"systolic": {"red_below": 90, "yellow_above": 160}, "diastolic": {"yellow_above": 100}},
        "temperature": {"value": {"yellow_above": 37.5, "red_above": 38.5}},
    },
    "trend_rules": [{"kind": "spo2_drop", "points": 4, "baseline": 93}],
    "questionnaires": {"daily_symptoms": [{"code": "slim", "text": "Har du mer slim enn vanlig?", "yellow_if": "yes"}]},
    "actions": {
        "yellow": {"patient_medicinal": "Start prednisolon fra nødpakken", "patient_other": "Leppepust og hvile",
                   "whom_to_call": "Ring oppfølgingssenteret"},
        "red": {"whom_to_call": "Ring legevakten straks", "nurse": "Intern sykepleiernotat"},
    },
    "contacts": [{"name": "Oppfølgingssenteret", "phone": "64 00 00 00", "when": "hverdager 8–15"}],
}  # fmt: skip


@pytest.fixture
def pdf_text():
    patient = SimpleNamespace(name="Olav Haugen", birth_date=datetime.date(1941, 5, 12), national_id="12854112345")
    version = SimpleNamespace(
        number=2,
        decided_at=datetime.datetime(2025, 3, 4, 10, 30, tzinfo=datetime.UTC),
        decided_by=SimpleNamespace(get_full_name=lambda: "Erik Berg"),
        content=CONTENT,
    )
    data = plan_pdf(patient, version)
    assert data.startswith(b"%PDF")
    reader = pypdf.PdfReader(io.BytesIO(data))
    return " ".join(" ".join(page.extract_text().split()) for page in reader.pages)


def test_pdf_shows_the_patients_own_plan(pdf_text):
    for expected in (
        "Min egenbehandlingsplan",
        "Olav Haugen",
        "12.05.1941",
        "versjon 2",
        "Erik Berg",
        "gå tur med hunden",
        "under 88 %",
        "under 92 %",
        "92 % eller mer",
        "over 37,5 til og med 38,5 °C",  # yellow, between the two bounds
        "over 38,5 °C",
        "Systolisk",
        "Grønn",
        "Gul",
        "Rød",
        "Start prednisolon fra nødpakken",
        "Leppepust og hvile",
        "Ring legevakten straks",
        "Har du mer slim enn vanlig?",
        "64 00 00 00",
        "116117",
        "113",
        "08:00",
    ):
        assert expected in pdf_text, expected


def test_pdf_never_shows_national_id_or_nurse_notes(pdf_text):
    assert "12854112345" not in pdf_text
    assert "Intern sykepleiernotat" not in pdf_text
