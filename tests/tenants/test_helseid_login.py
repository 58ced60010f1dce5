"""«Logg inn med HelseID» (tenants/helseid_login.py, tenants/oidc.py) against a small OpenID provider
of the test's own (tests/tenants/oidc_provider.py), whose ID tokens the test shapes and signs: the
pushed request, the code exchange, the ID token's checks one by one with their Norwegian refusals,
the mapping of the person to a user and the logout. The end-to-end run through the real HelseID
stand-in is tests/browser/test_helseid_login.py."""

import json
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client
from joserfc.jwk import KeySet

from tenants import helseid_login, oidc, persons
from tenants.models import AuditEvent, LoginRefusal
from tests.helseid_settings import login_at_standin
from tests.tenants import oidc_provider
from tests.tenants.conftest import bind, log_in, start

SIGRID = {"pid": "14837821089", "hpr": "9144889", "level": "4", "name": "Sigrid Dahl"}
ANDERS = {"pid": "28847521033", "hpr": "9144892", "level": "3", "name": "Anders Moen"}
UKJENT = {"pid": "09887221038", "level": "4", "name": "Ukjent Person"}


def refused(response, status):
    assert response.status_code == status, response.content.decode()[:500]
    return response.content.decode()


# --- the start: a pushed request, the browser gets client_id and request_uri only --------------------


def test_the_login_page_offers_helseid_when_it_is_configured(world, idp, settings):
    client = Client()
    page = client.get("/login/").content.decode()
    assert "Logg inn med HelseID" in page and 'action="/innlogging/helseid/"' in page
    settings.DHO_HELSEID_LOGIN = False
    assert "Logg inn med HelseID" not in client.get("/login/").content.decode()
    assert client.post("/innlogging/helseid/").status_code == 404


def test_the_start_pushes_the_request_and_sends_the_browser_with_client_id_and_request_uri_only(world, idp):
    location = start(Client())
    parts = urlsplit(location)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == f"{idp.issuer}/connect/authorize"
    query = parse_qs(parts.query)
    assert set(query) == {"client_id", "request_uri"} and query["client_id"] == [idp.client_id]
    pushed = idp.pushed[query["request_uri"][0]]
    assert pushed["response_type"] == "code" and pushed["code_challenge_method"] == "S256"
    assert len(pushed["code_challenge"]) == 43 and "code_verifier" not in pushed
    assert pushed["state"] and pushed["nonce"] and pushed["state"] != pushed["nonce"]
    assert pushed["acr_values"] == "Level4"
    assert "helseid://scopes/identity/pid" in pushed["scope"].split() and "openid" in pushed["scope"].split()
    assert pushed["redirect_uri"] == "http://testserver/innlogging/helseid/callback/"
    assert "authorization_details" not in pushed  # no organisation named, none configured
    assert idp.assertions[-1]["aud"] == idp.issuer  # FAPI 2.0: the issuer, not the endpoint


def test_a_named_organisation_goes_in_authorization_details(world, idp, settings):
    settings.DHO_HELSEID_ORGNR = ["312229544", "312229552"]
    location = start(Client(), orgnr="312229552")
    pushed = idp.pushed[parse_qs(urlsplit(location).query)["request_uri"][0]]
    details = json.loads(pushed["authorization_details"])
    assert details[0]["type"] == "helseid_authorization"
    assert details[0]["practitioner_role"]["organization"]["identifier"]["value"] == "NO:ORGNR:312229552"
    page = refused(Client().post("/innlogging/helseid/", {"orgnr": "999999999"}), 400)
    assert "ikke ett av dem plattformen logger inn for" in page


def test_the_only_allowed_organisation_is_named_without_asking(world, idp, settings):
    settings.DHO_HELSEID_ORGNR = ["312229544"]
    location = start(Client())
    pushed = idp.pushed[parse_qs(urlsplit(location).query)["request_uri"][0]]
    assert "NO:ORGNR:312229544" in pushed["authorization_details"]


# --- a good login ----------------------------------------------------------------------------------


def test_a_bound_nurse_logs_in_without_the_app_and_lands_on_the_worklist(world, idp):
    bind(world.u.nurse, SIGRID)
    client = Client()
    response = log_in(client, idp, SIGRID)
    assert response.status_code == 302 and response["Location"] == "/"
    assert client.get("/")["Location"] == "/worklist/"  # no /login/verify/: HelseID's level 4 was multi-factor
    assert client.get("/worklist/").status_code == 200
    session = client.session
    assert session["dho_login_method"] == "helseid" and session["dho_strong_login"] == idp.issuer
    assert "14837821089" not in json.dumps(dict(session))  # the ID token is kept encrypted
    # The code was exchanged with a fresh assertion (its own jti) and the PKCE verifier.
    assert len({a["jti"] for a in idp.assertions}) == len(idp.assertions) == 2
    assert idp.token_forms[-1]["code_verifier"]
    event = AuditEvent.objects.filter(object_type="worklist").latest("at")
    assert (event.username, event.login_method) == ("nurse", "helseid")


def test_the_login_goes_on_to_where_the_person_was_going(world, idp):
    bind(world.u.nurse, SIGRID)
    client = Client()
    response = log_in(client, idp, SIGRID, next="/patients/")
    assert response["Location"] == "/patients/"
    response = log_in(Client(), idp, SIGRID, next="https://evil.example/")
    assert response["Location"] == "/"


def test_a_fastlege_is_recognised_by_the_hpr_number_alone(world, idp):
    for membership in world.u.gp.memberships.all():  # through the owner's function, as the admin does
        membership.hpr_number = "9144891"
        membership.save()
    client = Client()
    response = log_in(client, idp, {"pid": "23866121036", "hpr": "9144891", "name": "Erik Berg"})
    assert response.status_code == 302
    assert client.get("/api/v1/patients/").status_code == 200
    assert int(client.session["_auth_user_id"]) == world.u.gp.pk


def test_a_new_signing_key_is_fetched_once_when_the_token_names_it(world, idp):
    bind(world.u.nurse, SIGRID)
    assert log_in(Client(), idp, SIGRID).status_code == 302
    fetched = idp.requests.count(("GET", "/jwks"))
    idp.signing_key = oidc_provider.rsa_key("sign-2")  # the provider rotates its key
    idp.published = [idp.signing_key]
    assert log_in(Client(), idp, SIGRID).status_code == 302
    assert idp.requests.count(("GET", "/jwks")) == fetched + 1
    idp.signing_key = oidc_provider.rsa_key("never-published")
    page = refused(log_in(Client(), idp, SIGRID), 400)
    assert "nøkkel HelseID ikke har" in page
    assert idp.requests.count(("GET", "/jwks")) == fetched + 2  # once more, not in a loop


# --- what is refused, and how it is said -----------------------------------------------------------


def test_level_3_is_refused_with_a_norwegian_message_and_recorded(world, idp):
    bind(world.u.nurse_agder, ANDERS)
    client = Client()
    page = refused(log_in(client, idp, ANDERS), 403)
    assert "sikkerhetsnivå 3" in page and "nivå 4" in page and "BankID, Buypass eller Commfides" in page
    assert "_auth_user_id" not in client.session
    refusal = LoginRefusal.objects.get()
    assert (refusal.reason, refusal.name, refusal.security_level) == ("level", "Anders Moen", "3")
    assert refusal.pid_digest == persons.pid_digest(ANDERS["pid"]) and "28847521033" not in refusal.pid_digest


def test_an_unknown_person_is_refused_and_the_centre_admin_is_told(world, idp, login):
    client = Client()
    page = refused(log_in(client, idp, UKJENT), 403)
    assert "ikke registrert som bruker" in page and "Administratoren har fått beskjed" in page
    assert "_auth_user_id" not in client.session
    refusal = LoginRefusal.objects.get()
    assert (refusal.reason, refusal.name) == ("unknown", "Ukjent Person")
    assert AuditEvent.objects.filter(object_type="login_refusal", object_id=str(refusal.pk)).exists()
    admin = login(world.u.admin)
    index = admin.get("/admin/").content.decode()
    assert "1 innlogging med HelseID de siste 30 dagene kom fra en person som ikke er koblet" in index
    listing = admin.get("/admin/tenants/loginrefusal/").content.decode()
    assert "Ukjent Person" in listing


def test_a_deactivated_user_is_refused(world, idp):
    bind(world.u.nurse, SIGRID)
    world.u.nurse.is_active = False
    world.u.nurse.save()
    assert "deaktivert" in refused(log_in(Client(), idp, SIGRID), 403)


@pytest.mark.parametrize(
    ("claims", "expected"),
    [
        ({"nonce": "another"}, "hører ikke til denne innloggingen (nonce)"),
        ({"aud": "another-client"}, "utstedt til en annen klient enn plattformen (aud)"),
        ({"aud": None}, "aud mangler"),
        ({"iss": "https://evil.example"}, "ikke utstedt av HelseID (iss)"),
        ({"exp": 1_000_000_000}, "ID-tokenet er utløpt (exp)"),
        ({"exp": None}, "exp mangler"),
        ({"iat": None}, "iat mangler"),
        ({"iat": 4_000_000_000}, "utstedt fram i tid (iat)"),
        ({"auth_time": None}, "auth_time"),
        ({"auth_time": 1_000_000_000}, "for gammel (auth_time)"),
        ({"helseid://claims/identity/pid": None}, "sendte ikke fødselsnummeret ditt"),
    ],
)
def test_an_id_token_that_fails_a_check_is_refused_saying_which(world, idp, claims, expected):
    bind(world.u.nurse, SIGRID)
    idp.claims = claims
    client = Client()
    page = refused(log_in(client, idp, SIGRID), 403 if "fødselsnummeret" in expected else 400)
    assert expected in page, page
    assert "_auth_user_id" not in client.session


def test_a_tampered_signature_is_refused(world, idp):
    bind(world.u.nurse, SIGRID)
    idp.tamper = True
    assert "signatur stemmer ikke" in refused(log_in(Client(), idp, SIGRID), 400)


def test_another_algorithm_than_agreed_is_refused(world, idp):
    bind(world.u.nurse, SIGRID)
    idp.header = {"alg": "RS512"}
    assert "annen algoritme" in refused(log_in(Client(), idp, SIGRID), 400)


def test_an_unknown_state_is_refused(world, idp):
    client = Client()
    back = idp.authorize(start(client), person=SIGRID)
    page = refused(client.get(back.replace("state=", "state=x")[len("http://testserver") :]), 400)
    assert "hører ikke til en innlogging som ble startet i denne nettleseren" in page
    # Another browser cannot finish someone else's login either.
    back = idp.authorize(start(Client()), person=SIGRID)
    assert refused(Client().get(back[len("http://testserver") :]), 400)


def test_an_answer_from_another_issuer_is_refused(world, idp):
    bind(world.u.nurse, SIGRID)
    client = Client()
    back = idp.authorize(start(client), person=SIGRID).replace(f"iss={idp.issuer}", "iss=https://evil.example")
    assert "iss stemmer ikke" in refused(client.get(back[len("http://testserver") :]), 400)


def test_an_error_from_helseid_is_shown(world, idp):
    client = Client()
    location = start(client)
    pushed = idp.pushed[parse_qs(urlsplit(location).query)["request_uri"][0]]
    query = f"error=access_denied&error_description=Avbrutt&state={pushed['state']}&iss={idp.issuer}"
    page = refused(client.get(f"/innlogging/helseid/callback/?{query}"), 400)
    assert "HelseID avbrøt innloggingen (access_denied: Avbrutt)" in page


def test_a_login_whose_verifier_is_missing_is_refused_before_the_exchange(world, idp):
    bind(world.u.nurse, SIGRID)
    client = Client()
    back = idp.authorize(start(client), person=SIGRID)
    session = client.session
    for pending in session[helseid_login.PENDING_KEY].values():
        pending["code_verifier"] = ""
    session.save()
    page = refused(client.get(back[len("http://testserver") :]), 400)
    assert "PKCE-verifikatoren (code_verifier)" in page
    assert idp.token_forms == []  # never sent without it


def test_a_callback_is_used_once(world, idp):
    bind(world.u.nurse, SIGRID)
    client = Client()
    back = idp.authorize(start(client), person=SIGRID)
    assert client.get(back[len("http://testserver") :]).status_code == 302
    assert refused(client.get(back[len("http://testserver") :]), 400)


# --- the ID token itself is checked by the library against keys the test makes ----------------------


def test_finish_returns_the_claims_of_a_valid_token_only(world, idp):
    provider = helseid_login.provider()
    url, pending = oidc.authorization_start(provider, redirect_uri="http://testserver/cb/")
    back = idp.authorize(url, person=SIGRID)
    claims, id_token = oidc.authorization_finish(provider, pending, back)
    assert claims[helseid_login.PID_CLAIM] == SIGRID["pid"] and claims["nonce"] == pending.nonce
    assert helseid_login.identity(claims) == helseid_login.Identity(
        pid=SIGRID["pid"], hpr_number="9144889", security_level="4", name="Sigrid Dahl"
    )
    from joserfc import jwt

    assert jwt.decode(id_token, KeySet([idp.signing_key])).claims["sub"] == "sub-14837821089"


# --- the logout ends HelseID's session too -----------------------------------------------------------


def test_logout_after_a_helseid_login_goes_to_the_end_session_endpoint(world, idp):
    bind(world.u.nurse, SIGRID)
    client = Client()
    log_in(client, idp, SIGRID)
    response = client.post("/logout/")
    assert response.status_code == 302
    parts = urlsplit(response["Location"])
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == f"{idp.issuer}/connect/endsession"
    query = parse_qs(parts.query)
    assert query["post_logout_redirect_uri"] == ["http://testserver/"]
    from joserfc import jwt

    assert jwt.decode(query["id_token_hint"][0], KeySet([idp.signing_key])).claims["sub"] == "sub-14837821089"
    assert "_auth_user_id" not in client.session
    assert client.get("/worklist/").status_code == 302  # logged out here


def test_logout_after_a_password_login_stays_on_the_platform(world, idp, login):
    response = login(world.u.nurse).post("/logout/")
    assert response["Location"] == "/login/"


# --- CSP: the forms that lead to HelseID ---------------------------------------------------------------


def test_the_pages_allow_the_issuer_as_a_form_action_and_nothing_else_more(world, idp, settings):
    policy = Client().get("/login/")["Content-Security-Policy"]
    form_action = next(d for d in policy.split(";") if d.strip().startswith("form-action"))
    assert form_action.split() == ["form-action", "'self'", idp.issuer]
    settings.DHO_HELSEID_LOGIN = False
    policy = Client().get("/login/")["Content-Security-Policy"]
    assert idp.issuer not in policy


# --- the organisation, against the real stand-in's strict check -----------------------------------------


def test_the_organisation_goes_to_helseid_in_nhns_documented_form(standins, settings):
    # NHN's «Bruk av organisasjonsnumre» (docs/helseid.md): RFC 9396's array with one
    # helseid_authorization, the multi-tenant system urn:oid:1.0.6523, type ENH, NO:ORGNR:<number>.
    # The stand-in refuses anything else (tests/dev/test_helseid_standin.py), so its 201 is the proof.
    login_at_standin(settings, standins, orgnr=["312229544", "974600951"])
    extra = helseid_login.start_parameters("312229544")
    assert json.loads(extra["authorization_details"]) == [{
        "type": "helseid_authorization",
        "practitioner_role": {"organization": {"identifier": {
            "system": "urn:oid:1.0.6523", "type": "ENH", "value": "NO:ORGNR:312229544",
        }}},
    }]  # fmt: skip
    callback = "http://127.0.0.1:8000/innlogging/helseid/callback/"
    url, _pending = oidc.authorization_start(helseid_login.provider(), redirect_uri=callback, extra=extra)
    assert "request_uri=urn%3Aietf%3Aparams%3Aoauth%3Arequest_uri%3A" in url
    # A kommune that gave the supplier no delegation: HelseID (the stand-in) refuses the login's start.
    extra = helseid_login.start_parameters("974600951")
    with pytest.raises(oidc.OidcError) as refused_start:
        oidc.authorization_start(helseid_login.provider(), redirect_uri=callback, extra=extra)
    assert refused_start.value.code == "par" and "invalid_authorization_details" in refused_start.value.reason
    oidc.cache_clear()
