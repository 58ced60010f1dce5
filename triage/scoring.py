"""Scoring: green, yellow or red for one reading or answer, against one patient's plan.

Pure functions of (reading, thresholds, history): no database, no clock. The Celery task looks up the
plan and the history and stores the result; here the rules can be tested exhaustively, boundary by
boundary, without either.

Bounds are strict. «Rød under 88» makes 87 red and leaves 88 to the next band; the same for every
bound. Red wins over yellow; a trend rule and a bound combine the same way (the worse colour wins,
and the reason names both, the worse first).
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass

from ebp.content import Bounds, PlanContent, Spo2DropRule, WeightGainRule
from measurements.types import RANK, Colour, MeasurementType, label, spec
from tenants.norwegian import day_text, number


@dataclass(frozen=True)
class ReadingValue:
    type: str
    measured_at: datetime.datetime
    value: float | None = None
    systolic: float | None = None
    diastolic: float | None = None
    colour: str = ""  # as scored; "" while unscored (history only: trend rules read it)


@dataclass(frozen=True)
class Score:
    colour: str  # green | yellow | red
    reason: str  # for the worklist: "SpO2 86 % – rød under 88"
    # A late reading's finding rests on readings measured after it: their times, so the caller can
    # put them on the alert with it.
    later: tuple[datetime.datetime, ...] = ()


@dataclass(frozen=True)
class _Finding:
    colour: str
    text: str
    later: datetime.datetime | None = None


def _num(value: float) -> str:
    """A number of the plan (a bound, a rule's kg), as written there."""
    return number(value, 1)


def _against_bounds(value: float, bounds: Bounds) -> tuple[str, str, float | None]:
    """(colour, "rød under", 88) for one value; ("green", "", None) inside the green band."""
    if bounds.red_below is not None and value < bounds.red_below:
        return "red", "rød under", bounds.red_below
    if bounds.red_above is not None and value > bounds.red_above:
        return "red", "rød over", bounds.red_above
    if bounds.yellow_below is not None and value < bounds.yellow_below:
        return "yellow", "gul under", bounds.yellow_below
    if bounds.yellow_above is not None and value > bounds.yellow_above:
        return "yellow", "gul over", bounds.yellow_above
    return "green", "", None


def _shown(reading: ReadingValue, component: str, value: float, against: float | None = None) -> str:
    """«SpO2 86 %», «Blodtrykk systolisk 182 mmHg»: the value with its type's decimals, never rounded
    onto the bound it is compared with. Norwegian usage puts a space before the unit («38,5 °C»)."""
    type_spec = spec(reading.type)
    name = type_spec.short_label
    if component != "value":
        name = f"{name} {label(reading.type, component).split()[-1]}"
    return f"{name} {number(value, type_spec.decimals, against=against)} {type_spec.unit_label}"


def _bound_findings(reading: ReadingValue, plan: PlanContent) -> list[_Finding]:
    findings = []
    for component in spec(reading.type).components:
        value = getattr(reading, component)
        bounds = plan.thresholds.get(reading.type, {}).get(component)
        if bounds is None or value is None:
            continue
        colour, why, bound = _against_bounds(value, bounds)
        if colour != "green":
            findings.append(_Finding(colour, f"{_shown(reading, component, value, bound)} – {why} {_num(bound)}"))
    return findings


def _weight_gain(reading: ReadingValue, rule: WeightGainRule, history: Sequence[ReadingValue]) -> _Finding | None:
    since = reading.measured_at - datetime.timedelta(days=rule.days)
    earlier = [
        h.value
        for h in history
        if h.type == MeasurementType.WEIGHT and h.value is not None and since <= h.measured_at < reading.measured_at
    ]
    if not earlier:
        return None
    gain = reading.value - min(earlier)
    if gain < rule.kg - 1e-9:  # float sums: 2.0000000001 kg counts as 2 kg
        return None
    decimals = spec(reading.type).decimals
    return _Finding(
        rule.colour,
        f"{_shown(reading, 'value', reading.value)} – økning {number(gain, decimals, against=rule.kg)} kg "
        f"på {rule.days} dager ({Colour(rule.colour).word} ved {_num(rule.kg)} kg)",
    )


def _weight_gain_after(reading: ReadingValue, rule: WeightGainRule, history: Sequence[ReadingValue]) -> _Finding | None:
    """A reading that arrives after weights measured later than it (an offline device, a second
    device): the gain from it to the highest of them. Those were scored without it, so nothing else
    finds this gain. Only weights already scored count: one still unscored (in this batch) compares
    itself with this reading, and one already at the rule's colour or worse has had its alert."""
    until = reading.measured_at + datetime.timedelta(days=rule.days)
    later = [
        h
        for h in history
        if h.type == MeasurementType.WEIGHT
        and h.value is not None
        and h.colour
        and RANK[h.colour] < RANK[rule.colour]
        and reading.measured_at < h.measured_at <= until
    ]
    if not later:
        return None
    highest = max(later, key=lambda h: (h.value, h.measured_at))
    gain = highest.value - reading.value
    if gain < rule.kg - 1e-9:
        return None
    decimals = spec(reading.type).decimals
    return _Finding(
        rule.colour,
        f"{_shown(reading, 'value', reading.value)} {day_text(reading.measured_at)} til "
        f"{number(highest.value, decimals)} kg {day_text(highest.measured_at)} – "
        f"økning {number(gain, decimals, against=rule.kg)} kg på {rule.days} dager "
        f"({Colour(rule.colour).word} ved {_num(rule.kg)} kg)",
        later=highest.measured_at,
    )


def _spo2_drop(reading: ReadingValue, rule: Spo2DropRule) -> _Finding | None:
    drop = rule.baseline - reading.value
    if drop < rule.points - 1e-9:
        return None
    decimals = spec(reading.type).decimals
    return _Finding(
        rule.colour,
        f"{_shown(reading, 'value', reading.value, against=rule.baseline - rule.points)} – "
        f"{number(drop, decimals, against=rule.points)} under vanlig nivå {_num(rule.baseline)} "
        f"({Colour(rule.colour).word} ved {_num(rule.points)})",
    )


def _trend_findings(reading: ReadingValue, plan: PlanContent, history: Sequence[ReadingValue]) -> list[_Finding]:
    findings = []
    for rule in plan.trend_rules:
        if isinstance(rule, WeightGainRule) and reading.type == MeasurementType.WEIGHT and reading.value is not None:
            findings.append(_weight_gain(reading, rule, history))
            findings.append(_weight_gain_after(reading, rule, history))
        elif isinstance(rule, Spo2DropRule) and reading.type == MeasurementType.SPO2 and reading.value is not None:
            findings.append(_spo2_drop(reading, rule))
    return [f for f in findings if f is not None]


def _has_rules(reading: ReadingValue, plan: PlanContent) -> bool:
    if plan.thresholds.get(reading.type):
        return True
    trend_types = {WeightGainRule: MeasurementType.WEIGHT, Spo2DropRule: MeasurementType.SPO2}
    return any(trend_types[type(rule)] == reading.type for rule in plan.trend_rules)


def score(reading: ReadingValue, thresholds: PlanContent, history: Sequence[ReadingValue]) -> Score:
    """The colour of one reading under one plan; `history` holds the patient's readings around it
    (any types, any order; the reading itself may be among them). Trend rules compare it with the
    readings before it and, for a reading that arrived late, with the scored readings after it."""
    if not _has_rules(reading, thresholds):
        return Score("green", f"ingen grenseverdier for {label(reading.type)}")
    findings = _bound_findings(reading, thresholds) + _trend_findings(reading, thresholds, history)
    if not findings:
        return Score("green", "")
    findings.sort(key=lambda f: -RANK[f.colour])
    later = tuple(f.later for f in findings if f.later is not None)
    return Score(findings[0].colour, "; ".join(f.text for f in findings), later)


# --- questionnaire answers ---------------------------------------------------------------------


def score_answer(questionnaire: str, answers: dict, total: int | None, plan: PlanContent) -> Score:
    """Daily symptoms: each question's yellow_if/red_if; CAT: the total against the plan's bands. The
    brukerundersøkelse (measurements.survey) is no symptom: never a colour of its own."""
    if questionnaire == "survey":
        return Score("green", "")
    if questionnaire == "cat":
        return _score_cat(total, plan)
    findings = []
    for question in plan.questionnaires.daily_symptoms:
        given = answers.get(question.code)
        for colour, trigger in (("red", question.red_if), ("yellow", question.yellow_if)):
            if trigger and given == trigger:
                findings.append(_Finding(colour, f"«{question.text}» – {'ja' if given == 'yes' else 'nei'}"))
                break
    if not findings:
        return Score("green", "")
    findings.sort(key=lambda f: -RANK[f.colour])
    return Score(findings[0].colour, "; ".join(f.text for f in findings))


def _score_cat(total: int | None, plan: PlanContent) -> Score:
    cat = plan.questionnaires.cat
    if cat is None or total is None:
        return Score("green", "ingen CAT-grenser i planen")
    if total >= cat.red_at:
        return Score("red", f"CAT {total} poeng – rød fra {cat.red_at}")
    if total >= cat.yellow_at:
        return Score("yellow", f"CAT {total} poeng – gul fra {cat.yellow_at}")
    return Score("green", "")
