"""The EBP pages in a real browser: the nurse's draft form and the fastlege's review are accessible,
and the fastlege approves by keyboard and mouse alike."""

import pytest

from ebp import services
from ebp.models import PlanVersion

pytestmark = pytest.mark.browser

CONTENT = {
    "goals": "Gå til butikken selv",
    "thresholds": {"spo2": {"value": {"red_below": 88, "yellow_below": 92}}},
    "actions": {"red": {"patient_medicinal": "Start reservekuren"}},
}


def test_the_draft_form_is_accessible_and_saves_bounds(world, browser_login, axe_violations):
    patient = world.p.gjerdrum
    services.draft_start(patient=patient, user=world.u.nurse, template="kols")
    page = browser_login(world.u.nurse)
    page.goto(f"/patients/{patient.pk}/plan/draft/")
    assert axe_violations(page) == []
    page.get_by_label("Oksygenmetning (SpO2): gul under (%)").fill("85")
    page.get_by_role("button", name="Lagre kladd").click()
    alert = page.get_by_role("alert")
    assert "gul under (85) må være høyere enn rød under (88)" in alert.inner_text()
    assert axe_violations(page) == []
    page.get_by_label("Oksygenmetning (SpO2): gul under (%)").fill("93")
    page.get_by_role("button", name="Lagre kladd").click()
    page.wait_for_selector("text=Kladden er lagret")
    version = PlanVersion.objects.get(plan__patient=patient)
    assert version.content["thresholds"]["spo2"]["value"]["yellow_below"] == 93


def test_the_fastlege_reviews_and_approves_in_the_browser(world, browser_login, axe_violations):
    patient = world.p.gjerdrum
    draft = services.draft_start(patient=patient, user=world.u.nurse, content=CONTENT)
    services.draft_submit(version=draft, user=world.u.nurse)
    page = browser_login(world.u.gp)
    page.get_by_role("link", name="Godkjenninger").click()
    page.get_by_role("link", name=patient.name).click()
    assert axe_violations(page) == []
    page.get_by_role("button", name="Godkjenn planen").click()
    page.wait_for_selector("text=er godkjent")
    draft.refresh_from_db()
    assert draft.status == "active" and draft.decided_by == world.u.gp
    page.goto(f"/patients/{patient.pk}/plan/")
    assert "under 88 %" in page.inner_text("main")
    assert axe_violations(page) == []
