"""The centre admin in the browser: creates a nurse with a role at the centre, gives her the code;
she sets her password with it, sets up the authenticator app, logs in and reaches the centre's
worklist. The admin's pages (lists, forms, the code shown once, the confirmation) pass axe."""

import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

PASSWORD = "Solsikke-Fjord-2026"


def test_the_admin_creates_a_nurse_who_sets_up_her_login_and_reaches_the_worklist(world, browser_login, axe_violations):
    from django.contrib.auth import get_user_model
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from tests.conftest import totp_code

    page = browser_login(world.u.admin)
    page.goto("/admin/")
    assert axe_violations(page) == []
    page.get_by_role("link", name="Brukere").first.click()
    assert axe_violations(page) == []
    page.get_by_role("link", name="Legg til ny bruker").click()
    page.get_by_label("Brukernavn").fill("nina.ny")
    page.get_by_label("Fornavn").fill("Nina")
    page.get_by_label("Etternavn").fill("Ny")
    page.get_by_label("Rolle").select_option(label="Sykepleier")
    page.get_by_label("Hvor").select_option(label="Øvre")
    assert axe_violations(page) == []
    page.get_by_role("button", name="Lagre", exact=True).click()
    expect(page.get_by_role("heading", name="Bruker nina.ny er opprettet")).to_be_visible()
    code = page.locator("code.activation-code").inner_text()
    assert re.fullmatch(r"[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}", code)
    assert axe_violations(page) == []
    nurse = get_user_model().objects.get(username="nina.ny")
    assert [(m.role, m.centre_id) for m in nurse.memberships.all()] == [("nurse", world.centres.ovre.pk)]

    page.context.clear_cookies()
    page.goto("/login/")
    page.get_by_role("link", name="Glemt passord?").click()
    expect(page.get_by_role("heading", name="Nytt passord med kode")).to_be_visible()
    assert axe_violations(page) == []
    page.get_by_label("Brukernavn").fill("nina.ny")
    page.get_by_label("Kode fra administratoren").fill(code)
    page.get_by_label("Nytt passord", exact=True).fill(PASSWORD)
    page.get_by_label("Nytt passord en gang til").fill(PASSWORD)
    page.get_by_role("button", name="Sett nytt passord").click()
    expect(page.get_by_role("img", name="QR-kode for autentiseringsappen")).to_be_visible()  # no second code asked
    device = TOTPDevice.objects.get(user=nurse, confirmed=False)
    page.get_by_label("Kode fra appen").fill(totp_code(device))
    page.get_by_role("button", name="Bekreft").click()
    expect(page.get_by_text("Tofaktorinnloggingen er satt opp.")).to_be_visible()

    page.context.clear_cookies()  # and a login of her own, as every day from now on
    page.goto("/login/")
    page.get_by_label("Brukernavn").fill("nina.ny")
    page.get_by_label("Passord").fill(PASSWORD)
    page.get_by_role("button", name="Logg inn").click()
    page.get_by_label("Kode").fill(totp_code(device))
    page.get_by_role("button", name="Bekreft").click()
    expect(page).to_have_url(re.compile(r"/worklist/$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("Arbeidsliste")


def test_the_admins_pages_have_no_serious_accessibility_violations(world, browser_login, axe_violations):
    from measurements.services import integration_create
    from tests.conftest import second_factor_device

    integration_create(centre=world.centres.ovre, name="Leverandør A")
    second_factor_device(world.u.nurse)
    page = browser_login(world.u.admin)
    problems = {}
    for url in ["/admin/tenants/membership/", "/admin/tenants/membership/add/", "/admin/tenants/agreement/",
                "/admin/tenants/agreement/add/", "/admin/measurements/integration/",
                "/admin/measurements/integration/add/", "/admin/tenants/auditevent/", "/admin/otp_totp/totpdevice/",
                f"/admin/auth/user/{world.u.nurse.pk}/change/"]:  # fmt: skip
        page.goto(url)
        problems[url] = axe_violations(page)
    page.goto("/admin/measurements/integration/add/")
    page.get_by_label("Oppfølgingssenter").select_option(label="Øvre")
    page.get_by_label("Navn").fill("Leverandør B")
    page.get_by_role("button", name="Lagre", exact=True).click()
    expect(page.locator("#integration-token")).to_contain_text("dho_")
    problems["token shown once"] = axe_violations(page)
    page.goto("/admin/otp_totp/totpdevice/")
    page.get_by_role("checkbox", name="Velg for en handling – Testapp (nurse)").check()
    page.locator("select[name=action]").select_option("reset_two_factor")
    page.get_by_role("button", name="Gå", exact=True).click()
    expect(page.get_by_role("heading", name="Nullstille tofaktor?")).to_be_visible()
    expect(page.locator("#reset-users")).to_contain_text("nurse")
    problems["confirmation"] = axe_violations(page)
    page.get_by_role("link", name="Utstyr").click()
    page.get_by_role("link", name="Tilbake til administrasjonen").click()
    expect(page).to_have_url(re.compile(r"/admin/$"))
    assert {url: found for url, found in problems.items() if found} == {}


def test_a_gateway_created_in_the_admin_posts_a_reading_with_the_token_shown_once(world, live_server, browser_login):
    import datetime

    import requests  # a client of its own: no admin session beside the gateway's token
    from django.utils import timezone

    from measurements.models import Integration, Reading

    page = browser_login(world.u.admin)
    page.goto("/admin/measurements/integration/add/")
    page.get_by_label("Oppfølgingssenter").select_option(label=world.centres.ovre.name)
    page.get_by_label("Navn").fill("Leverandør B")
    page.get_by_role("button", name="Lagre", exact=True).click()
    token = page.locator("#integration-token").inner_text().strip()
    integration = Integration.objects.get(name="Leverandør B")
    assert integration.centre == world.centres.ovre and token[:8] == integration.token_prefix

    measured = (timezone.localtime() - datetime.timedelta(minutes=2)).isoformat()
    body = {"readings": [{"external_id": "b-1", "patient_id": str(world.p.gjerdrum.pk), "type": "spo2",
                          "value": 96, "unit": "%", "measured_at": measured}]}  # fmt: skip
    gateway = {"Authorization": f"Bearer {token}"}
    answer = requests.post(f"{live_server.url}/api/v1/readings", json=body, headers=gateway, timeout=30)
    assert answer.json()["results"][0]["status"] == "created"
    assert Reading.objects.get(integration=integration, external_id="b-1").patient == world.p.gjerdrum
    page.goto(f"/admin/measurements/integration/{integration.pk}/change/")
    assert token not in page.content()  # shown once, at creation
