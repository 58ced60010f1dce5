import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def test_a_nurse_logs_in_finds_a_patient_and_logs_out(world, browser_login):
    page = browser_login(world.u.nurse)
    expect(page).to_have_url(re.compile(r"/worklist/$"))  # a nurse lands on the worklist
    page.get_by_role("link", name="Pasienter").click()
    expect(page.get_by_role("heading", name="Pasienter")).to_be_visible()
    expect(page.get_by_role("link", name="Olav Ullensaker")).to_be_visible()
    expect(page.get_by_text("Vigdis Nordre Follo")).to_have_count(0)

    page.get_by_label("Søk på navn eller fødselsnummer").fill("jens")
    page.get_by_role("button", name="Søk").click()
    page.get_by_role("link", name="Jens Nannestad").click()
    expect(page.get_by_role("heading", name="Jens Nannestad")).to_be_visible()
    expect(page.get_by_text(world.p.nannestad.national_id)).to_be_visible()

    page.get_by_role("button", name="Logg ut").click()
    expect(page).to_have_url(re.compile(r"/login/$"))


def test_a_wrong_password_gets_a_norwegian_message(world, page):
    page.goto("/login/")
    page.get_by_label("Brukernavn").fill("nurse")
    page.get_by_label("Passord").fill("feil-passord")
    page.get_by_role("button", name="Logg inn").click()
    expect(page.get_by_role("alert")).to_contain_text("Feil brukernavn eller passord")


def test_the_stylesheet_is_served_by_the_project(world, page):
    page.goto("/login/")
    hrefs = [link.get_attribute("href") for link in page.locator("link[rel=stylesheet]").all()]
    assert any(href.endswith("/dho.css") for href in hrefs), hrefs
    for href in hrefs:  # the project's own stylesheets, each served (the charts' too)
        assert href.startswith("/static/")
        assert page.request.get(href).ok, href


def test_a_new_user_sets_up_the_app_with_the_activation_code(world, page, axe_violations):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from tenants.activation import activation_code_issue
    from tests.conftest import totp_code

    nurse = world.u.nurse
    nurse.set_password("korrekt-hest-batteri")
    nurse.save()
    issued = activation_code_issue(user=nurse, system="test")
    page.goto("/login/")
    page.get_by_label("Brukernavn").fill("nurse")
    page.get_by_label("Passord").fill("korrekt-hest-batteri")
    page.get_by_role("button", name="Logg inn").click()
    expect(page.get_by_role("heading", name="Sett opp tofaktorinnlogging")).to_be_visible()
    expect(page.locator("svg")).to_have_count(0)  # no QR code before the activation code
    assert axe_violations(page) == []
    page.get_by_label("Aktiveringskode").fill("feil-kode")
    page.get_by_role("button", name="Fortsett").click()
    expect(page.get_by_role("alert")).to_contain_text("Aktiveringskoden stemmer ikke")
    page.get_by_label("Aktiveringskode").fill(issued.code)
    page.get_by_role("button", name="Fortsett").click()
    expect(page.get_by_role("img", name="QR-kode for autentiseringsappen")).to_be_visible()
    device = TOTPDevice.objects.get(user=nurse, confirmed=False)
    page.get_by_label("Kode fra appen").fill(totp_code(device))
    page.get_by_role("button", name="Bekreft").click()
    expect(page.get_by_text("Tofaktorinnloggingen er satt opp.")).to_be_visible()
    page.get_by_role("link", name="Jeg har tatt vare på kodene – fortsett").click()
    expect(page).to_have_url(re.compile(r"/worklist/$"))


def test_under_attack_the_login_page_asks_for_the_code_with_the_password(world, page, axe_violations):
    import datetime

    from django.utils import timezone

    from tenants.models import LoginLock
    from tests.conftest import second_factor_device, totp_code

    nurse = world.u.nurse
    nurse.set_password("korrekt-hest-batteri")
    nurse.save()
    device = second_factor_device(nurse)
    now = timezone.now()
    LoginLock.objects.create(
        kind="user",
        username="nurse",
        user=nurse,
        started_at=now,
        ends_at=now + datetime.timedelta(minutes=30),
        failures=50,
    )
    page.goto("/login/")
    page.get_by_label("Brukernavn").fill("nurse")
    page.get_by_label("Passord").fill("korrekt-hest-batteri")
    page.get_by_role("button", name="Logg inn").click()
    expect(page.get_by_role("alert")).to_contain_text("skriver du koden fra autentiseringsappen")
    assert axe_violations(page) == []
    page.get_by_label("Passord").fill("korrekt-hest-batteri")
    page.get_by_label("Kode", exact=True).fill(totp_code(device))
    page.get_by_role("button", name="Logg inn").click()
    expect(page).to_have_url(re.compile(r"/worklist/$"))  # no second step: the code came with the password
