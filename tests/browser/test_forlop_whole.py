"""The whole forløp once in the browser: the Gjerdrum koordinator takes a henvisning
through vurdering, vedtak (innvilget), samtykke and oppstart with a kit; readings arrive from the
gateway by device serial; pause (no silence alert), evaluering on its page, avslutning (the open
alert closed «Forløp avsluttet», a later reading stored without an alert, the device still out listed
until the centre's nurse takes it back and cleans it on the equipment page). Each new page is
axe-clean (WCAG 2.1 A/AA, serious and critical). No sleeps: Playwright waits for URLs and text."""

import datetime
import re

import pytest
from django.test import Client
from django.utils import timezone
from playwright.sync_api import expect

from measurements.models import Reading
from measurements.services import integration_create
from patients.models import ASSESSMENT_CRITERIA, Device, Patient, Referral, StatusChange
from patients.selectors import loans_out_for
from patients.services import device_register, kit_create
from tests.browser.conftest import sign_in
from tests.factories import synthetic_national_id
from triage import services as triage
from triage.models import Alert, Contact

pytestmark = pytest.mark.browser

PASSWORD = "korrekt-hest-batteri"
NAME = "Kari Nordmann"


def _days(n: int) -> datetime.date:
    return timezone.localdate() + datetime.timedelta(days=n)


def _reading(token: str, serial: str, ext: str, value: float) -> Reading:
    """A reading from the gateway, by the device's serial (no patient id), scored as the Celery task
    queued after the commit would score it."""
    item = {"external_id": ext, "device_serial": serial, "type": "spo2", "value": value, "unit": "%",
            "measured_at": (timezone.localtime() - datetime.timedelta(minutes=1)).isoformat()}  # fmt: skip
    response = Client(HTTP_AUTHORIZATION=f"Bearer {token}").post(
        "/api/v1/readings", {"readings": [item]}, content_type="application/json"
    )
    [result] = response.json()["results"]
    assert result["status"] == "created", result
    triage.readings_score([result["id"]])
    return Reading.objects.get(pk=result["id"])


def _sign_in(browser, live_server, user):
    """A second user in a browser context of their own."""
    page = browser.new_context(base_url=live_server.url, locale="nb-NO").new_page()
    page.set_default_timeout(10_000)
    sign_in(page, user, PASSWORD)  # the password and the second factor
    expect(page.get_by_role("button", name="Logg ut")).to_be_visible()
    return page


def _henvisning_to_samtykke(page, axe_violations) -> Patient:
    """The koordinator's steps before oppstart, from the board."""
    page.get_by_role("link", name="Registrer henvisning").click()
    page.get_by_label("Fødselsnummer eller D-nummer").fill(synthetic_national_id())
    page.get_by_label("Navn", exact=False).first.fill(NAME)
    page.get_by_role("group", name="Henvist av").get_by_label("Fastlege").check()
    page.get_by_label("KOLS").check()
    page.get_by_label("Begrunnelse for henvisningen").fill("Tre innleggelser for KOLS-forverring i år.")
    page.get_by_role("button", name="Registrer henvisningen").click()
    page.wait_for_url("**/forlop/*-*/")

    page.get_by_role("link", name="Registrer vurdering").click()
    for label in ASSESSMENT_CRITERIA.values():
        page.get_by_role("group", name=str(label)).get_by_label("Ja").check()
    page.get_by_label("Hva er viktig for deg?").fill("Gå tur med hunden")
    page.get_by_role("button", name="Lagre vurderingen").click()
    page.wait_for_url("**/forlop/*-*/")

    page.get_by_role("link", name="Fatt vedtak").click()
    page.get_by_label("Innvilget").check()
    page.get_by_label("Begrunnelse").fill("Oppfyller kriteriene.")
    page.get_by_label("Periode til").fill(_days(180).isoformat())
    page.get_by_label("Evalueringsdato").fill(_days(90).isoformat())
    page.get_by_role("button", name="Fatt vedtak").click()
    expect(page.get_by_role("heading", name="Hjemmel")).to_be_visible()
    page.get_by_role("button", name="Bekreft").click()
    page.wait_for_url("**/forlop/*-*/")
    expect(page.get_by_role("link", name="Vedtaksbrev (PDF)")).to_be_visible()

    page.get_by_role("link", name="Registrer samtykke").click()
    page.get_by_label("Pasienten").check()
    page.get_by_label("Skriftlig").check()
    page.locator("#id_given_on").fill(timezone.localdate().isoformat())
    page.get_by_role("button", name="Registrer samtykket").click()
    patient = Referral.objects.get(name=NAME).patient
    page.wait_for_url(f"**/patients/{patient.pk}/")
    return patient


def _oppstart_with_kit(page, patient, axe_violations) -> None:
    page.get_by_role("link", name="Oppstart").click()
    page.wait_for_url(f"**/patients/{patient.pk}/oppstart/")
    page.get_by_label("Utstyrspakke").select_option("KOLS")  # its free devices proposed
    expect(page.get_by_role("combobox", name="Pulsoksymeter")).to_have_value("OX-1")
    expect(page.get_by_role("combobox", name="Nettbrett")).to_have_value("TAB-1")
    page.get_by_label("Opplæring gitt").fill("Vist målingene hjemme hos pasienten.")
    page.get_by_label("Innkjøringsperiode til").fill(_days(14).isoformat())
    page.get_by_role("button", name="Start forløpet").click()
    page.wait_for_url(f"**/patients/{patient.pk}/")
    expect(page.get_by_text("Forløpet er startet.")).to_be_visible()
    expect(page.locator(".page-head .status")).to_have_text("Aktiv")
    # Started, and no plan approved yet: the patient page and the board say so.
    expect(page.locator("#plan-missing")).to_contain_text("Mangler godkjent plan.")
    page.goto("/forlop/")
    active = page.locator("section.board-stage", has=page.locator("#stage-active"))
    expect(active.locator("li", has_text=NAME)).to_contain_text("Mangler godkjent plan")
    assert axe_violations(page) == []


def _evaluation(page, patient, axe_violations) -> None:
    page.goto(f"/patients/{patient.pk}/")
    page.get_by_role("link", name="Registrer evaluering").click()
    page.wait_for_url(f"**/patients/{patient.pk}/evaluering/")
    expect(page.get_by_role("heading", name=f"Evaluering: {NAME}")).to_be_visible()
    assert axe_violations(page) == []

    outcome = page.get_by_role("group", name="Utfall av evalueringen")
    page.get_by_label("Neste evaluering").fill("")
    page.get_by_role("button", name="Registrer evalueringen").click()  # nothing chosen: errors by the fields
    expect(page.locator("#id_outcome_error")).to_have_text(
        "Velg utfallet av evalueringen: fortsette, justere planen eller avslutte."
    )
    assert axe_violations(page) == []

    # «Planen justeres» is the nurse's: the koordinator is told so above the form, not given a 403.
    outcome.get_by_label("Planen justeres").check()
    page.get_by_label("Neste evaluering").fill(_days(60).isoformat())
    page.get_by_role("button", name="Registrer evalueringen").click()
    expect(page.locator("#form-errors")).to_contain_text("Bare sykepleiere som følger opp pasienten kan justere")
    assert axe_violations(page) == []

    outcome.get_by_label("Fortsetter").check()
    page.get_by_label("Neste evaluering").fill(_days(60).isoformat())
    page.get_by_label("Notat").fill("God nytte, fortsetter.")
    page.get_by_role("button", name="Registrer evalueringen").click()
    page.wait_for_url(f"**/patients/{patient.pk}/")
    expect(page.get_by_text(f"Evalueringen er registrert. Neste evaluering {_days(60):%d.%m.%Y}.")).to_be_visible()
    assert Contact.objects.filter(patient=patient, kind="evaluation").count() == 1


def _equipment_back_and_clean(nurse, patient, axe_violations) -> None:
    """The centre's nurse takes the device still out back and cleans both on the equipment page."""
    nurse.get_by_role("link", name="Utstyr").click()
    nurse.wait_for_url("**/utstyr/")
    ox = nurse.locator("tr", has_text="OX-1")
    expect(ox).to_contain_text("Utlånt")
    expect(ox).to_contain_text(NAME)
    expect(nurse.locator("tr", has_text="TAB-1")).to_contain_text("Returnert")
    assert axe_violations(nurse) == []
    ox.get_by_role("link", name="Ta imot OX-1").click()
    nurse.get_by_role("group", name="Tilstand ved retur").get_by_label("Levert i orden – til rengjøring").check()
    nurse.get_by_role("button", name="Bekreft mottak").click()
    expect(nurse.get_by_text("er tatt imot og venter på rengjøring")).to_be_visible()
    nurse.locator("tr", has_text="OX-1").get_by_role("button", name="Rengjort OX-1").click()
    expect(nurse.get_by_text("OX-1 er rengjort")).to_be_visible()
    nurse.locator("tr", has_text="TAB-1").get_by_role("button", name="Rengjort TAB-1").click()
    expect(nurse.get_by_text("TAB-1 er rengjort")).to_be_visible()
    assert set(Device.objects.filter(serial__in=["OX-1", "TAB-1"]).values_list("state", flat=True)) == {"cleaned"}
    assert not loans_out_for(patient).exists()


def test_the_whole_forlop_in_the_browser(world, browser, live_server, browser_login, axe_violations):
    _integration, token = integration_create(centre=world.centres.ovre, name="Hjemmegateway")
    device_register(centre=world.centres.ovre, user=world.u.nurse, type="nettbrett", serial="TAB-1")
    kit_create(centre=world.centres.ovre, user=world.u.nurse, name="KOLS", device_types=["pulsoksymeter", "nettbrett"])

    # The centre's nurse registers the pulsoksymeter on the equipment page.
    nurse = _sign_in(browser, live_server, world.u.nurse)
    nurse.goto("/utstyr/")
    nurse.get_by_text("Legg til enheter", exact=False).click()  # the forms are folded above the list
    nurse.locator("#id_device-type").select_option("pulsoksymeter")
    nurse.get_by_role("textbox", name="Serienummer").fill("OX-1")
    nurse.get_by_role("button", name="Registrer enheten").click()
    expect(nurse.get_by_text("Pulsoksymeter OX-1 er registrert.")).to_be_visible()

    page = browser_login(world.u.coordinator)
    page.wait_for_url("**/forlop/")
    patient = _henvisning_to_samtykke(page, axe_violations)
    _oppstart_with_kit(page, patient, axe_violations)

    # Readings by device serial: a red one lands on the patient and opens an alert.
    first = _reading(token, "OX-1", "r1", 85)
    assert (first.patient_id, first.colour) == (patient.pk, "red")
    alert = Alert.objects.get(patient=patient, status="open")
    page.goto(f"/patients/{patient.pk}/")
    expect(page.get_by_role("heading", name="Åpent varsel: Rød")).to_be_visible()

    # Pause: the silence check opens nothing for a paused patient, even days later.
    page.get_by_role("link", name="Sett på pause").click()
    page.get_by_label("Pause til").fill(_days(10).isoformat())
    page.get_by_label("Årsak").fill("Innlagt på sykehus")
    page.get_by_role("button", name="Sett på pause").click()
    page.wait_for_url(f"**/patients/{patient.pk}/")
    expect(page.locator(".page-head .status")).to_contain_text("Pause")
    triage.silence_alerts_open(now=timezone.now() + datetime.timedelta(days=5))
    assert list(Alert.objects.filter(patient=patient)) == [alert]
    page.get_by_role("link", name="Gjenoppta").click()
    page.get_by_role("button", name="Gjenoppta forløpet").click()
    page.wait_for_url(f"**/patients/{patient.pk}/")
    expect(page.locator(".page-head .status")).to_have_text("Aktiv")

    _evaluation(page, patient, axe_violations)

    # Avslutning: the tablet comes back, the pulsoksymeter is still out.
    page.get_by_role("link", name="Avslutt forløpet").click()
    page.wait_for_url(f"**/patients/{patient.pk}/avslutt/")
    expect(page.locator("p.notice")).to_contain_text("Pulsoksymeter OX-1")
    page.get_by_label("Ingen nytte").check()
    page.get_by_label(re.compile("TAB-1")).check()
    page.get_by_role("button", name="Gå videre til bekreftelse").click()
    expect(page.locator("#still-out-list")).to_contain_text("Pulsoksymeter OX-1")
    expect(page.locator("#alerts-to-close")).to_contain_text(alert.reason)
    page.get_by_role("button", name="Bekreft avslutning").click()
    page.wait_for_url(f"**/patients/{patient.pk}/")
    expect(page.locator(".page-head .status")).to_have_text("Avsluttet")
    alert.refresh_from_db()
    assert (alert.status, alert.closed_reason) == ("closed", "Forløp avsluttet")
    assert not page.get_by_role("heading", name="Åpent varsel: Rød").is_visible()

    # A reading after the end is stored on the patient, and raises no alert.
    late = _reading(token, "OX-1", "r2", 80)
    assert late.patient_id == patient.pk
    assert not Alert.objects.filter(patient=patient, status="open").exists()

    # What is still out is listed on the end page until the centre has it back.
    page.goto(f"/patients/{patient.pk}/avslutt/")
    expect(page.locator("p.notice")).to_contain_text("Pulsoksymeter OX-1")
    _equipment_back_and_clean(nurse, patient, axe_violations)
    page.reload()
    expect(page.locator("p.notice")).to_have_count(0)

    events = list(StatusChange.objects.filter(patient=patient).order_by("at", "id").values_list("event", flat=True))
    assert events == ["granted", "started", "paused", "resumed", "evaluated", "ended"]
