"""A new API key after a HelseID login (tenants/two_factor.py `reauthentication_refusal`, the
«API-nøkler» page): a HelseID login of the last STEP_UP_SECONDS, counted from HelseID's
`auth_time`, stands in for the app's code; past it, «Bekreft med HelseID» logs the person in again
with `prompt=login`. Against the test's own OpenID provider (tests/tenants/oidc_provider.py)."""

import time
from urllib.parse import parse_qs, urlsplit

from django.contrib.sessions.backends.db import SessionStore
from django.test import Client, RequestFactory
from django_otp.plugins.otp_totp.models import TOTPDevice
from knox.models import AuthToken

from tenants import organisations, two_factor
from tests.conftest import second_factor_device, totp_code
from tests.factories import MembershipFactory
from tests.tenants.conftest import bind

SIGRID = {"pid": "14837821089", "hpr": "9144889", "level": "4", "name": "Sigrid Dahl"}
KARI = {"pid": "02916921090", "hpr": "9144890", "level": "4", "name": "Kari Holm"}
TOKENS = "/api-nokler/"


def helseid_round(client, idp, person, **form):
    """The start (a POST, as the page's buttons), the person at the provider, the callback."""
    started = client.post("/innlogging/helseid/", form)
    assert started.status_code == 302, started.content.decode()[:500]
    pushed = idp.pushed[parse_qs(urlsplit(started["Location"]).query)["request_uri"][0]]
    back = urlsplit(idp.authorize(started["Location"], person=person))
    return client.get(f"{back.path}?{back.query}"), pushed


def helseid_only(user, person):
    """A user who logs in through HelseID only: bound to the person, no authenticator app."""
    TOTPDevice.objects.filter(user=user).delete()
    bind(user, person)


def age_strong_login(client, seconds):
    session = client.session
    session[two_factor.STRONG_LOGIN_AT_KEY] = time.time() - seconds
    session.save()


def test_a_helseid_user_without_the_app_makes_a_key_right_after_the_login(world, idp):
    helseid_only(world.u.nurse, SIGRID)
    client = Client()
    helseid_round(client, idp, SIGRID)
    page = client.get(TOKENS).content.decode()
    assert "Du logget inn med HelseID for mindre enn 10 minutter siden" in page
    assert 'name="otp"' not in page and "Bekreft med HelseID" not in page
    created = client.post(TOKENS)
    assert created.status_code == 200 and 'id="new-secret"' in created.content.decode()
    assert AuthToken.objects.filter(user=world.u.nurse).count() == 1


def test_past_the_window_the_page_sends_the_helseid_user_to_helseid_again(world, idp):
    helseid_only(world.u.nurse, SIGRID)
    client = Client()
    helseid_round(client, idp, SIGRID)
    age_strong_login(client, two_factor.STEP_UP_SECONDS + 60)

    page = client.get(TOKENS).content.decode()
    assert "Bekreft med HelseID" in page and 'name="reauthenticate" value="1"' in page
    assert 'name="otp"' not in page  # no app to ask a code of
    refused = client.post(TOKENS, {"otp": "123456"})
    assert refused.status_code == 400
    assert "logg inn med HelseID på nytt («Bekreft med HelseID»)" in refused.content.decode()
    assert not AuthToken.objects.exists()

    # «Bekreft med HelseID»: the same login with prompt=login, back to the page, the window open again.
    back, pushed = helseid_round(client, idp, SIGRID, reauthenticate="1", next=TOKENS)
    assert pushed["prompt"] == "login"
    assert back.status_code == 302 and back["Location"] == TOKENS
    assert client.post(TOKENS).status_code == 200
    assert AuthToken.objects.filter(user=world.u.nurse).count() == 1


def test_an_old_authentication_at_helseid_opens_no_window(world, idp):
    # HelseID's single sign-on may log the person in without asking them anything: its auth_time
    # says so, and the window is counted from it, not from the platform's login.
    helseid_only(world.u.nurse, SIGRID)
    idp.claims = {"auth_time": int(time.time()) - two_factor.STEP_UP_SECONDS - 120}
    client = Client()
    response, _pushed = helseid_round(client, idp, SIGRID)
    assert response.status_code == 302  # logged in: within max_age
    assert client.post(TOKENS).status_code == 400
    assert not AuthToken.objects.exists()


def test_a_helseid_user_with_the_app_may_use_its_code_after_the_window(world, idp):
    device = second_factor_device(world.u.nurse)
    bind(world.u.nurse, SIGRID)
    client = Client()
    helseid_round(client, idp, SIGRID)
    age_strong_login(client, two_factor.STEP_UP_SECONDS + 60)
    page = client.get(TOKENS).content.decode()
    assert 'name="otp"' in page and "Bekreft med HelseID" in page  # either proof
    assert client.post(TOKENS, {"otp": "000000"}).status_code == 400
    device.throttle_reset()
    assert client.post(TOKENS, {"otp": totp_code(device)}).status_code == 200


def test_a_step_up_keeps_the_sessions_organisation(world, idp):
    MembershipFactory(user=world.u.coordinator, role="coordinator", municipality=world.m.nannestad)
    helseid_only(world.u.coordinator, KARI)
    client = Client()
    helseid_round(client, idp, KARI)
    assert client.session.get(organisations.PENDING)  # two kommuner: «Velg virksomhet» first
    chosen = f"municipality:{world.m.gjerdrum.pk}"
    client.post("/virksomhet/", {"organisation": chosen})
    assert not client.session.get(organisations.PENDING)
    age_strong_login(client, two_factor.STEP_UP_SECONDS + 60)
    back, _pushed = helseid_round(client, idp, KARI, reauthenticate="1", next=TOKENS)
    assert back["Location"] == TOKENS  # not «Velg virksomhet» again
    assert client.session[organisations.CHOSEN] == chosen and not client.session.get(organisations.PENDING)
    assert client.get(TOKENS).status_code == 200


def _request(user, **session):
    request = RequestFactory().post(TOKENS)
    request.user = user
    request.session = SessionStore()
    request.session.update(session)
    return request


def test_the_service_refuses_a_key_without_a_fresh_strong_login_or_code(world):
    TOTPDevice.objects.filter(user=world.u.nurse).delete()
    now = time.time()
    issuer = "https://helseid.example"
    fresh = _request(world.u.nurse, **{two_factor.STRONG_LOGIN_KEY: issuer, two_factor.STRONG_LOGIN_AT_KEY: now - 5})
    assert two_factor.reauthentication_refusal(fresh, None) == ""
    window = two_factor.STEP_UP_SECONDS
    stale = _request(
        world.u.nurse, **{two_factor.STRONG_LOGIN_KEY: issuer, two_factor.STRONG_LOGIN_AT_KEY: now - window - 1}
    )
    assert "Bekreft med HelseID" in two_factor.reauthentication_refusal(stale, None)
    future = _request(world.u.nurse, **{two_factor.STRONG_LOGIN_KEY: issuer, two_factor.STRONG_LOGIN_AT_KEY: now + 600})
    assert two_factor.reauthentication_refusal(future, None)
    # A time without the strong login's issuer, or of the wrong type, counts for nothing.
    assert two_factor.reauthentication_refusal(_request(world.u.nurse, **{two_factor.STRONG_LOGIN_AT_KEY: now}), None)
    odd = _request(world.u.nurse, **{two_factor.STRONG_LOGIN_KEY: issuer, two_factor.STRONG_LOGIN_AT_KEY: "now"})
    assert two_factor.reauthentication_refusal(odd, None)
    # A password session (no strong login) without the app is told to set it up.
    assert "Sett den opp" in two_factor.reauthentication_refusal(_request(world.u.nurse), None)
