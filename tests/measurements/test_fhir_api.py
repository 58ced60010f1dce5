"""The FHIR API as FHIR clients expect it: the CapabilityStatement, application/fhir+json both ways,
Prefer on create, read of what the gateway wrote (and nothing else), the base with or without a
slash, and transaction Bundles all or nothing (batch entry by entry)."""

import copy
import datetime

import pytest
from django.test import Client
from django.utils import timezone
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.observation import Observation

from measurements.models import QuarantinedItem, Reading
from measurements.services import integration_create
from measurements.types import SPECS, TypeSpec
from tenants.models import AuditEvent

FHIR = "application/fhir+json"
LOINC = "http://loinc.org"


def _now(minutes_ago=1) -> str:
    return (timezone.localtime() - datetime.timedelta(minutes=minutes_ago)).isoformat(timespec="seconds")


def spo2(patient, ident: str, value=94, code="59408-5") -> dict:
    """An HL7-style vital-signs SpO2 Observation for a known patient."""
    return {
        "resourceType": "Observation",
        "identifier": [{"system": "urn:example:gateway", "value": ident}],
        "status": "final",
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                                  "code": "vital-signs"}]}],
        "code": {"coding": [{"system": LOINC, "code": code}]},
        "subject": {"reference": f"Patient/{patient.pk}"},
        "effectiveDateTime": _now(),
        "valueQuantity": {"value": value, "unit": "%", "system": "http://unitsofmeasure.org", "code": "%"},
    }  # fmt: skip


def blood_pressure(patient, ident: str) -> dict:
    def part(code, value):
        return {"code": {"coding": [{"system": LOINC, "code": code}]},
                "valueQuantity": {"value": value, "system": "http://unitsofmeasure.org", "code": "mm[Hg]"}}  # fmt: skip

    return {
        "resourceType": "Observation",
        "identifier": [{"system": "urn:example:gateway", "value": ident}],
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": "85354-9"}]},
        "subject": {"reference": f"Patient/{patient.pk}"},
        "effectiveDateTime": _now(),
        "component": [part("8480-6", 142), part("8462-4", 88)],
    }


def bundle(kind: str, *resources) -> dict:
    return {
        "resourceType": "Bundle",
        "type": kind,
        "entry": [
            {"fullUrl": f"urn:uuid:00000000-0000-0000-0000-00000000000{i}", "resource": r,
             "request": {"method": "POST", "url": "Observation"}}
            for i, r in enumerate(resources)
        ],
    }  # fmt: skip


# --- metadata --------------------------------------------------------------------------------------


def test_metadata_is_an_r4_capability_statement_served_without_a_token(world):
    response = Client().get("/api/v1/fhir/metadata", HTTP_ACCEPT=FHIR)
    assert response.status_code == 200
    assert response["Content-Type"].startswith(FHIR)
    statement = response.json()
    CapabilityStatement.model_validate(statement)  # a valid resource, not just something like one
    assert (statement["status"], statement["kind"], statement["fhirVersion"]) == ("active", "instance", "4.0.1")
    assert "json" in statement["format"]
    [rest] = statement["rest"]
    assert rest["mode"] == "server" and "Bearer" in rest["security"]["description"]
    [observation] = rest["resource"]
    assert observation["type"] == "Observation"
    assert {i["code"] for i in observation["interaction"]} == {"create", "read", "vread"}
    assert {i["code"] for i in rest["interaction"]} == {"batch", "transaction"}
    assert statement["implementation"]["url"] == "http://testserver/api/v1/fhir"


def test_metadata_lists_every_code_and_unit_of_the_catalogue_as_it_is_now(world, monkeypatch):
    monkeypatch.setitem(
        SPECS,
        "waist",
        TypeSpec(
            "Livvidde", "Livvidde", "cm", "cm", 20, 300, loinc=("8280-0",), conversions={"[in_i]": lambda v: v * 2.54}
        ),
    )
    documentation = Client().get("/api/v1/fhir/metadata").json()["rest"][0]["resource"][0]["documentation"]
    for type_spec in SPECS.values():
        assert type_spec.label in documentation
        for code in type_spec.loinc:
            assert code in documentation
        for unit in (type_spec.unit, *type_spec.conversions):
            assert f"`{unit}`" in documentation
    assert "8480-6 (systolisk) og 8462-4 (diastolisk)" in documentation
    assert "Livvidde: LOINC 8280-0; UCUM-enhet `cm` (også `[in_i]`)" in documentation


def test_metadata_ignores_a_wrong_token(world):
    response = Client(HTTP_AUTHORIZATION="Bearer not-a-token").get("/api/v1/fhir/metadata")
    assert response.status_code == 200


# --- content negotiation ---------------------------------------------------------------------------


def test_accept_decides_the_media_type_and_fhir_json_is_the_default(world, gateway):
    client = Client(HTTP_AUTHORIZATION=f"Bearer {gateway.token}")
    created = gateway.post("/api/v1/fhir/Observation", spo2(world.p.gjerdrum, "neg-1"), FHIR)
    url = f"/api/v1/fhir/Observation/{created.json()['id']}"
    assert client.get(url, HTTP_ACCEPT=FHIR)["Content-Type"] == "application/fhir+json; charset=utf-8"
    assert client.get(url, HTTP_ACCEPT=f"{FHIR};fhirVersion=4.0")["Content-Type"].startswith(FHIR)
    assert client.get(url)["Content-Type"].startswith(FHIR)
    assert client.get(url, HTTP_ACCEPT="application/json")["Content-Type"] == "application/json"
    refused = client.get(url, HTTP_ACCEPT="application/xml")
    assert refused.status_code == 406
    assert refused.json()["resourceType"] == "OperationOutcome"
    assert "Accept må tillate application/fhir+json" in refused.json()["issue"][0]["diagnostics"]


@pytest.mark.parametrize("content_type", [FHIR, f"{FHIR}; charset=utf-8", "application/json"])
def test_a_body_is_read_as_fhir_json_or_json(world, gateway, content_type):
    response = gateway.post("/api/v1/fhir/Observation", spo2(world.p.gjerdrum, "ct-1"), content_type)
    assert response.status_code == 201, response.content
    assert Reading.objects.get().value == 94


def test_fhir_json_goes_through_the_bounded_parser(world, gateway):
    deep = '{"resourceType": "Observation", "extension": ' + "[" * 100 + "]" * 100 + "}"
    response = gateway.post("/api/v1/fhir/Observation", deep, FHIR)
    assert response.status_code == 400
    assert response["Content-Type"].startswith(FHIR)
    assert "nøstet for dypt" in response.json()["issue"][0]["diagnostics"]
    not_an_object = gateway.post("/api/v1/fhir", "[1, 2]", FHIR)
    assert not_an_object.status_code == 400 and "JSON-objekt" in not_an_object.json()["issue"][0]["diagnostics"]


# --- create and Prefer -----------------------------------------------------------------------------


def test_create_answers_as_prefer_asks(world, gateway):
    sent: dict[str, dict] = {}  # a resend is the same Observation, its measured time included

    def post(ident, prefer=None):
        extra = {"HTTP_PREFER": prefer} if prefer else {}
        client = Client(HTTP_AUTHORIZATION=f"Bearer {gateway.token}", **extra)
        body = sent.setdefault(ident, spo2(world.p.gjerdrum, ident))
        return client.post("/api/v1/fhir/Observation", body, content_type=FHIR)

    default, representation = post("p-1"), post("p-2", "return=representation")
    for response in (default, representation):
        assert response.status_code == 201
        body = response.json()
        reading = Reading.objects.get(pk=int(body["id"]))
        assert response["Location"] == f"http://testserver/api/v1/fhir/Observation/{reading.pk}/_history/1"
        assert response["ETag"] == 'W/"1"' and body["meta"]["versionId"] == "1"
        assert body["code"]["coding"][0]["code"] == "2708-6"  # the type's first LOINC code
        Observation.model_validate(body)
    minimal = post("p-3", "return=minimal")
    assert minimal.status_code == 201 and minimal.content == b"" and "/Observation/" in minimal["Location"]
    outcome = post("p-4", "respond-async, return=OperationOutcome")
    assert outcome.json()["resourceType"] == "OperationOutcome"
    again = post("p-1")
    assert again.status_code == 200 and again.json()["id"] == default.json()["id"]
    assert Reading.objects.count() == 4


def test_the_created_location_is_a_version_that_can_be_read(world, gateway):
    """FHIR's create answers [base]/Observation/[id]/_history/[vid]; a client follows it (vread)."""
    created = gateway.post("/api/v1/fhir/Observation", spo2(world.p.gjerdrum, "v-1"), FHIR)
    assert created.status_code == 201
    location = created["Location"].removeprefix("http://testserver")
    assert location.endswith("/_history/1")
    reader = Client(HTTP_AUTHORIZATION=f"Bearer {gateway.token}")
    read = reader.get(location)
    assert read.status_code == 200 and read.json()["id"] == created.json()["id"] and read["ETag"] == 'W/"1"'
    missing = reader.get(location.replace("/_history/1", "/_history/2"))
    assert missing.status_code == 404 and missing.json()["resourceType"] == "OperationOutcome"
    assert "bare versjon 1" in missing.json()["issue"][0]["diagnostics"]


# --- read ------------------------------------------------------------------------------------------


def test_a_gateway_reads_back_what_it_wrote_and_the_read_is_audited(world, gateway):
    created = gateway.post("/api/v1/fhir/Observation", blood_pressure(world.p.nannestad, "bp-1"), FHIR)
    reading = Reading.objects.get()
    client = Client(HTTP_AUTHORIZATION=f"Bearer {gateway.token}")
    response = client.get(f"/api/v1/fhir/Observation/{reading.pk}", HTTP_ACCEPT=FHIR)
    assert response.status_code == 200
    body = response.json()
    Observation.model_validate(body)
    assert body == created.json()
    assert body["id"] == str(reading.pk) and body["subject"]["reference"] == f"Patient/{world.p.nannestad.pk}"
    assert body["identifier"] == [{"system": "urn:example:gateway", "value": "bp-1"}]
    # Blood pressure is one stored row and one Observation, a component per value.
    values = {c["code"]["coding"][0]["code"]: c["valueQuantity"]["value"] for c in body["component"]}
    assert values == {"8480-6": 142, "8462-4": 88}
    event = AuditEvent.objects.get(action="view", object_type="reading")
    assert (event.object_id, event.patient_id, event.municipality_id) == (
        str(reading.pk), world.p.nannestad.pk, world.m.nannestad.pk)  # fmt: skip
    assert event.username == "integrasjon:Testgateway" and event.role == "integration"


def test_another_gateways_reading_or_an_unknown_id_is_a_404_operation_outcome(world, gateway):
    gateway.post("/api/v1/fhir/Observation", spo2(world.p.gjerdrum, "mine"), FHIR)
    reading = Reading.objects.get()
    for centre in (world.centres.ovre, world.centres.agder):  # the same centre's other gateway too
        _, token = integration_create(centre=centre, name=f"Annen {centre.slug}")
        other = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
        response = other.get(f"/api/v1/fhir/Observation/{reading.pk}", HTTP_ACCEPT=FHIR)
        assert response.status_code == 404
        assert response["Content-Type"].startswith(FHIR)
        assert response.json()["issue"][0]["code"] == "not-found"
        assert "Fant ingen Observation" in response.json()["issue"][0]["diagnostics"]
    mine = Client(HTTP_AUTHORIZATION=f"Bearer {gateway.token}")
    for unknown in (reading.pk + 1000, "abc", 2**63, "%C2%B9"):  # "¹" is a digit to str.isdigit
        assert mine.get(f"/api/v1/fhir/Observation/{unknown}").status_code == 404
    assert not AuditEvent.objects.filter(action="view", object_type="reading").exists()


def test_an_address_under_the_base_that_is_no_route_is_a_404_operation_outcome(world, gateway):
    response = Client(HTTP_AUTHORIZATION=f"Bearer {gateway.token}").get("/api/v1/fhir/Patient/1", HTTP_ACCEPT=FHIR)
    assert response.status_code == 404 and response["Content-Type"].startswith(FHIR)
    assert response.json()["issue"][0]["code"] == "not-found"


def test_a_user_cannot_read_through_the_gateway_api(world, gateway, api):
    gateway.post("/api/v1/fhir/Observation", spo2(world.p.gjerdrum, "u-1"), FHIR)
    response = api(world.u.nurse).get(f"/api/v1/fhir/Observation/{Reading.objects.get().pk}")
    assert response.status_code in (401, 403)
    assert response.json()["resourceType"] == "OperationOutcome"


# --- Bundles ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/v1/fhir", "/api/v1/fhir/"])
def test_a_transaction_is_stored_whole_at_the_base_with_or_without_a_slash(world, gateway, path):
    response = gateway.post(path, bundle("transaction", spo2(world.p.gjerdrum, "t-1"),
                                         blood_pressure(world.p.nannestad, "t-2")), FHIR)  # fmt: skip
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["type"] == "transaction-response"
    ids = list(Reading.objects.order_by("pk").values_list("pk", flat=True))
    assert [e["response"]["status"] for e in body["entry"]] == ["201 Created", "201 Created"]
    assert [e["response"]["location"] for e in body["entry"]] == [f"Observation/{pk}/_history/1" for pk in ids]


def test_a_transaction_with_one_bad_entry_stores_nothing_and_keeps_everything(world, gateway):
    bad = spo2(world.p.gjerdrum, "tx-bad", value=140)  # no body has an SpO2 above 100
    sent = bundle("transaction", spo2(world.p.gjerdrum, "tx-1"), bad, blood_pressure(world.p.nannestad, "tx-3"))
    before, events_before = Reading.objects.count(), AuditEvent.objects.filter(action="create").count()
    response = gateway.post("/api/v1/fhir", copy.deepcopy(sent), FHIR)
    assert response.status_code == 400
    assert response["Content-Type"].startswith(FHIR)
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert "ingenting i den er lagret" in outcome["issue"][0]["diagnostics"]
    [named] = list(outcome["issue"][1:])
    assert named["diagnostics"].startswith("entry[1] (urn:uuid:00000000-0000-0000-0000-000000000001): ")
    assert "ikke en mulig verdi" in named["diagnostics"]
    assert named["expression"] == ["Bundle.entry[1].resource.valueQuantity.value"]
    assert Reading.objects.count() == before  # nothing stored
    assert AuditEvent.objects.filter(action="create").count() == events_before  # and no write audited
    kept = list(QuarantinedItem.objects.order_by("index"))
    assert [(k.kind, k.index, k.payload) for k in kept] == [
        ("fhir", i, e["resource"]) for i, e in enumerate(sent["entry"])
    ]
    assert "ikke en mulig verdi" in kept[1].error_text
    assert "entry[1] var feil" in kept[0].error_text and "entry[1] var feil" in kept[2].error_text
    # Corrected and sent again, the transaction is stored whole.
    sent["entry"][1]["resource"]["valueQuantity"]["value"] = 96
    assert gateway.post("/api/v1/fhir", sent, FHIR).status_code == 200
    assert Reading.objects.count() == before + 3


def test_a_transaction_refused_with_a_full_quarantine_is_a_429_and_keeps_nothing(world, gateway, settings):
    settings.DHO_QUARANTINE_DAILY_LIMIT = 2
    sent = bundle("transaction", spo2(world.p.gjerdrum, "f-1"), spo2(world.p.gjerdrum, "f-2", code="0-0"),
                  spo2(world.p.gjerdrum, "f-3"))  # fmt: skip
    response = gateway.post("/api/v1/fhir", sent, FHIR)
    assert response.status_code == 429 and int(response["Retry-After"]) > 0
    assert "entry[1] var feil" in response.json()["issue"][0]["diagnostics"]
    assert not Reading.objects.exists() and not QuarantinedItem.objects.exists()


def test_a_batch_with_one_bad_entry_stores_the_good_ones(world, gateway):
    sent = bundle("batch", spo2(world.p.gjerdrum, "b-1"), spo2(world.p.gjerdrum, "b-2", code="0-0"),
                  blood_pressure(world.p.nannestad, "b-3"))  # fmt: skip
    response = gateway.post("/api/v1/fhir/", sent, FHIR)
    assert response.status_code == 200
    body = response.json()
    assert body["type"] == "batch-response"
    assert [e["response"]["status"] for e in body["entry"]] == ["201 Created", "400 Bad Request", "201 Created"]
    assert Reading.objects.count() == 2
    assert [(k.index, k.payload) for k in QuarantinedItem.objects.all()] == [(1, sent["entry"][1]["resource"])]
