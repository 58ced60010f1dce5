"""The type catalogue is the one place a measurement type is added (CONTRIBUTING): a type added to
`measurements.types.SPECS` alone is accepted by JSON and FHIR ingest, scored against the patient's
plan and charted on the patient page. And the facts every app shares are said one way."""

import datetime

import pytest
from django.utils import timezone

from ebp import services as ebp
from ebp.content import InvalidPlanContent, parse_content
from measurements.ingest import parse_reading
from measurements.models import Reading
from measurements.types import SPECS, Colour, MeasurementType, TypeSpec
from tenants.norwegian import number
from triage import services as triage
from triage.models import Alert
from triage.scoring import ReadingValue, score

WAIST = TypeSpec(
    label="Livvidde",
    short_label="Midje",
    unit="cm",
    unit_label="cm",
    minimum=30,
    maximum=250,
    loinc=("8280-0",),  # Waist circumference at umbilicus by tape measure
    decimals=1,
    conversions={"[in_i]": lambda v: v * 2.54},
)


@pytest.fixture
def waist(monkeypatch):
    """A type the platform does not have, added the way CONTRIBUTING says, and gone after the test."""
    monkeypatch.setitem(SPECS, "waist", WAIST)
    return "waist"


def _at(minutes_ago: float) -> str:
    return (timezone.localtime() - datetime.timedelta(minutes=minutes_ago)).isoformat(timespec="seconds")


def _approve(world, patient, content):
    draft = ebp.draft_start(patient=patient, user=world.u.nurse, content=content)
    ebp.draft_submit(version=draft, user=world.u.nurse)
    ebp.version_approve(version=draft, user=world.u.gp)


def test_a_type_added_to_the_catalogue_is_ingested_scored_and_charted(world, gateway, login, waist):
    patient = world.p.gjerdrum
    _approve(world, patient, {"thresholds": {waist: {"value": {"yellow_above": 100, "red_above": 110}}}})

    fhir = gateway.post(
        "/api/v1/fhir/Observation",
        {
            "resourceType": "Observation",
            "id": "waist-1",
            "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "8280-0"}]},
            "subject": {"reference": f"Patient/{patient.pk}"},
            "effectiveDateTime": _at(30),
            "valueQuantity": {"value": 104, "unit": "cm", "system": "http://unitsofmeasure.org", "code": "cm"},
        },
        "application/fhir+json",
    )
    assert fhir.status_code == 201, fhir.content
    json_item = {"external_id": "waist-2", "patient_id": str(patient.pk), "type": waist, "value": 44,
                 "unit": "[in_i]", "measured_at": _at(1)}  # fmt: skip
    body = gateway.post("/api/v1/readings", {"readings": [json_item]}).json()
    assert [r["status"] for r in body["results"]] == ["created"], body

    readings = list(Reading.objects.filter(patient=patient, type=waist).order_by("measured_at"))
    assert [(r.value, r.original) for r in readings] == [(104, ""), (111.76, "44 [in_i]")]
    assert triage.readings_score([r.pk for r in readings]) == 2
    assert [(r.colour, r.reason) for r in Reading.objects.filter(type=waist).order_by("measured_at")] == [
        ("yellow", "Midje 104 cm – gul over 100"),
        ("red", "Midje 111,8 cm – rød over 110"),  # shown with the type's one decimal
    ]
    alert = Alert.objects.get(patient=patient, measurement=waist)
    assert (alert.kind, alert.colour) == ("out_of_range", "red")

    page = login(world.u.nurse).get(f"/patients/{patient.pk}/").content.decode()
    assert "Livvidde: 2 målinger, siste 111,8 cm" in page  # the chart's text summary
    assert f'fill="{Colour.RED.fill}"' in page  # the plan's red band drawn behind it


def test_a_type_not_in_the_catalogue_is_refused_by_ingest_and_plans_in_the_same_words(world):
    _, errors = parse_reading(
        {"external_id": "x", "patient_id": str(world.p.gjerdrum.pk), "type": "waist", "value": 90, "unit": "cm",
         "measured_at": _at(1)},
        timezone.now(),
    )  # fmt: skip
    with pytest.raises(InvalidPlanContent) as refused:
        parse_content({"thresholds": {"waist": {"value": {"red_above": 110}}}})
    ingest_message = next(e.message for e in errors if e.field == "type")
    assert ingest_message.startswith("ukjent type «waist»; bruk en av: spo2, pulse")
    assert refused.value.errors[0].message == f"thresholds.waist: {ingest_message}"


def test_every_named_type_is_in_the_catalogue_with_a_loinc_code_and_a_short_label():
    for mtype in MeasurementType:
        assert SPECS[mtype].loinc and SPECS[mtype].short_label, mtype


@pytest.mark.parametrize(
    ("value", "decimals", "against", "shown"),
    [
        (38.46, 1, None, "38,5"),
        (82.0, 1, None, "82"),
        (87.6, 0, None, "88"),
        (87.6, 0, 88, "87,6"),  # rounding would put it on the bound it fell below
        (88.6, 0, 88.7, "88,6"),  # … or across it
        (91.6, 0, 88, "92"),  # far from the bound: the type's decimals
        (0.5, None, None, "0,5"),
    ],
)
def test_numbers_are_norwegian_and_never_rounded_onto_their_bound(value, decimals, against, shown):
    assert number(value, decimals, against=against) == shown


def test_a_reason_shows_the_value_on_the_side_of_the_bound_it_is_on():
    plan = parse_content({"thresholds": {"spo2": {"value": {"red_below": 88, "yellow_below": 92}}}})
    now = timezone.now()
    assert score(ReadingValue("spo2", now, 87.6), plan, []).reason == "SpO2 87,6 % – rød under 88"
    assert score(ReadingValue("spo2", now, 90.4), plan, []).reason == "SpO2 90 % – gul under 92"
