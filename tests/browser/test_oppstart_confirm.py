"""In the browser: oppstart picks a kit's free devices (one swapped), a serial typed in lower case,
and the confirmations before what cannot be undone – «Fatt vedtak» (the letter, hjemmel shown, and
nothing recorded before «Bekreft»), «Avslutt forløpet» (a device left out stays listed), «Ta imot»
(date and condition) and «Slipp» of a taken alert. Each new page axe-clean."""

import datetime

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from patients.models import Decision, Device
from patients.selectors import loans_out_for
from patients.services import (
    device_register,
    devices_lend,
    kit_create,
    patient_start,
)
from tests.patients.test_oppstart_confirm import _assessed, _consented  # the same forløp as the page tests
from triage.models import Alert
from triage.services import alert_take

pytestmark = pytest.mark.browser
TODAY = timezone.localdate


def _device(world, serial, type="pulsoksymeter", model=""):
    return device_register(centre=world.centres.ovre, user=world.u.nurse, type=type, serial=serial, model=model)


def test_oppstart_proposes_the_kits_devices_and_takes_a_swap(world, browser_login, axe_violations):
    patient = _consented(world)
    kit_create(centre=world.centres.ovre, user=world.u.nurse, name="KOLS", device_types=["pulsoksymeter", "nettbrett"])
    _device(world, "OX-1", model="Nonin 3230")
    _device(world, "OX-2", model="Nonin 3230")
    _device(world, "TAB-1", "nettbrett", model="Samsung Tab")
    page = browser_login(world.u.nurse)
    page.goto(f"/patients/{patient.pk}/oppstart/")
    expect(page.get_by_role("button", name="Foreslå enheter fra pakken")).to_have_count(0)  # script: htmx does it
    page.get_by_label("Utstyrspakke").select_option("KOLS")
    oximeter = page.get_by_role("combobox", name="Pulsoksymeter")
    expect(oximeter).to_have_value("OX-1")  # proposed: serial, model and state shown
    expect(oximeter.locator("option:checked")).to_have_text("OX-1 · Nonin 3230 · på lager")
    expect(page.get_by_role("combobox", name="Nettbrett")).to_have_value("TAB-1")
    assert axe_violations(page) == []
    oximeter.select_option("OX-2")  # swapped for another free one of the same type
    page.get_by_label("Opplæring gitt").fill("Vist målingene.")
    page.get_by_role("button", name="Start forløpet").click()
    page.wait_for_url(f"**/patients/{patient.pk}/")
    expect(page.get_by_text("Forløpet er startet.")).to_be_visible()
    assert sorted(loan.device.serial for loan in loans_out_for(patient)) == ["OX-2", "TAB-1"]
    assert Device.objects.get(serial="OX-1").state == "in_stock"


def test_oppstart_takes_a_serial_typed_in_lower_case(world, browser_login):
    patient = _consented(world)
    _device(world, "TAB-7", "nettbrett")
    page = browser_login(world.u.nurse)
    page.goto(f"/patients/{patient.pk}/oppstart/")
    page.get_by_label("Serienumre for utstyr som lånes ut").fill("tab-7")
    page.get_by_role("button", name="Start forløpet").click()
    page.wait_for_url(f"**/patients/{patient.pk}/")
    assert [loan.device.serial for loan in loans_out_for(patient)] == ["TAB-7"]


def test_fatt_vedtak_shows_the_letter_and_records_on_bekreft(world, browser_login, axe_violations):
    referral = _assessed(world)
    page = browser_login(world.u.coordinator)
    page.goto(f"/forlop/{referral.pk}/vedtak/")
    page.get_by_label("Innvilget").check()
    page.get_by_label("Begrunnelse").fill("Oppfyller kriteriene for oppfølging.")
    page.get_by_label("Periode til").fill((TODAY() + datetime.timedelta(days=180)).isoformat())
    page.get_by_label("Evalueringsdato").fill((TODAY() + datetime.timedelta(days=90)).isoformat())
    page.get_by_role("button", name="Fatt vedtak").click()
    expect(page.get_by_role("heading", name="Bekreft vedtak: Kari Nordmann")).to_be_visible()
    expect(page.get_by_role("heading", name="Hjemmel")).to_be_visible()
    expect(page.locator(".letter-preview")).to_contain_text(world.m.gjerdrum.legal_basis)
    expect(page.locator(".letter-preview")).to_contain_text("Søknaden om digital hjemmeoppfølging er innvilget.")
    assert axe_violations(page) == []
    assert not Decision.objects.filter(referral=referral).exists()  # nothing recorded before «Bekreft»
    page.get_by_role("button", name="Bekreft").click()
    page.wait_for_url(f"**/forlop/{referral.pk}/")
    expect(page.get_by_role("link", name="Vedtaksbrev (PDF)")).to_be_visible()
    decision = Decision.objects.get(referral=referral)
    assert (decision.outcome, decision.reason) == ("granted", "Oppfyller kriteriene for oppfølging.")


def test_avslutning_lists_a_device_still_out_which_stays_listed(world, browser_login, axe_violations):
    patient = _consented(world)
    _device(world, "TAB-1", "nettbrett")
    _device(world, "OX-1")
    patient_start(patient=patient, user=world.u.nurse, devices=["TAB-1", "OX-1"])
    page = browser_login(world.u.nurse)
    page.goto(f"/patients/{patient.pk}/avslutt/")
    page.get_by_label("Ingen nytte").check()
    page.get_by_label("Nettbrett TAB-1").check()
    page.get_by_role("button", name="Gå videre til bekreftelse").click()
    still_out = page.locator("#still-out-list")
    expect(still_out).to_contain_text("Pulsoksymeter OX-1")
    expect(still_out.get_by_role("link", name="Ta imot OX-1")).to_be_visible()
    assert axe_violations(page) == []
    patient.refresh_from_db()
    assert patient.status == "active"
    page.get_by_role("button", name="Bekreft avslutning").click()
    page.wait_for_url(f"**/patients/{patient.pk}/")
    expect(page.locator(".page-head .status")).to_have_text("Avsluttet")
    # The device left out is still out, with the patient, on the equipment page.
    page.goto("/utstyr/?q=OX-1")
    row = page.locator("tr", has_text="OX-1")
    expect(row).to_contain_text("Utlånt")
    expect(row).to_contain_text("Kari Nordmann")
    assert Device.objects.get(serial="TAB-1").state == "returned"


def test_ta_imot_with_a_date_and_a_condition(world, browser_login, axe_violations):
    _device(world, "OX-1")
    lent_on = TODAY() - datetime.timedelta(days=20)
    devices_lend(patient=world.p.gjerdrum, user=world.u.nurse, serials=["OX-1"], lent_on=lent_on)
    page = browser_login(world.u.nurse)
    page.goto("/utstyr/")
    page.locator("tr", has_text="OX-1").get_by_role("link", name="Ta imot OX-1").click()
    expect(page.get_by_role("heading", name="Ta imot Pulsoksymeter OX-1")).to_be_visible()
    expect(page.get_by_text("Rune Gjerdrum")).to_be_visible()
    expect(page.get_by_label("Returdato")).to_have_value(TODAY().isoformat())
    assert axe_violations(page) == []
    page.get_by_label("Returdato").fill((TODAY() + datetime.timedelta(days=1)).isoformat())
    page.get_by_role("button", name="Bekreft mottak").click()
    expect(page.locator("#form-errors")).to_contain_text("Returdatoen må ligge mellom utlånsdatoen")
    assert Device.objects.get(serial="OX-1").state == "lent"
    day = TODAY() - datetime.timedelta(days=3)
    page.get_by_label("Returdato").fill(day.isoformat())
    page.get_by_role("group", name="Tilstand ved retur").get_by_label("Skadet – tas ut av bruk (kassert)").check()
    page.get_by_label("Merknad").fill("Knust skjerm")
    page.get_by_role("button", name="Bekreft mottak").click()
    page.wait_for_url("**/utstyr/**")
    expect(page.get_by_text("er tatt imot skadet og er kassert")).to_be_visible()
    device = Device.objects.get(serial="OX-1")
    assert device.state == "discarded" and device.loans.get().returned_on == day


def test_slipp_releases_a_taken_alert(world, browser_login, axe_violations):
    now = timezone.now()
    alert = Alert.objects.create(patient=world.p.gjerdrum, municipality=world.m.gjerdrum, kind="out_of_range",
                                 colour="yellow", reason="Puls 115", opened_at=now, updated_at=now)  # fmt: skip
    alert_take(alert=alert, user=world.u.nurse)
    page = browser_login(world.u.nurse)
    page.goto(f"/worklist/alerts/{alert.pk}/handle/")
    assert axe_violations(page) == []
    page.get_by_role("button", name="Slipp varselet").click()
    expect(page.get_by_text("er sluppet og kan tas av andre")).to_be_visible()
    alert.refresh_from_db()
    assert alert.taken_by is None and alert.status == "open"
    expect(page.get_by_role("button", name="Slipp varselet")).to_have_count(0)
