"""What an Observation says is what is stored, or it is refused: identifiers longer than the column
stay apart, modifiers (comparator, modifierExtension) and statuses the server cannot honour are
refused, every component's unit is checked, a correction of a stored reading is never lost as a
duplicate, and a Bundle entry that asks for something other than a create is not done."""

import copy

import pytest

from measurements.fhir import external_id_of
from measurements.models import Answer, QuarantinedItem, Reading
from tests.measurements.test_fhir_api import FHIR, blood_pressure, bundle, spo2
from tests.measurements.test_ingest import _post, _reading

OBSERVATION = "/api/v1/fhir/Observation"
EXTERNAL_ID_LENGTH = Reading._meta.get_field("external_id").max_length


def _issue(response, expression: str) -> dict:
    return next(i for i in response.json()["issue"] if i["expression"] == [expression])


# --- identifiers longer than the column --------------------------------------------------------------

LONG_SYSTEM = "urn:example:" + "g" * 68  # 80 characters
SHARED = "x" * 19  # with the system and its bar: 100 characters alike


def test_it_keeps_two_readings_whose_identifiers_differ_after_the_hundredth_character(world, gateway):
    at = spo2(world.p.gjerdrum, "ignored")["effectiveDateTime"]
    oxygen = spo2(world.p.gjerdrum, "", value=95) | {"identifier": [{"system": LONG_SYSTEM, "value": SHARED + "-spo2"}]}
    pulse = copy.deepcopy(oxygen) | {"identifier": [{"system": LONG_SYSTEM, "value": SHARED + "-pulse"}]}
    pulse["code"] = {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]}
    pulse["valueQuantity"] = {"value": 72, "system": "http://unitsofmeasure.org", "code": "/min"}
    oxygen["effectiveDateTime"] = pulse["effectiveDateTime"] = at

    first, second = gateway.post(OBSERVATION, oxygen, FHIR), gateway.post(OBSERVATION, pulse, FHIR)

    assert (first.status_code, second.status_code) == (201, 201), second.content
    stored = {r.type: r for r in Reading.objects.all()}
    assert set(stored) == {"spo2", "pulse"}
    assert second["Location"].endswith(f"/Observation/{stored['pulse'].pk}/_history/1")
    assert stored["spo2"].external_id != stored["pulse"].external_id
    assert all(len(r.external_id) <= EXTERNAL_ID_LENGTH for r in stored.values())
    # Sent again, each is known as itself: a duplicate of its own reading, never stored twice.
    again = gateway.post(OBSERVATION, pulse, FHIR)
    assert again.status_code == 200 and again["Location"].endswith(f"/Observation/{stored['pulse'].pk}/_history/1")
    assert Reading.objects.count() == 2 and not QuarantinedItem.objects.exists()


def test_it_maps_a_long_identifier_to_the_same_digest_every_time_and_a_short_one_as_it_is():
    def long(value):
        return {"identifier": [{"system": LONG_SYSTEM, "value": value}]}

    assert external_id_of(long(SHARED + "-a")) == external_id_of(copy.deepcopy(long(SHARED + "-a")))
    assert external_id_of(long(SHARED + "-a")) != external_id_of(long(SHARED + "-b"))
    assert len(external_id_of(long(SHARED + "-a"))) <= EXTERNAL_ID_LENGTH
    short = {"identifier": [{"system": "urn:gw", "value": "v" * 200}]}
    assert external_id_of(short).startswith("urn:gw|sha256:")  # the system is kept in front where it fits
    assert external_id_of({"identifier": [{"system": "urn:gw", "value": "o-1"}]}) == "urn:gw|o-1"
    assert len(external_id_of({"id": "i" * 64}, "urn:uuid:" + "u" * 200)) == 64


# --- modifiers: comparator and modifierExtension -------------------------------------------------------

UNKNOWN_MODIFIER = [{"url": "http://example.org/not-measured-by-patient", "valueBoolean": True}]


def _bp_with(change) -> dict:
    def made(patient):
        resource = blood_pressure(patient, "bp-mod")
        change(resource)
        return resource

    return made


@pytest.mark.parametrize(
    ("make", "expression"),
    [
        (lambda p: spo2(p, "c-1", value=85) | {"valueQuantity": {"value": 85, "comparator": "<", "code": "%",
                                                                 "system": "http://unitsofmeasure.org"}},
         "Observation.valueQuantity.comparator"),
        (_bp_with(lambda r: r["component"][1]["valueQuantity"].update({"comparator": ">="})),
         "Observation.component[1].valueQuantity.comparator"),
        (lambda p: spo2(p, "m-1") | {"modifierExtension": UNKNOWN_MODIFIER}, "Observation.modifierExtension"),
        (_bp_with(lambda r: r["component"][0].update({"modifierExtension": UNKNOWN_MODIFIER})),
         "Observation.component[0].modifierExtension"),
    ],
)  # fmt: skip
def test_it_refuses_a_modifier_it_cannot_honour_and_keeps_the_observation(world, gateway, make, expression):
    resource = make(world.p.gjerdrum)
    response = gateway.post(OBSERVATION, resource, FHIR)
    assert response.status_code == 400, response.content
    issue = _issue(response, expression)
    assert issue["code"] == "not-supported" and "tas ikke imot" in issue["diagnostics"]
    assert not Reading.objects.exists()
    assert QuarantinedItem.objects.get().payload == resource


# --- every component's unit ------------------------------------------------------------------------------


def test_it_refuses_a_diastolic_in_another_unit_than_the_systolic(world, gateway):
    resource = blood_pressure(world.p.gjerdrum, "bp-unit")
    resource["component"][1]["valueQuantity"].update({"value": 80, "code": "cm[H2O]", "unit": "cmH2O"})
    response = gateway.post(OBSERVATION, resource, FHIR)
    assert response.status_code == 400, response.content
    issue = _issue(response, "Observation.component[1].valueQuantity.code")
    assert issue["code"] == "code-invalid" and "«cm[H2O]» passer ikke til blood_pressure" in issue["diagnostics"]
    assert not Reading.objects.exists()


# --- status --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", ["registered", "preliminary", "unknown", "bogus", "cancelled", "entered-in-error"])
def test_it_takes_only_a_finished_measurement(world, gateway, status):
    response = gateway.post(OBSERVATION, spo2(world.p.gjerdrum, f"s-{status}") | {"status": status}, FHIR)
    assert response.status_code == 400, response.content
    issue = _issue(response, "Observation.status")
    assert issue["code"] == "code-invalid" and f"status «{status}» tas ikke imot" in issue["diagnostics"]
    assert not Reading.objects.exists()


@pytest.mark.parametrize("status", ["final", "amended", "corrected"])
def test_it_stores_a_final_amended_or_corrected_measurement(world, gateway, status):
    response = gateway.post(OBSERVATION, spo2(world.p.gjerdrum, f"s-{status}") | {"status": status}, FHIR)
    assert response.status_code == 201, response.content


def test_it_refuses_a_correction_of_a_stored_reading_and_keeps_it_in_the_quarantine(world, gateway):
    first = spo2(world.p.gjerdrum, "corr-1", value=93)
    assert gateway.post(OBSERVATION, first, FHIR).status_code == 201
    corrected = copy.deepcopy(first) | {"status": "corrected"}
    corrected["valueQuantity"]["value"] = 85

    response = gateway.post(OBSERVATION, corrected, FHIR)

    assert response.status_code == 400, response.content
    issue = _issue(response, "Observation.valueQuantity.value")
    assert issue["code"] == "conflict" and "en rettet verdi for en måling som alt er mottatt" in issue["diagnostics"]
    assert list(Reading.objects.values_list("value", flat=True)) == [93]  # the scored value stands
    assert QuarantinedItem.objects.get().payload == corrected
    # The same reading again, unchanged, is still a plain duplicate.
    assert gateway.post(OBSERVATION, first, FHIR).status_code == 200


def test_it_refuses_a_json_resend_with_another_value_and_keeps_it(world, gateway):
    item = _reading(world.p.gjerdrum, n=7, value=93)
    assert _post(gateway, item)["created"] == 1
    changed = item | {"value": 88}

    result = _post(gateway, changed, item)["results"]

    assert [r["status"] for r in result] == ["rejected", "duplicate"]
    assert result[0]["errors"][0]["field"] == "value" and "rettet verdi" in result[0]["errors"][0]["message"]
    assert list(Reading.objects.values_list("value", flat=True)) == [93]
    assert QuarantinedItem.objects.get().payload == changed


def test_it_refuses_the_second_of_two_items_alike_in_a_batch_but_for_the_value(world, gateway):
    item = _reading(world.p.gjerdrum, n=8, value=93)
    result = _post(gateway, item, item | {"value": 90})["results"]
    assert [r["status"] for r in result] == ["created", "rejected"]
    assert list(Reading.objects.values_list("value", flat=True)) == [93]


def test_it_refuses_an_answer_sent_again_with_other_answers(world, gateway):
    sent = {
        "external_id": "svar-9",
        "patient_id": str(world.p.gjerdrum.pk),
        "questionnaire": "daily_symptoms",
        "answers": {"more_breathless": "no"},
        "answered_at": spo2(world.p.gjerdrum, "ignored")["effectiveDateTime"],
    }
    changed = sent | {"answers": {"more_breathless": "yes"}}
    first = gateway.post("/api/v1/answers", {"answers": [sent]}).json()
    again = gateway.post("/api/v1/answers", {"answers": [sent, changed]}).json()
    assert first["created"] == 1
    assert [r["status"] for r in again["results"]] == ["duplicate", "rejected"]
    assert list(Answer.objects.values_list("answers", flat=True)) == [{"more_breathless": "no"}]
    assert QuarantinedItem.objects.get().payload == changed


# --- Bundle.entry.request -------------------------------------------------------------------------------


def test_a_batch_does_only_the_creates_and_answers_any_other_request_405(world, gateway):
    sent = bundle("batch", spo2(world.p.gjerdrum, "r-0"), spo2(world.p.gjerdrum, "r-1"),
                  spo2(world.p.gjerdrum, "r-2"), spo2(world.p.gjerdrum, "r-3"))  # fmt: skip
    sent["entry"][1]["request"] = {"method": "DELETE", "url": "Observation/5"}
    sent["entry"][2]["request"] = {"method": "PUT", "url": "Observation/5"}
    sent["entry"][3] = {"request": {"method": "GET", "url": "Observation/5"}}

    response = gateway.post("/api/v1/fhir", sent, FHIR)

    assert response.status_code == 200, response.content
    answers = [e["response"] for e in response.json()["entry"]]
    assert [a["status"] for a in answers] == ["201 Created"] + ["405 Method Not Allowed"] * 3
    issue = answers[1]["outcome"]["issue"][0]
    assert issue["code"] == "not-supported" and issue["expression"] == ["Bundle.entry[1].request.method"]
    assert "«DELETE» støttes ikke" in issue["diagnostics"]
    assert Reading.objects.count() == 1 and not QuarantinedItem.objects.exists()


def test_a_batch_entry_posting_anything_but_an_observation_is_not_done(world, gateway):
    sent = bundle("batch", spo2(world.p.gjerdrum, "u-0"))
    sent["entry"][0]["request"]["url"] = "Patient"
    answer = gateway.post("/api/v1/fhir", sent, FHIR).json()["entry"][0]["response"]
    assert answer["status"] == "405 Method Not Allowed"
    assert answer["outcome"]["issue"][0]["expression"] == ["Bundle.entry[0].request.url"]
    assert not Reading.objects.exists()


def test_a_transaction_with_a_request_other_than_a_create_is_refused_whole(world, gateway):
    sent = bundle("transaction", spo2(world.p.gjerdrum, "tr-0"), spo2(world.p.gjerdrum, "tr-1"))
    sent["entry"][1]["request"] = {"method": "DELETE", "url": "Observation/5"}

    response = gateway.post("/api/v1/fhir", sent, FHIR)

    assert response.status_code == 400, response.content
    issues = response.json()["issue"]
    assert "ingenting i den er lagret" in issues[0]["diagnostics"]
    assert issues[1]["code"] == "not-supported" and issues[1]["expression"] == ["Bundle.entry[1].request.method"]
    assert not Reading.objects.exists() and not QuarantinedItem.objects.exists()


# --- messages and FHIRPath ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "expression", "message"),
    [
        (lambda r: r.update({"effectiveDateTime": "2026-11-23T08:01:00"}), "Observation.effectiveDateTime",
         "tidspunktet mangler tidssone"),
        (lambda r: (r.pop("effectiveDateTime"), r.update(
            {"effectivePeriod": {"start": "2026-11-23T08:01:00+01:00", "end": "2026-11-23T08:05:00+01:00"}})),
         "Observation.effectivePeriod", "et tidsrom tas ikke imot"),
        (lambda r: r["component"][0]["valueQuantity"].update({"value": 400}),
         "Observation.component[0].valueQuantity.value", "ikke en mulig verdi"),
        (lambda r: r["component"][1]["valueQuantity"].update({"value": "høy"}),
         "Observation.component[1].valueQuantity.value", "må være et tall"),
        (lambda r: r.pop("status"), "Observation.status", "mangler"),
        # a choice element given twice: the resource as a whole, not «Observation.Observation»
        (lambda r: r.update({"effectiveInstant": "2026-11-23T08:01:00+01:00"}), "Observation",
         "bare ett av effective[x] kan være med"),
        (lambda r: r["component"][0].update({"valueString": "høy"}), "Observation.component[0]",
         "bare ett av value[x] kan være med"),
        (lambda r: r.update({"identifier": [None]}), "Observation.identifier", "null"),
    ],
)  # fmt: skip
def test_it_names_the_element_in_fhirpath_and_norwegian(world, gateway, change, expression, message):
    resource = blood_pressure(world.p.gjerdrum, "path-1")
    change(resource)
    response = gateway.post(OBSERVATION, resource, FHIR)
    assert response.status_code == 400, response.content
    issue = _issue(response, expression)
    assert message in issue["diagnostics"] and "Value error" not in issue["diagnostics"]
