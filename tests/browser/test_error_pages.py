"""The error pages a nurse can meet, in the browser: Norwegian, in the layout with the menu, and
axe-clean (templates/404.html, 405.html, 403_csrf.html)."""

import pytest
from playwright.sync_api import expect

from triage.models import Contact

pytestmark = pytest.mark.browser


def test_the_error_pages_are_norwegian_in_the_layout_and_accessible(world, browser_login, axe_violations):
    page = browser_login(world.u.nurse)
    patient = world.p.gjerdrum

    response = page.goto("/finnes-ikke/")
    assert response.status == 404
    expect(page.get_by_role("heading", level=1)).to_have_text("Fant ikke siden")
    expect(page.get_by_role("navigation", name="Hovedmeny")).to_contain_text("Arbeidsliste")
    assert page.evaluate("document.documentElement.lang") == "nb"
    assert axe_violations(page) == []

    response = page.goto(f"/patients/{patient.pk}/contacts/")  # a form's address, opened as a page
    assert response.status == 405
    expect(page.get_by_role("heading", level=1)).to_have_text("Siden kan ikke åpnes slik")
    assert axe_violations(page) == []

    # A form carrying a token that no longer holds (a new login in another tab changes it).
    page.goto(f"/patients/{patient.pk}/")
    form = page.locator("form.contact-anytime")
    form.get_by_label("Notat").fill("Ringte om ny inhalator.")
    form.locator("[name=csrfmiddlewaretoken]").evaluate("input => { input.value = 'x'.repeat(64); }")
    form.get_by_role("button", name="Registrer kontakt").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Skjemaet ble ikke sendt")
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("Ingenting er lagret")
    expect(alert).to_be_focused()  # forms.js: the keyboard and the screen reader start at the alert
    assert axe_violations(page) == []
    assert not Contact.objects.filter(patient=patient).exists()
