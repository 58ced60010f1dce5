"""Validation of what gateways send, item by item (pydantic for the shape, plain checks for the rest).

Each item either becomes a `NewReading` / `NewAnswer` in the platform's one unit per type, or a list
of `ItemError(field, message)` in Norwegian that names what was wrong. One bad item never affects
its neighbours. Pure Python: no database; patient lookup (by patient_id, or by `device_serial` through
the device's loan) happens in measurements.services.
"""

from __future__ import annotations

import datetime
import uuid
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from measurements import survey
from measurements.norwegian import pydantic_errors
from measurements.types import KnownType, MeasurementType, spec
from tenants.norwegian import number

MAX_BATCH = 1000
MAX_FUTURE = datetime.timedelta(minutes=5)  # device clocks drift a little; more is a wrong clock
MAX_AGE = datetime.timedelta(days=30)  # older than this is no longer follow-up, it is history


@dataclass(frozen=True)
class ItemError:
    field: str
    message: str
    # The FHIR issue type when the field alone does not say it (fhir.operation_outcome): "not-supported"
    # for an element this server cannot honour, "conflict" for a resend that differs from what is stored.
    code: str | None = None

    def as_dict(self) -> dict:
        out = {"field": self.field, "message": self.message}
        if self.code:
            out["code"] = self.code
        return out


ExternalId = Annotated[str, Field(min_length=1, max_length=100)]


class ReadingIn(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    external_id: ExternalId
    patient_id: uuid.UUID | None = None
    device_serial: Annotated[str, Field(max_length=100)] | None = None
    type: KnownType
    value: float | None = None
    systolic: float | None = None
    diastolic: float | None = None
    unit: Annotated[str, Field(min_length=1, max_length=20)]
    measured_at: AwareDatetime


@dataclass(frozen=True)
class NewReading:
    external_id: str
    patient_id: uuid.UUID | None  # None until measurements.services resolves `device_serial` by its loan
    type: str
    value: float | None
    systolic: float | None
    diastolic: float | None
    original: str
    measured_at: datetime.datetime
    device_serial: str | None = None


YES_NO = ("yes", "no")
ANSWER_VALUES = tuple(dict.fromkeys((*YES_NO, *survey.ALL_OPTIONS)))


class AnswerIn(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    external_id: ExternalId
    patient_id: uuid.UUID
    questionnaire: Literal["daily_symptoms", "cat", "survey"]
    # yes/no for the daily symptoms; the brukerundersøkelse's own options (measurements.survey)
    answers: dict[Annotated[str, Field(pattern=r"^[a-z0-9_]{1,40}$")], Literal[ANSWER_VALUES]] = {}
    items: list[Annotated[int, Field(ge=0, le=5)]] = []  # CAT: 8 items, 0–5 each
    answered_at: AwareDatetime


@dataclass(frozen=True)
class NewAnswer:
    external_id: str
    patient_id: uuid.UUID
    questionnaire: str
    answers: dict
    total: int | None
    answered_at: datetime.datetime


def _pydantic_errors(exc: ValidationError) -> list[ItemError]:
    return [ItemError(".".join(path) or "item", message) for path, message in pydantic_errors(exc)]


def _time_errors(field: str, at: datetime.datetime, now: datetime.datetime) -> list[ItemError]:
    if at > now + MAX_FUTURE:
        return [ItemError(field, "tidspunktet ligger mer enn 5 minutter fram i tid; sjekk klokken i enheten")]
    if at < now - MAX_AGE:
        return [ItemError(field, "tidspunktet er mer enn 30 dager gammelt")]
    return []


def _utc(at: datetime.datetime) -> datetime.datetime:
    """The same instant in UTC, as the database gives it back. pydantic's parsed offset is its own
    tzinfo class, whose every comparison asks it for the offset again in Python: an item's time is a
    dictionary key several times over in a batch (measurements.services), and a thousand items'
    lookups cost ten times as much with it as with UTC (about 10 ms of a batch)."""
    return at.astimezone(datetime.UTC)


def _convert(item: ReadingIn) -> tuple[float | None, float | None, float | None, str, list[ItemError]]:
    """The values in the type's one unit, what was sent when converted, or the unit error."""
    type_spec = spec(item.type)
    values = (item.value, item.systolic, item.diastolic)
    if item.unit == type_spec.unit:
        return *values, "", []
    convert = type_spec.conversions.get(item.unit)
    if convert is None:
        allowed = [type_spec.unit, *type_spec.conversions]
        return (
            *values,
            "",
            [ItemError("unit", f"enheten «{item.unit}» passer ikke til {item.type}; bruk {' eller '.join(allowed)}")],
        )
    original = f"{number(item.value)} {item.unit}" if item.value is not None else ""
    return (convert(item.value) if item.value is not None else None), None, None, original, []


def _value_errors(item: ReadingIn, value, systolic, diastolic) -> list[ItemError]:
    type_spec = spec(item.type)
    if item.type == MeasurementType.BLOOD_PRESSURE:
        errors = [ItemError(f, "mangler (blodtrykk sendes som systolic og diastolic)") for f, v in
                  (("systolic", systolic), ("diastolic", diastolic)) if v is None]  # fmt: skip
        if errors:
            return errors
        checks = (("systolic", systolic), ("diastolic", diastolic))
    else:
        if value is None:
            return [ItemError("value", "mangler")]
        checks = (("value", value),)
    errors = [
        ItemError(field, f"{number(v, 2)} {type_spec.unit_label} er ikke en mulig verdi for {item.type} "
                         f"(må være mellom {number(type_spec.minimum)} og {number(type_spec.maximum)})")
        for field, v in checks
        if not type_spec.minimum <= v <= type_spec.maximum
    ]  # fmt: skip
    if not errors and item.type == MeasurementType.BLOOD_PRESSURE and diastolic >= systolic:
        errors.append(ItemError("diastolic", "diastolisk trykk må være lavere enn systolisk"))
    return errors


def parse_reading(raw: Any, now: datetime.datetime) -> tuple[NewReading | None, list[ItemError]]:
    try:
        item = ReadingIn.model_validate(raw)
    except ValidationError as exc:
        return None, _pydantic_errors(exc)
    if item.patient_id is None and not item.device_serial:
        return None, [ItemError("patient_id", "mangler (eller device_serial for en utlånt enhet)")]
    value, systolic, diastolic, original, errors = _convert(item)
    errors = errors or _value_errors(item, value, systolic, diastolic)
    errors += _time_errors("measured_at", item.measured_at, now)
    if errors:
        return None, errors
    return NewReading(
        external_id=item.external_id,
        patient_id=item.patient_id,
        type=item.type,
        value=None if item.type == MeasurementType.BLOOD_PRESSURE else round(value, 3),
        systolic=systolic,
        diastolic=diastolic,
        original=original,
        measured_at=_utc(item.measured_at),
        # patient_id wins: a resubmitted reading names its patient, whatever device sent it.
        device_serial=item.device_serial if item.patient_id is None else None,
    ), []


CAT_ITEMS = 8


def parse_answer(raw: Any, now: datetime.datetime) -> tuple[NewAnswer | None, list[ItemError]]:
    try:
        item = AnswerIn.model_validate(raw)
    except ValidationError as exc:
        return None, _pydantic_errors(exc)
    errors = _time_errors("answered_at", item.answered_at, now)
    total = None
    if item.questionnaire == "cat":
        if len(item.items) != CAT_ITEMS:
            errors.append(ItemError("items", f"CAT har {CAT_ITEMS} spørsmål; fikk {len(item.items)} svar"))
        total = sum(item.items)
        answers = {"items": item.items}
    else:
        if not item.answers:
            errors.append(ItemError("answers", "mangler svar"))
        answers = item.answers
        if item.questionnaire == "survey":
            errors += [ItemError(f"answers.{code}", message) for code, message in survey.answer_errors(answers)]
        else:
            errors += [ItemError(f"answers.{code}", "svaret må være yes eller no")
                       for code, given in answers.items() if given not in YES_NO]  # fmt: skip
    if errors:
        return None, errors
    return NewAnswer(item.external_id, item.patient_id, item.questionnaire, answers, total, _utc(item.answered_at)), []
