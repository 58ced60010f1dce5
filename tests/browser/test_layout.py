"""Layout and language across pages: the top bar wraps on a tablet, finance's wide tables fit a
1366×768 laptop, a refused form moves focus to its error summary with the refused fields marked,
«Kopiert» reaches a screen reader, and a fastlege with plans waiting lands on them."""

import pytest

from billing.models import PriceModel
from ebp import services as ebp
from tests.billing import test_pages as pages
from tests.ebp.test_workflow import OLAV_LIKE
from tests.factories import AgreementFactory, MunicipalityFactory

pytestmark = pytest.mark.browser
priced, today = pages.priced, pages.today

OVERFLOW = """() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]"""
TABLES = """() => Array.from(document.querySelectorAll('main table')).map(
    t => [t.scrollWidth, t.parentElement.clientWidth, t.getBoundingClientRect().right])"""


def test_the_top_bar_wraps_on_a_tablet_and_keeps_logg_ut_on_screen(world, page, browser_login):
    page.set_viewport_size({"width": 820, "height": 1000})
    browser_login(world.u.nurse)
    page.goto("/worklist/")
    width, visible = page.evaluate(OVERFLOW)
    assert width <= visible  # no sideways scroll
    logout = page.get_by_role("button", name="Logg ut").bounding_box()
    assert logout["x"] + logout["width"] <= 820
    menu = page.get_by_role("navigation", name="Hovedmeny").bounding_box()
    assert menu["x"] + menu["width"] <= 820


@pytest.fixture
def seven_kommuner(priced):
    """Øvre with seven partner kommuner, as in the demo: a column each on the finance pages."""
    centre = priced.centres.ovre
    for number, name in (("3240", "Eidsvoll"), ("3242", "Hurdal"), ("3228", "Nes")):
        AgreementFactory(centre=centre, municipality=MunicipalityFactory(number=number, name=name, population=20000))
    PriceModel.objects.filter(centre=centre).update(base_ore=34_552_000)  # a fixed share for every kommune
    return priced


def test_the_finance_tables_fit_a_laptop_screen(seven_kommuner, page, browser_login):
    page.set_viewport_size({"width": 1366, "height": 768})
    browser_login(seven_kommuner.u.finance)
    for path in ("/billing/", "/billing/2026-10/", "/billing/ar/2026/"):
        page.goto(path)
        width, visible = page.evaluate(OVERFLOW)
        assert width <= visible, path
        tables = page.evaluate(TABLES)
        assert tables, path
        for scroll_width, box_width, right in tables:
            assert scroll_width <= box_width and right <= visible, (path, scroll_width, box_width)
    page.goto("/billing/")
    bar = page.locator("svg.share-bar").first.bounding_box()
    assert bar["x"] + bar["width"] <= 1366  # the share bars are seen without scrolling sideways
    assert (
        page.locator("th", has_text="Nordre Follo").count() == 1 and page.locator("th", has_text="Hurdal").count() == 1
    )


def test_the_price_model_table_fits_a_laptop_screen(seven_kommuner, page, browser_login):
    page.set_viewport_size({"width": 1366, "height": 768})
    browser_login(seven_kommuner.u.admin)
    page.goto("/billing/prismodell/")
    for scroll_width, box_width, right in page.evaluate(TABLES):
        assert scroll_width <= box_width and right <= 1366


def test_a_refused_form_moves_focus_to_its_error_summary_and_marks_the_field(priced, page, browser_login):
    browser_login(priced.u.admin)
    page.goto("/billing/prismodell/")
    page.locator("#id_follow_up").fill("12,345")
    page.get_by_role("button", name="Lagre versjonen").click()
    page.wait_for_load_state()
    focused = page.evaluate("() => [document.activeElement.id, document.activeElement.getAttribute('role')]")
    assert focused == ["form-errors", "alert"]
    field = page.locator("#id_follow_up")
    assert field.get_attribute("aria-invalid") == "true"
    assert "id_follow_up_error" in field.get_attribute("aria-describedby").split()


def test_a_failed_login_marks_both_fields_and_focuses_the_message(world, page):
    page.goto("/login/")
    page.get_by_label("Brukernavn").fill(world.u.nurse.username)
    page.get_by_label("Passord").fill("feil")
    page.get_by_role("button", name="Logg inn").click()
    page.wait_for_load_state()
    assert page.evaluate("() => document.activeElement.id") == "login-error"
    assert page.get_by_label("Brukernavn").get_attribute("aria-invalid") == "true"
    assert page.get_by_label("Passord").get_attribute("aria-invalid") == "true"


def test_the_fastlege_lands_on_the_plans_waiting_with_their_count_in_the_menu(world, page, browser_login):
    patient = world.p.gjerdrum  # the fastlege `gp` is his
    draft = ebp.draft_start(patient=patient, user=world.u.nurse, content=OLAV_LIKE)
    ebp.draft_submit(version=draft, user=world.u.nurse)
    browser_login(world.u.gp)
    page.wait_for_url("**/approvals/")
    menu = page.get_by_role("navigation", name="Hovedmeny")
    assert menu.get_by_role("link", name="Godkjenninger 1 venter").is_visible()
