"""Threshold validation: every clinical rule refused with a message naming the field."""

import pytest

from ebp.content import InvalidPlanContent, parse_content


def _errors(thresholds=None, **content):
    with pytest.raises(InvalidPlanContent) as caught:
        parse_content({"thresholds": thresholds or {}, **content})
    return {e.field: e.message for e in caught.value.errors}


@pytest.mark.parametrize(
    ("thresholds", "field", "message"),
    [
        # wrong order
        ({"spo2": {"value": {"red_below": 92, "yellow_below": 88}}}, "thresholds.spo2.value.yellow_below",
         "gul under (88) må være høyere enn rød under (92)"),
        ({"pulse": {"value": {"yellow_above": 120, "red_above": 100}}}, "thresholds.pulse.value.red_above",
         "rød over (100) må være høyere enn gul over (120)"),
        ({"pulse": {"value": {"yellow_below": 110, "yellow_above": 100}}}, "thresholds.pulse.value.yellow_above",
         "gul over (100) må være høyere enn gul under (110)"),
        ({"temperature": {"value": {"yellow_above": 38, "red_above": 38}}}, "thresholds.temperature.value.red_above",
         "rød over (38) må være høyere enn gul over (38)"),  # equal is not increasing
        # a red bound inside green
        ({"spo2": {"value": {"red_below": 95, "yellow_above": 90}}}, "thresholds.spo2.value.yellow_above",
         "rød under (95) ligger inne i det grønne området"),
        ({"pulse": {"value": {"yellow_below": 60, "red_above": 55}}}, "thresholds.pulse.value.red_above",
         "rød over (55) ligger inne i det grønne området"),
        ({"glucose": {"value": {"red_below": 12, "red_above": 10}}}, "thresholds.glucose.value.red_above",
         "rød under (12) ligger inne i det grønne området"),
        # impossible values
        ({"spo2": {"value": {"yellow_below": 101}}}, "thresholds.spo2.value.yellow_below",
         "101 er ikke en mulig verdi (må være mellom 1 og 100 %)"),
        ({"weight": {"value": {"yellow_below": -4}}}, "thresholds.weight.value.yellow_below",
         "-4 er ikke en mulig verdi"),
        ({"weight": {"value": {"red_below": 0}}}, "thresholds.weight.value.red_below", "0 er ikke en mulig verdi"),
        ({"pulse": {"value": {"red_below": 0}}}, "thresholds.pulse.value.red_below", "0 er ikke en mulig verdi"),
        ({"temperature": {"value": {"red_above": 47.5}}}, "thresholds.temperature.value.red_above",
         "47,5 er ikke en mulig verdi"),
        ({"blood_pressure": {"systolic": {"red_above": 400}}}, "thresholds.blood_pressure.systolic.red_above",
         "Blodtrykk systolisk, rød over: 400 er ikke en mulig verdi"),
        # blood pressure bounds per component, and only its components
        ({"blood_pressure": {"diastolic": {"yellow_above": 100, "red_above": 90}}},
         "thresholds.blood_pressure.diastolic.red_above", "Blodtrykk diastolisk: rød over (90)"),
        ({"blood_pressure": {"value": {"red_above": 180}}}, "thresholds.blood_pressure.value",
         "har ikke delverdien «value»"),
        ({"spo2": {"systolic": {"red_below": 88}}}, "thresholds.spo2.systolic", "har ikke delverdien «systolic»"),
    ],
)  # fmt: skip
def test_bounds_are_refused_with_the_field_named(thresholds, field, message):
    errors = _errors(thresholds)
    assert field in errors, errors
    assert message in errors[field]


@pytest.mark.parametrize(
    ("content", "field", "message"),
    [
        ({"thresholds": {"kols": {}}}, "thresholds.kols", "ukjent type «kols»"),  # the ingest API's wording
        ({"thresholds": {"spo2": {"value": {"red_below": "lav"}}}}, "thresholds.spo2.value.red_below", "et tall"),
        ({"thresholds": {"spo2": {"value": {"red_under": 88}}}}, "thresholds.spo2.value.red_under", "ukjent felt"),
        ({"trend_rules": [{"kind": "weight_gain", "kg": 0, "days": 3}]}, "trend_rules.0.weight_gain.kg", "for lav"),
        ({"trend_rules": [{"kind": "weight_gain", "kg": 2, "days": 30}]}, "trend_rules.0.weight_gain.days", "for høy"),
        ({"trend_rules": [{"kind": "spo2_drop", "points": 4, "baseline": 101}]}, "trend_rules.0.spo2_drop.baseline",
         "for høy"),
        # the rule's kind: pydantic's «Unable to extract tag using discriminator 'kind'» never reaches the user
        ({"trend_rules": [{"kg": 2, "days": 3}]}, "trend_rules.0.kind", "mangler (bruk weight_gain eller spo2_drop)"),
        ({"trend_rules": [{"kind": "weight_loss", "kg": 2}]}, "trend_rules.0.kind",
         "ukjent verdi (fikk «weight_loss»; bruk weight_gain eller spo2_drop)"),
        ({"questionnaires": {"cat": {"yellow_at": 20, "red_at": 10}}}, "questionnaires.cat.red_at",
         "rød fra (10) må være høyere enn gul fra (20)"),
        ({"questionnaires": {"daily_symptoms": [{"code": "x", "text": "Hoste?", "yellow_if": "yes", "red_if": "yes"}]}},
         "questionnaires.daily_symptoms.0.red_if", "både gul og rød"),
        ({"meeting": {"date": "i går"}}, "meeting.date", "dato"),
    ],
)  # fmt: skip
def test_structure_and_rules_are_refused_with_the_field_named(content, field, message):
    errors = _errors(**content)
    assert field in errors, errors
    assert message in errors[field]


def test_valid_bounds_pass_including_optional_ones_left_out():
    content = parse_content(
        {
            "thresholds": {
                "spo2": {"value": {"red_below": 88, "yellow_below": 92}},
                "pulse": {"value": {"yellow_above": 100, "red_above": 120}},
                "blood_pressure": {"systolic": {"red_below": 90, "red_above": 200}, "diastolic": {"yellow_above": 95}},
                "weight": {"value": {}},
            },
            "trend_rules": [{"kind": "weight_gain", "kg": 2, "days": 3}],
        }
    )
    assert content.thresholds["spo2"]["value"].red_below == 88
    assert content.trend_rules[0].colour == "red"


def test_all_errors_are_reported_at_once():
    errors = _errors(
        {"spo2": {"value": {"yellow_below": 120}}, "pulse": {"value": {"red_above": 50, "yellow_above": 60}}}
    )
    assert set(errors) == {"thresholds.spo2.value.yellow_below", "thresholds.pulse.value.red_above"}


def test_the_built_in_templates_and_defaults_are_valid():
    from ebp import defaults

    for diagnosis in defaults.TEMPLATES:
        assert defaults.template_content(diagnosis).thresholds or defaults.template_content(diagnosis).trend_rules
    assert defaults.default_thresholds()["spo2"]["value"]["red_below"] == 90


def test_the_admin_refuses_a_template_with_invalid_bounds(world):
    from ebp.admin import CentreThresholdsForm, PlanTemplateForm

    form = PlanTemplateForm(
        data={
            "centre": world.centres.ovre.pk,
            "diagnosis": "kols",
            "name": "KOLS 2",
            "content": '{"thresholds": {"spo2": {"value": {"red_below": 101}}}}',
        }
    )
    assert not form.is_valid()
    assert "thresholds.spo2.value.red_below" in str(form.errors["content"])
    thresholds = CentreThresholdsForm(
        data={
            "centre": world.centres.agder.pk,
            "thresholds": '{"pulse": {"value": {"red_above": 50, "yellow_above": 60}}}',
        }
    )
    assert not thresholds.is_valid()
    assert "rød over (50)" in str(thresholds.errors["thresholds"])
