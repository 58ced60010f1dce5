"""The starting values a new centre gets: plan templates for KOLS, hjertesvikt and diabetes and default
grenseverdier. They are data, not code paths: the centre edits them in the admin, and every
patient's own plan is approved by the fastlege. Sources: published scoring references
(NEWS2 bands, SpO2 scale 2 for hypercapnic KOLS, ESC weight gain, CAT bands).
"""

from typing import Any

from ebp.content import PlanContent, dump, parse_content

CALL_CENTRE = "Oppfølgingssenteret i åpningstiden, ellers legevakt 116117"
CALL_EMERGENCY = "Ring 113 ved akutt, alvorlig forverring"

DEFAULT_THRESHOLDS = {
    "spo2": {"value": {"red_below": 90, "yellow_below": 94}},
    "pulse": {"value": {"red_below": 40, "yellow_below": 50, "yellow_above": 100, "red_above": 130}},
    "blood_pressure": {
        "systolic": {"red_below": 90, "yellow_below": 100, "yellow_above": 160, "red_above": 200},
        "diastolic": {"yellow_below": 50, "yellow_above": 100, "red_above": 120},
    },
    "temperature": {"value": {"red_below": 35.0, "yellow_below": 36.0, "yellow_above": 38.0, "red_above": 39.0}},
    "respiratory_rate": {"value": {"red_below": 9, "yellow_below": 12, "yellow_above": 20, "red_above": 24}},
    "glucose": {"value": {"red_below": 3.5, "yellow_below": 4.0, "yellow_above": 15.0, "red_above": 20.0}},
}

_DAILY = {"frequency": "daily", "times_per_day": 1, "days_per_week": 7, "times": ["09:00"]}

TEMPLATES: dict[str, dict[str, Any]] = {
    "kols": {
        "name": "KOLS",
        "content": {
            "diagnoses": ["kols"],
            "schedule": {"spo2": _DAILY, "pulse": _DAILY, "temperature": {"frequency": "on_symptoms"}},
            "thresholds": {
                "spo2": {"value": {"red_below": 88, "yellow_below": 92}},
                "pulse": {"value": {"yellow_above": 100, "red_above": 120}},
                "temperature": {"value": {"yellow_above": 38.0, "red_above": 39.0}},
            },
            "questionnaires": {
                "daily_symptoms": [
                    {"code": "more_breathless", "text": "Er du mer tungpustet enn vanlig?", "yellow_if": "yes"},
                    {"code": "sputum_changed", "text": "Har slimet endret farge eller mengde?", "yellow_if": "yes"},
                    {"code": "breathless_at_rest", "text": "Er du tungpustet i hvile?", "red_if": "yes"},
                ],
                "cat": {"yellow_at": 10, "red_at": 21},
            },
            "actions": {
                "yellow": {
                    "patient_medicinal": "Bruk anfallsmedisin som avtalt.",
                    "patient_other": "Hvil, bruk leppepust og mål igjen om to timer.",
                    "whom_to_call": CALL_CENTRE,
                    "nurse": "Ring pasienten samme dag og vurder etter EBP.",
                },
                "red": {
                    "patient_medicinal": "Start reservekuren (prednisolon og antibiotika) slik fastlegen har avtalt.",
                    "patient_other": "Sitt oppreist, bruk leppepust.",
                    "whom_to_call": f"{CALL_CENTRE}. {CALL_EMERGENCY}",
                    "nurse": "Ring pasienten straks; kontakt fastlege eller legevakt ved behov.",
                },
            },
        },
    },
    "hjertesvikt": {
        "name": "Hjertesvikt",
        "content": {
            "diagnoses": ["hjertesvikt"],
            "schedule": {"weight": _DAILY, "pulse": _DAILY, "blood_pressure": _DAILY},
            "thresholds": {
                "pulse": {"value": {"red_below": 40, "yellow_below": 50, "yellow_above": 100, "red_above": 120}},
                "blood_pressure": {
                    "systolic": {"red_below": 85, "yellow_below": 95, "yellow_above": 160, "red_above": 190}
                },
            },
            "trend_rules": [{"kind": "weight_gain", "kg": 2, "days": 3, "colour": "red"}],
            "questionnaires": {
                "daily_symptoms": [
                    {"code": "swollen_legs", "text": "Er bena mer hovne enn vanlig?", "yellow_if": "yes"},
                    {"code": "breathless_lying", "text": "Blir du tungpustet når du ligger flatt?", "yellow_if": "yes"},
                ]
            },
            "actions": {
                "yellow": {
                    "patient_medicinal": "Ta vanndrivende som avtalt med fastlegen.",
                    "patient_other": "Begrens væske og salt, vei deg igjen i morgen tidlig.",
                    "whom_to_call": CALL_CENTRE,
                    "nurse": "Ring pasienten samme dag.",
                },
                "red": {
                    "patient_medicinal": "Ta ekstra dose vanndrivende som avtalt.",
                    "patient_other": "Sitt med hevet overkropp.",
                    "whom_to_call": f"{CALL_CENTRE}. {CALL_EMERGENCY}",
                    "nurse": "Ring pasienten straks og kontakt fastlegen samme dag.",
                },
            },
        },
    },
    "diabetes": {
        "name": "Diabetes",
        "content": {
            "diagnoses": ["diabetes"],
            "schedule": {"glucose": {"frequency": "daily", "times_per_day": 2, "times": ["08:00", "20:00"]}},
            "thresholds": {
                "glucose": {"value": {"red_below": 3.5, "yellow_below": 4.5, "yellow_above": 12.0, "red_above": 18.0}}
            },
            "actions": {
                "yellow": {
                    "patient_other": "Spis eller juster insulin som avtalt; mål igjen om to timer.",
                    "whom_to_call": CALL_CENTRE,
                    "nurse": "Ring pasienten samme dag.",
                },
                "red": {
                    "patient_medicinal": "Ved lavt blodsukker: ta druesukker straks.",
                    "whom_to_call": f"{CALL_CENTRE}. {CALL_EMERGENCY}",
                    "nurse": "Ring pasienten straks.",
                },
            },
        },
    },
}


def template_content(diagnosis: str) -> PlanContent:
    return parse_content(TEMPLATES[diagnosis]["content"])


def default_thresholds() -> dict:
    return dump(parse_content({"thresholds": DEFAULT_THRESHOLDS}))["thresholds"]
