"""«Logg inn med HelseID» end to end, in a browser, through the real HelseID stand-in (dho/dev/,
an HTTPS server in its own process; the `standins` fixture): the demo-like nurse picks herself on the
stand-in's page and lands on the worklist, a koordinator of two kommuner picks Gjerdrum and sees
only Gjerdrum, the browser's way to /connect/authorize carries client_id and request_uri only, and
the logout passes HelseID's end_session_endpoint on its way back. Someone HelseID lets through at
level 3 although level 4 was asked for, and a person nobody bound, are refused with the Norwegian
message, logged in nowhere, and recorded for the centre admin."""

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from django.conf import settings as django_settings
from django.contrib.sessions.backends.db import SessionStore
from django_otp.plugins.otp_totp.models import TOTPDevice
from knox.models import AuthToken
from playwright.sync_api import expect

from dho.demo_persons import PERSONS
from tenants import oidc, persons, two_factor
from tenants.models import AuditEvent, LoginRefusal
from tenants.tokens import user_session_keys
from tests.factories import MembershipFactory
from tests.helseid_settings import login_at_standin
from tests.tenants.conftest import bind

pytestmark = pytest.mark.browser

PERSON = {row[4]: {"pid": row[0], "hpr": row[1], "level": row[2], "name": row[3]} for row in PERSONS if row[4]}
SIGRID = PERSON["sykepleier.ullensaker"]
KARI = PERSON["koordinator.gjerdrum"]
ANDERS = PERSON["sykepleier.agder"]  # level 3 (MinID)
UKJENT = next({"pid": row[0], "name": row[3]} for row in PERSONS if not row[4])


@pytest.fixture
def helseid(standins, settings):
    """The platform's login pointed at the stand-in, with the demo client (its loopback redirect
    URIs take the live server's port in the tests)."""
    login_at_standin(settings, standins)
    yield standins
    oidc.cache_clear()


@pytest.fixture
def hpage(browser, live_server, helseid):
    """A page whose browser accepts the stand-in's self-signed certificate (its own context; the
    platform itself is plain HTTP on the live server)."""
    context = browser.new_context(base_url=live_server.url, locale="nb-NO", ignore_https_errors=True)
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


def helseid_login(page, name: str):
    page.goto("/login/")
    page.get_by_role("button", name="Logg inn med HelseID").click()
    expect(page.get_by_role("heading", name="Logg inn med HelseID")).to_be_visible()  # the stand-in's page
    page.get_by_role("button", name=name, exact=True).click()


def test_the_demo_nurse_logs_in_through_the_standin_and_lands_on_the_worklist(world, hpage):
    bind(world.u.nurse, SIGRID)
    helseid_login(hpage, SIGRID["name"])
    expect(hpage).to_have_url(re.compile(r"/worklist/$"))  # no password, no app code
    expect(hpage.get_by_role("heading", name="Arbeidsliste")).to_be_visible()

    # «Logg ut» passes HelseID's end_session_endpoint and comes back to the platform, logged out.
    seen = []
    hpage.on("request", lambda request: seen.append(request.url))
    hpage.get_by_role("button", name="Logg ut").click()
    expect(hpage).to_have_url(re.compile(r"/login/"))
    assert any("/connect/endsession?" in url and "id_token_hint=" in url for url in seen), seen
    assert hpage.context.request.get(f"{hpage.url.split('/login/')[0]}/worklist/", max_redirects=0).status == 302


def test_a_koordinator_of_two_kommuner_picks_gjerdrum_and_sees_only_gjerdrum(world, hpage):
    MembershipFactory(user=world.u.coordinator, role="coordinator", municipality=world.m.nannestad)
    bind(world.u.coordinator, KARI)
    helseid_login(hpage, KARI["name"])
    expect(hpage.get_by_role("heading", name="Velg virksomhet")).to_be_visible()
    hpage.get_by_label("Gjerdrum kommune").check()
    hpage.get_by_role("button", name="Fortsett").click()
    hpage.goto("/patients/")
    expect(hpage.get_by_role("link", name="Rune Gjerdrum")).to_be_visible()
    expect(hpage.get_by_text("Jens Nannestad")).to_have_count(0)
    expect(hpage.locator(".topbar .organisation")).to_contain_text("Gjerdrum kommune")

    hpage.get_by_role("link", name="Bytt virksomhet").click()
    hpage.get_by_label("Nannestad kommune").check()
    hpage.get_by_role("button", name="Fortsett").click()
    hpage.goto("/patients/")
    expect(hpage.get_by_role("link", name="Jens Nannestad")).to_be_visible()
    expect(hpage.get_by_text("Rune Gjerdrum")).to_have_count(0)


def test_the_browser_goes_to_connect_authorize_with_client_id_and_request_uri_only(world, hpage, helseid):
    bind(world.u.nurse, SIGRID)
    seen = []
    hpage.on("request", lambda request: seen.append(request.url))
    helseid_login(hpage, SIGRID["name"])
    expect(hpage).to_have_url(re.compile(r"/worklist/$"))
    authorize = [url for url in seen if urlsplit(url).path == "/connect/authorize" and urlsplit(url).query]
    assert authorize, seen
    for url in authorize:
        query = parse_qs(urlsplit(url).query)
        assert set(query) == {"client_id", "request_uri"}, url
        assert query["client_id"] == [helseid.client.client_id]
        assert query["request_uri"][0].startswith("urn:ietf:params:oauth:request_uri:")
    # Nothing of the request itself went through the browser: no state, nonce, challenge or scope.
    assert not any(name in url for url in seen for name in ("code_challenge", "nonce=", "scope="))


def assert_refused_and_recorded(page, *, reason: str, person: dict, user=None):
    """The refusal page, no login anywhere (the platform's pages still ask for one, the user has no
    session), and the row and audit entry the centre admin sees."""
    expect(page.get_by_role("heading", name="Innloggingen ble ikke fullført")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/innlogging/helseid/callback/\?"))
    base = page.url.split("/innlogging/")[0]
    assert page.context.request.get(f"{base}/worklist/", max_redirects=0).status == 302
    if user is not None:
        assert user_session_keys(user) == []
    refusal = LoginRefusal.objects.get()
    assert (refusal.reason, refusal.name) == (reason, person["name"])
    assert refusal.pid_digest == persons.pid_digest(person["pid"])
    assert AuditEvent.objects.filter(object_type="login_refusal", object_id=str(refusal.pk)).exists()
    return refusal


def test_someone_helseid_lets_in_at_level_3_is_refused_and_recorded(world, hpage, helseid):
    # HelseID may let a person through with MinID (level 3) although the platform asked for Level4;
    # the stand-in's «… likevel» button does that, with a validly signed ID token saying level 3.
    bind(world.u.nurse_agder, ANDERS)
    hpage.goto("/login/")
    hpage.get_by_role("button", name="Logg inn med HelseID").click()
    expect(hpage.get_by_role("heading", name="Logg inn med HelseID")).to_be_visible()
    expect(hpage.get_by_role("button", name=ANDERS["name"], exact=True)).to_have_count(0)  # not as a level-4 login
    hpage.get_by_role("button", name=f"Logg inn som {ANDERS['name']} på nivå 3 likevel").click()
    expect(hpage.get_by_role("alert")).to_have_text(
        "Du logget inn på sikkerhetsnivå 3. Plattformen viser helseopplysninger og krever nivå 4: logg inn på "
        "nytt med BankID, Buypass eller Commfides."
    )
    refusal = assert_refused_and_recorded(hpage, reason="level", person=ANDERS, user=world.u.nurse_agder)
    assert refusal.security_level == "3" and refusal.hpr_number == ANDERS["hpr"]


def test_a_person_nobody_bound_is_refused_and_recorded(world, hpage):
    helseid_login(hpage, UKJENT["name"])
    expect(hpage.get_by_role("alert")).to_contain_text("Du er ikke registrert som bruker av plattformen.")
    expect(hpage.get_by_role("alert")).to_contain_text("Administratoren har fått beskjed om forsøket.")
    refusal = assert_refused_and_recorded(hpage, reason="unknown", person=UKJENT)
    assert refusal.user is None and refusal.security_level == "4"


def test_a_helseid_user_without_the_app_makes_an_api_key_and_confirms_with_helseid_later(world, hpage, axe_violations):
    TOTPDevice.objects.filter(user=world.u.nurse).delete()  # HelseID is this nurse's only way in
    bind(world.u.nurse, SIGRID)
    helseid_login(hpage, SIGRID["name"])
    expect(hpage).to_have_url(re.compile(r"/worklist/$"))
    hpage.get_by_role("link", name="API-nøkler").click()
    expect(hpage.get_by_text("Du logget inn med HelseID for mindre enn 10 minutter siden")).to_be_visible()
    hpage.get_by_role("button", name="Lag en ny API-nøkkel").click()
    expect(hpage.get_by_label("Nøkkel", exact=True)).to_be_visible()
    assert AuthToken.objects.filter(user=world.u.nurse).count() == 1

    # Later than the window: the page asks for HelseID again (no app code to ask for).
    [cookie] = [c for c in hpage.context.cookies() if c["name"] == django_settings.SESSION_COOKIE_NAME]
    session = SessionStore(session_key=cookie["value"])
    session[two_factor.STRONG_LOGIN_AT_KEY] = session[two_factor.STRONG_LOGIN_AT_KEY] - two_factor.STEP_UP_SECONDS - 60
    session.save()
    hpage.goto("/api-nokler/")
    expect(hpage.get_by_role("button", name="Lag en ny API-nøkkel")).to_have_count(0)
    expect(hpage.get_by_label("Kode fra autentiseringsappen")).to_have_count(0)
    assert axe_violations(hpage) == []
    hpage.get_by_role("button", name="Bekreft med HelseID").click()
    expect(hpage.get_by_role("heading", name="Logg inn med HelseID")).to_be_visible()  # the stand-in's page
    hpage.get_by_role("button", name=SIGRID["name"], exact=True).click()
    expect(hpage).to_have_url(re.compile(r"/api-nokler/$"))
    hpage.get_by_role("button", name="Lag en ny API-nøkkel").click()
    expect(hpage.get_by_label("Nøkkel", exact=True)).to_be_visible()
    assert AuthToken.objects.filter(user=world.u.nurse).count() == 2
