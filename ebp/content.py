"""What one EBP version says, as a validated document: goals, schedule, grenseverdier, trend rules,
questions, actions per colour, contacts and the tverrfaglig møte it was settled in.

pydantic checks the structure (types, unknown keys); `clinical_errors` checks the clinical rules
(bounds in order, no red inside green, no value a body cannot have). Both report errors as
(path, message) with a Norwegian message that names the field, so pages and the API say the same.
Pure Python: scoring imports `Thresholds` from here without touching the database.
"""

from __future__ import annotations

import datetime
import itertools
from dataclasses import dataclass
from typing import Annotated, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from measurements.norwegian import pydantic_errors
from measurements.types import KnownType, label, spec
from tenants.norwegian import number

RuleColour = Literal["yellow", "red"]  # what a trend rule gives (measurements.types.Colour values)
BOUND_NAMES = ("red_below", "yellow_below", "yellow_above", "red_above")
BOUND_LABELS = {
    "red_below": "rød under",
    "yellow_below": "gul under",
    "yellow_above": "gul over",
    "red_above": "rød over",
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Bounds(_Strict):
    """Green lies between yellow_below and yellow_above. A value *below* red_below is red, so a bound
    is the first value that is no longer in the worse band ("rød under 88": 87 is red, 88 is not)."""

    red_below: float | None = None
    yellow_below: float | None = None
    yellow_above: float | None = None
    red_above: float | None = None

    def present(self) -> list[tuple[str, float]]:
        return [(name, getattr(self, name)) for name in BOUND_NAMES if getattr(self, name) is not None]


# measurement type → component ("value", or "systolic"/"diastolic") → bounds
Thresholds = dict[KnownType, dict[str, Bounds]]


class Schedule(_Strict):
    frequency: Literal["daily", "weekly", "on_symptoms"] = "daily"
    times_per_day: Annotated[int, Field(ge=1, le=6)] = 1
    days_per_week: Annotated[int, Field(ge=1, le=7)] = 7
    times: list[datetime.time] = []


class WeightGainRule(_Strict):
    """Heart failure: a gain of at least `kg` within `days` (ESC: > 2 kg in 3 days)."""

    kind: Literal["weight_gain"] = "weight_gain"
    kg: Annotated[float, Field(gt=0, le=20)]
    days: Annotated[int, Field(ge=1, le=14)]
    colour: RuleColour = "red"


class Spo2DropRule(_Strict):
    """KOLS: SpO2 at least `points` below the patient's habitual level (`baseline`)."""

    kind: Literal["spo2_drop"] = "spo2_drop"
    points: Annotated[float, Field(gt=0, le=30)]
    baseline: Annotated[float, Field(ge=50, le=100)]
    colour: RuleColour = "yellow"


TrendRule = Annotated[WeightGainRule | Spo2DropRule, Field(discriminator="kind")]
# The kinds a trend rule may be, for the message when one has none (pydantic's names them only when one is wrong).
TREND_RULE_KINDS = tuple(rule.model_fields["kind"].default for rule in get_args(get_args(TrendRule)[0]))


class Question(_Strict):
    """A yes/no question of the daily symptom set; which answer raises which colour."""

    code: Annotated[str, Field(pattern=r"^[a-z0-9_]{1,40}$")]
    text: Annotated[str, Field(min_length=3, max_length=300)]
    yellow_if: Literal["yes", "no"] | None = None
    red_if: Literal["yes", "no"] | None = None


class CatRule(_Strict):
    """CAT (COPD Assessment Test): 8 items 0–5, total 0–40. Bands are configurable per patient."""

    yellow_at: Annotated[int, Field(ge=0, le=40)] = 10
    red_at: Annotated[int, Field(ge=0, le=40)] = 21


class Questionnaires(_Strict):
    daily_symptoms: list[Question] = []
    cat: CatRule | None = None


class ColourActions(_Strict):
    patient_medicinal: str = ""  # e.g. start the reserve course (prednisolon, antibiotika)
    patient_other: str = ""  # e.g. leppepust, hvile, sengeleie med hevet hodeende
    whom_to_call: str = ""  # the centre in opening hours, legevakt 116117, 113
    nurse: str = ""  # what the nurse at the centre does


class Actions(_Strict):
    yellow: ColourActions = ColourActions()
    red: ColourActions = ColourActions()


class Contact(_Strict):
    name: Annotated[str, Field(min_length=1, max_length=100)]
    phone: Annotated[str, Field(min_length=3, max_length=30)]
    when: str = ""


class Meeting(_Strict):
    date: datetime.date | None = None
    participants: list[str] = []


class PlanContent(_Strict):
    goals: str = ""  # «Hva er viktig for deg?» in the patient's own words
    diagnoses: list[str] = []
    schedule: dict[KnownType, Schedule] = {}
    thresholds: Thresholds = {}
    trend_rules: list[TrendRule] = []
    questionnaires: Questionnaires = Questionnaires()
    actions: Actions = Actions()
    contacts: list[Contact] = []
    meeting: Meeting = Meeting()


@dataclass(frozen=True)
class FieldError:
    path: tuple[str, ...]
    message: str

    @property
    def field(self) -> str:
        """The path as one name, e.g. `thresholds.spo2.value.red_below`."""
        return ".".join(self.path)

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


class InvalidPlanContent(ValueError):
    def __init__(self, errors: list[FieldError]):
        self.errors = errors
        super().__init__("; ".join(str(e) for e in errors))


def _bounds_errors(mtype: str, component: str, bounds: Bounds) -> list[FieldError]:
    errors = []
    where = ("thresholds", mtype, component)
    type_spec = spec(mtype)
    name = label(mtype, component)
    for bound, value in bounds.present():
        if not type_spec.minimum <= value <= type_spec.maximum:
            errors.append(
                FieldError(
                    (*where, bound),
                    f"{name}, {BOUND_LABELS[bound]}: {number(value)} er ikke en mulig verdi (må være mellom "
                    f"{number(type_spec.minimum)} og {number(type_spec.maximum)} {type_spec.unit_label}).",
                )
            )
    if errors:
        return errors
    present = bounds.present()
    for (low_name, low), (high_name, high) in itertools.pairwise(present):
        if low >= high:
            errors.append(FieldError((*where, high_name), _order_message(name, low_name, low, high_name, high)))
    return errors


def _order_message(name: str, low_name: str, low: float, high_name: str, high: float) -> str:
    # A red bound on the wrong side of a yellow one would colour green values red: say so plainly.
    if low_name == "red_below" and high_name in ("yellow_above", "red_above"):
        return f"{name}: rød under ({number(low)}) ligger inne i det grønne området (over {number(high)})."
    if high_name == "red_above" and low_name == "yellow_below":
        return f"{name}: rød over ({number(high)}) ligger inne i det grønne området (under {number(low)})."
    return (
        f"{name}: {BOUND_LABELS[high_name]} ({number(high)}) må være høyere enn "
        f"{BOUND_LABELS[low_name]} ({number(low)})."
    )


def clinical_errors(content: PlanContent) -> list[FieldError]:
    errors: list[FieldError] = []
    for mtype, components in content.thresholds.items():
        allowed = spec(mtype).components
        for component, bounds in components.items():
            if component not in allowed:
                errors.append(
                    FieldError(
                        ("thresholds", mtype, component),
                        f"{label(mtype)} har ikke delverdien «{component}» (bruk {', '.join(allowed)}).",
                    )
                )
                continue
            errors.extend(_bounds_errors(mtype, component, bounds))
    cat = content.questionnaires.cat
    if cat and cat.yellow_at >= cat.red_at:
        errors.append(
            FieldError(
                ("questionnaires", "cat", "red_at"),
                f"CAT: rød fra ({cat.red_at}) må være høyere enn gul fra ({cat.yellow_at}).",
            )
        )
    for i, question in enumerate(content.questionnaires.daily_symptoms):
        if question.yellow_if and question.yellow_if == question.red_if:
            errors.append(
                FieldError(
                    ("questionnaires", "daily_symptoms", str(i), "red_if"),
                    f"Spørsmålet «{question.text}» kan ikke gi både gul og rød for samme svar.",
                )
            )
    return errors


def _pydantic_errors(exc: ValidationError) -> list[FieldError]:
    # The path goes into the message too: a form shows errors it cannot place above the form.
    errors = pydantic_errors(exc, tags={"kind": TREND_RULE_KINDS})
    return [FieldError(path, f"{'.'.join(path)}: {message}") for path, message in errors]


def parse_content(data: dict) -> PlanContent:
    """A PlanContent that passed both the structural and the clinical checks, or InvalidPlanContent."""
    try:
        content = PlanContent.model_validate(data)
    except ValidationError as exc:
        raise InvalidPlanContent(_pydantic_errors(exc)) from None
    errors = clinical_errors(content)
    if errors:
        raise InvalidPlanContent(errors)
    return content


def dump(content: PlanContent) -> dict:
    """The JSON stored on a PlanVersion (dates and times as ISO strings)."""
    return content.model_dump(mode="json")
