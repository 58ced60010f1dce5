"""A quarantined item is resubmitted through the parser it came in by: a JSON reading or answer through
the JSON ingest, a FHIR Observation through the FHIR conversion with the chosen patient as its subject.
Nothing a gateway sent is lost for want of a patient mapping."""

import datetime

from django.utils import timezone

from measurements.models import Answer, QuarantinedItem, Reading
from measurements.services import quarantine_resubmit
from tests.measurements.test_fhir import FHIR, _load, _now, _pointed
from tests.measurements.test_ingest import _reading

RESUBMIT = "/admin/measurements/quarantineditem/{}/resubmit/"


def _quarantined(kind: str) -> QuarantinedItem:
    item = QuarantinedItem.objects.get()
    assert item.kind == kind and item.status == "open"
    return item


def test_it_resubmits_a_json_reading_through_the_json_ingest(world, gateway):
    gateway.post("/api/v1/readings", {"readings": [_reading(world.p.grimstad, 7)]})  # outside the centre
    item = _quarantined("reading")
    outcome = quarantine_resubmit(item=item, user=world.u.admin, patient_id=world.p.gjerdrum.pk)
    assert outcome.status == "created"
    reading = Reading.objects.get()
    assert (reading.patient, reading.external_id, reading.value) == (world.p.gjerdrum, "gw-7", 93)
    item.refresh_from_db()
    assert (item.status, item.result) == ("resubmitted", f"created: {reading.pk}")
    assert item.payload["patient_id"] == str(world.p.gjerdrum.pk)
    assert QuarantinedItem.objects.count() == 1


def test_it_resubmits_a_json_answer_through_the_answer_ingest(world, gateway):
    at = (timezone.localtime() - datetime.timedelta(minutes=1)).isoformat()
    sent = {
        "external_id": "svar-1",
        "patient_id": str(world.p.grimstad.pk),
        "questionnaire": "daily_symptoms",
        "answers": {"more_breathless": "yes"},
        "answered_at": at,
    }
    gateway.post("/api/v1/answers", {"answers": [sent]})
    item = _quarantined("answer")
    assert quarantine_resubmit(item=item, user=world.u.admin, patient_id=world.p.gjerdrum.pk).status == "created"
    answer = Answer.objects.get()
    assert (answer.patient, answer.external_id, answer.answers) == (
        world.p.gjerdrum,
        "svar-1",
        {"more_breathless": "yes"},
    )
    assert not Reading.objects.exists()


def test_it_resubmits_a_fhir_observation_with_an_unknown_fodselsnummer_through_the_admin(world, gateway, login):
    resource = _load("minimal-spo2-fnr.json") | {"effectiveDateTime": _now()}  # nobody has this number here
    assert gateway.post("/api/v1/fhir/Observation", resource, FHIR).status_code == 400
    item = _quarantined("fhir")
    assert item.payload == resource  # what the gateway sent, not a JSON item
    admin = login(world.u.admin)
    assert admin.get(RESUBMIT.format(item.pk)).status_code == 200
    done = admin.post(RESUBMIT.format(item.pk), {"national_id": world.p.gjerdrum.national_id})
    assert done.status_code == 302
    reading = Reading.objects.get()
    assert (reading.patient, reading.type, reading.value, reading.external_id) == (
        world.p.gjerdrum, "spo2", 94, "spo2-example"
    )  # fmt: skip
    item.refresh_from_db()
    assert (item.status, item.resolved_by, item.result) == ("resubmitted", world.u.admin, f"created: {reading.pk}")
    assert item.payload["subject"] == {"reference": f"Patient/{world.p.gjerdrum.pk}"}
    assert item.payload["valueQuantity"] == resource["valueQuantity"]
    assert QuarantinedItem.objects.count() == 1


def test_it_resubmits_a_fhir_bundle_entry_for_a_patient_outside_the_centre(world, gateway):
    good = _pointed("hl7-observation-example-satO2.json", world.p.gjerdrum)
    outside = _pointed("minimal-bp.json", world.p.grimstad)
    bundle = {"resourceType": "Bundle", "type": "batch", "entry": [{"resource": good}, {"resource": outside}]}
    statuses = [e["response"]["status"] for e in gateway.post("/api/v1/fhir", bundle, FHIR).json()["entry"]]
    assert statuses == ["201 Created", "400 Bad Request"]
    item = _quarantined("fhir")
    assert item.index == 1 and item.payload == outside
    outcome = quarantine_resubmit(item=item, user=world.u.admin, patient_id=world.p.nannestad.pk)
    assert outcome.status == "created"
    reading = Reading.objects.get(patient=world.p.nannestad)
    assert (reading.type, reading.systolic, reading.diastolic) == ("blood_pressure", 142, 88)
    assert reading.external_id == outside["id"]  # the id the FHIR conversion gives it, as on arrival
    assert Reading.objects.count() == 2 and QuarantinedItem.objects.count() == 1


def test_it_keeps_a_fhir_observation_still_wrong_open_with_the_fhir_parsers_reason(world, gateway):
    resource = _pointed("hl7-observation-example-satO2.json", world.p.grimstad, status="entered-in-error")
    gateway.post("/api/v1/fhir/Observation", resource, FHIR)
    item = _quarantined("fhir")
    outcome = quarantine_resubmit(item=item, user=world.u.admin, patient_id=world.p.gjerdrum.pk)
    assert outcome.status == "rejected"
    item.refresh_from_db()
    assert item.status == "open" and item.payload == resource  # kept as the gateway sent it
    # The FHIR reason only, not the JSON ingest's "external_id/type mangler" for a raw Observation.
    assert [(e["field"], e["message"].split(":")[0]) for e in item.errors] == [
        ("status", "status «entered-in-error» tas ikke imot")
    ]
    assert not Reading.objects.exists() and QuarantinedItem.objects.count() == 1


def test_it_resubmits_a_bundle_entry_known_only_by_its_fullurl_under_the_same_identity(world, gateway):
    """An entry without id or identifier is told apart by its fullUrl (the external id comes from it):
    the quarantine keeps the fullUrl, so the entry can be resubmitted, and a resend of the same entry
    afterwards is a duplicate of it, not a second reading."""
    outside = _pointed("minimal-bp.json", world.p.grimstad)
    outside.pop("id", None)
    outside.pop("identifier", None)
    full_url = "urn:uuid:6f1c2d4e-0b7a-4c55-9a51-2f1e3c4b5a69"
    bundle = {"resourceType": "Bundle", "type": "batch", "entry": [{"fullUrl": full_url, "resource": outside}]}
    assert gateway.post("/api/v1/fhir", bundle, FHIR).json()["entry"][0]["response"]["status"] == "400 Bad Request"
    item = _quarantined("fhir")
    assert item.full_url == full_url
    outcome = quarantine_resubmit(item=item, user=world.u.admin, patient_id=world.p.nannestad.pk)
    assert outcome.status == "created", outcome.errors
    reading = Reading.objects.get()
    again = _pointed("minimal-bp.json", world.p.nannestad)
    again.pop("id", None)
    again.pop("identifier", None)
    again["effectiveDateTime"] = outside["effectiveDateTime"]
    resend = {"resourceType": "Bundle", "type": "batch", "entry": [{"fullUrl": full_url, "resource": again}]}
    assert gateway.post("/api/v1/fhir", resend, FHIR).json()["entry"][0]["response"]["status"] == "200 OK"
    assert Reading.objects.get() == reading
