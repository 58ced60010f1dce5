"""Innsyn i logg in a real browser: reached from the patient page by keyboard, axe-clean with rows,
with a period error, and its PDF form carries the chosen period."""

import pytest

pytestmark = pytest.mark.browser


def test_the_access_log_is_reached_from_the_patient_page_and_is_accessible(world, browser_login, axe_violations):
    patient = world.p.gjerdrum
    page = browser_login(world.u.coordinator)
    page.goto(f"/patients/{patient.pk}/")  # an access the log then lists
    link = page.get_by_role("link", name="Innsyn i logg")
    link.focus()
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/patients/{patient.pk}/innsyn/")
    assert page.get_by_role("heading", level=1).inner_text() == f"Innsyn i logg: {patient.name}"
    assert page.locator("table tbody tr").count() >= 1
    assert axe_violations(page) == []
    page.get_by_label("Fra og med").fill("2026-03-10")
    page.get_by_label("Til og med").fill("2026-03-01")
    page.get_by_role("button", name="Vis perioden").click()
    page.wait_for_url("**/innsyn/?from=2026-03-10&to=2026-03-01")
    assert "er etter til-datoen" in page.get_by_role("alert").inner_text()
    assert axe_violations(page) == []
    page.get_by_label("Fra og med").fill("2026-02-01")
    page.get_by_role("button", name="Vis perioden").click()
    page.wait_for_url("**/innsyn/?from=2026-02-01&to=2026-03-01")
    pdf = page.locator("form", has=page.get_by_role("button", name="Lag PDF til pasienten"))
    assert pdf.get_attribute("method") == "post" and pdf.get_attribute("action").endswith("/innsyn/pdf/")
    assert pdf.locator("input[name=from]").get_attribute("value") == "2026-02-01"
    assert pdf.locator("input[name=to]").get_attribute("value") == "2026-03-01"
    assert page.get_by_text("Ingen har åpnet journalen i denne perioden.").is_visible()  # nothing then
