"""Readings sent by `device_serial` (JSON) or `Observation.device.identifier` (FHIR) land on the patient
who had the device on loan the day they were measured; outside every loan they are rejected with the
serial named and kept in the quarantine; the serials of a batch are resolved in one query."""

import datetime
import json
from pathlib import Path

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from measurements.models import QuarantinedItem, Reading
from patients.models import Device, DeviceState
from patients.services import device_register, device_return, devices_lend
from tests.clock import earlier_today

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "fhir"
FHIR = "application/fhir+json"


def _days_ago(days: int) -> datetime.date:
    return timezone.localdate() - datetime.timedelta(days=days)


def _lent(world, serial: str, patient, lent_on: datetime.date, returned_on: datetime.date | None = None):
    device = device_register(centre=world.centres.ovre, user=world.u.nurse, type="pulsoksymeter", serial=serial)
    devices_lend(patient=patient, user=world.u.nurse, serials=[serial], lent_on=lent_on)
    if returned_on:
        device_return(device=device, user=world.u.nurse, returned_on=returned_on)
    return device


def _reading(n: int, serial: str, hours_ago: float = 1) -> dict:
    at = timezone.localtime() - datetime.timedelta(hours=hours_ago)
    return {"external_id": f"gw-{n}", "device_serial": serial, "type": "spo2", "value": 94, "unit": "%",
            "measured_at": at.isoformat()}  # fmt: skip


def _post(gateway, *items) -> list[dict]:
    response = gateway.post("/api/v1/readings", {"readings": list(items)})
    assert response.status_code == 200, response.content
    return response.json()["results"]


def test_it_stores_a_json_reading_on_the_patient_who_has_the_device(world, gateway):
    _lent(world, "OX-1", world.p.gjerdrum, _days_ago(3))
    [result] = _post(gateway, _reading(1, "OX-1"))
    assert result["status"] == "created"
    reading = Reading.objects.get(pk=result["id"])
    assert (reading.patient, reading.municipality) == (world.p.gjerdrum, world.m.gjerdrum)


def test_a_serial_sent_in_another_case_finds_the_device(world, gateway):
    _lent(world, "OX-7a", world.p.gjerdrum, _days_ago(3))
    results = _post(gateway, _reading(1, "ox-7A"), _reading(2, "OX-7A"))
    assert [r["status"] for r in results] == ["created", "created"]
    assert {Reading.objects.get(pk=r["id"]).patient for r in results} == {world.p.gjerdrum}


def test_a_reading_outside_the_loan_is_rejected_naming_the_serial_and_kept(world, gateway):
    _lent(world, "OX-1", world.p.gjerdrum, _days_ago(10), returned_on=_days_ago(5))
    during, after = _reading(1, "OX-1", hours_ago=24 * 7), _reading(2, "OX-1", hours_ago=2)
    results = _post(gateway, during, after)
    assert results[0]["status"] == "created"
    assert Reading.objects.get().patient == world.p.gjerdrum
    day = datetime.datetime.fromisoformat(after["measured_at"]).date()
    assert results[1] == {
        "index": 1,
        "status": "rejected",
        "errors": [
            {"field": "device_serial", "message": f"enheten «OX-1» var ikke utlånt til noen pasient {day:%d.%m.%Y}; "
             "send patient_id"},
        ],
    }  # fmt: skip
    kept = QuarantinedItem.objects.get()
    assert (kept.index, kept.payload) == (1, after)


def test_a_batch_with_an_unknown_serial_stores_its_neighbours_and_asks_the_loans_once(world, gateway):
    _lent(world, "OX-1", world.p.gjerdrum, _days_ago(2))
    _lent(world, "OX-2", world.p.nannestad, _days_ago(2))
    items = [_reading(1, "OX-1"), _reading(2, "UKJENT-9"), _reading(3, "OX-2"), _reading(4, "OX-1", hours_ago=3)]
    with CaptureQueriesContext(connection) as queries:
        results = _post(gateway, *items)
    assert [r["status"] for r in results] == ["created", "rejected", "created", "created"]
    assert results[1]["errors"] == [
        {"field": "device_serial", "message": "ukjent enhet «UKJENT-9» for dette senteret; send patient_id"}
    ]
    patients = [Reading.objects.get(pk=results[i]["id"]).patient for i in (0, 2, 3)]
    assert patients == [world.p.gjerdrum, world.p.nannestad, world.p.gjerdrum]
    device_queries = [q for q in queries.captured_queries if '"patients_device"' in q["sql"]]
    assert len(device_queries) == 1, device_queries


def test_another_centres_device_is_unknown_to_the_gateway(world, gateway):
    device_register(centre=world.centres.agder, user=world.u.nurse_agder, type="vekt", serial="AG-1")
    devices_lend(patient=world.p.grimstad, user=world.u.nurse_agder, serials=["AG-1"], lent_on=_days_ago(1))
    [result] = _post(gateway, _reading(1, "AG-1"))
    assert result["status"] == "rejected" and "ukjent enhet «AG-1»" in result["errors"][0]["message"]
    assert not Reading.objects.exists()


def test_a_day_the_device_changed_hands_belongs_to_no_one_for_sure(world, gateway):
    device = _lent(world, "OX-1", world.p.gjerdrum, _days_ago(4), returned_on=_days_ago(1))
    Device.objects.filter(pk=device.pk).update(state=DeviceState.CLEANED)
    devices_lend(patient=world.p.nannestad, user=world.u.nurse, serials=["OX-1"], lent_on=_days_ago(1))
    noon = timezone.localtime().replace(hour=12, minute=0, second=0, microsecond=0) - datetime.timedelta(days=1)
    item = _reading(1, "OX-1") | {"measured_at": noon.isoformat()}
    now = _reading(2, "OX-1") | {"measured_at": earlier_today(datetime.timedelta(minutes=6)).isoformat()}
    that_day, today = _post(gateway, item, now)
    assert that_day["status"] == "rejected" and today["status"] == "created"
    assert f"enheten «OX-1» var utlånt til to pasienter {noon:%d.%m.%Y}" in that_day["errors"][0]["message"]
    assert Reading.objects.get().patient == world.p.nannestad  # today: the new loan only


def test_a_patient_id_wins_over_the_serial(world, gateway):
    _lent(world, "OX-1", world.p.gjerdrum, _days_ago(1))
    [result] = _post(gateway, _reading(1, "OX-1") | {"patient_id": str(world.p.nannestad.pk)})
    assert Reading.objects.get(pk=result["id"]).patient == world.p.nannestad


def _observation(serial: str) -> dict:
    resource = json.loads((FIXTURES / "hl7-observation-example-satO2.json").read_text())
    resource.pop("subject", None)
    resource["device"] = {"identifier": {"system": "urn:dho:serial", "value": serial}}
    at = timezone.localtime() - datetime.timedelta(minutes=5)
    resource["effectiveDateTime"] = at.isoformat(timespec="seconds")
    return resource


def test_it_stores_a_fhir_observation_by_its_device_on_the_borrower(world, gateway):
    _lent(world, "OX-1", world.p.gjerdrum, _days_ago(1))
    response = gateway.post("/api/v1/fhir/Observation", _observation("OX-1"), FHIR)
    assert response.status_code == 201, response.content
    reading = Reading.objects.get()
    assert (reading.patient, reading.type, reading.value) == (world.p.gjerdrum, "spo2", 95)


def test_a_fhir_observation_from_a_device_not_on_loan_is_an_operation_outcome(world, gateway):
    _lent(world, "OX-1", world.p.gjerdrum, _days_ago(5), returned_on=_days_ago(2))
    resource = _observation("OX-1")
    response = gateway.post("/api/v1/fhir/Observation", resource, FHIR)
    assert response.status_code == 400
    [issue] = response.json()["issue"]
    assert issue["code"] == "not-found" and issue["expression"] == ["Observation.device.identifier"]
    assert "enheten «OX-1» var ikke utlånt til noen pasient" in issue["diagnostics"]
    assert QuarantinedItem.objects.get().payload == resource


def test_a_fhir_observation_without_subject_or_device_says_both(world, gateway):
    resource = _observation("OX-1")
    resource.pop("device")
    response = gateway.post("/api/v1/fhir/Observation", resource, FHIR)
    assert response.status_code == 400
    assert "mangler pasient (subject) eller enhet (device.identifier)" in response.json()["issue"][0]["diagnostics"]
