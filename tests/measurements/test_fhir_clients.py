"""Standard FHIR clients, unmodified, against a live server: SMART on FHIR's `fhirclient` and
`fhirpy`'s SyncFHIRClient each read the CapabilityStatement, create an Observation (HL7-style
vital signs, a LOINC code we accept, the patient as our ingest requires) and read it back by id;
a transaction Bundle goes to the base as each client posts it."""

import datetime

import pytest
import redis
from django.utils import timezone
from fhirclient import client as smart_client
from fhirclient.models.bundle import Bundle as SmartBundle
from fhirclient.models.capabilitystatement import CapabilityStatement as SmartCapabilityStatement
from fhirclient.models.observation import Observation as SmartObservation
from fhirclient.server import FHIRNotFoundException
from fhirpy import SyncFHIRClient
from fhirpy.base.exceptions import OperationOutcome as FhirpyOperationOutcome
from fhirpy.base.exceptions import ResourceNotFound

from measurements.models import QuarantinedItem, Reading
from measurements.services import integration_create

FNR = "urn:oid:2.16.578.1.12.4.1.4.1"


@pytest.fixture
def private_queue(settings):
    """Scoring tasks the live server queues go to a queue of this test's own, emptied after it."""
    from dho.celery import app

    queue = f"fhir-clients-{timezone.now().timestamp()}"
    previous = app.conf.task_default_queue
    app.conf.task_default_queue = queue
    yield queue
    app.conf.task_default_queue = previous
    redis.Redis.from_url(settings.REDIS_URL).delete(queue)


@pytest.fixture
def fhir_base(world, live_server, private_queue):
    _integration, token = integration_create(centre=world.centres.ovre, name="Klientgateway")
    return f"{live_server.url}/api/v1/fhir", token


def _spo2(subject: dict, ident: str, code: str, value: float) -> dict:
    measured = (timezone.localtime() - datetime.timedelta(minutes=2)).isoformat(timespec="seconds")
    return {
        "resourceType": "Observation",
        "identifier": [{"system": "urn:example:pulsoksymeter", "value": ident}],
        "status": "final",
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                                  "code": "vital-signs", "display": "Vital Signs"}]}],
        "code": {"coding": [{"system": "http://loinc.org", "code": code,
                             "display": "Oxygen saturation in Arterial blood by Pulse oximetry"}]},
        "subject": subject,
        "effectiveDateTime": measured,
        "valueQuantity": {"value": value, "unit": "%", "system": "http://unitsofmeasure.org", "code": "%"},
    }  # fmt: skip


@pytest.fixture
def smart(fhir_base):
    """fhirclient's FHIRClient; its requests session carries the gateway's bearer token."""
    base, token = fhir_base
    client = smart_client.FHIRClient(settings={"app_id": "dho-test", "api_base": base})
    client.server.session.headers["Authorization"] = f"Bearer {token}"
    yield client
    client.server.session.close()  # the live server's thread ends and closes its database connection


def test_fhirclient_reads_the_metadata_creates_and_reads_back(world, smart):
    smart.prepare()  # fetches [base]/metadata, as the client does before anything else
    statement = smart.server.capabilityStatement
    assert isinstance(statement, SmartCapabilityStatement)
    assert (statement.fhirVersion, statement.kind, statement.status) == ("4.0.1", "instance", "active")
    [observation_type] = statement.rest[0].resource
    assert observation_type.type == "Observation"
    assert {i.code for i in observation_type.interaction} == {"create", "read", "vread"}
    assert "59408-5" in observation_type.documentation

    subject = {"reference": f"Patient/{world.p.gjerdrum.pk}"}
    observation = SmartObservation(_spo2(subject, "smart-1", "59408-5", 93))
    created = observation.create(smart.server)
    assert created["resourceType"] == "Observation"
    reading = Reading.objects.get()
    assert (created["id"], reading.type, reading.value, reading.patient) == (
        str(reading.pk), "spo2", 93, world.p.gjerdrum)  # fmt: skip

    read = SmartObservation.read(created["id"], smart.server)
    assert read.id == str(reading.pk)
    assert read.valueQuantity.value == 93 and read.valueQuantity.code == "%"
    assert read.subject.reference == f"Patient/{world.p.gjerdrum.pk}"
    assert read.identifier[0].value == "smart-1"

    with pytest.raises(FHIRNotFoundException):
        SmartObservation.read(str(reading.pk + 1000), smart.server)


def test_fhirclient_posts_a_transaction_to_the_base(world, smart):
    subject = {"identifier": {"system": FNR, "value": world.p.nannestad.national_id}}
    entries = [{"fullUrl": f"urn:uuid:5c1d7e2a-0000-4000-8000-00000000000{i}", "resource": resource,
                "request": {"method": "POST", "url": "Observation"}}
               for i, resource in enumerate([_spo2(subject, "smart-t1", "2708-6", 95),
                                             _spo2(subject, "smart-t2", "59408-5", 96)])]  # fmt: skip
    answer = SmartBundle({"resourceType": "Bundle", "type": "transaction", "entry": entries}).create(smart.server)
    assert answer["type"] == "transaction-response"
    assert [e["response"]["status"] for e in answer["entry"]] == ["201 Created", "201 Created"]
    assert sorted(Reading.objects.values_list("value", flat=True)) == [95, 96]


def test_fhirpy_reads_the_metadata_creates_and_reads_back(world, fhir_base):
    base, token = fhir_base
    client = SyncFHIRClient(base, authorization=f"Bearer {token}")
    statement = client.execute("metadata", method="get")
    assert (statement["resourceType"], statement["fhirVersion"]) == ("CapabilityStatement", "4.0.1")
    assert {i["code"] for i in statement["rest"][0]["interaction"]} == {"batch", "transaction"}

    subject = {"identifier": {"system": FNR, "value": world.p.gjerdrum.national_id}}
    observation = client.resource("Observation", **_spo2(subject, "fhirpy-1", "2708-6", 91))
    observation.save()  # fhirpy takes the answer's body for the resource: the stored one, with its id
    reading = Reading.objects.get()
    assert observation.id == str(reading.pk) and reading.patient == world.p.gjerdrum

    read = client.get("Observation", observation.id)
    assert read["id"] == str(reading.pk) and read["valueQuantity"]["value"] == 91
    assert read["effectiveDateTime"] == observation["effectiveDateTime"]
    with pytest.raises(ResourceNotFound):
        client.get("Observation", "ukjent")


def test_fhirpy_transaction_with_a_bad_entry_stores_nothing(world, fhir_base):
    base, token = fhir_base
    client = SyncFHIRClient(base, authorization=f"Bearer {token}")
    subject = {"reference": f"Patient/{world.p.gjerdrum.pk}"}
    good, bad = _spo2(subject, "fp-1", "2708-6", 94), _spo2(subject, "fp-2", "1234-5", 94)
    entries = [{"fullUrl": "urn:uuid:1", "resource": good}, {"fullUrl": "urn:uuid:2", "resource": bad}]
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": entries}
    with pytest.raises(FhirpyOperationOutcome) as refused:
        client.execute("/", method="post", data=bundle)
    assert "entry[1] (urn:uuid:2)" in str(refused.value)
    assert not Reading.objects.exists()
    assert QuarantinedItem.objects.count() == 2
