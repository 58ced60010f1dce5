"""The document to the kommune's EPJ (VKP-DHO): built from what triage stored when an alert was
handled or a contact recorded, parsed strictly by fhir.resources, the same bytes every time, and
refused with the path of what is wrong."""

import copy
import datetime
import json
import uuid
from pathlib import Path

import pytest
from django.utils import timezone
from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.bundle import Bundle

from ebp import services as ebp
from journaling import vkp
from journaling.document import NAMESPACE, alert_document, contact_document, document_bytes
from journaling.validation import DocumentRefused, check_size, document_checked, validate_document
from measurements.services import answers_ingest, integration_create, readings_ingest
from patients import services as patients
from tenants.models import Membership
from tenants.rls import scoped
from tests.factories import PatientFactory
from triage import services as triage
from triage.models import Alert, JournalNote

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "fhir"
HPR = "1234567"
NOTE = "Startet reservekur <kl. 20> & ringer tilbake.\nNy måling i kveld."
PLAN = {
    "schedule": {"spo2": {"frequency": "daily"}},
    "thresholds": {"spo2": {"value": {"red_below": 88, "yellow_below": 92}}},
    "questionnaires": {
        "daily_symptoms": [
            {"code": "more_breathless", "text": "Er du mer tungpustet enn vanlig?", "yellow_if": "yes"},
            {"code": "breathless_at_rest", "text": "Er du tungpustet i hvile?", "red_if": "yes"},
        ],
        "cat": {"yellow_at": 10, "red_at": 21},
    },
}


def _at(minutes_ago: int) -> str:
    return (timezone.localtime() - datetime.timedelta(minutes=minutes_ago)).isoformat()


@pytest.fixture
def gateway(world):
    return integration_create(centre=world.centres.ovre, name="gw")[0]


@pytest.fixture
def nurse(world):
    """The world's nurse, with an HPR number on her membership."""
    membership = Membership.objects.get(user=world.u.nurse)
    membership.hpr_number = HPR
    membership.save()
    world.u.nurse.first_name, world.u.nurse.last_name = "Kari", "Nordmann"
    world.u.nurse.save(update_fields=["first_name", "last_name"])
    return world.u.nurse


@pytest.fixture
def readings_note(world, gateway, nurse) -> JournalNote:
    """An alert opened by a low SpO2 and kept by a high blood pressure, handled by the nurse."""
    patient = world.p.gjerdrum  # no plan: the centre's defaults
    items = [
        {"external_id": "spo2", "patient_id": str(patient.pk), "type": "spo2", "value": 86, "unit": "%",
         "measured_at": _at(10)},
        {"external_id": "bp", "patient_id": str(patient.pk), "type": "blood_pressure", "systolic": 210,
         "diastolic": 125, "unit": "mm[Hg]", "measured_at": _at(5)},
    ]  # fmt: skip
    stored = readings_ingest(integration=gateway, items=items)
    assert all(not r.errors for r in stored), [r.errors for r in stored]
    triage.readings_score([r.id for r in stored])
    alert = Alert.objects.get(patient=patient)
    triage.alert_handle(alert=alert, user=nurse, actions=["called_reached", "advised_ebp"], note=NOTE)
    return JournalNote.objects.get(alert=alert)


@pytest.fixture
def answers_note(world, gateway, nurse) -> JournalNote:
    """An alert opened by a deviating daily answer and a high CAT, handled by the nurse."""
    patient = world.p.gjerdrum
    draft = ebp.draft_start(patient=patient, user=nurse, content=PLAN)
    ebp.draft_submit(version=draft, user=nurse)
    ebp.version_approve(version=draft, user=world.u.gp)
    base = {"patient_id": str(patient.pk)}
    items = [
        {**base, "external_id": "daily", "questionnaire": "daily_symptoms", "answered_at": _at(10),
         "answers": {"more_breathless": "yes", "breathless_at_rest": "no"}},
        {**base, "external_id": "cat", "questionnaire": "cat", "answered_at": _at(5), "items": [3] * 7 + [2]},
    ]  # fmt: skip
    stored = answers_ingest(integration=gateway, items=items)
    triage.answers_score([r.id for r in stored])
    alert = Alert.objects.get(patient=patient)
    assert alert.kind == "deviating_answer"
    triage.alert_handle(alert=alert, user=nurse, actions=["called_reached"], note="Økt dosen etter planen.")
    return JournalNote.objects.get(alert=alert)


def _resources(document, kind):
    return [e["resource"] for e in document["entry"] if e["resource"]["resourceType"] == kind]


def _parsed_strictly(document):
    """fhir.resources R4B: the Bundle, and every entry's resource by its own model."""
    Bundle.model_validate(document)
    for entry in document["entry"]:
        get_fhir_model_class(entry["resource"]["resourceType"]).model_validate(entry["resource"])


def _follow_up_div(document) -> str:
    return document["entry"][0]["resource"]["section"][0]["text"]["div"]


# --- what the document holds ----------------------------------------------------------------------


def test_it_builds_the_document_of_a_handled_alert_with_its_readings(world, readings_note):
    document = alert_document(readings_note)
    _parsed_strictly(document)
    validate_document(document)
    assert (document["resourceType"], document["type"]) == ("Bundle", "document")
    composition = document["entry"][0]["resource"]
    assert composition["resourceType"] == "Composition"
    assert composition["meta"]["profile"] == [vkp.COMPOSITION_PROFILE]
    assert composition["type"]["coding"] == [{"system": "http://loinc.org", "code": "34133-9",
                                              "display": "Summary of episode note"}]  # fmt: skip
    assert composition["category"][0]["coding"][0]["code"] == "2"
    assert composition["subject"]["identifier"] == {"system": vkp.FNR_SYSTEM, "value": world.p.gjerdrum.national_id}
    [patient] = _resources(document, "Patient")
    assert patient["identifier"] == [{"system": "urn:oid:2.16.578.1.12.4.1.4.1", "value": world.p.gjerdrum.national_id}]
    # The nurse: author, by HPR number.
    [practitioner] = _resources(document, "Practitioner")
    assert practitioner["identifier"] == [{"system": "urn:oid:2.16.578.1.12.4.1.4.4", "value": HPR}]
    assert composition["author"][0]["display"] == "Kari Nordmann"
    # The nurse's actions and note, escaped into the follow-up section's narrative.
    section = composition["section"][0]
    assert section["code"]["coding"][0] == {"system": vkp.SECTION_SYSTEM, "code": "1.1",
                                            "display": "beskrivelse av oppfølging"}  # fmt: skip
    div = _follow_up_div(document)
    assert "Tiltak: Ringte pasienten – fikk svar; Ga råd etter egenbehandlingsplanen" in div
    assert "Notat: Startet reservekur &lt;kl. 20&gt; &amp; ringer tilbake.<br/>Ny måling i kveld." in div
    assert "Startet reservekur" in composition["section"][1]["text"]["div"]  # the journal note's text
    # The alert: the guide's code for a reading out of range, its severity and colour.
    [issue] = _resources(document, "DetectedIssue")
    assert issue["code"]["coding"] == [{"system": "http://ehelse.no/fhir/CodeSystem/vkp-alert-code-v090",
                                        "code": "5.2.1", "display": "Måledata rapportert"}]  # fmt: skip
    assert issue["severity"] == "high" and issue["detail"].startswith("Rød: ")
    assert issue["meta"]["profile"] == ["http://ehelse.no/fhir/StructureDefinition/vkp-DetectedIssue-v090"]
    assert [m["action"]["text"] for m in issue["mitigation"]] == [
        "Ringte pasienten – fikk svar",
        "Ga råd etter egenbehandlingsplanen",
    ]
    # The readings: LOINC and UCUM from the catalogue, the guide's profiles.
    spo2, pressure = _resources(document, "Observation")
    assert {"reference": f"urn:uuid:{spo2['id']}"} in issue["implicated"]
    assert {"reference": f"urn:uuid:{pressure['id']}"} in issue["implicated"]
    assert spo2["meta"]["profile"] == ["http://hl7.no/fhir/StructureDefinition/vkp-Observation-Oxygensat-v090"]
    assert {"system": "http://loinc.org", "code": "2708-6", "display": "Oksygenmetning (SpO2)"} in spo2["code"][
        "coding"
    ]
    assert {"system": "http://snomed.info/sct", "code": "431314004"} in spo2["code"]["coding"]
    assert spo2["valueQuantity"] == {"value": 86.0, "unit": "%", "system": "http://unitsofmeasure.org", "code": "%"}
    assert spo2["interpretation"][0]["coding"][0]["code"] == "AA"
    assert pressure["meta"]["profile"] == [
        "http://ehelse.no/fhir/StructureDefinition/vkp-Observation-Bloodpressure-v090"
    ]
    assert pressure["code"]["coding"][0]["code"] == "85354-9"
    systolic, diastolic = pressure["component"]
    assert [c["code"] for c in systolic["code"]["coding"]] == ["8480-6", "271649006"]
    assert [c["code"] for c in diastolic["code"]["coding"]] == ["8462-4", "271650006"]
    assert systolic["valueQuantity"]["code"] == "mm[Hg]" and systolic["valueQuantity"]["value"] == 210.0
    assert diastolic["valueQuantity"]["system"] == "http://unitsofmeasure.org"
    # Each finding is named in the section; every reference resolves (the validator above).
    assert {"reference": f"urn:uuid:{issue['id']}"} in section["entry"]


def test_it_builds_the_document_of_a_questionnaire_alert(world, answers_note):
    document = alert_document(answers_note)
    _parsed_strictly(document)
    validate_document(document)
    [issue] = _resources(document, "DetectedIssue")
    assert issue["code"]["coding"][0]["code"] == "5.2.2"  # Skjemabesvarelse
    assert issue["severity"] == "high"  # CAT 23: red
    daily, cat = _resources(document, "QuestionnaireResponse")
    assert daily["meta"]["profile"] == ["http://ehelse.no/fhir/StructureDefinition/vkp-QuestionnaireReponse-v090"]
    assert daily["item"] == [
        {"linkId": "more_breathless", "text": "Er du mer tungpustet enn vanlig?", "answer": [{"valueBoolean": True}]},
        {"linkId": "breathless_at_rest", "text": "Er du tungpustet i hvile?", "answer": [{"valueBoolean": False}]},
    ]
    assert [i["answer"][0]["valueInteger"] for i in cat["item"]] == [3] * 7 + [2]
    assert cat["_questionnaire"]["extension"][0]["valueString"] == "CAT (KOLS)"
    scores = [o for o in _resources(document, "Observation") if "derivedFrom" in o]
    assert len(scores) == 2
    cat_score = next(o for o in scores if o["derivedFrom"] == [{"reference": f"urn:uuid:{cat['id']}"}])
    assert cat_score["valueInteger"] == 23
    assert cat_score["interpretation"][0]["text"] == "Rød: CAT 23 poeng – rød fra 21"
    assert {"reference": f"urn:uuid:{daily['id']}"} in issue["implicated"]
    assert "Notat: Økt dosen etter planen." in _follow_up_div(document)


def test_it_builds_a_routine_contact_without_a_detected_issue(world, nurse):
    patient = PatientFactory(municipality=world.m.gjerdrum, name="Dina D-nummer", national_id="41814510059")
    contact = triage.contact_record(patient=patient, user=nurse, kind="routine", actions=["called_reached"],
                                    note="Alt vel, måler som avtalt.")  # fmt: skip
    document = contact_document(contact)
    _parsed_strictly(document)
    validate_document(document)
    assert [e["resource"]["resourceType"] for e in document["entry"]] == ["Composition", "Patient", "Practitioner"]
    composition = document["entry"][0]["resource"]
    assert composition["title"] == "Digital hjemmeoppfølging – rutinekontakt"
    # A D-nummer (first digit 4–7) by its own OID.
    assert composition["subject"]["identifier"] == {"system": "urn:oid:2.16.578.1.12.4.1.4.2", "value": "41814510059"}
    assert "Tiltak: Ringte pasienten – fikk svar" in _follow_up_div(document)
    assert "Notat: Alt vel, måler som avtalt." in _follow_up_div(document)
    assert document["timestamp"] == timezone.localtime(contact.at).isoformat()


def test_it_builds_an_evaluation(world, nurse):
    next_date = timezone.localdate() + datetime.timedelta(days=90)
    evaluation = patients.evaluation_record(patient=world.p.gjerdrum, user=nurse, outcome="continue",
                                          next_date=next_date, note="Mestrer målingene godt.")  # fmt: skip
    document = contact_document(evaluation.contact)
    _parsed_strictly(document)
    validate_document(document)
    composition = document["entry"][0]["resource"]
    assert composition["title"] == "Digital hjemmeoppfølging – evaluering"
    assert composition["section"][0]["title"] == "Evaluering"
    div = _follow_up_div(document)
    assert "Fortsetter. Neste evaluering" in div and "Mestrer målingene godt." in div
    assert "Tiltak" not in div  # an evaluation records no actions
    assert not _resources(document, "DetectedIssue")


def test_a_contact_about_an_alert_is_sent_as_its_journal_note(readings_note):
    with pytest.raises(ValueError, match="alert_document"):
        contact_document(readings_note.contact)


def test_it_builds_nothing_outside_a_scope_that_sees_the_patient(world, readings_note):
    with scoped([world.m.grimstad.pk]), pytest.raises(RuntimeError, match="system_scope"):
        alert_document(readings_note)


# --- the same rows, the same bytes ------------------------------------------------------------------


def test_the_same_note_gives_the_same_bytes_and_identifier(readings_note):
    first = document_bytes(alert_document(readings_note))
    again = JournalNote.objects.get(pk=readings_note.pk)  # read afresh, as a worker would
    with timezone.override("America/New_York"):  # whatever zone a caller has activated
        second = document_bytes(alert_document(again))
    assert first == second
    document = json.loads(first)
    expected = f"urn:uuid:{uuid.uuid5(NAMESPACE, f'journal-note/{readings_note.pk}')}"
    assert document["identifier"] == {"system": "urn:ietf:rfc:3986", "value": expected}
    assert document["timestamp"] == timezone.localtime(readings_note.created_at).isoformat()
    assert all(e["fullUrl"] == f"urn:uuid:{e['resource']['id']}" for e in document["entry"])
    assert first == document_checked(document)  # the bytes sent are these bytes
    assert first.startswith(b'{"entry":[{"fullUrl":"urn:uuid:')  # keys sorted, no spaces, UTF-8
    assert "Måledata rapportert".encode() in first


def test_two_documents_have_two_identifiers(world, readings_note, nurse):
    contact = triage.contact_record(patient=world.p.gjerdrum, user=nurse, kind="routine", actions=[], note="Ringte.")
    assert alert_document(readings_note)["identifier"] != contact_document(contact)["identifier"]


# --- what the validator refuses ----------------------------------------------------------------------


def _refusal(document) -> DocumentRefused:
    with pytest.raises(DocumentRefused) as caught:
        validate_document(document)
    return caught.value


def test_it_refuses_a_dangling_reference_with_its_path(readings_note):
    document = alert_document(readings_note)
    broken = copy.deepcopy(document)
    nowhere = f"urn:uuid:{uuid.UUID(int=7)}"
    broken["entry"][0]["resource"]["subject"]["reference"] = nowhere
    refused = _refusal(broken)
    assert f"Bundle.entry[0].resource.subject.reference: «{nowhere}» finnes ikke i dokumentet" in str(refused)
    assert str(refused).startswith("Journaldokumentet kan ikke sendes: ")
    validate_document(document)  # the original is untouched and still good


def test_it_refuses_a_document_whose_first_entry_is_not_the_composition(readings_note):
    document = alert_document(readings_note)
    document["entry"].append(document["entry"].pop(0))
    messages = [str(p) for p in _refusal(document).problems]
    assert "Bundle.entry[0].resource: må være dokumentets Composition, ikke «Patient»" in messages
    assert any(m.startswith(f"Bundle.entry[{len(document['entry']) - 1}].resource.resourceType:") for m in messages)


def test_it_refuses_a_subject_identified_by_anything_but_a_national_id(readings_note):
    document = alert_document(readings_note)
    document["entry"][0]["resource"]["subject"]["identifier"]["system"] = "urn:oid:2.16.578.1.12.4.1.4.3"
    refused = _refusal(document)
    assert "Bundle.entry[0].resource.subject.identifier.system: «urn:oid:2.16.578.1.12.4.1.4.3» er verken" in str(
        refused
    )


def test_it_refuses_what_fhir_resources_cannot_parse_and_the_guides_codes_broken(readings_note):
    document = alert_document(readings_note)
    index = next(i for i, e in enumerate(document["entry"]) if e["resource"]["resourceType"] == "DetectedIssue")
    document["entry"][index]["resource"]["code"]["coding"][0]["code"] = "1.1"  # the medicine dispenser's
    document["entry"][index + 1]["resource"]["bogus"] = 1
    document["type"] = "collection"
    del document["identifier"]
    document["entry"][0]["resource"]["section"][0]["text"]["div"] = "<div>uten navnerom</div>"
    messages = [str(p) for p in _refusal(document).problems]
    assert f"Bundle.entry[{index + 1}].resource.bogus: ukjent felt" in messages
    assert any(m.startswith(f"Bundle.entry[{index}].resource.code: må ha en kode fra") for m in messages)
    assert "Bundle.type: må være «document», ikke «collection»" in messages
    assert any(m.startswith("Bundle.identifier: mangler") for m in messages)
    assert any(m.startswith("Bundle.entry[0].resource.section[0].text.div: må være ett <div") for m in messages)


def test_it_refuses_empty_elements(readings_note):
    document = alert_document(readings_note)
    document["entry"][0]["resource"]["section"][0]["entry"] = []
    document["entry"][1]["resource"]["name"][0]["text"] = " "
    messages = [str(p) for p in _refusal(document).problems]
    assert "Bundle.entry[0].resource.section[0].entry: kan ikke være tom (FHIR har ingen tomme elementer)" in messages
    assert any(m.startswith("Bundle.entry[1].resource.name[0].text: kan ikke være tom") for m in messages)


def test_it_refuses_an_hl7_example_observation_whose_patient_is_outside_the_document(readings_note):
    # HL7's own example Observations parse (fhir.resources) but name Patient/example, which this
    # document does not hold: the reference is refused, nothing else about them is.
    document = alert_document(readings_note)
    for n, name in enumerate(("hl7-observation-example-satO2.json", "hl7-observation-example-bloodpressure.json")):
        example = json.loads((FIXTURES / name).read_text())
        document["entry"].append({"fullUrl": f"urn:uuid:{uuid.UUID(int=100 + n)}", "resource": example})
    problems = _refusal(document).problems
    first = len(document["entry"]) - 2
    assert {f"Bundle.entry[{first}].resource.subject.reference",
            f"Bundle.entry[{first + 1}].resource.subject.reference"} <= {p.path for p in problems}  # fmt: skip
    assert all(p.path.startswith((f"Bundle.entry[{first}]", f"Bundle.entry[{first + 1}]")) for p in problems)
    assert all(p.path.endswith(".reference") and "finnes ikke i dokumentet" in p.message for p in problems)


def test_it_refuses_a_document_over_the_size_limit_whole(readings_note):
    check_size(b"x" * 1_000_000)  # at the limit: sent
    with pytest.raises(DocumentRefused) as caught:
        check_size(b"x" * 1_000_001)
    message = str(caught.value)
    assert "Bundle: dokumentet er 1\u00a0000\u00a0001 byte, mer enn grensen på 1\u00a0000\u00a0000 byte" in message
    assert "det kortes ikke ned" in message
    document = alert_document(readings_note)
    document["entry"][0]["resource"]["section"][0]["text"]["div"] = (
        f'<div xmlns="{vkp.XHTML}"><p>{"lang tekst " * 100_000}</p></div>'
    )
    with pytest.raises(DocumentRefused, match="mer enn grensen"):
        document_checked(document)
