"""FHIR R4: HL7's own example Observations are accepted once pointed at a known patient; a wrong
LOINC code or unit, an unknown patient, a bad structure come back as an OperationOutcome."""

import copy
import datetime
import json
from pathlib import Path

import pytest

from measurements.models import QuarantinedItem, Reading
from tests.clock import earlier_today
from tests.factories import PatientFactory

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "fhir"


def _load(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def _now(minutes_ago=1) -> str:
    return earlier_today(datetime.timedelta(minutes=minutes_ago)).isoformat(timespec="seconds")


def _pointed(name: str, patient, **changes) -> dict:
    """An example repointed at a known patient and measured now (the examples are from 2012/2014)."""
    resource = _load(name)
    resource["subject"] = {"reference": f"Patient/{patient.pk}"}
    resource["effectiveDateTime"] = _now()
    resource.update(changes)
    return resource


FHIR = "application/fhir+json"


def test_the_hl7_spo2_example_is_accepted_and_stored(world, gateway):
    sent = _pointed("hl7-observation-example-satO2.json", world.p.gjerdrum)
    response = gateway.post("/api/v1/fhir/Observation", sent, FHIR)
    assert response.status_code == 201, response.content
    assert response["Content-Type"].startswith("application/fhir+json")
    reading = Reading.objects.get()
    assert (reading.type, reading.value, reading.patient) == ("spo2", 95, world.p.gjerdrum)
    assert reading.external_id == "http://goodcare.org/observation/id|o1223435-10"
    assert response["Location"] == f"http://testserver/api/v1/fhir/Observation/{reading.pk}/_history/1"
    stored = response.json()  # Prefer: return=representation is the default, as on most FHIR servers
    assert (stored["resourceType"], stored["id"], stored["valueQuantity"]["value"]) == (
        "Observation",
        str(reading.pk),
        95,
    )
    again = gateway.post("/api/v1/fhir/Observation", sent, FHIR)  # the same time: _pointed's "now" moves on
    assert again.status_code == 200 and Reading.objects.count() == 1


def test_the_hl7_blood_pressure_example_is_accepted(world, gateway):
    response = gateway.post(
        "/api/v1/fhir/Observation", _pointed("hl7-observation-example-bloodpressure.json", world.p.gjerdrum), FHIR
    )
    assert response.status_code == 201, response.content
    reading = Reading.objects.get()
    assert (reading.type, reading.systolic, reading.diastolic, reading.value) == ("blood_pressure", 107, 60, None)


def test_a_subject_identified_by_fodselsnummer_is_resolved(world, gateway):
    PatientFactory(municipality=world.m.gjerdrum, national_id="01814500183", name="Fnr-pasient")
    resource = _load("minimal-spo2-fnr.json") | {"effectiveDateTime": _now()}
    assert gateway.post("/api/v1/fhir/Observation", resource, FHIR).status_code == 201
    assert Reading.objects.get().patient.name == "Fnr-pasient"
    # The same number outside the gateway's centre is simply unknown.
    resource["subject"]["identifier"]["value"] = world.p.grimstad.national_id
    resource["id"] = "another"
    outcome = gateway.post("/api/v1/fhir/Observation", resource, FHIR).json()
    assert outcome["issue"][0]["code"] == "not-found"


@pytest.mark.parametrize(
    ("change", "expression", "message"),
    [
        (lambda r: r["code"]["coding"].__setitem__(slice(None), [{"system": "http://loinc.org", "code": "1234-5"}]),
         "Observation.code", "ukjent eller manglende LOINC-kode"),
        (lambda r: r["valueQuantity"].update({"code": "mmol/L", "unit": "mmol/L"}), "Observation.valueQuantity.code",
         "enheten «mmol/L» passer ikke til spo2"),
        (lambda r: r["valueQuantity"].update({"value": 140}), "Observation.valueQuantity.value", "ikke en mulig verdi"),
        (lambda r: r.update({"effectiveDateTime": "2026-11-23"}), "Observation.effectiveDateTime", "klokkeslett"),
        (lambda r: r.update({"subject": {"reference": "Patient/example"}}), "Observation.subject", "ukjent pasient"),
        (lambda r: r.update({"status": "entered-in-error"}), "Observation.status", "tas ikke imot"),
        (lambda r: r.update({"valueQuantity": "95 %"}), "Observation.valueQuantity", ""),
    ],
)  # fmt: skip
def test_errors_come_back_as_an_operation_outcome_and_are_quarantined(world, gateway, change, expression, message):
    resource = _pointed("hl7-observation-example-satO2.json", world.p.gjerdrum)
    change(resource)
    response = gateway.post("/api/v1/fhir/Observation", resource, FHIR)
    assert response.status_code == 400
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    issue = next(i for i in outcome["issue"] if i["expression"][0].startswith(expression))
    assert issue["severity"] == "error" and message in issue["diagnostics"]
    assert not Reading.objects.exists()
    kept = QuarantinedItem.objects.get()
    assert kept.payload == resource  # what the gateway sent, verbatim


def test_a_batch_bundle_answers_entry_by_entry_and_keeps_the_good_ones(world, gateway):
    good = _pointed("hl7-observation-example-satO2.json", world.p.gjerdrum)
    bp = _pointed("minimal-bp.json", world.p.nannestad)
    bad = copy.deepcopy(good) | {
        "id": "bad",
        "identifier": [],
        "code": {"coding": [{"system": "http://loinc.org", "code": "0-0"}]},
    }
    bundle = {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [{"resource": good}, {"resource": bad}, {"resource": bp}],
    }
    response = gateway.post("/api/v1/fhir", bundle, FHIR)
    assert response.status_code == 200
    body = response.json()
    assert body["type"] == "batch-response"
    statuses = [e["response"]["status"] for e in body["entry"]]
    assert statuses == ["201 Created", "400 Bad Request", "201 Created"]
    assert body["entry"][1]["response"]["outcome"]["issue"][0]["code"] == "code-invalid"
    assert Reading.objects.count() == 2


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"resourceType": "Observation"}, "FHIR Bundle"),
        ({"resourceType": "Bundle", "type": "document", "entry": [{}]}, "batch eller transaction"),
        ({"resourceType": "Bundle", "type": "batch", "entry": []}, "1–1000 entry"),
    ],
)
def test_a_malformed_bundle_is_a_400_operation_outcome(world, gateway, body, message):
    response = gateway.post("/api/v1/fhir", body, FHIR)
    assert response.status_code == 400
    assert message in response.json()["issue"][0]["diagnostics"]
