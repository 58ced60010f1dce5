"""The centre's equipment: the register (one serial per centre, CSV import), kits, and loans that go
round lent → returned → cleaned → lent again, with a Norwegian reason for every refused step; the
register is the centre's (another centre's device is a 404) and every loan is audited."""

import datetime

import pytest
from django.utils import timezone

from patients.models import Device, DeviceLoan, DeviceState, Kit
from patients.selectors import devices_for, loans_out_for
from patients.services import (
    EquipmentRefused,
    EquipmentRoleRequired,
    device_discard,
    device_register,
    device_return,
    devices_import_csv,
    devices_lend,
    loan_for_serial,
    status_change_record,
)
from tenants.configuration import AUDITED_TABLES
from tenants.models import AuditEvent
from tests.factories import MembershipFactory

TODAY = timezone.localdate


def _device(world, serial="OX-1", type="pulsoksymeter", centre=None):
    centre = centre or world.centres.ovre
    nurse = world.u.nurse_agder if centre == world.centres.agder else world.u.nurse
    return device_register(centre=centre, user=nurse, type=type, serial=serial, model="Nonin 3230")


def _lend(client, patient, *serials, **extra):
    return client.post(
        f"/api/v1/patients/{patient.pk}/loans/", {"devices": list(serials), **extra}, content_type="application/json"
    )


def _state(serial, centre):
    return Device.objects.get(serial=serial, centre=centre).state


# --- the register -------------------------------------------------------------------------------


def test_it_registers_a_device_in_stock_and_lists_it(world, login):
    client = login(world.u.nurse)
    response = client.post(
        "/api/v1/devices/", {"type": "blodtrykk", "model": "Omron M7", "serial": "BP-0042"}, "application/json"
    )
    assert response.status_code == 201, response.content
    assert response.json() == {
        "serial": "BP-0042", "type": "blodtrykk", "type_label": "Blodtrykksmåler", "model": "Omron M7",
        "state": "in_stock", "state_label": "På lager", "centre": "ovre", "note": "", "loan": None,
    }  # fmt: skip
    listed = client.get("/api/v1/devices/").json()["results"]
    assert [d["serial"] for d in listed] == ["BP-0042"]
    assert client.get("/api/v1/devices/?state=lent").json()["results"] == []
    bad = client.get("/api/v1/devices/?state=borte")
    assert bad.status_code == 400 and "Ukjent tilstand «borte»" in bad.json()["detail"]


def test_it_refuses_a_serial_twice_in_one_centre_but_not_in_another(world, login):
    _device(world, "OX-1")
    response = login(world.u.admin).post(
        "/api/v1/devices/", {"type": "pulsoksymeter", "serial": "OX-1"}, "application/json"
    )
    assert response.status_code == 400
    assert response.json()["detail"] == "Serienummeret «OX-1» finnes allerede i registeret til Øvre."
    other = device_register(centre=world.centres.agder, user=world.u.nurse_agder, type="pulsoksymeter", serial="OX-1")
    assert other.centre == world.centres.agder
    assert Device.objects.filter(serial="OX-1").count() == 2


def test_it_says_what_is_wrong_with_a_device(world):
    with pytest.raises(EquipmentRefused) as refused:
        device_register(centre=world.centres.ovre, user=world.u.nurse, type="stetoskop", serial="A B/1")
    assert str(refused.value) == (
        "Ukjent enhetstype «stetoskop»; bruk pulsoksymeter, blodtrykk, vekt, termometer, blodsukker, nettbrett, "
        "annet. Serienummeret «A B/1» kan bare ha bokstaver a–z, sifre, punktum, bindestrek og understrek "
        "(høyst 100 tegn)."
    )


@pytest.mark.parametrize("role", ["coordinator", "gp", "specialist", "finance", "nurse_nordrefollo"])
def test_it_lets_only_the_centres_nurses_and_admins_keep_the_register(world, login, role):
    response = login(getattr(world.u, role)).post(
        "/api/v1/devices/", {"type": "vekt", "serial": "V-1"}, "application/json"
    )
    assert response.status_code == 403
    assert not Device.objects.exists()
    with pytest.raises(EquipmentRoleRequired):
        device_register(centre=world.centres.ovre, user=getattr(world.u, role), type="vekt", serial="V-1")


def test_the_register_is_the_one_of_the_centre_the_session_acts_for(world, login):
    """A nurse at both centres who chose Øvre («Velg virksomhet») keeps Øvre's register only."""
    MembershipFactory(user=world.u.nurse, role="nurse", centre=world.centres.agder)
    _device(world, "OX-A", centre=world.centres.agder)
    client = login(world.u.nurse)
    client.post("/virksomhet/", {"organisation": f"centre:{world.centres.ovre.pk}"})
    registered = client.post("/api/v1/devices/", {"type": "vekt", "serial": "V-1"}, "application/json")
    assert registered.status_code == 201 and registered.json()["centre"] == "ovre"  # no «which centre?»
    agder = client.post("/api/v1/devices/", {"type": "vekt", "serial": "V-2", "centre": "agder"}, "application/json")
    assert agder.status_code == 404  # the centre not chosen: not there for this session
    assert [d["serial"] for d in client.get("/api/v1/devices/").json()["results"]] == ["V-1"]


def test_it_imports_a_csv_and_keeps_the_good_lines_around_a_bad_one(world, login):
    _device(world, "OX-9")
    csv = (
        "type,model,serial\n"
        "pulsoksymeter,Nonin 3230,OX-1\n"
        "stetoskop,Littmann,ST-1\n"
        "Blodtrykksmåler,Omron M7,BP-1\n"
        "vekt,Seca,OX-9\n"
        "\n"
        "nettbrett,iPad\n"
        "nettbrett,iPad,OX-1\n"
        "nettbrett,iPad,TAB-1\n"
    )
    response = login(world.u.nurse).post("/api/v1/devices/import/", csv, content_type="text/csv")
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["created"], body["rejected"]) == (3, 4)
    assert body["lines"] == [
        {"line": 2, "serial": "OX-1", "status": "created"},
        {"line": 3, "serial": "ST-1", "status": "rejected", "reason": "ukjent enhetstype «stetoskop»; bruk "
         "pulsoksymeter, blodtrykk, vekt, termometer, blodsukker, nettbrett, annet"},
        {"line": 4, "serial": "BP-1", "status": "created"},
        {"line": 5, "serial": "OX-9", "status": "rejected",
         "reason": "serienummeret «OX-9» finnes allerede i registeret til Øvre (eller står tidligere i filen)"},
        {"line": 7, "serial": "", "status": "rejected", "reason": "linjen har 2 felt; forventet 3 (type,model,serial)"},
        {"line": 8, "serial": "OX-1", "status": "rejected",
         "reason": "serienummeret «OX-1» finnes allerede i registeret til Øvre (eller står tidligere i filen)"},
        {"line": 9, "serial": "TAB-1", "status": "created"},
    ]  # fmt: skip
    stored = dict(Device.objects.filter(centre=world.centres.ovre).values_list("serial", "type"))
    assert stored == {"OX-9": "pulsoksymeter", "OX-1": "pulsoksymeter", "BP-1": "blodtrykk", "TAB-1": "nettbrett"}


def test_it_reads_a_csv_saved_by_excel_on_windows(world, login):
    body = "type;model;serial\r\nBlodtrykksmåler;Omron M7;BP-1\r\n".encode("cp1252")
    response = login(world.u.nurse).post("/api/v1/devices/import/", body, content_type="text/csv")
    assert response.status_code == 200, response.content
    assert response.json()["created"] == 1
    assert Device.objects.get(serial="BP-1").type == "blodtrykk"


def test_it_reads_a_semicolon_csv_and_refuses_a_file_without_the_header(world):
    lines = devices_import_csv(
        centre=world.centres.ovre, user=world.u.admin, text="\ufefftype;model;serial\r\nvekt;Seca 803;V-7\r\n"
    )
    assert [line.as_dict() for line in lines] == [{"line": 2, "serial": "V-7", "status": "created"}]
    with pytest.raises(EquipmentRefused, match="Linje 1 må være overskriften type,model,serial"):
        devices_import_csv(centre=world.centres.ovre, user=world.u.admin, text="vekt,Seca,V-8\n")


def test_it_reads_a_csv_saved_as_unicode_text_utf_16(world, login):
    body = "type;model;serial\r\nBlodtrykksmåler;Omron M7;BP-1\r\n".encode("utf-16")  # with its BOM
    response = login(world.u.nurse).post("/api/v1/devices/import/", body, content_type="text/csv")
    assert response.status_code == 200, response.content
    assert response.json()["created"] == 1 and Device.objects.get(serial="BP-1").type == "blodtrykk"


@pytest.mark.parametrize("start", [b"PK\x03\x04\x14\x00\x06\x00", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"])
def test_it_refuses_an_excel_workbook_saying_to_save_it_as_csv(world, login, start):
    body = start + b"\x00\x00[Content_Types].xml\x00\x00\x00\x00"
    response = login(world.u.nurse).post("/api/v1/devices/import/", body, content_type="text/csv")
    assert response.status_code == 400, response.content
    assert response.json()["detail"].startswith("Filen er en Excel-arbeidsbok, ikke en CSV-fil. Åpne den i Excel")


def test_it_refuses_a_csv_with_a_nul_character_naming_its_line_and_stores_nothing(world, login):
    body = b"type,model,serial\nvekt,Seca,V-1\nvekt,Se\x00ca,V-2\n"
    response = login(world.u.nurse).post("/api/v1/devices/import/", body, content_type="text/csv")
    assert response.status_code == 400, response.content
    assert response.json() == {"detail": "Linje 3 inneholder et NUL-tegn (\\u0000), som ikke kan lagres."}
    assert not Device.objects.filter(serial__in=["V-1", "V-2"]).exists()
    with pytest.raises(EquipmentRefused, match="Linje 2 inneholder et NUL-tegn"):
        devices_import_csv(centre=world.centres.ovre, user=world.u.admin, text="type,model,serial\nvekt,\x00,V-3\n")


def test_it_refuses_a_csv_whose_stray_quote_runs_past_the_field_limit_naming_the_line(world, login):
    rest = "".join(f"vekt,Seca,V-{n}\n" for n in range(3, 12_000))  # some 170 KB after the quote
    body = 'type,model,serial\nvekt,Seca,V-1\nvekt,"Seca,V-2\n' + rest
    response = login(world.u.nurse).post("/api/v1/devices/import/", body, content_type="text/csv")
    assert response.status_code == 400, response.content[:500]
    assert response.json()["detail"].startswith("Filen kunne ikke leses som CSV (linje 3): et felt er lengre enn 131")
    assert not Device.objects.filter(serial="V-1").exists()


# --- loans --------------------------------------------------------------------------------------


def test_a_device_goes_round_lent_returned_cleaned_lent_again(world, login):
    _device(world, "OX-1")
    nurse, ovre, rune = login(world.u.nurse), world.centres.ovre, world.p.gjerdrum
    lent = _lend(nurse, rune, "OX-1")
    assert lent.status_code == 201, lent.content
    [loan] = lent.json()
    assert (loan["serial"], loan["lent_on"], loan["returned_on"], loan["lent_by"]) == (
        "OX-1", TODAY().isoformat(), None, "nurse"
    )  # fmt: skip
    assert _state("OX-1", ovre) == DeviceState.LENT

    again = _lend(nurse, world.p.nannestad, "OX-1")
    assert again.status_code == 400
    assert again.json()["detail"] == (
        f"Enheten «OX-1» finnes, men er utlånt til {world.p.gjerdrum.name} (siden {TODAY():%d.%m.%Y}); "
        "den må tas imot før den lånes ut igjen."
    )

    returned = nurse.post("/api/v1/devices/OX-1/return/", {}, "application/json")
    assert returned.status_code == 200 and returned.json()["state"] == "returned"
    assert DeviceLoan.objects.get().returned_on == TODAY()

    unclean = _lend(nurse, world.p.nannestad, "OX-1")
    assert unclean.status_code == 400
    assert unclean.json()["detail"] == (
        "Enheten «OX-1» finnes, men er til rengjøring; den må rengjøres før den lånes ut igjen."
    )
    twice = nurse.post("/api/v1/devices/OX-1/return/", {}, "application/json")
    assert twice.status_code == 400 and "er ikke utlånt" in twice.json()["detail"]

    cleaned = nurse.post("/api/v1/devices/OX-1/clean/")
    assert cleaned.status_code == 200 and cleaned.json()["state_label"] == "Rengjort"
    assert _lend(nurse, world.p.nannestad, "OX-1").status_code == 201
    assert DeviceLoan.objects.filter(device__serial="OX-1").count() == 2


def test_it_cleans_only_a_returned_device(world, login):
    _device(world, "OX-1")
    response = login(world.u.nurse).post("/api/v1/devices/OX-1/clean/")
    assert response.status_code == 400
    assert response.json()["detail"] == "Bare en returnert enhet kan rengjøres; «OX-1» er «På lager»."


def test_it_lends_all_or_nothing_and_names_every_problem(world, login):
    _device(world, "OX-1")
    _device(world, "TAB-1", "nettbrett")
    devices_lend(patient=world.p.nannestad, user=world.u.nurse, serials=["TAB-1"])
    response = _lend(login(world.u.nurse), world.p.gjerdrum, "OX-1", "TAB-1", "UKJENT-7")
    assert response.status_code == 400
    assert response.json()["detail"] == (
        "Serienummeret «UKJENT-7» finnes ikke i utstyrsregisteret til sentrene som betjener Gjerdrum. "
        f"Enheten «TAB-1» finnes, men er utlånt til {world.p.nannestad.name} (siden {TODAY():%d.%m.%Y}); "
        "den må tas imot før den lånes ut igjen."
    )
    assert _state("OX-1", world.centres.ovre) == DeviceState.IN_STOCK
    assert not DeviceLoan.objects.filter(patient=world.p.gjerdrum).exists()


def test_it_lends_only_devices_of_a_centre_that_serves_the_patients_kommune(world, login):
    _device(world, "AG-1", centre=world.centres.agder)
    response = _lend(login(world.u.nurse), world.p.gjerdrum, "AG-1")
    assert response.status_code == 400
    assert response.json()["detail"] == (
        "Serienummeret «AG-1» finnes ikke i utstyrsregisteret til sentrene som betjener Gjerdrum."
    )
    # Nordre Follo follows its own patients but borrows the centre's devices: its nurse lends them.
    _device(world, "OX-1")
    assert _lend(login(world.u.nurse_nordrefollo), world.p.nordrefollo, "OX-1").status_code == 201


def test_it_refuses_a_loan_dated_in_the_future_or_before_the_last_return(world):
    _device(world, "OX-1")
    week_ago = TODAY() - datetime.timedelta(days=7)
    with pytest.raises(EquipmentRefused, match="Utlånsdatoen kan ikke være fram i tid"):
        devices_lend(
            patient=world.p.gjerdrum, user=world.u.nurse, serials=["OX-1"], lent_on=TODAY() + datetime.timedelta(days=1)
        )
    devices_lend(patient=world.p.gjerdrum, user=world.u.nurse, serials=["OX-1"], lent_on=week_ago)
    device = Device.objects.get(serial="OX-1")
    device_return(device=device, user=world.u.nurse, returned_on=TODAY() - datetime.timedelta(days=2))
    Device.objects.filter(pk=device.pk).update(state=DeviceState.CLEANED)
    with pytest.raises(EquipmentRefused) as refused:
        devices_lend(patient=world.p.nannestad, user=world.u.nurse, serials=["OX-1"], lent_on=week_ago)
    returned = TODAY() - datetime.timedelta(days=2)
    assert str(refused.value) == f"Enheten «OX-1» ble returnert {returned:%d.%m.%Y}; utlånet kan ikke begynne før det."


def test_it_lends_nothing_to_a_patient_whose_forlop_has_ended(world, login):
    """A device lent to an ended forløp would send its readings there, stored without an alert."""
    _device(world, "OX-1")
    patient = world.p.gjerdrum
    status_change_record(patient=patient, user=world.u.nurse, event="ended", end_reason="withdrew")
    response = _lend(login(world.u.coordinator), patient, "OX-1")
    assert response.status_code == 400
    assert response.json()["detail"] == "Forløpet er avsluttet; utstyr lånes ut ved en ny oppstart."
    assert not DeviceLoan.objects.exists() and _state("OX-1", world.centres.ovre) == DeviceState.IN_STOCK


def test_it_lends_a_kit_only_whole(world, login):
    Kit.objects.create(
        centre=world.centres.ovre, name="KOLS", diagnosis="kols", device_types=["pulsoksymeter", "nettbrett"]
    )
    _device(world, "OX-1")
    _device(world, "TAB-1", "nettbrett")
    _device(world, "V-1", "vekt")
    nurse = login(world.u.nurse)
    short = _lend(nurse, world.p.gjerdrum, "OX-1", "V-1", kit="KOLS")
    assert short.status_code == 400
    assert short.json()["detail"] == (
        "Utstyrspakken «KOLS» mangler nettbrett. Enheten «V-1» (vekt) hører ikke til utstyrspakken «KOLS»."
    )
    unknown = _lend(nurse, world.p.gjerdrum, "OX-1", kit="Hjertesvikt")
    assert unknown.status_code == 400 and "Finner ingen utstyrspakke «Hjertesvikt»" in unknown.json()["detail"]
    whole = _lend(nurse, world.p.gjerdrum, "OX-1", "TAB-1", kit="KOLS")
    assert whole.status_code == 201
    assert sorted(loan["serial"] for loan in whole.json()) == ["OX-1", "TAB-1"]


def test_the_koordinator_lends_and_takes_back_for_their_own_patients(world, login):
    _device(world, "OX-1")
    koordinator = login(world.u.coordinator)
    assert _lend(koordinator, world.p.gjerdrum, "OX-1").status_code == 201
    device_return(device=Device.objects.get(serial="OX-1"), user=world.u.coordinator)
    assert _state("OX-1", world.centres.ovre) == DeviceState.RETURNED
    # The register itself is the centre's: the koordinator has none.
    assert koordinator.get("/api/v1/devices/").json()["results"] == []
    assert koordinator.post("/api/v1/devices/OX-1/clean/").status_code == 404


def test_the_fastlege_may_not_lend(world, login):
    _device(world, "OX-1")
    response = _lend(login(world.u.gp), world.p.gjerdrum, "OX-1")
    assert response.status_code == 403
    assert not DeviceLoan.objects.exists()


def test_what_is_still_out_is_listed_until_returned(world, login):
    _device(world, "OX-1")
    _device(world, "TAB-1", "nettbrett")
    devices_lend(patient=world.p.gjerdrum, user=world.u.nurse, serials=["OX-1", "TAB-1"])
    device_return(device=Device.objects.get(serial="TAB-1"), user=world.u.nurse)
    assert [loan.device.serial for loan in loans_out_for(world.p.gjerdrum)] == ["OX-1"]
    client = login(world.u.coordinator)
    out = client.get(f"/api/v1/patients/{world.p.gjerdrum.pk}/loans/?out=1").json()
    assert [loan["serial"] for loan in out] == ["OX-1"]
    every = client.get(f"/api/v1/patients/{world.p.gjerdrum.pk}/loans/").json()
    assert sorted(loan["serial"] for loan in every) == ["OX-1", "TAB-1"]


def test_a_lost_device_ends_its_loan_and_a_lent_one_is_not_discarded(world):
    device = _device(world, "OX-1")
    devices_lend(patient=world.p.gjerdrum, user=world.u.nurse, serials=["OX-1"])
    with pytest.raises(EquipmentRefused, match="er utlånt; den må returneres før den kasseres"):
        device_discard(device=device, user=world.u.nurse)
    device_discard(device=device, user=world.u.nurse, lost=True, note="Mistet på bussen")
    device.refresh_from_db()
    assert (device.state, device.note) == (DeviceState.LOST, "Mistet på bussen")
    assert not loans_out_for(world.p.gjerdrum).exists()


def test_loan_for_serial_finds_the_loan_active_at_a_time(world):
    _device(world, "OX-1")
    now = timezone.now()
    devices_lend(
        patient=world.p.gjerdrum, user=world.u.nurse, serials=["OX-1"], lent_on=TODAY() - datetime.timedelta(days=3)
    )
    loan = loan_for_serial(centre=world.centres.ovre, serial="OX-1", at=now)
    assert loan.patient == world.p.gjerdrum
    assert loan_for_serial(centre=world.centres.ovre, serial="OX-1", at=now - datetime.timedelta(days=5)) is None
    assert loan_for_serial(centre=world.centres.agder, serial="OX-1", at=now) is None


# --- scope and audit ----------------------------------------------------------------------------


@pytest.mark.parametrize("step", ["return", "clean", "discard"])
def test_it_hides_another_centres_device(world, login, step):
    _device(world, "OX-1")
    devices_lend(patient=world.p.gjerdrum, user=world.u.nurse, serials=["OX-1"])
    before = (DeviceLoan.objects.filter(returned_on__isnull=True).count(), AuditEvent.objects.count())
    for role in ("nurse_agder", "coordinator", "gp", "specialist", "finance"):
        response = login(getattr(world.u, role)).post(f"/api/v1/devices/OX-1/{step}/", {}, "application/json")
        assert response.status_code == 404, f"{role} {step}"
    assert login(world.u.nurse).post("/api/v1/devices/NO-SUCH/return/").status_code == 404
    assert (DeviceLoan.objects.filter(returned_on__isnull=True).count(), AuditEvent.objects.count()) == before
    assert _state("OX-1", world.centres.ovre) == DeviceState.LENT
    assert list(devices_for(world.u.nurse_agder)) == []


def test_another_centres_register_is_not_found_like_a_centre_that_does_not_exist(world, login):
    """Naming another centre (or none that exists) in a register request is a 404, as its devices
    are; with no centre named, a user without a register is told so (403)."""
    nurse = login(world.u.nurse)
    for slug in ("agder", "finnes-ikke"):
        device = {"type": "pulsoksymeter", "serial": "X-1", "centre": slug}
        kit = {"name": "Sett", "device_types": ["pulsoksymeter"], "centre": slug}
        for path, body in (("/api/v1/devices/", device), ("/api/v1/kits/", kit)):
            response = nurse.post(path, body, "application/json")
            assert response.status_code == 404, (path, slug, response.content)
        imported = nurse.post(f"/api/v1/devices/import/?centre={slug}", "pulsoksymeter,Nonin,X-2", "text/csv")
        assert imported.status_code == 404, (slug, imported.content)
    assert not Device.objects.filter(serial__in=["X-1", "X-2"]).exists()
    assert login(world.u.coordinator).post("/api/v1/devices/", {"type": "pulsoksymeter", "serial": "X-3"},
                                           "application/json").status_code == 403  # fmt: skip


def test_it_hides_a_patient_outside_the_scope_when_lending(world, login):
    _device(world, "OX-1")
    response = _lend(login(world.u.coordinator), world.p.nannestad, "OX-1")
    assert response.status_code == 404
    assert not DeviceLoan.objects.exists() and not AuditEvent.objects.exclude(object_type__in=AUDITED_TABLES).exists()


def test_the_register_shows_a_borrower_only_to_those_who_may_see_them(world, login):
    _device(world, "OX-1")
    _device(world, "OX-2")
    devices_lend(patient=world.p.nordrefollo, user=world.u.nurse_nordrefollo, serials=["OX-1"])
    devices_lend(patient=world.p.gjerdrum, user=world.u.nurse, serials=["OX-2"])
    for user, gjerdrum_shown in ((world.u.nurse, str(world.p.gjerdrum.pk)), (world.u.admin, None)):
        loans = {d["serial"]: d["loan"] for d in login(user).get("/api/v1/devices/").json()["results"]}
        assert loans["OX-1"] == {"lent_on": TODAY().isoformat(), "patient_id": None, "municipality": "3207"}
        assert loans["OX-2"]["patient_id"] == gjerdrum_shown
    # The nurse's read: the list's event and Rune's; the admin saw no patient, which is no patient read.
    listed = AuditEvent.objects.filter(object_type="device_list")
    assert set(listed.values_list("username", "patient_id")) == {("nurse", None), ("nurse", world.p.gjerdrum.pk)}


def test_loans_and_returns_are_audited_as_writes_of_the_patients_data(world, login):
    _device(world, "OX-1")
    client = login(world.u.nurse)
    [loan] = _lend(client, world.p.gjerdrum, "OX-1").json()
    client.post("/api/v1/devices/OX-1/return/")
    client.get(f"/api/v1/patients/{world.p.gjerdrum.pk}/loans/")
    events = (
        AuditEvent.objects.exclude(object_type__in=AUDITED_TABLES)
        .order_by("pk")
        .values_list("action", "object_type", "object_id", "patient_id", "role")
    )
    assert list(events) == [
        ("create", "device_loan", str(loan["id"]), world.p.gjerdrum.pk, "nurse"),
        ("update", "device_loan", str(loan["id"]), world.p.gjerdrum.pk, "nurse"),
        ("view", "device_loans", str(world.p.gjerdrum.pk), world.p.gjerdrum.pk, "nurse"),
    ]
