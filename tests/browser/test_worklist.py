"""The worklist in a real browser, with a real worker: a red reading posted by a gateway appears
without a reload, one nurse takes and handles it, a second sees who took it, and it leaves the list."""

import datetime

import pytest
from django.test import Client
from django.utils import timezone
from playwright.sync_api import expect

from measurements.services import integration_create
from tests.browser.conftest import sign_in
from tests.factories import MembershipFactory, UserFactory
from triage.models import Alert

pytestmark = pytest.mark.browser


def _post_red(world, token):
    at = (timezone.localtime() - datetime.timedelta(minutes=1)).isoformat()
    item = {"external_id": "live-1", "patient_id": str(world.p.gjerdrum.pk), "type": "spo2", "value": 84, "unit": "%",
            "measured_at": at}  # fmt: skip
    response = Client(HTTP_AUTHORIZATION=f"Bearer {token}").post(
        "/api/v1/readings", {"readings": [item]}, content_type="application/json"
    )
    assert response.json()["results"][0]["status"] == "created"


def test_a_red_reading_reaches_the_worklist_live_and_is_taken_and_handled(
    world, browser, live_server, browser_login, celery_worker, axe_violations
):
    _, token = integration_create(centre=world.centres.ovre, name="gw")
    page = browser_login(world.u.nurse)
    expect(page).to_have_url(f"{live_server.url}/worklist/")
    expect(page.get_by_text("Ingen åpne varsler")).to_be_visible()

    _post_red(world, token)
    row = page.locator("tr.alert-row", has_text="Rune Gjerdrum")
    expect(row).to_be_visible(timeout=20_000)  # no reload: htmx refreshes the list
    expect(row).to_contain_text("Rød")
    expect(row).to_contain_text("SpO2 84 % – rød under 90 (ingen godkjent plan)")
    expect(row.locator(".badge.new")).to_have_text("Ny")
    assert axe_violations(page) == []

    # A second nurse, in her own browser context, sees who has it.
    second = UserFactory(username="nurse2", first_name="Nora", last_name="Nilsen")
    MembershipFactory(user=second, role="nurse", centre=world.centres.ovre)
    row.get_by_role("button", name="Jeg tar varselet for Rune Gjerdrum").click()
    expect(page.locator("tr.alert-row", has_text="Rune Gjerdrum")).to_contain_text("Tatt av Test Bruker")
    other = sign_in(browser.new_context(base_url=live_server.url, locale="nb-NO").new_page(), second)
    expect(other.locator("tr.alert-row", has_text="Rune Gjerdrum")).to_contain_text(
        f"Tatt av {world.u.nurse.get_full_name()}"
    )
    expect(other.get_by_role("button", name="Jeg tar varselet for Rune Gjerdrum")).to_have_count(0)

    # The first nurse handles it by keyboard and mouse; it leaves both lists.
    page.locator("tr.alert-row", has_text="Rune Gjerdrum").get_by_role("link", name="Følg opp Rune Gjerdrum").click()
    expect(page.get_by_role("heading", name="Følg opp Rune Gjerdrum")).to_be_visible()
    assert axe_violations(page) == []
    page.get_by_label("Ringte pasienten – fikk svar").check()
    page.get_by_label("Ga råd etter egenbehandlingsplanen").check()
    page.get_by_label("Notat").fill("Rådet pasienten etter planen.")
    page.get_by_role("button", name="Lagre oppfølging").click()
    expect(page.get_by_text("er håndtert og lukket")).to_be_visible()
    expect(page.locator("tr.alert-row", has_text="Rune Gjerdrum")).to_have_count(0)
    expect(other.locator("tr.alert-row", has_text="Rune Gjerdrum")).to_have_count(0, timeout=15_000)
    alert = Alert.objects.get()
    assert alert.status == "closed" and alert.handled_by == world.u.nurse


def test_the_worklist_and_patient_page_are_accessible_and_keyboard_usable(world, browser_login, axe_violations):
    Alert.objects.create(
        patient=world.p.gjerdrum, municipality=world.m.gjerdrum, kind="out_of_range", colour="yellow",
        reason="SpO2 91 % – gul under 92", measurement="spo2",
    )  # fmt: skip
    page = browser_login(world.u.nurse)
    assert axe_violations(page) == []
    # Keyboard: tab to the first «Jeg tar denne» and press Enter.
    for _ in range(40):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent.trim()") == "Jeg tar denne":
            break
    assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") != "none"
    focused = page.evaluate("document.activeElement.id")
    assert focused.startswith("take-")
    # The list refreshes itself every 5 s; the keyboard user's focus must survive the swap.
    with page.expect_response(lambda r: "/worklist/" in r.url and r.request.headers.get("hx-request") == "true"):
        pass
    page.wait_for_timeout(300)
    assert page.evaluate("document.activeElement.id") == focused
    page.keyboard.press("Enter")
    expect(page.locator("tr.alert-row")).to_contain_text("Tatt av")
    page.goto(f"/patients/{world.p.gjerdrum.pk}/")
    assert axe_violations(page) == []
    page.goto("/followup/")
    assert axe_violations(page) == []


def test_a_coordinator_gets_404_for_another_municipalitys_worklist(world, browser_login):
    page = browser_login(world.u.coordinator)
    own = page.goto("/worklist/?municipality=3230")
    assert own.status == 200
    foreign = page.goto("/worklist/?municipality=3238")
    assert foreign.status == 404
