"""Table tests for the pure scoring function: every type, every bound at and just beyond it, trends."""

import datetime

import pytest

from ebp.content import parse_content
from measurements.types import label
from triage.scoring import ReadingValue, Score, score, score_answer

NOW = datetime.datetime(2025, 3, 10, 8, 0, tzinfo=datetime.UTC)
DAY = datetime.timedelta(days=1)
STEP = 0.1  # "just beyond" a bound

# type, component → (red_below, yellow_below, yellow_above, red_above)
BOUNDS = {
    ("spo2", "value"): (88, 92, 98, 99),
    ("pulse", "value"): (40, 50, 100, 120),
    ("blood_pressure", "systolic"): (90, 100, 160, 180),
    ("blood_pressure", "diastolic"): (50, 60, 95, 110),
    ("weight", "value"): (50, 55, 90, 100),
    ("temperature", "value"): (35, 36, 38, 39),
    ("glucose", "value"): (3, 4, 10, 15),
    ("respiratory_rate", "value"): (8, 12, 20, 25),
    ("peak_flow", "value"): (150, 250, 600, 700),
}
GREEN_BP = {"systolic": 120, "diastolic": 80}


def full_plan():
    thresholds = {}
    for (mtype, component), (rb, yb, ya, ra) in BOUNDS.items():
        thresholds.setdefault(mtype, {})[component] = {
            "red_below": rb,
            "yellow_below": yb,
            "yellow_above": ya,
            "red_above": ra,
        }
    return parse_content({"thresholds": thresholds})


def reading(mtype, value, component="value", at=NOW):
    if mtype == "blood_pressure":
        return ReadingValue(type=mtype, measured_at=at, **{**GREEN_BP, component: value})
    return ReadingValue(type=mtype, measured_at=at, value=value)


def bound_cases():
    """For each bound: the value exactly at it, and the value just beyond it (strict bounds)."""
    for (mtype, component), (rb, yb, ya, ra) in BOUNDS.items():
        name = f"{mtype}-{component}"
        yield pytest.param(mtype, component, rb, "yellow", id=f"{name}-red_below-at")
        yield pytest.param(mtype, component, rb - STEP, "red", id=f"{name}-red_below-beyond")
        yield pytest.param(mtype, component, yb, "green", id=f"{name}-yellow_below-at")
        yield pytest.param(mtype, component, yb - STEP, "yellow", id=f"{name}-yellow_below-beyond")
        yield pytest.param(mtype, component, (yb + ya) / 2, "green", id=f"{name}-middle")
        yield pytest.param(mtype, component, ya, "green", id=f"{name}-yellow_above-at")
        yield pytest.param(mtype, component, ya + STEP, "yellow", id=f"{name}-yellow_above-beyond")
        yield pytest.param(mtype, component, ra, "yellow", id=f"{name}-red_above-at")
        yield pytest.param(mtype, component, ra + STEP, "red", id=f"{name}-red_above-beyond")


@pytest.mark.parametrize(("mtype", "component", "value", "colour"), list(bound_cases()))
def test_bounds(mtype, component, value, colour):
    result = score(reading(mtype, value, component), full_plan(), [])
    assert result.colour == colour
    if colour == "green":
        assert result.reason in ("", "innenfor grensene")
    else:
        assert result.reason


@pytest.mark.parametrize(
    ("mtype", "component", "value", "reason"),
    [
        ("spo2", "value", 86, "SpO2 86 % – rød under 88"),
        ("spo2", "value", 91, "SpO2 91 % – gul under 92"),
        ("pulse", "value", 125, "Puls 125 slag/min – rød over 120"),
        ("blood_pressure", "systolic", 165, "Blodtrykk systolisk 165 mmHg – gul over 160"),
        ("blood_pressure", "diastolic", 45, "Blodtrykk diastolisk 45 mmHg – rød under 50"),
        ("temperature", "value", 38.5, "Temperatur 38,5 °C – gul over 38"),
        ("glucose", "value", 2.8, "Blodsukker 2,8 mmol/L – rød under 3"),
        ("peak_flow", "value", 240, "PEF 240 L/min – gul under 250"),
    ],
)
def test_reason_text(mtype, component, value, reason):
    assert score(reading(mtype, value, component), full_plan(), []).reason == reason


def test_missing_bounds_are_skipped():
    plan = parse_content({"thresholds": {"spo2": {"value": {"red_below": 88}}}})
    assert score(reading("spo2", 87), plan, []).colour == "red"
    assert score(reading("spo2", 88), plan, []) == score(reading("spo2", 100), plan, [])
    assert score(reading("spo2", 100), plan, []).colour == "green"


def test_blood_pressure_worse_component_wins_and_both_are_named():
    bp = ReadingValue(type="blood_pressure", measured_at=NOW, systolic=165, diastolic=112)
    result = score(bp, full_plan(), [])
    assert result.colour == "red"
    assert result.reason == "Blodtrykk diastolisk 112 mmHg – rød over 110; Blodtrykk systolisk 165 mmHg – gul over 160"


def test_blood_pressure_with_only_systolic_bounds():
    plan = parse_content({"thresholds": {"blood_pressure": {"systolic": {"yellow_above": 160}}}})
    bp = ReadingValue(type="blood_pressure", measured_at=NOW, systolic=150, diastolic=130)
    assert score(bp, plan, []).colour == "green"


@pytest.mark.parametrize("mtype", sorted({mtype for mtype, _ in BOUNDS}))
def test_no_thresholds(mtype):
    result = score(reading(mtype, 50, "systolic" if mtype == "blood_pressure" else "value"), parse_content({}), [])
    assert result == type(result)("green", f"ingen grenseverdier for {label(mtype)}")


def test_thresholds_for_other_types_only():
    plan = parse_content({"thresholds": {"spo2": {"value": {"red_below": 88}}}})
    assert score(reading("pulse", 200), plan, []).reason == "ingen grenseverdier for Puls"


# --- weight gain ---------------------------------------------------------------------------------

WEIGHT_RULE = {"kind": "weight_gain", "kg": 2, "days": 3, "colour": "red"}


def weight_plan(**thresholds):
    data = {"trend_rules": [WEIGHT_RULE]}
    if thresholds:
        data["thresholds"] = {"weight": {"value": thresholds}}
    return parse_content(data)


@pytest.mark.parametrize(
    ("earlier_value", "earlier_at", "value", "colour"),
    [
        pytest.param(80.0, NOW - 2 * DAY, 82.0, "red", id="exactly-kg"),
        pytest.param(80.3, NOW - 2 * DAY, 82.3, "red", id="exactly-kg-float-noise"),
        pytest.param(80.0, NOW - 2 * DAY, 81.9, "green", id="slightly-less"),
        pytest.param(80.0, NOW - 3 * DAY, 82.0, "red", id="window-start-inclusive"),
        pytest.param(80.0, NOW - 3 * DAY - datetime.timedelta(minutes=1), 82.0, "green", id="older-than-window"),
        pytest.param(80.0, NOW + datetime.timedelta(hours=1), 82.0, "green", id="later-reading-ignored"),
        pytest.param(83.0, NOW - DAY, 82.0, "green", id="weight-loss"),
    ],
)
def test_weight_gain(earlier_value, earlier_at, value, colour):
    history = [reading("weight", earlier_value, at=earlier_at)]
    assert score(reading("weight", value), weight_plan(), history).colour == colour


def test_weight_gain_reason_and_minimum_in_window():
    current = reading("weight", 82.4)
    history = [
        reading("weight", 81.0, at=NOW - DAY),
        reading("weight", 80.3, at=NOW - 2 * DAY),
        reading("weight", 70.0, at=NOW - 4 * DAY),  # outside the window
        reading("spo2", 50, at=NOW - DAY),  # other type
        current,  # the reading itself
    ]
    result = score(current, weight_plan(), history)
    assert result.colour == "red"
    assert result.reason == "Vekt 82,4 kg – økning 2,1 kg på 3 dager (rød ved 2 kg)"


def test_weight_gain_without_history_and_without_thresholds_is_green():
    result = score(reading("weight", 82.0), weight_plan(), [])
    assert result.colour == "green"
    assert result.reason in ("", "innenfor grensene")


def scored(value, at, colour="green"):
    return ReadingValue(type="weight", measured_at=at, value=value, colour=colour)


@pytest.mark.parametrize(
    ("later", "colour"),
    [
        pytest.param(scored(82.0, NOW + 3 * DAY), "red", id="exactly-kg-at-the-window-end"),
        pytest.param(scored(81.9, NOW + DAY), "green", id="slightly-less"),
        pytest.param(scored(82.0, NOW + 3 * DAY + datetime.timedelta(minutes=1)), "green", id="past-the-window"),
        pytest.param(scored(82.0, NOW + DAY, colour="yellow"), "red", id="later-yellow-by-a-bound"),
        pytest.param(scored(82.0, NOW + DAY, colour=""), "green", id="later-unscored-judges-itself"),
        pytest.param(scored(82.0, NOW + DAY, colour="red"), "green", id="later-already-red"),
    ],
)
def test_a_late_weight_is_compared_with_the_scored_weights_after_it(later, colour):
    assert score(reading("weight", 80.0), weight_plan(), [later]).colour == colour


def test_a_late_weights_gain_names_both_weights_and_their_days():
    history = [scored(81.0, NOW + DAY), scored(82.6, NOW + 2 * DAY), scored(83.0, NOW + 2 * DAY, colour="")]
    result = score(reading("weight", 80.5), weight_plan(), history)
    assert result.colour == "red"
    assert result.reason == "Vekt 80,5 kg 10.03. til 82,6 kg 12.03. – økning 2,1 kg på 3 dager (rød ved 2 kg)"
    assert result.later == (NOW + 2 * DAY,)


def test_weight_rule_does_not_apply_to_other_types():
    history = [reading("pulse", 60, at=NOW - DAY)]
    assert score(reading("pulse", 90), weight_plan(), history).reason == "ingen grenseverdier for Puls"


# --- SpO2 drop -----------------------------------------------------------------------------------

SPO2_RULE = {"kind": "spo2_drop", "points": 4, "baseline": 94, "colour": "yellow"}


@pytest.mark.parametrize(
    ("value", "colour"),
    [
        pytest.param(90, "yellow", id="exact-points"),
        pytest.param(89.5, "yellow", id="beyond"),
        pytest.param(90.1, "green", id="slightly-less"),
        pytest.param(94, "green", id="at-baseline"),
    ],
)
def test_spo2_drop(value, colour):
    plan = parse_content({"trend_rules": [SPO2_RULE]})
    assert score(reading("spo2", value), plan, []).colour == colour


def test_spo2_drop_reason():
    plan = parse_content({"trend_rules": [SPO2_RULE]})
    assert score(reading("spo2", 90), plan, []).reason == "SpO2 90 % – 4 under vanlig nivå 94 (gul ved 4)"


# --- combination ---------------------------------------------------------------------------------


def test_red_bound_and_yellow_trend_is_red():
    plan = parse_content({"thresholds": {"spo2": {"value": {"red_below": 88}}}, "trend_rules": [SPO2_RULE]})
    result = score(reading("spo2", 86), plan, [])
    assert result.colour == "red"
    assert result.reason == "SpO2 86 % – rød under 88; SpO2 86 % – 8 under vanlig nivå 94 (gul ved 4)"


def test_yellow_bound_and_red_trend_is_red_trend_first():
    history = [reading("weight", 89.0, at=NOW - DAY)]
    result = score(reading("weight", 91.0), weight_plan(yellow_above=90), history)
    assert result.colour == "red"
    assert result.reason == "Vekt 91 kg – økning 2 kg på 3 dager (rød ved 2 kg); Vekt 91 kg – gul over 90"


def test_yellow_trend_alone_with_green_bound():
    plan = parse_content({"thresholds": {"spo2": {"value": {"red_below": 88}}}, "trend_rules": [SPO2_RULE]})
    assert score(reading("spo2", 89), plan, []).colour == "yellow"


# --- questionnaire answers ---------------------------------------------------------------------

ANSWER_PLAN = parse_content(
    {
        "questionnaires": {
            "daily_symptoms": [
                {"code": "more_breathless", "text": "Er du mer tungpustet enn vanlig?", "yellow_if": "yes"},
                {"code": "breathless_at_rest", "text": "Er du tungpustet i hvile?", "red_if": "yes"},
                {"code": "ate_today", "text": "Har du spist i dag?", "yellow_if": "no"},
            ],
            "cat": {"yellow_at": 10, "red_at": 21},
        }
    }
)


@pytest.mark.parametrize(
    ("answers", "colour", "reason"),
    [
        ({"more_breathless": "no", "breathless_at_rest": "no", "ate_today": "yes"}, "green", ""),
        ({"more_breathless": "yes"}, "yellow", "«Er du mer tungpustet enn vanlig?» – ja"),
        ({"ate_today": "no"}, "yellow", "«Har du spist i dag?» – nei"),
        ({"more_breathless": "yes", "breathless_at_rest": "yes"}, "red",
         "«Er du tungpustet i hvile?» – ja; «Er du mer tungpustet enn vanlig?» – ja"),
        ({"unknown_question": "yes"}, "green", ""),
    ],
)  # fmt: skip
def test_daily_symptom_answers_score_by_the_plans_rules(answers, colour, reason):
    assert score_answer("daily_symptoms", answers, None, ANSWER_PLAN) == Score(colour, reason)


@pytest.mark.parametrize(
    ("total", "colour"),
    [(0, "green"), (9, "green"), (10, "yellow"), (20, "yellow"), (21, "red"), (40, "red")],
)
def test_cat_totals_score_against_the_plans_bands_including_the_boundaries(total, colour):
    assert score_answer("cat", {"items": []}, total, ANSWER_PLAN).colour == colour


def test_cat_without_bands_in_the_plan_is_green_and_says_why():
    assert score_answer("cat", {}, 30, parse_content({})) == Score("green", "ingen CAT-grenser i planen")
