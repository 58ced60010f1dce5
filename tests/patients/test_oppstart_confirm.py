"""Oppstart picks the devices (a kit's free devices proposed, serials in any case), refusals that say
what is true of a device, the equipment page's filters, and the confirmation before what cannot be
undone: the vedtak (its letter first), the avslutning (what stays out, what closes), «Ta imot»
(date and condition) and «Slipp» of a taken alert."""

import datetime

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from patients.access import NurseRequired
from patients.models import ASSESSMENT_CRITERIA, Consent, Decision, Device, DeviceState, StatusChange
from patients.selectors import loans_out_for
from patients.services import (
    EquipmentRefused,
    StatusRefused,
    assessment_record,
    decision_record,
    device_register,
    device_return,
    devices_lend,
    kit_create,
    patient_start,
    referral_register,
)
from tenants.models import AuditEvent
from tests.factories import MembershipFactory, UserFactory, synthetic_national_id
from triage.models import Alert, AlertEvent
from triage.services import AlertRefused, alert_release, alert_take

TODAY = timezone.localdate


def _device(world, serial, type="pulsoksymeter", model=""):
    return device_register(centre=world.centres.ovre, user=world.u.nurse, type=type, serial=serial, model=model)


def _assessed(world):
    referral = referral_register(
        user=world.u.coordinator, municipality=world.m.gjerdrum, national_id=synthetic_national_id(),
        name="Kari Nordmann", referrer="hospital", reason="Hyppige innleggelser.",
    )  # fmt: skip
    criteria = {code: {"answer": "yes", "comment": ""} for code in ASSESSMENT_CRITERIA}
    assessment_record(referral=referral, user=world.u.coordinator, criteria=criteria)
    return referral


def _consented(world):
    referral = _assessed(world)
    decision_record(
        referral=referral, user=world.u.coordinator, outcome="granted", reason="Oppfyller kriteriene.",
        period_to=TODAY() + datetime.timedelta(days=180), evaluation_date=TODAY() + datetime.timedelta(days=90),
    )  # fmt: skip
    referral.refresh_from_db()
    Consent.objects.create(patient=referral.patient, municipality=world.m.gjerdrum, given_by="patient",
                           method="written", given_on=TODAY(), recorded_by=world.u.coordinator)  # fmt: skip
    return referral.patient


def _text(response) -> str:
    return response.content.decode()


# --- serials in any case ------------------------------------------------------------------------


def test_it_lends_a_device_by_its_serial_in_lower_case(world):
    _device(world, "OX-1")
    [loan] = devices_lend(patient=world.p.gjerdrum, user=world.u.nurse, serials=[" ox-1 "])
    assert loan.device.serial == "OX-1"
    assert Device.objects.get(serial="OX-1").state == DeviceState.LENT


def test_it_keeps_a_serial_unique_whatever_its_case(world):
    _device(world, "OX-1")
    with pytest.raises(EquipmentRefused, match="Serienummeret «ox-1» finnes allerede i registeret til Øvre"):
        _device(world, "ox-1")
    with pytest.raises(IntegrityError), transaction.atomic():  # the index, for anyone who bypasses the service
        Device.objects.create(centre=world.centres.ovre, type="vekt", serial="Ox-1")


def test_it_starts_with_a_serial_typed_in_lower_case(world, login):
    patient = _consented(world)
    _device(world, "NB-1", "nettbrett")
    response = login(world.u.nurse).post(f"/patients/{patient.pk}/oppstart/", {"devices": "nb-1"})
    assert response.status_code == 302, _text(response)
    assert [loan.device.serial for loan in loans_out_for(patient)] == ["NB-1"]


# --- what is true of a device ----------------------------------------------------------------------


def test_it_says_a_serial_is_not_in_the_register(world):
    with pytest.raises(EquipmentRefused) as refused:
        devices_lend(patient=world.p.gjerdrum, user=world.u.nurse, serials=["NEI-1"])
    assert str(refused.value) == (
        "Serienummeret «NEI-1» finnes ikke i utstyrsregisteret til sentrene som betjener Gjerdrum."
    )


def test_it_names_the_borrower_only_to_someone_who_sees_that_patient(world):
    _device(world, "OX-1")
    devices_lend(patient=world.p.nannestad, user=world.u.nurse, serials=["OX-1"], lent_on=TODAY())
    with pytest.raises(EquipmentRefused) as to_the_nurse:
        devices_lend(patient=world.p.gjerdrum, user=world.u.nurse, serials=["OX-1"])
    assert str(to_the_nurse.value) == (
        f"Enheten «OX-1» finnes, men er utlånt til Jens Nannestad (siden {TODAY():%d.%m.%Y}); "
        "den må tas imot før den lånes ut igjen."
    )
    # The Gjerdrum koordinator does not see Nannestad's patients: the device is out, to no one named.
    with pytest.raises(EquipmentRefused) as to_the_koordinator:
        devices_lend(patient=world.p.gjerdrum, user=world.u.coordinator, serials=["ox-1"])
    message = str(to_the_koordinator.value)
    assert message == "Enheten «OX-1» finnes, men er utlånt; den må tas imot før den lånes ut igjen."
    assert "Nannestad" not in message


@pytest.mark.parametrize(
    ("state", "said"),
    [
        (DeviceState.RETURNED, "finnes, men er til rengjøring; den må rengjøres før den lånes ut igjen."),
        (DeviceState.DISCARDED, "finnes, men er kassert og kan ikke lånes ut."),
        (DeviceState.LOST, "finnes, men er meldt tapt og kan ikke lånes ut."),
    ],
)
def test_it_says_why_a_device_in_the_register_cannot_be_lent(world, state, said):
    device = _device(world, "OX-1")
    Device.objects.filter(pk=device.pk).update(state=state)
    with pytest.raises(EquipmentRefused, match=f"^Enheten «OX-1» {said}$"):
        devices_lend(patient=world.p.gjerdrum, user=world.u.nurse, serials=["OX-1"])


def test_oppstart_tells_the_nurse_the_same(world):
    patient = _consented(world)
    _device(world, "NB-1", "nettbrett")
    devices_lend(patient=world.p.nannestad, user=world.u.nurse, serials=["NB-1"])
    with pytest.raises(StatusRefused, match="«NB-1» finnes, men er utlånt til Jens Nannestad"):
        patient_start(patient=patient, user=world.u.nurse, devices=["nb-1"])
    assert not StatusChange.objects.filter(patient=patient, event="started").exists()


# --- a kit proposes its devices --------------------------------------------------------------------


def _kols(world):
    return kit_create(centre=world.centres.ovre, user=world.u.nurse, name="KOLS",
                      device_types=["pulsoksymeter", "nettbrett"])  # fmt: skip


def test_a_kit_alone_lends_the_free_devices_it_proposes(world):
    patient = _consented(world)
    _kols(world)
    _device(world, "OX-1")
    _device(world, "NB-1", "nettbrett")
    patient_start(patient=patient, user=world.u.nurse, kit="KOLS")
    assert sorted(loan.device.serial for loan in loans_out_for(patient)) == ["NB-1", "OX-1"]


def test_the_oppstart_page_proposes_the_kits_free_devices_and_takes_a_swap(world, login):
    patient = _consented(world)
    _kols(world)
    _device(world, "OX-1", model="Nonin 3230")
    _device(world, "OX-2")
    _device(world, "NB-1", "nettbrett")
    lent = _device(world, "OX-3")
    devices_lend(patient=world.p.nannestad, user=world.u.nurse, serials=[lent.serial])
    client = login(world.u.nurse)
    url = f"/patients/{patient.pk}/oppstart/"
    page = _text(client.get(url, {"kit": "KOLS"}))
    assert 'hx-get="' + url + '"' in page
    assert '<option value="OX-1" selected>OX-1 · Nonin 3230 · på lager</option>' in page
    assert '<option value="NB-1" selected>' in page and 'value="OX-2"' in page
    assert 'value="OX-3"' not in page  # lent: not free
    response = client.post(url, {"kit": "KOLS", "kit_pulsoksymeter": "OX-2", "kit_nettbrett": "NB-1"})
    assert response.status_code == 302, _text(response)
    assert sorted(loan.device.serial for loan in loans_out_for(patient)) == ["NB-1", "OX-2"]


def test_the_oppstart_page_says_when_a_kit_has_no_free_device_of_a_type(world, login):
    patient = _consented(world)
    _kols(world)
    _device(world, "NB-1", "nettbrett")
    client = login(world.u.nurse)
    page = _text(client.get(f"/patients/{patient.pk}/oppstart/", {"kit": "KOLS"}))
    assert "Ingen ledig pulsoksymeter – registrer eller rengjør en" in page
    response = client.post(f"/patients/{patient.pk}/oppstart/", {"kit": "KOLS", "kit_nettbrett": "NB-1"})
    assert 'id="id_kit_pulsoksymeter_error">Velg en ledig pulsoksymeter til pakken «KOLS».' in _text(response)
    assert not loans_out_for(patient).exists()


def test_without_script_the_propose_button_shows_the_kits_devices(world, login):
    patient = _consented(world)
    _kols(world)
    _device(world, "OX-1")
    response = login(world.u.nurse).post(f"/patients/{patient.pk}/oppstart/", {"kit": "KOLS", "propose": "1"})
    assert response.status_code == 200 and '<option value="OX-1" selected>' in _text(response)
    assert "field-error" not in _text(response) and not loans_out_for(patient).exists()


# --- the equipment page ----------------------------------------------------------------------------


def test_the_equipment_page_filters_by_type_and_searches_serial_and_model(world, login):
    _device(world, "OX-1", model="Nonin 3230")
    _device(world, "NB-1", "nettbrett", model="Samsung Tab")
    client = login(world.u.nurse)
    serials = lambda response: [d.serial for d in response.context["page"].object_list]  # noqa: E731
    assert serials(client.get("/utstyr/", {"type": "nettbrett"})) == ["NB-1"]
    assert serials(client.get("/utstyr/", {"q": "nonin"})) == ["OX-1"]
    assert serials(client.get("/utstyr/", {"q": "nb-"})) == ["NB-1"]
    assert serials(client.get("/utstyr/", {"type": "vekt"})) == []


# --- Ta imot -------------------------------------------------------------------------------------------


def test_ta_imot_confirms_the_date_and_the_condition(world, login):
    _device(world, "OX-1")
    lent_on = TODAY() - datetime.timedelta(days=10)
    devices_lend(patient=world.p.gjerdrum, user=world.u.nurse, serials=["OX-1"], lent_on=lent_on)
    client = login(world.u.nurse)
    page = client.get("/utstyr/ox-1/retur/")
    assert page.status_code == 200 and "Rune Gjerdrum" in _text(page)
    assert Device.objects.get(serial="OX-1").state == DeviceState.LENT  # the page alone changes nothing
    future = client.post("/utstyr/OX-1/retur/", {"returned_on": (TODAY() + datetime.timedelta(days=1)).isoformat(),
                                                 "condition": "ok"})  # fmt: skip
    assert f"Returdatoen må ligge mellom utlånsdatoen ({lent_on:%d.%m.%Y}) og i dag." in _text(future)
    before = (lent_on - datetime.timedelta(days=1)).isoformat()
    assert "Returdatoen må ligge mellom" in _text(client.post("/utstyr/OX-1/retur/", {"returned_on": before,
                                                                                      "condition": "ok"}))  # fmt: skip
    day = TODAY() - datetime.timedelta(days=2)
    done = client.post("/utstyr/OX-1/retur/", {"returned_on": day.isoformat(), "condition": "damaged",
                                               "note": "Sprukket skjerm"})  # fmt: skip
    assert done.status_code == 302
    device = Device.objects.get(serial="OX-1")
    assert device.state == DeviceState.DISCARDED and "Sprukket skjerm" in device.note
    assert device.loans.get().returned_on == day
    assert AuditEvent.objects.filter(object_type="device_loan", action="update",
                                     patient_id=world.p.gjerdrum.pk).exists()  # fmt: skip


def test_ta_imot_of_a_device_not_handed_back_reports_it_lost(world):
    device = _device(world, "OX-1")
    devices_lend(patient=world.p.gjerdrum, user=world.u.nurse, serials=["OX-1"])
    device_return(device=device, user=world.u.nurse, condition="missing")
    assert Device.objects.get(serial="OX-1").state == DeviceState.LOST
    assert not loans_out_for(world.p.gjerdrum).exists()


# --- Fatt vedtak: the letter first --------------------------------------------------------------------


def test_fatt_vedtak_shows_the_letter_and_records_only_on_bekreft(world, login):
    referral = _assessed(world)
    client = login(world.u.coordinator)
    url = f"/forlop/{referral.pk}/vedtak/"
    fields = {"outcome": "granted", "reason": "Oppfyller kriteriene.",
              "period_to": (TODAY() + datetime.timedelta(days=180)).isoformat(),
              "evaluation_date": (TODAY() + datetime.timedelta(days=90)).isoformat()}  # fmt: skip
    preview = _text(client.post(url, fields))
    assert "Hjemmel" in preview and world.m.gjerdrum.legal_basis in preview
    assert "Søknaden om digital hjemmeoppfølging er innvilget." in preview and "Oppfyller kriteriene." in preview
    assert not Decision.objects.exists()
    referral.refresh_from_db()
    assert referral.status == "assessed" and referral.patient is None
    again = client.post(url, {**fields, "edit": "1"})  # «Endre»: the form with what was written
    assert "Oppfyller kriteriene.</textarea>" in _text(again) and not Decision.objects.exists()
    assert client.post(url, {**fields, "confirm": "1"}).status_code == 302
    assert Decision.objects.get(referral=referral).legal_basis == world.m.gjerdrum.legal_basis


def test_the_preview_shows_a_refusal_of_the_service_and_records_nothing(world, login):
    referral = _assessed(world)
    fields = {"outcome": "granted", "reason": "Ja.", "period_to": (TODAY() + datetime.timedelta(days=10)).isoformat(),
              "evaluation_date": (TODAY() + datetime.timedelta(days=20)).isoformat()}  # fmt: skip
    response = login(world.u.coordinator).post(f"/forlop/{referral.pk}/vedtak/", fields)
    assert "Evalueringsdatoen må ligge innenfor perioden" in _text(response) and not Decision.objects.exists()


# --- Avslutt forløpet: what stays out, what closes --------------------------------------------------


def test_avslutning_lists_what_stays_out_and_the_alerts_it_closes(world, login):
    patient = _consented(world)
    _device(world, "NB-1", "nettbrett")
    _device(world, "OX-1")
    patient_start(patient=patient, user=world.u.nurse, devices=["NB-1", "OX-1"])
    now = timezone.now()
    alert = Alert.objects.create(patient=patient, municipality=patient.municipality, kind="out_of_range",
                                 colour="red", reason="SpO₂ 85 %", opened_at=now, updated_at=now)  # fmt: skip
    client = login(world.u.nurse)
    url = f"/patients/{patient.pk}/avslutt/"
    confirm = _text(client.post(url, {"reason": "no_benefit", "returned": ["NB-1"]}))
    assert "Pulsoksymeter OX-1" in confirm and "/utstyr/OX-1/retur/" in confirm
    assert "SpO₂ 85 %" in confirm
    patient.refresh_from_db()
    assert patient.status == "active"  # nothing ended before «Bekreft»
    done = client.post(url, {"reason": "no_benefit", "returned": ["NB-1"], "confirm": "1"})
    assert done.status_code == 302
    patient.refresh_from_db()
    alert.refresh_from_db()
    assert (patient.status, alert.status) == ("ended", "closed")
    # The device left out does not vanish: an open loan, listed on the register and the end page.
    assert [loan.device.serial for loan in loans_out_for(patient)] == ["OX-1"]
    register = client.get("/utstyr/", {"q": "OX-1"})
    [row] = register.context["page"].object_list
    assert row.state == "lent" and [loan.patient_id for loan in row.open_loans] == [patient.pk]
    assert "Kari Nordmann" in _text(register)
    assert "Pulsoksymeter OX-1" in _text(client.get(url))


# --- Slipp ------------------------------------------------------------------------------------------


def _alert(patient):
    now = timezone.now()
    return Alert.objects.create(patient=patient, municipality=patient.municipality, kind="out_of_range",
                                colour="yellow", reason="Puls 115", opened_at=now, updated_at=now)  # fmt: skip


def test_the_nurse_who_took_an_alert_releases_it(world, login):
    alert = _alert(world.p.gjerdrum)
    alert_take(alert=alert, user=world.u.nurse)
    response = login(world.u.nurse).post(f"/worklist/alerts/{alert.pk}/release/")
    assert response.status_code == 302
    alert.refresh_from_db()
    assert alert.taken_by is None and alert.taken_at is None and alert.status == "open"
    event = AlertEvent.objects.filter(alert=alert).order_by("-at").first()
    assert (event.kind, event.by) == ("released", world.u.nurse) and "tatt av" in event.reason
    assert AuditEvent.objects.filter(object_type="alert", object_id=str(alert.pk), action="update").count() == 2


def test_another_nurse_in_scope_may_release_but_not_a_koordinator(world):
    alert = _alert(world.p.gjerdrum)
    alert_take(alert=alert, user=world.u.nurse)
    with pytest.raises(NurseRequired):
        alert_release(alert=alert, user=world.u.coordinator)
    colleague = UserFactory(username="nurse2")
    MembershipFactory(user=colleague, role="nurse", centre=world.centres.ovre)
    alert_release(alert=alert, user=colleague)
    alert.refresh_from_db()
    assert alert.taken_by is None
    with pytest.raises(AlertRefused, match="ikke tatt av noen"):
        alert_release(alert=alert, user=colleague)


def test_the_handle_page_offers_slipp_for_a_taken_alert(world, login):
    alert = _alert(world.p.gjerdrum)
    client = login(world.u.nurse)
    assert f"/worklist/alerts/{alert.pk}/release/" not in _text(client.get(f"/worklist/alerts/{alert.pk}/handle/"))
    alert_take(alert=alert, user=world.u.nurse)
    assert f"/worklist/alerts/{alert.pk}/release/" in _text(client.get(f"/worklist/alerts/{alert.pk}/handle/"))


def test_the_koordinator_is_told_where_a_device_goes_back_not_linked_to_the_centres_page(world, login):
    patient = _consented(world)
    _device(world, "NB-1", "nettbrett")
    patient_start(patient=patient, user=world.u.nurse, devices=["NB-1"])
    confirm = _text(login(world.u.coordinator).post(f"/patients/{patient.pk}/avslutt/", {"reason": "no_benefit"}))
    assert "Nettbrett NB-1" in confirm and "leveres til Øvre" in confirm and "/utstyr/NB-1/retur/" not in confirm
