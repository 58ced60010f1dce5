"""Innsikt in the browser: the leder lands on /innsikt/ after login, the koordinator and the centre's
nurse reach it from the menu; the form (kommune, period, by week) answers with the sections, and each
page is axe-clean (WCAG 2.1 A/AA, serious and critical) with its figures' tables opened."""

import pytest

from tests.insight import conftest as insight

pytestmark = pytest.mark.browser
scenario, clock = insight.scenario, insight.clock  # March 2100 at Øvre; «now» pinned to 28 March 2100
MARCH = "?from=2100-03-01&to=2100-03-28&granularity=week"


def _open_every_table(page):
    for summary in page.locator("details > summary").all():
        summary.click()


def test_the_leder_lands_on_innsikt_and_chooses_a_kommune_by_week(scenario, browser_login, axe_violations):
    page = browser_login(scenario.world.u.leder)
    page.wait_for_url("**/innsikt/")
    assert page.get_by_role("heading", name="Innsikt", exact=True).is_visible()
    assert page.get_by_role("link", name="Innsikt", exact=True).count() == 1  # the menu
    assert axe_violations(page) == []

    page.get_by_label("Kommune", exact=True).select_option(label="Ullensaker")
    page.get_by_label("Fra", exact=True).fill("2100-03-01")
    page.get_by_label("Til", exact=True).fill("2100-03-28")
    page.get_by_label("Inndeling", exact=True).select_option(label="Uker")
    page.get_by_role("button", name="Vis").click()
    page.wait_for_url("**/innsikt/?*municipality=3209*")
    assert page.get_by_role("heading", name="Varselbyrde").is_visible()
    assert page.get_by_role("table", name="Kapasitet per periode").get_by_text("uke 12, 2100").is_visible()
    _open_every_table(page)
    assert axe_violations(page) == []


@pytest.mark.parametrize("who", ["coordinator", "nurse"])
def test_the_koordinator_and_the_nurse_reach_it_from_the_menu(scenario, browser_login, axe_violations, who):
    page = browser_login(getattr(scenario.world.u, who))
    page.get_by_role("link", name="Innsikt", exact=True).click()
    page.wait_for_url("**/innsikt/")
    page.goto("/innsikt/" + MARCH)
    assert page.get_by_role("heading", name="Kapasitet").is_visible()
    assert page.get_by_text("skjult (færre enn 5 personer)").first.is_visible()
    _open_every_table(page)
    assert axe_violations(page) == []
    page.get_by_label("Fra", exact=True).fill("2100-03-20")
    page.get_by_label("Til", exact=True).fill("2100-03-10")
    page.get_by_role("button", name="Vis").click()
    assert page.locator("#i-from-error").get_by_text("er etter til-datoen", exact=False).is_visible()
    assert axe_violations(page) == []


def test_the_page_counts_its_alarm_figures_on_a_second_connection_as_in_production(
    scenario, browser_login, settings, monkeypatch
):
    """The request's own transaction and scope handed to the second connection (insight.aggregates
    ._alerts_beside, on in production): the page shows what one connection counts."""
    import threading

    from insight import aggregates

    threads = []
    real = aggregates._alerts_in_snapshot

    def counted(*args):
        threads.append(threading.current_thread().name)
        return real(*args)

    monkeypatch.setattr(aggregates, "_alerts_in_snapshot", counted)
    page = browser_login(scenario.world.u.leder)
    page.wait_for_url("**/innsikt/")
    shown = {}
    for second in (False, True):
        settings.INSIGHT_SECOND_CONNECTION = second
        page.goto("/innsikt/" + MARCH)
        _open_every_table(page)
        shown[second] = page.locator("main").inner_text()
    assert "Varselbyrde" in shown[True] and shown[True] == shown[False]
    assert len(threads) == 1 and threads[0].startswith("insight"), threads
