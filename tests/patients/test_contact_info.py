"""The patient page as the nurse's call sheet: phone and pårørende live on the patient (copied from
the henvisning at the grant), edited by the patient's nurses and koordinator, audited; samtykke and the
equipment on loan (with the way to take it back) are shown beside them."""

import datetime

import pytest

from patients.models import ASSESSMENT_CRITERIA, Patient
from patients.services import (
    ContactInfoRefused,
    FastlegeRoleRequired,
    assessment_record,
    consent_record,
    contact_info_set,
    decision_record,
    device_register,
    devices_lend,
    referral_register,
)
from tenants.models import AuditEvent
from tests.factories import synthetic_national_id


def test_the_nurse_edits_phone_and_next_of_kin_audited(world, login):
    patient = world.p.gjerdrum
    response = login(world.u.nurse).post(
        f"/patients/{patient.pk}/kontakt/", {"phone": "900 12 345", "next_of_kin": "Anne Kvam, datter, 900 12 346"}
    )
    assert response.status_code == 302, response.content.decode()
    patient.refresh_from_db()
    assert (patient.phone, patient.next_of_kin) == ("900 12 345", "Anne Kvam, datter, 900 12 346")
    event = AuditEvent.objects.get(object_type="patient_contact_info")
    assert (event.username, event.action, event.patient_id) == ("nurse", "update", patient.pk)
    page = login(world.u.nurse).get(f"/patients/{patient.pk}/").content.decode()
    assert 'href="tel:90012345">900 12 345</a>' in page and "Anne Kvam, datter" in page


def test_outside_the_scope_it_is_a_404_and_nothing_changes(world, login, api):
    patient = world.p.nannestad  # not the Gjerdrum koordinator's
    assert login(world.u.coordinator).post(f"/patients/{patient.pk}/kontakt/", {"phone": "1"}).status_code == 404
    body = {"phone": "900 00 001", "next_of_kin": ""}
    assert api(world.u.coordinator).post(f"/api/v1/patients/{patient.pk}/contact-info/", body,
                                         format="json").status_code == 404  # fmt: skip
    assert Patient.objects.get(pk=patient.pk).phone == ""
    assert not AuditEvent.objects.filter(object_type="patient_contact_info").exists()


def test_the_fastlege_sees_but_does_not_edit(world, login):
    assert login(world.u.gp).get(f"/patients/{world.p.gjerdrum.pk}/kontakt/").status_code == 403
    with pytest.raises(FastlegeRoleRequired):
        contact_info_set(patient=world.p.gjerdrum, user=world.u.gp, phone="900 00 001", next_of_kin="")


def test_a_phone_with_letters_is_refused_in_words(world):
    with pytest.raises(ContactInfoRefused, match="Telefon"):
        contact_info_set(patient=world.p.gjerdrum, user=world.u.coordinator, phone="ring meg", next_of_kin="")


def test_the_api_edits_them_too(world, api):
    response = api(world.u.coordinator).post(f"/api/v1/patients/{world.p.gjerdrum.pk}/contact-info/",
                                             {"phone": "900 00 002", "next_of_kin": "Kari"}, format="json")  # fmt: skip
    assert response.status_code == 200, response.json()
    assert (response.json()["phone"], response.json()["next_of_kin"]) == ("900 00 002", "Kari")


def test_the_henvisning_gives_the_patient_its_phone_at_the_grant(world):
    referral = referral_register(
        user=world.u.coordinator, municipality=world.m.gjerdrum, national_id=synthetic_national_id(),
        name="Kari Nordmann", referrer="hospital", reason="Hyppige innleggelser.", phone="900 55 555",
        next_of_kin="Ola Nordmann, sønn",
    )  # fmt: skip
    assessment_record(referral=referral, user=world.u.coordinator,
                      criteria={code: {"answer": "yes"} for code in ASSESSMENT_CRITERIA})  # fmt: skip
    today = datetime.date.today()
    decision_record(referral=referral, user=world.u.coordinator, outcome="granted", reason="Oppfyller kriteriene.",
                    period_to=today + datetime.timedelta(days=180),
                    evaluation_date=today + datetime.timedelta(days=90))  # fmt: skip
    referral.refresh_from_db()
    assert (referral.patient.phone, referral.patient.next_of_kin) == ("900 55 555", "Ola Nordmann, sønn")


def test_the_page_shows_the_samtykke_and_the_equipment_with_the_way_back(world, login):
    patient = world.p.gjerdrum
    consent_record(patient=patient, user=world.u.coordinator, given_by="representative", method="written",
                   given_on=datetime.date(2026, 11, 2), representative_name="Anne Kvam",
                   representative_role="datter")  # fmt: skip
    device_register(centre=world.centres.ovre, user=world.u.nurse, type="pulsoksymeter", serial="PO-123")
    devices_lend(patient=patient, user=world.u.nurse, serials=["PO-123"], lent_on=datetime.date(2026, 11, 3))
    page = login(world.u.nurse).get(f"/patients/{patient.pk}/").content.decode()
    assert "02.11.2026: Representant (Anne Kvam, datter), skriftlig" in page
    assert '<td class="mono">PO-123</td><td>03.11.2026</td>' in page
    assert f'href="/utstyr/PO-123/retur/?centre={world.centres.ovre.slug}">Ta imot' in page
    # A koordinator keeps no register: no «Ta imot» (its page would be a 404), only where it goes back.
    coordinator_page = login(world.u.coordinator).get(f"/patients/{patient.pk}/").content.decode()
    assert "/utstyr/PO-123/retur/" not in coordinator_page
    assert f"leveres til {world.centres.ovre.name}" in coordinator_page


def test_the_pages_compiled_reads_give_each_patient_their_own_rows_and_only_whats_still_out(world):
    """record_page reads through queries compiled once (tenants/compiled.py): each patient's rows, the
    samtykker of the record's own kommune, the loans not yet returned, as the querysets give them."""
    from patients.models import Consent, Device
    from patients.selectors import record_page
    from patients.services import device_return, status_change_record

    for serial, patient in (("PO-1", world.p.gjerdrum), ("PO-2", world.p.gjerdrum), ("PO-3", world.p.nannestad)):
        device_register(centre=world.centres.ovre, user=world.u.nurse, type="pulsoksymeter", serial=serial)
        devices_lend(patient=patient, user=world.u.nurse, serials=[serial], lent_on=datetime.date(2026, 11, 3))
    device_return(device=Device.objects.get(serial="PO-2"), user=world.u.nurse)
    consent_record(patient=world.p.gjerdrum, user=world.u.coordinator, given_by="patient", method="written",
                   given_on=datetime.date(2026, 11, 2))  # fmt: skip
    # A samtykke of another kommune (as the old kommune's after a move) is not this record's.
    Consent.objects.filter(patient=world.p.gjerdrum).update(municipality_id=world.m.nannestad.pk)
    consent_record(patient=world.p.gjerdrum, user=world.u.coordinator, given_by="patient", method="verbal",
                   given_on=datetime.date(2026, 11, 4))  # fmt: skip

    today = datetime.date.today()
    status_change_record(patient=world.p.gjerdrum, user=world.u.nurse, event="paused", effective_date=today,
                         until=today + datetime.timedelta(days=10), note="Innlagt")  # fmt: skip

    gjerdrum, nannestad = record_page(world.p.gjerdrum), record_page(world.p.nannestad)
    assert [loan.device.serial for loan in gjerdrum.loans] == ["PO-1"]  # PO-2 is back
    assert [loan.device.serial for loan in nannestad.loans] == ["PO-3"]
    assert [(c.given_on, c.method) for c in gjerdrum.consents] == [(datetime.date(2026, 11, 4), "verbal")]
    assert nannestad.consents == []
    assert [c.pk for c in gjerdrum.status_changes] == list(
        world.p.gjerdrum.status_changes.order_by("effective_date", "at", "id").values_list("pk", flat=True)
    )
    assert gjerdrum.status_changes[-1].note == "Innlagt" and gjerdrum.status_changes[-1].by == world.u.nurse
    assert "Innlagt" not in {c.note for c in nannestad.status_changes}
