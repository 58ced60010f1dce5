import pytest

from tests.browser.conftest import axe_preload
from tests.conftest import second_factor_device, totp_code

pytestmark = pytest.mark.browser


FAULTY = '<html lang="nb"><title>Feil</title><main><img src="x.png"><input type="text"></main></html>'


def test_the_check_finds_a_serious_violation_whether_axe_was_preloaded_or_not(browser, axe_violations):
    """The pages' checks below can fail: a picture without a text and a field without a label are
    serious or critical, found by the check as the walk of every page runs it (axe preloaded) and as
    the other tests do (axe put into the page by the check)."""
    context = browser.new_context()
    try:
        page = context.new_page()
        page.set_content(FAULTY)
        assert page.evaluate("typeof axe") == "undefined"
        found = axe_violations(page)
        axe_preload(page)
        preloaded = context.new_page()
        preloaded.set_content(FAULTY)
        assert preloaded.evaluate("typeof axe") == "object"  # there before the check
        assert axe_violations(preloaded) == found
    finally:
        context.close()
    assert [finding.split(":")[0] for finding in found] == ["image-alt", "label"], found


def test_the_login_page_has_no_serious_accessibility_violations(world, page, axe_violations):
    page.goto("/login/")
    assert axe_violations(page) == []


def test_the_patient_list_and_page_have_no_serious_accessibility_violations(world, browser_login, axe_violations):
    page = browser_login(world.u.nurse)
    assert axe_violations(page) == []
    page.goto(f"/patients/{world.p.ullensaker.pk}/")
    assert axe_violations(page) == []


def test_the_pages_work_by_keyboard_alone(world, page):
    world.u.nurse.set_password("korrekt-hest-batteri")
    world.u.nurse.save()
    device = second_factor_device(world.u.nurse)
    page.goto("/login/")
    skip = page.locator(".skip-link")
    skip.focus()  # hidden off-screen until focused, then visible
    assert skip.bounding_box()["x"] >= 0
    page.locator("#id_username").focus()
    page.keyboard.type("nurse")
    page.keyboard.press("Tab")
    page.keyboard.type("korrekt-hest-batteri")
    page.keyboard.press("Enter")
    page.wait_for_url("**/login/verify/**")  # the second factor: the code field has the focus
    # Typing before the field has its autofocus would lose the keys (a loaded machine is slow to it).
    page.wait_for_function("document.activeElement && document.activeElement.id === 'id_code'")
    page.keyboard.type(totp_code(device))
    page.keyboard.press("Enter")
    page.wait_for_url("**/worklist/")
    # The focused element is outlined (visible focus), not left to the browser's default.
    page.keyboard.press("Tab")
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none"


def test_the_confirmation_pages_have_no_serious_accessibility_violations(world, browser_login, axe_violations):
    """The pages before what cannot be undone: oppstart's kit proposal, «Ta imot», the avslutning's
    confirmation (and the vedtak's, in tests/browser/test_oppstart_confirm.py with its letter)."""
    from patients.services import device_register, devices_lend, kit_create

    centre, nurse = world.centres.ovre, world.u.nurse
    kit_create(centre=centre, user=nurse, name="KOLS", device_types=["pulsoksymeter", "nettbrett"])
    device_register(centre=centre, user=nurse, type="pulsoksymeter", serial="OX-1")
    device_register(centre=centre, user=nurse, type="nettbrett", serial="TAB-1")
    devices_lend(patient=world.p.gjerdrum, user=nurse, serials=["TAB-1"])
    page = browser_login(nurse)
    page.goto(f"/patients/{world.p.ullensaker.pk}/oppstart/?kit=KOLS")
    page.get_by_role("combobox", name="Pulsoksymeter").wait_for()
    assert axe_violations(page) == []
    page.goto("/utstyr/TAB-1/retur/")
    page.get_by_role("button", name="Bekreft mottak").wait_for()
    assert axe_violations(page) == []
    page.goto(f"/patients/{world.p.gjerdrum.pk}/avslutt/")
    page.get_by_label("Ingen nytte").check()
    page.get_by_role("button", name="Gå videre til bekreftelse").click()
    page.get_by_role("button", name="Bekreft avslutning").wait_for()
    assert axe_violations(page) == []
