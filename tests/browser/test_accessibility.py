import pytest

from tests.conftest import second_factor_device, totp_code

pytestmark = pytest.mark.browser


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
