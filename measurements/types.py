"""The catalogue of what a reading can be: the measurement types (one fixed UCUM unit each, the range a
human body can produce, the LOINC codes FHIR uses, how the type is named and shown) and the three
colours scoring gives readings and alerts.

Adding a measurement type is one entry in SPECS. Ingest (JSON and FHIR), plans, scoring, charts, the
journal note and the PDF read SPECS when they run and keep no list of their own, so a type added
here (or by a test, at run time) is accepted, scored and charted everywhere.

Pure Python: no Django models, so pydantic validation and the scoring function can import it freely.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator
from pydantic_core import PydanticCustomError


class MeasurementType(StrEnum):
    """Names for the built-in types that code refers to by name (blood pressure's two values, the
    weight and SpO2 trend rules). Not the list of types: iterate SPECS for that."""

    SPO2 = "spo2"
    PULSE = "pulse"
    BLOOD_PRESSURE = "blood_pressure"
    WEIGHT = "weight"
    TEMPERATURE = "temperature"
    GLUCOSE = "glucose"
    RESPIRATORY_RATE = "respiratory_rate"
    PEAK_FLOW = "peak_flow"


@dataclass(frozen=True)
class TypeSpec:
    label: str  # Norwegian, for pages and PDF
    short_label: str  # in a worklist reason: «SpO2 86 % – rød under 88»
    unit: str  # UCUM code, the one unit stored
    unit_label: str  # how the unit is shown to people
    # Values outside [minimum, maximum] are no reading a living body can give: refused at the door.
    # Deliberately wide: a very low but real value is the reading that matters most, never refuse it.
    minimum: float
    maximum: float
    loinc: tuple[str, ...]  # accepted from FHIR gateways; the first is the one the journal note names
    decimals: int = 0  # a value is shown with at most this many (180 [lb_av] is stored 81.647, shown 81,6)
    components: tuple[str, ...] = ("value",)  # blood pressure: systolic and diastolic
    # Other UCUM units a gateway may send, each with its conversion to `unit`.
    conversions: Mapping[str, Callable[[float], float]] = field(default_factory=dict)


SPECS: dict[str, TypeSpec] = {
    "spo2": TypeSpec("Oksygenmetning (SpO2)", "SpO2", "%", "%", 1, 100, loinc=("2708-6", "59408-5")),
    "pulse": TypeSpec("Puls", "Puls", "/min", "slag/min", 10, 300, loinc=("8867-4",)),
    "blood_pressure": TypeSpec(
        "Blodtrykk", "Blodtrykk", "mm[Hg]", "mmHg", 20, 350, loinc=("85354-9",), components=("systolic", "diastolic")
    ),
    "weight": TypeSpec(
        "Vekt", "Vekt", "kg", "kg", 1, 500, loinc=("29463-7",), decimals=1,
        conversions={"g": lambda v: v / 1000, "[lb_av]": lambda v: v * 0.45359237},
    ),
    "temperature": TypeSpec(
        "Temperatur", "Temperatur", "Cel", "°C", 25, 45, loinc=("8310-5",), decimals=1,
        conversions={"[degF]": lambda v: (v - 32) * 5 / 9},
    ),
    "glucose": TypeSpec(
        "Blodsukker", "Blodsukker", "mmol/L", "mmol/L", 0.5, 60, loinc=("14743-9", "15074-8", "2339-0", "41653-7"),
        decimals=1, conversions={"mg/dL": lambda v: v / 18.016},
    ),
    "respiratory_rate": TypeSpec("Respirasjonsfrekvens", "Respirasjon", "/min", "pust/min", 1, 100, loinc=("9279-1",)),
    "peak_flow": TypeSpec("PEF (peak flow)", "PEF", "L/min", "L/min", 20, 1000, loinc=("19935-6",)),
}  # fmt: skip

COMPONENT_LABELS = {"value": "", "systolic": "systolisk", "diastolic": "diastolisk"}
COMPONENT_LOINC = {"systolic": "8480-6", "diastolic": "8462-4"}  # inside a blood pressure Observation


def spec(measurement_type: str) -> TypeSpec:
    return SPECS[measurement_type]


def label(measurement_type: str, component: str = "value") -> str:
    base = spec(measurement_type).label
    return f"{base} {COMPONENT_LABELS[component]}".strip()


def type_for_loinc(code: str) -> str | None:
    """The measurement type a LOINC code stands for, or None."""
    return next((mtype for mtype, type_spec in SPECS.items() if code in type_spec.loinc), None)


def _known(measurement_type: str) -> str:
    if measurement_type not in SPECS:
        raise PydanticCustomError(
            "unknown_measurement_type",
            "ukjent type «{given}»; bruk en av: {known}",
            {"given": measurement_type, "known": ", ".join(SPECS)},
        )
    return measurement_type


# A measurement type in a pydantic model (ingest item, plan thresholds): checked against SPECS as it
# is when the data arrives, not as it was when the model class was built.
KnownType = Annotated[str, AfterValidator(_known)]


# --- colours -------------------------------------------------------------------------------------


class Colour(StrEnum):
    """What scoring gives a reading, an answer or an alert, with everything that is said or drawn
    about it. Worse colours rank higher; an alert is never green."""

    # value, rank, label, ink (dots, text), fill (the band behind a chart, a badge's background),
    # signal (the solid traffic light of the printed plan) and the text written on it. The one source of
    # these colours: dho.css's --red/--red-bg … and the plan PDF's styles are these values
    # (tests/measurements/test_colours.py).
    rank: int
    label: str
    ink: str
    fill: str
    signal: str
    on_signal: str
    GREEN = "green", 0, "Grønn", "#1e6b34", "#e4f4e8", "#1e6b34", "#fff"
    YELLOW = "yellow", 1, "Gul", "#7a5200", "#fff4d6", "#ffd500", "#000"
    RED = "red", 2, "Rød", "#a4161a", "#fde8e8", "#a4161a", "#fff"

    def __new__(cls, value: str, rank: int, label: str, ink: str, fill: str, signal: str, on_signal: str):
        member = str.__new__(cls, value)
        member._value_ = value
        member.rank, member.label, member.ink, member.fill = rank, label, ink, fill
        member.signal, member.on_signal = signal, on_signal
        return member

    @property
    def word(self) -> str:
        """The colour inside a sentence: «rød under 88»."""
        return self.label.lower()

    @classmethod
    def choices(cls, *members: Colour) -> list[tuple[str, str]]:
        """Model field choices: all colours, or the ones named."""
        return [(c.value, c.label) for c in members or cls]


UNSCORED_INK = "#4f5b6b"  # a reading not scored yet (colour "")
# Plain dicts of the same facts, for the loops that look one up per row or per dot.
RANK = {c.value: c.rank for c in Colour}
INK = {c.value: c.ink for c in Colour} | {"": UNSCORED_INK}
