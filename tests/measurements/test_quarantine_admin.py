"""The centre admin's quarantine reads patient data (a FHIR subject's full fødselsnummer): the resubmit
page offers no list of patients, only the one the payload itself names (by fødselsnummer, patient id
or device serial) or the one with the fødselsnummer the admin corrects it to, among the patients of
the municipalities the centre serves; viewing, resubmitting and discarding are audited as the admin;
the gateway filter names only the admin's own centre's gateways."""

import datetime

from django.utils import timezone

from measurements.models import QuarantinedItem, Reading
from measurements.services import integration_create, quarantine_resubmit, readings_ingest
from patients.services import device_register, devices_lend
from tenants.models import AuditEvent
from tests.factories import PatientFactory
from tests.measurements.test_fhir import FHIR, _load, _now
from tests.measurements.test_ingest import _reading

LIST = "/admin/measurements/quarantineditem/"
RESUBMIT = LIST + "{}/resubmit/"
CHANGE = LIST + "{}/change/"


def _quarantined(gateway, item: dict) -> QuarantinedItem:
    response = gateway.post("/api/v1/readings", {"readings": [item]})
    assert response.json()["results"][0]["status"] == "rejected"
    return QuarantinedItem.objects.get()


def _fhir_quarantined(gateway, resource: dict) -> QuarantinedItem:
    assert gateway.post("/api/v1/fhir/Observation", resource, FHIR).status_code == 400
    return QuarantinedItem.objects.get()


def _admin_events(world, **filters):
    return AuditEvent.objects.filter(user=world.u.admin, role="admin", **filters)


# --- no roster ---------------------------------------------------------------------------------


def test_the_resubmit_page_names_no_patient_but_the_payloads_own(world, gateway, login):
    # 101 % is impossible: quarantined, though the patient is the centre's. The page used to list
    # every patient of the centre's municipalities by name, Nordre Follo's included.
    item = _quarantined(gateway, _reading(world.p.gjerdrum, 1, value=101))
    page = login(world.u.admin).get(RESUBMIT.format(item.pk))
    body = page.content.decode()
    assert page.status_code == 200
    assert world.p.gjerdrum.name in body  # the one the payload names
    others = [p for key, p in vars(world.p).items() if key != "gjerdrum"]
    assert [p.name for p in others if p.name in body] == []
    assert "<select" not in body


def test_a_payload_naming_a_patient_outside_the_centre_names_no_one(world, gateway, login):
    item = _quarantined(gateway, _reading(world.p.grimstad, 1))  # Agder's patient, sent to Øvre
    body = login(world.u.admin).get(RESUBMIT.format(item.pk)).content.decode()
    assert world.p.grimstad.name not in body
    assert "Innholdet peker ikke på noen pasient" in body


# --- the lookup from the payload's own identifier ------------------------------------------------


def test_a_fhir_observation_is_resubmitted_to_the_patient_registered_since_with_its_fodselsnummer(
    world, gateway, login
):
    resource = _load("minimal-spo2-fnr.json") | {"effectiveDateTime": _now()}
    item = _fhir_quarantined(gateway, resource)  # nobody has this fødselsnummer yet
    fnr = resource["subject"]["identifier"]["value"]
    registered = PatientFactory(municipality=world.m.gjerdrum, name="Kari Ny", national_id=fnr)
    admin = login(world.u.admin)
    page = admin.get(RESUBMIT.format(item.pk)).content.decode()
    assert "Kari Ny" in page and f'value="{fnr}"' in page  # the payload's own number, filled in
    assert admin.post(RESUBMIT.format(item.pk), {"national_id": ""}).status_code == 302
    assert Reading.objects.get().patient == registered


def test_a_json_reading_by_device_serial_is_resubmitted_to_the_patient_the_loan_names_now(world, gateway, login):
    from measurements.selectors import quarantine_patient

    device_register(centre=world.centres.ovre, user=world.u.nurse, type="pulsoksymeter", serial="OX-9")
    sent = _reading(world.p.gjerdrum, 1, patient_id=None, device_serial="OX-9")
    item = _quarantined(gateway, sent)  # the device was not lent to anyone yet
    devices_lend(patient=world.p.nannestad, user=world.u.nurse, serials=["OX-9"])  # the loan registered late
    assert quarantine_patient(item) == world.p.nannestad
    assert login(world.u.admin).post(RESUBMIT.format(item.pk), {"national_id": ""}).status_code == 302
    assert Reading.objects.get().patient == world.p.nannestad


def test_a_corrected_fodselsnummer_finds_a_patient_only_in_the_centres_municipalities(world, gateway, login):
    item = _quarantined(gateway, _reading(world.p.grimstad, 1))
    admin = login(world.u.admin)
    refused = admin.post(RESUBMIT.format(item.pk), {"national_id": world.p.grimstad.national_id})
    body = refused.content.decode()
    assert refused.status_code == 200 and not Reading.objects.exists()
    assert f"Fant ingen pasient med fødselsnummer {world.p.grimstad.national_id} i kommunene Øvre betjener" in body
    assert world.p.grimstad.name not in body
    # Nordre Follo's devices post through the centre too: its patients are found (by exact number only).
    done = admin.post(RESUBMIT.format(item.pk), {"national_id": world.p.nordrefollo.national_id})
    assert done.status_code == 302
    assert Reading.objects.get().patient == world.p.nordrefollo


def test_a_malformed_or_missing_fodselsnummer_is_refused_at_the_field(world, gateway, login):
    item = _quarantined(gateway, _reading(world.p.grimstad, 1))
    admin = login(world.u.admin)
    bad = admin.post(RESUBMIT.format(item.pk), {"national_id": "12345"})
    assert bad.status_code == 200 and bad.context["form"].errors["national_id"]
    blank = admin.post(RESUBMIT.format(item.pk), {"national_id": ""})  # the payload names no one here
    assert "Skriv inn pasientens fødselsnummer" in blank.content.decode()
    assert not Reading.objects.exists()


def test_the_payload_identifier_is_read_from_what_the_gateway_sent(world):
    from measurements.selectors import payload_identifier

    at = timezone.localtime().isoformat()
    cases = [
        ("reading", {"patient_id": "abc"}, ("patient_id", "abc")),
        ("reading", {"device_serial": " OX-1 ", "measured_at": at}, ("device_serial", "OX-1")),
        ("answer", {"patient_id": "abc", "answered_at": at}, ("patient_id", "abc")),
        ("fhir", {"subject": {"identifier": {"system": "urn:oid:2.16.578.1.12.4.1.4.1", "value": "0101 0112345"}}},
         ("national_id", "01010112345")),
        ("fhir", {"subject": {"reference": "Patient/abc"}}, ("patient_id", "abc")),
        ("fhir", {"device": {"identifier": {"value": "OX-2"}}, "effectiveDateTime": at}, ("device_serial", "OX-2")),
        ("fhir", {"subject": "x", "device": ["y"]}, ("", "")),
        ("reading", {"raw": "[[["}, ("", "")),
        ("reading", ["not", "a", "dict"], ("", "")),
    ]  # fmt: skip
    for kind, payload, expected in cases:
        found = payload_identifier(QuarantinedItem(kind=kind, payload=payload))
        assert (found.kind, found.value) == expected, payload
    by_serial = payload_identifier(QuarantinedItem(kind="reading", payload={"device_serial": "S", "measured_at": at}))
    assert by_serial.at == datetime.datetime.fromisoformat(at)


# --- audited as the admin -------------------------------------------------------------------------


def test_viewing_a_quarantined_payload_is_audited_as_the_admin(world, gateway, login):
    item = _quarantined(gateway, _reading(world.p.gjerdrum, 1, value=101))
    admin = login(world.u.admin)
    for url in (CHANGE.format(item.pk), RESUBMIT.format(item.pk)):
        before = AuditEvent.objects.count()
        assert admin.get(url).status_code == 200
        [event] = AuditEvent.objects.order_by("-pk")[: AuditEvent.objects.count() - before]
        assert (event.user, event.role, event.action, event.object_type, event.object_id, event.patient_id) == (
            world.u.admin, "admin", "view", "quarantined_item", str(item.pk), world.p.gjerdrum.pk
        ), url  # fmt: skip


def test_a_resubmission_is_audited_as_the_admin_not_the_gateway(world, gateway, login):
    item = _quarantined(gateway, _reading(world.p.grimstad, 1))
    before = AuditEvent.objects.count()
    response = login(world.u.admin).post(RESUBMIT.format(item.pk), {"national_id": world.p.gjerdrum.national_id})
    assert response.status_code == 302
    reading = Reading.objects.get()
    [created] = AuditEvent.objects.filter(action="create", object_type="reading")
    assert (created.user, created.username, created.role, created.object_id, created.patient_id) == (
        world.u.admin, "admin", "admin", str(reading.pk), world.p.gjerdrum.pk
    )  # fmt: skip
    assert not AuditEvent.objects.filter(pk__gt=before, username__startswith="integrasjon:").exists()


def test_a_resubmission_still_rejected_is_audited_as_the_admin(world, gateway):
    item = _quarantined(gateway, _reading(world.p.gjerdrum, 1, value=101))
    result = quarantine_resubmit(item=item, user=world.u.admin, patient_id=world.p.gjerdrum.pk)
    assert result.status == "rejected"
    [event] = _admin_events(world, action="update", object_type="quarantined_item")
    assert (event.object_id, event.patient_id) == (str(item.pk), world.p.gjerdrum.pk)


def test_discarding_is_audited_as_the_admin_for_each_item(world, gateway, login):
    item = _quarantined(gateway, _reading(world.p.gjerdrum, 1, value=101))
    response = login(world.u.admin).post(LIST, {"action": "discard", "_selected_action": [item.pk]})
    assert response.status_code == 302
    item.refresh_from_db()
    assert (item.status, item.resolved_by) == ("discarded", world.u.admin)
    [event] = _admin_events(world, action="update", object_type="quarantined_item")
    assert (event.object_id, event.patient_id) == (str(item.pk), world.p.gjerdrum.pk)
    # Discarding it again changes nothing and logs nothing.
    login(world.u.admin).post(LIST, {"action": "discard", "_selected_action": [item.pk]})
    assert _admin_events(world, action="update").count() == 1


# --- the gateway filter ----------------------------------------------------------------------------


def test_the_gateway_filter_names_only_the_admins_own_centres_gateways(world, gateway, login):
    integration_create(centre=world.centres.ovre, name="Stille gateway")  # nothing quarantined (yet)
    agder, _token = integration_create(centre=world.centres.agder, name="Agders gateway")
    at = (timezone.localtime() - datetime.timedelta(minutes=1)).isoformat()
    bad = {"external_id": "a-1", "patient_id": str(world.p.grimstad.pk), "type": "spo2", "value": 101, "unit": "%",
           "measured_at": at}  # fmt: skip
    readings_ingest(integration=agder, items=[bad])
    gateway.post("/api/v1/readings", {"readings": [_reading(world.p.gjerdrum, 2, value=101)]})  # Øvre's own
    body = login(world.u.admin).get(LIST).content.decode()
    assert "Testgateway" in body and "Stille gateway" in body
    assert "Agders gateway" not in body
    filtered = login(world.u.admin).get(f"{LIST}?integration__id__exact={agder.pk}")
    assert filtered.status_code == 200 and "Agders gateway" not in filtered.content.decode()


# --- what the admin is told ------------------------------------------------------------------------


def test_a_resubmission_says_in_norwegian_what_became_of_it(world, gateway, login):
    admin = login(world.u.admin)
    at = (timezone.localtime() - datetime.timedelta(minutes=1)).isoformat()
    item = _quarantined(gateway, _reading(world.p.grimstad, 1, measured_at=at))  # Agder's patient, sent to Øvre
    response = admin.post(RESUBMIT.format(item.pk), {"national_id": world.p.gjerdrum.national_id}, follow=True)
    reading = Reading.objects.get()
    assert [str(m) for m in response.context["messages"]] == [f"Sendt inn på nytt: lagret (id {reading.pk})."]
    page = admin.get(CHANGE.format(item.pk)).content.decode()
    assert f"lagret (id {reading.pk})" in page and "created" not in page
    # The same reading sent again, and quarantined again: resubmitting it meets the stored one.
    gateway.post("/api/v1/readings", {"readings": [_reading(world.p.grimstad, 1, measured_at=at)]})
    again = QuarantinedItem.objects.get(status="open")
    response = admin.post(RESUBMIT.format(again.pk), {"national_id": world.p.gjerdrum.national_id}, follow=True)
    assert [str(m) for m in response.context["messages"]] == [f"Sendt inn på nytt: allerede mottatt (id {reading.pk})."]
