"""Every patient gets a fastlege who can approve, and the patient page is the nurse's call sheet, in the
browser: the Gjerdrum koordinator names a fastlege outside the kommune's list by HPR number on the
henvisning, the nurse sends the plan with «Lagre og send til fastlegen», and that fastlege approves it;
a nurse registers a call-in from the patient page with nothing due. Each page is axe-clean."""

import datetime

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from ebp import services as ebp
from ebp.models import PlanVersion
from patients.models import ASSESSMENT_CRITERIA, Referral
from patients.services import assessment_record, decision_record
from tenants.models import AuditEvent
from tests.browser.conftest import sign_in
from tests.factories import MembershipFactory, UserFactory, synthetic_national_id
from triage.models import Contact

pytestmark = pytest.mark.browser

PASSWORD = "korrekt-hest-batteri"
NAME = "Kari Nordmann"
HPR = "990000999"


def _context_page(browser, live_server, user):
    page = browser.new_context(base_url=live_server.url, locale="nb-NO").new_page()
    page.set_default_timeout(10_000)
    sign_in(page, user, PASSWORD)
    return page


def _granted(referral, world):
    """Vurdering and vedtak as the koordinator makes them (their pages have browser tests of their own)."""
    assessment_record(referral=referral, user=world.u.coordinator,
                      criteria={code: {"answer": "yes"} for code in ASSESSMENT_CRITERIA})  # fmt: skip
    today = timezone.localdate()
    decision_record(referral=referral, user=world.u.coordinator, outcome="granted", reason="Oppfyller kriteriene.",
                    period_to=today + datetime.timedelta(days=180),
                    evaluation_date=today + datetime.timedelta(days=90))  # fmt: skip
    referral.refresh_from_db()
    return referral.patient


def test_a_fastlege_found_by_hpr_number_approves_the_plan(world, browser, live_server, axe_violations):
    # A fastlege practising in Grimstad: not among those offered for Gjerdrum.
    lise = UserFactory(username="lise.langt", first_name="Lise", last_name="Langt")
    MembershipFactory(user=lise, role="gp", centre=None, municipality=world.m.grimstad, hpr_number=HPR)

    page = _context_page(browser, live_server, world.u.coordinator)
    page.goto("/forlop/ny/")
    assert "Lise Langt" not in page.locator("#id_gp").inner_text()
    page.get_by_label("Fødselsnummer eller D-nummer").fill(synthetic_national_id())
    page.locator("#id_name").fill(NAME)
    page.get_by_role("group", name="Henvist av").get_by_label("Sykehus").check()
    page.get_by_label("KOLS").check()
    page.get_by_label("Begrunnelse for henvisningen").fill("Tre innleggelser for KOLS-forverring i år.")
    page.get_by_label("Annen fastlege (navn eller HPR-nummer)").fill(HPR)
    page.get_by_label("Telefon").fill("900 12 345")
    assert axe_violations(page) == []
    page.get_by_role("button", name="Registrer henvisningen").click()
    page.wait_for_url("**/forlop/*-*/")
    expect(page.locator("dl.facts")).to_contain_text("Lise Langt")
    referral = Referral.objects.get(name=NAME)
    assert referral.gp == lise
    assert AuditEvent.objects.filter(object_type="gp_outside_offered", object_id=str(lise.pk)).exists()

    patient = _granted(referral, world)
    assert patient.gp == lise and patient.phone == "900 12 345"
    page.goto(f"/patients/{patient.pk}/")
    expect(page.locator("#fastlege")).to_contain_text("Lise Langt")
    assert axe_violations(page) == []

    # The centre's nurse drafts the plan and sends it: the patient has a fastlege who can approve.
    ebp.draft_start(patient=patient, user=world.u.nurse, template="kols")
    nurse = _context_page(browser, live_server, world.u.nurse)
    nurse.goto(f"/patients/{patient.pk}/plan/draft/")
    nurse.get_by_role("button", name="Lagre og send til fastlegen").click()
    expect(nurse.get_by_text("Versjon 1 er sendt til fastlegen for godkjenning.")).to_be_visible()
    version = PlanVersion.objects.get(plan__patient=patient)
    assert version.status == "submitted"

    # Lise, who practises elsewhere, approves it: she sees this one patient through the permission.
    gp = _context_page(browser, live_server, lise)
    gp.get_by_role("link", name="Godkjenninger").click()
    gp.get_by_role("link", name=NAME).click()
    gp.get_by_role("button", name="Godkjenn planen").click()
    gp.wait_for_selector("text=er godkjent")
    version.refresh_from_db()
    assert version.status == "active" and version.decided_by == lise


def test_a_nurse_registers_a_call_in_from_the_patient_page(world, browser_login, axe_violations):
    patient = world.p.gjerdrum  # nothing due: just created, no plan, no contacts
    page = browser_login(world.u.nurse)
    page.goto(f"/patients/{patient.pk}/")
    assert axe_violations(page) == []
    form = page.locator("form.contact-anytime")
    form.get_by_label("Henvendelse fra pasienten").check()
    form.get_by_label("Ga råd etter egenbehandlingsplanen").check()
    form.get_by_label("Notat").fill("Ringte om ny inhalator.")
    form.get_by_role("button", name="Registrer kontakt").click()
    page.wait_for_url(f"**/patients/{patient.pk}/#notes")
    history = page.locator("section", has=page.locator("#notes"))
    expect(history).to_contain_text("Henvendelse fra pasienten")
    expect(history).to_contain_text("Ringte om ny inhalator.")
    assert Contact.objects.get(patient=patient).kind == "call_in"
    assert axe_violations(page) == []


def test_the_fastlege_form_and_the_follow_up_page_are_accessible(world, browser_login, axe_violations):
    world.p.nannestad.gp = None
    world.p.nannestad.save()
    page = browser_login(world.u.nurse)
    page.goto("/followup/")
    expect(
        page.get_by_role("link", name=f"Mangler fastlege – registrer fastlege for {world.p.nannestad.name}")
    ).to_be_visible()
    assert axe_violations(page) == []
    page.get_by_role("link", name=f"Mangler fastlege – registrer fastlege for {world.p.nannestad.name}").click()
    page.wait_for_url(f"**/patients/{world.p.nannestad.pk}/fastlege/")
    assert axe_violations(page) == []
    page.get_by_label("Annen fastlege (navn eller HPR-nummer)").fill("finnes ikke")
    page.get_by_role("button", name="Lagre").click()
    expect(page.locator("#id_gp_other_error")).to_contain_text("Fant ingen fastlege")
    assert axe_violations(page) == []
    page.goto("/forlop/")
    assert axe_violations(page) == []
