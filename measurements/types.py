"""The measurement types the platform knows: one fixed UCUM unit each, the range a human body can
produce, and the LOINC code(s) FHIR uses. Shared by the EBP (grenseverdier), ingest and scoring.

Pure Python: no Django models, so pydantic validation and the scoring function can import it freely.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class MeasurementType(StrEnum):
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
    unit: str  # UCUM code, the one unit stored
    unit_label: str  # how the unit is shown to people
    # Values outside [minimum, maximum] are no reading a living body can give: refused at the door.
    # Deliberately wide: a very low but real value is the reading that matters most, never refuse it.
    minimum: float
    maximum: float
    components: tuple[str, ...] = ("value",)  # blood pressure: systolic and diastolic
    decimals: int = 0


SPECS: dict[MeasurementType, TypeSpec] = {
    MeasurementType.SPO2: TypeSpec("Oksygenmetning (SpO2)", "%", "%", 1, 100),
    MeasurementType.PULSE: TypeSpec("Puls", "/min", "slag/min", 10, 300),
    MeasurementType.BLOOD_PRESSURE: TypeSpec(
        "Blodtrykk", "mm[Hg]", "mmHg", 20, 350, components=("systolic", "diastolic")
    ),
    MeasurementType.WEIGHT: TypeSpec("Vekt", "kg", "kg", 1, 500, decimals=1),
    MeasurementType.TEMPERATURE: TypeSpec("Temperatur", "Cel", "°C", 25, 45, decimals=1),
    MeasurementType.GLUCOSE: TypeSpec("Blodsukker", "mmol/L", "mmol/L", 0.5, 60, decimals=1),
    MeasurementType.RESPIRATORY_RATE: TypeSpec("Respirasjonsfrekvens", "/min", "pust/min", 1, 100),
    MeasurementType.PEAK_FLOW: TypeSpec("PEF (peak flow)", "L/min", "L/min", 20, 1000),
}

COMPONENT_LABELS = {"value": "", "systolic": "systolisk", "diastolic": "diastolisk"}


def spec(measurement_type: str) -> TypeSpec:
    return SPECS[MeasurementType(measurement_type)]


def label(measurement_type: str, component: str = "value") -> str:
    base = spec(measurement_type).label
    return f"{base} {COMPONENT_LABELS[component]}".strip()
