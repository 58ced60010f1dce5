"""A form is sent once: a second click on a form's button while the first answer is on its way sends no
second request, and the button says the page is working (static/js/forms.js)."""

import time

import pytest
from playwright.sync_api import expect

from triage import services
from triage.models import Contact

pytestmark = pytest.mark.browser


def _contact_filled(page, patient):
    page.goto(f"/patients/{patient.pk}/")
    form = page.locator("form.contact-anytime")
    form.get_by_label("Henvendelse fra pasienten").check()
    form.get_by_label("Ga råd etter egenbehandlingsplanen").check()
    form.get_by_label("Notat").fill("Ringte om ny inhalator.")
    return form


def test_a_second_click_while_the_page_works_registers_one_contact(world, browser_login, monkeypatch):
    patient = world.p.gjerdrum
    page = browser_login(world.u.nurse)
    form = _contact_filled(page, patient)
    record = services.contact_record

    def slow(**kwargs):  # a busy server: the nurse sees nothing happen and clicks again
        time.sleep(1.5)
        return record(**kwargs)

    monkeypatch.setattr(services, "contact_record", slow)
    posts = []
    page.on("request", lambda request: request.method == "POST" and posts.append(request.post_data))
    box = form.get_by_role("button", name="Registrer kontakt").bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.click(x, y)  # the mouse, not a locator: a locator's click would wait for the next page
    page.wait_for_timeout(500)
    page.mouse.click(x, y)
    page.wait_for_url(f"**/patients/{patient.pk}/#notes")
    expect(page.locator("section", has=page.locator("#notes"))).to_contain_text("Ringte om ny inhalator.")
    assert len(posts) == 1
    assert Contact.objects.filter(patient=patient).count() == 1


# After forms.js's own listener, a listener that keeps the browser on the page, so the page's state
# while a form is on its way can be read (a page that is navigating cannot be evaluated).
# `window.dropped`: for each submit, whether forms.js had dropped it already.
HOLD = (
    "window.dropped = [];"
    " document.addEventListener('submit', e => { window.dropped.push(e.defaultPrevented); e.preventDefault(); })"
)


def test_the_pressed_button_says_the_page_works_and_a_second_submit_is_dropped(world, browser_login):
    page = browser_login(world.u.nurse)
    form = _contact_filled(page, world.p.gjerdrum)
    page.evaluate(HOLD)
    button = form.get_by_role("button", name="Registrer kontakt")
    button.click()
    expect(button).to_have_count(0)  # its name is now «Arbeider …»
    working = form.get_by_role("button", name="Arbeider …")
    expect(working).to_have_attribute("aria-disabled", "true")
    expect(form).to_have_attribute("aria-busy", "true")
    expect(page.locator("#live-status")).to_have_text("Arbeider …")
    working.click(force=True)
    page.evaluate("document.querySelector('form.contact-anytime').requestSubmit()")
    assert page.evaluate("window.dropped") == [False, True, True]
