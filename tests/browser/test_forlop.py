"""The koordinator's forløp in the browser: henvisning → vurdering → vedtak → samtykke, from the
board, each page axe-clean (WCAG 2.1 A/AA, serious and critical), the radio groups set by keyboard."""

import datetime

import pytest
from django.utils import timezone

from patients.models import ASSESSMENT_CRITERIA, Consent, Referral
from tests.factories import synthetic_national_id

pytestmark = pytest.mark.browser


def test_a_koordinator_takes_a_henvisning_to_samtykke(world, browser_login, axe_violations):
    page = browser_login(world.u.coordinator)
    page.wait_for_url("**/forlop/")
    assert axe_violations(page) == []

    page.get_by_role("link", name="Registrer henvisning").click()
    page.get_by_role("button", name="Registrer henvisningen").click()  # empty: the errors by the fields
    assert page.locator("#id_name_error").inner_text() == "Fyll ut pasientens navn."
    assert axe_violations(page) == []
    page.get_by_label("Fødselsnummer eller D-nummer").fill(synthetic_national_id())
    page.get_by_label("Navn", exact=False).first.fill("Kari Nordmann")
    page.get_by_role("group", name="Henvist av").get_by_label("Fastlege").check()
    page.get_by_label("KOLS").check()
    page.get_by_label("Begrunnelse for henvisningen").fill("Hyppige innleggelser.")
    gp = world.u.gp
    page.get_by_role("combobox", name="Fastlege").select_option(label=f"{gp.get_full_name()} (Gjerdrum)")
    page.get_by_role("button", name="Registrer henvisningen").click()
    page.wait_for_url("**/forlop/*-*/")
    assert axe_violations(page) == []
    assert Referral.objects.get(name="Kari Nordmann").gp == gp

    page.get_by_role("link", name="Registrer vurdering").click()
    assert axe_violations(page) == []
    first = page.get_by_role("group", name=str(next(iter(ASSESSMENT_CRITERIA.values()))))
    first.get_by_label("Ja").focus()
    page.keyboard.press("Space")  # a radio group works from the keyboard
    for label in list(ASSESSMENT_CRITERIA.values())[1:]:
        page.get_by_role("group", name=str(label)).get_by_label("Ja").check()
    page.get_by_label("Hva er viktig for deg?").fill("Gå tur med hunden")
    page.get_by_role("button", name="Lagre vurderingen").click()
    page.wait_for_url("**/forlop/*-*/")

    page.get_by_role("link", name="Fatt vedtak").click()
    assert axe_violations(page) == []
    today = timezone.localdate()
    page.get_by_label("Innvilget").check()
    page.get_by_label("Begrunnelse").fill("Oppfyller kriteriene.")
    page.get_by_label("Periode til").fill((today + datetime.timedelta(days=180)).isoformat())
    page.get_by_label("Evalueringsdato").fill((today + datetime.timedelta(days=90)).isoformat())
    page.get_by_role("button", name="Fatt vedtak").click()
    assert page.get_by_role("heading", name="Hjemmel").is_visible()  # the letter first
    assert axe_violations(page) == []
    page.get_by_role("button", name="Bekreft").click()
    page.wait_for_url("**/forlop/*-*/")
    assert page.get_by_role("link", name="Vedtaksbrev (PDF)").is_visible()
    assert axe_violations(page) == []

    page.get_by_role("link", name="Registrer samtykke").click()
    assert axe_violations(page) == []
    page.get_by_label("Pasienten").check()
    page.get_by_label("Skriftlig").check()
    page.locator("#id_given_on").fill(today.isoformat())
    page.get_by_role("button", name="Registrer samtykket").click()
    referral = Referral.objects.get(name="Kari Nordmann")
    page.wait_for_url(f"**/patients/{referral.patient_id}/")
    assert Consent.objects.filter(patient_id=referral.patient_id).exists()

    page.goto("/forlop/")
    granted = page.locator("#stage-granted").locator("xpath=..")
    assert "Kari Nordmann" in granted.inner_text() and "Venter på oppstart" in granted.inner_text()


def test_the_equipment_page_is_axe_clean(world, browser_login, axe_violations):
    page = browser_login(world.u.nurse)
    page.goto("/utstyr/")
    assert axe_violations(page) == []

    page.get_by_text("Lag et sett", exact=True).click()  # the form sits by the kits, folded
    page.get_by_role("button", name="Lagre settet").click()  # empty: the errors by the fields
    assert page.locator("#id_kit-device_types_error").inner_text() == "Velg minst én enhetstype."
    assert axe_violations(page) == []
    page.get_by_label("Navn på settet").fill("KOLS")
    page.get_by_role("combobox", name="Diagnose").select_option(label="KOLS")
    kit = page.get_by_role("group", name="Enheter i settet")
    kit.get_by_label("Pulsoksymeter").check()
    kit.get_by_label("Nettbrett").focus()
    page.keyboard.press("Space")  # a checkbox group works from the keyboard
    page.get_by_role("button", name="Lagre settet").click()
    page.wait_for_url("**/utstyr/#kits")
    assert "Pulsoksymeter, Nettbrett" in page.locator("#kits").inner_text()
    assert axe_violations(page) == []
