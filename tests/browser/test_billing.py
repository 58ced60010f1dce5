"""Finance in the browser: the landing, a month page and its lock with the confirmation step, by
keyboard, each page axe-clean (WCAG 2.1 A/AA, serious and critical); and the price model page."""

import pytest

from billing.models import LockedMonth
from tests.billing import test_pages as pages

pytestmark = pytest.mark.browser
priced, today = pages.priced, pages.today  # Øvre's price model, Rune and Jens; today 23 November 2026


def test_finance_locks_a_month_after_the_confirmation(priced, browser_login, axe_violations):
    page = browser_login(priced.u.finance)
    page.wait_for_url("**/billing/")
    assert page.get_by_role("img", name="Fordeling oktober 2026", exact=False).count() == 1
    assert axe_violations(page) == []

    page.get_by_role("link", name="oktober 2026", exact=True).click()
    page.wait_for_url("**/billing/2026-10/")
    assert page.get_by_role("heading", name="Gjerdrum").is_visible()
    assert axe_violations(page) == []

    lock = page.get_by_role("link", name="Lås måneden")
    lock.focus()
    page.keyboard.press("Enter")
    page.wait_for_url("**/billing/2026-10/las/")
    assert page.get_by_text("endres aldri igjen", exact=False).is_visible()
    assert not LockedMonth.objects.exists()
    assert axe_violations(page) == []

    page.get_by_role("button", name="Lås oktober 2026").focus()
    page.keyboard.press("Enter")
    page.wait_for_url("**/billing/2026-10/")
    assert page.get_by_role("status").get_by_text("Oktober 2026 er låst", exact=False).is_visible()
    assert LockedMonth.objects.filter(centre=priced.centres.ovre).count() == 1
    assert page.get_by_role("link", name="Lås måneden").count() == 0
    assert axe_violations(page) == []


def test_the_price_model_page_is_axe_clean_with_its_simulation(priced, browser_login, axe_violations):
    page = browser_login(priced.u.admin)
    page.goto("/billing/prismodell/")
    assert axe_violations(page) == []
    page.locator("#id_follow_up").fill("12,345")
    page.get_by_role("button", name="Lagre versjonen").click()
    assert "høyst to desimaler" in page.locator("#id_follow_up_error").inner_text()
    assert axe_violations(page) == []
    page.locator("#id_sim-follow_up").fill("1 500")
    page.get_by_role("button", name="Simuler").click()
    table = page.get_by_role("table", name="oktober 2026: dagens modell og utkastet")
    table.wait_for()  # the answer to the POST: computed, nothing stored
    assert table.is_visible()
    assert axe_violations(page) == []


def test_the_koordinators_basis_is_axe_clean_and_adds_up(priced, browser_login, axe_violations):
    page = browser_login(priced.u.coordinator)
    page.goto("/billing/2026-10/3230/grunnlag/")
    assert page.get_by_role("heading", name="Kontroll: pasientene mot linjene").is_visible()
    assert page.get_by_text("Alt stemmer.", exact=False).is_visible()
    assert axe_violations(page) == []
