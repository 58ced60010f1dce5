"""«Planlagt oppfølging» (/followup/): a kommune filter (kommuner of the user's scope only), each list
paged, and «mangler godkjent plan» split by where the plan stands; «Registrer kontakt» at any time
from the patient page (a call in from the patient), nothing due; and the routine contact counted from
the last contact that reached the patient."""

import datetime

import pytest
from django.utils import timezone

from ebp import services as ebp
from ebp.defaults import TEMPLATES
from measurements.services import integration_create, readings_ingest
from patients.models import Patient
from tests.factories import PatientFactory
from triage import services as triage
from triage.models import Alert, Contact, ContactKind
from triage.selectors import follow_up_due, plan_missing_split


def _submitted(patient, nurse):
    draft = ebp.draft_start(patient=patient, user=nurse, template=next(iter(TEMPLATES)))
    return ebp.draft_submit(version=draft, user=nurse)


def test_the_missing_plans_are_split_into_at_the_fastlege_and_not_started(world, login):
    _submitted(world.p.gjerdrum, world.u.nurse)  # has a fastlege: sent for approval
    split = plan_missing_split(world.u.nurse)
    assert split.at_gp == [world.p.gjerdrum]
    assert set(split.not_started) == {world.p.ullensaker, world.p.nannestad}
    body = login(world.u.nurse).get("/followup/").content.decode()
    at_gp = body.split('id="plan-at-gp"')[1].split('id="plan-in-progress"')[0]
    not_started = body.split('id="plan-not-started"')[1].split("</section>")[0]
    assert "Rune Gjerdrum" in at_gp and "Jens Nannestad" not in at_gp
    assert "Jens Nannestad" in not_started and "Rune Gjerdrum" not in not_started
    # without a fastlege: flagged with the way to register one
    assert f'href="/patients/{world.p.nannestad.pk}/fastlege/">Mangler fastlege' in not_started


def test_the_kommune_filter_narrows_and_offers_only_the_users_kommuner(world, login):
    client = login(world.u.nurse)
    body = client.get("/followup/?municipality=3238").content.decode()
    assert "Jens Nannestad" in body and "Olav Ullensaker" not in body
    assert '<option value="3238" selected>Nannestad</option>' in body
    assert 'value="4202"' not in body  # Grimstad is not the nurse's
    assert client.get("/followup/?municipality=4202").status_code == 404


def test_each_list_is_paged(world, login):
    for n in range(30):
        PatientFactory(municipality=world.m.nannestad, name=f"Pasient {n:02d}")
    client = login(world.u.nurse)
    first = client.get("/followup/?municipality=3238").content.decode()
    assert "Ikke påbegynt: 31 pasienter" in first
    assert "Side 1 av 2" in first and "municipality=3238&amp;not_started_page=2" in first
    second = client.get("/followup/?municipality=3238&not_started_page=2").content.decode()
    assert "Pasient 29" in second and "Pasient 00" not in second


def test_a_nurse_registers_a_call_in_from_the_patient_page_when_nothing_is_due(world, login):
    patient = world.p.gjerdrum  # just created: no routine contact or evaluation due
    client = login(world.u.nurse)
    page = client.get(f"/patients/{patient.pk}/").content.decode()
    assert 'id="register-contact"' in page and 'value="call_in"' in page and 'value="evaluation"' not in page
    response = client.post(f"/patients/{patient.pk}/contacts/", {
        "kind": "call_in", "actions": ["advised_ebp"], "note": "Ringte om ny inhalator.",
        "next": f"/patients/{patient.pk}/#notes",
    })  # fmt: skip
    assert response.status_code == 302 and response.url == f"/patients/{patient.pk}/#notes"
    contact = Contact.objects.get(patient=patient)
    assert (contact.kind, contact.by) == (ContactKind.CALL_IN, world.u.nurse)
    history = client.get(f"/patients/{patient.pk}/").content.decode().split('id="notes"')[1]
    assert "Henvendelse fra pasienten" in history and "Ringte om ny inhalator." in history


def test_the_koordinator_gets_no_contact_form(world, login):
    page = login(world.u.coordinator).get(f"/patients/{world.p.gjerdrum.pk}/").content.decode()
    assert 'id="register-contact"' not in page
    assert Patient.objects.filter(pk=world.p.gjerdrum.pk).exists()


@pytest.mark.parametrize(
    ("actions", "restarts"),
    [
        pytest.param(["no_action"], False, id="ingen-tiltak"),
        pytest.param(["contacted_gp"], False, id="kontaktet-fastlegen"),
        pytest.param(["homecare_visit", "contacted_legevakt"], False, id="hjemmetjenesten-og-legevakten"),
        pytest.param(["called_reached", "no_action"], True, id="fikk-svar"),
        pytest.param(["advised_ebp"], True, id="ga-rad"),
    ],
)
def test_the_routine_clock_restarts_from_an_alerts_handling_only_when_the_patient_was_reached(world, actions, restarts):
    patient = world.p.nannestad  # no plan: the centre's defaults, red under 88
    Patient.objects.filter(pk=patient.pk).update(created_at=timezone.now() - datetime.timedelta(weeks=10))
    assert patient in {r.patient for r in follow_up_due(world.u.nurse).routine}
    gateway = integration_create(centre=world.centres.ovre, name="gw")[0]
    item = {"external_id": "r", "patient_id": str(patient.pk), "type": "spo2", "value": 85, "unit": "%",
            "measured_at": timezone.localtime().isoformat()}  # fmt: skip
    triage.readings_score([readings_ingest(integration=gateway, items=[item])[0].id])
    triage.alert_handle(alert=Alert.objects.get(patient=patient), user=world.u.nurse, actions=actions)
    due = {r.patient for r in follow_up_due(world.u.nurse).routine}
    assert (patient not in due) is restarts
