"""HelseID's back-channel logout (OpenID Connect Back-Channel Logout 1.0; tenants/helseid_login.py,
tenants/oidc.py): a logout token signed by the provider ends the platform's sessions and API tokens
of the person it names, by the HelseID session (`sid`) or the person (`sub`), and every token that
is not one is refused with 400. The provider is the test's own (tests/tenants/oidc_provider.py), so
each claim can be shaped; the round trip through the real stand-in is in
tests/tenants/test_helseid_backchannel_standin.py."""

import json
import secrets
import time

import pytest
from django.test import Client
from joserfc import jwt
from knox.models import AuthToken

from tenants.models import AuditEvent
from tenants.oidc import BACKCHANNEL_LOGOUT_EVENT
from tenants.tokens import token_create, user_session_keys
from tests.helseid_settings import login_at_standin
from tests.tenants import oidc_provider
from tests.tenants.conftest import bind, log_in

SIGRID = {"pid": "14837821089", "hpr": "9144889", "level": "4", "name": "Sigrid Dahl"}
URL = "/innlogging/helseid/backchannel-logout/"


def logout_token(idp, *, key=None, header=None, **claims):
    now = int(time.time())
    body = {
        "iss": idp.issuer,
        "aud": idp.client_id,
        "iat": now,
        "exp": now + 120,
        "jti": secrets.token_urlsafe(16),
        "sub": "sub-" + SIGRID["pid"],
        "sid": "sid-1",
        "events": {BACKCHANNEL_LOGOUT_EVENT: {}},
    }
    for name, value in claims.items():
        if value is None:
            body.pop(name, None)
        else:
            body[name] = value
    key = key or idp.signing_key
    return jwt.encode({"alg": "RS256", "kid": key.kid, "typ": "logout+jwt", **(header or {})}, body, key,
                      algorithms=["RS256"])  # fmt: skip


def post(token):
    return Client(enforce_csrf_checks=True).post(URL, {"logout_token": token})


def logged_in(world, idp, sid="sid-1"):
    bind(world.u.nurse, SIGRID)
    idp.claims["sid"] = sid
    client = Client()
    assert log_in(client, idp, SIGRID).status_code == 302
    assert client.get("/worklist/").status_code == 200
    return client


def test_a_logout_at_helseid_ends_the_users_sessions_and_api_tokens(world, idp):
    client = logged_in(world, idp)
    kept = client.session["dho_helseid_session"]
    assert kept["iss"] == idp.issuer and len(kept["sid"]) == len(kept["sub"]) == 64  # keyed hashes
    assert SIGRID["pid"] not in json.dumps(kept) and "sid-1" not in json.dumps(kept)
    token_create(user=world.u.nurse)
    response = post(logout_token(idp))
    assert response.status_code == 200, response.content
    assert "no-store" in response["Cache-Control"]
    assert user_session_keys(world.u.nurse) == []
    assert not AuthToken.objects.filter(user=world.u.nurse).exists()
    assert client.get("/worklist/")["Location"].startswith("/login/")
    event = AuditEvent.objects.filter(object_type="helseid_backchannel_logout").latest("at")
    assert (event.username, event.action, event.object_id) == ("system:helseid", "delete", str(world.u.nurse.pk))


def test_a_sid_alone_finds_its_session_and_another_sid_ends_nothing(world, idp):
    client = logged_in(world, idp, sid="sid-egen")
    assert post(logout_token(idp, sid="sid-annen", sub=None)).status_code == 200
    assert client.get("/worklist/").status_code == 200  # another HelseID session: not this one
    assert post(logout_token(idp, sid="sid-egen", sub="sub-en-annen")).status_code == 200
    assert client.get("/worklist/").status_code == 200  # both named: both must match
    assert post(logout_token(idp, sid="sid-egen", sub=None)).status_code == 200
    assert client.get("/worklist/")["Location"].startswith("/login/")


def test_a_sub_alone_ends_the_persons_sessions(world, idp):
    client = logged_in(world, idp)
    assert post(logout_token(idp, sid=None)).status_code == 200
    assert client.get("/worklist/")["Location"].startswith("/login/")


def refused(response, code_word):
    assert response.status_code == 400, response.content
    assert "no-store" in response["Cache-Control"]
    body = response.json()
    assert body["error"] == "invalid_request" and code_word in body["error_description"], body
    return body


@pytest.mark.parametrize(
    ("claims", "word"),
    [
        ({"aud": "en-annen-klient"}, "aud"),
        ({"iss": "https://annen-utsteder.example.test"}, "iss"),
        ({"nonce": "abc"}, "nonce"),
        ({"events": None}, "events"),
        ({"events": {"http://schemas.openid.net/event/noe-annet": {}}}, "events"),
        ({"events": [BACKCHANNEL_LOGOUT_EVENT]}, "events"),
        ({"sid": None, "sub": None}, "verken sid eller sub"),
        ({"iat": None}, "iat"),
        ({"iat": int(time.time()) - 3600}, "iat"),
        ({"exp": int(time.time()) - 600}, "exp"),
        ({"jti": None}, "jti"),
    ],
)
def test_a_token_that_is_not_a_valid_logout_token_is_refused_and_ends_nothing(world, idp, claims, word):
    client = logged_in(world, idp)
    refused(post(logout_token(idp, **claims)), word)
    assert client.get("/worklist/").status_code == 200


def test_a_bad_signature_or_type_is_refused(world, idp):
    client = logged_in(world, idp)
    forger = oidc_provider.rsa_key(idp.signing_key.kid)  # another key under the provider's kid
    refused(post(logout_token(idp, key=forger)), "nøkler")
    refused(post(logout_token(idp, header={"typ": "at+jwt"})), "typ")
    refused(post("ikke-en-jwt"), "JWT")
    refused(Client().post(URL, {}), "mangler")
    assert client.get("/worklist/").status_code == 200


def test_a_replayed_logout_token_is_refused(world, idp):
    logged_in(world, idp)
    token = logout_token(idp)
    assert post(token).status_code == 200
    refused(post(token), "jti")


def test_only_a_post_and_only_with_helseid_login_on(world, idp, settings):
    assert Client().get(URL).status_code == 405
    settings.DHO_HELSEID_LOGIN = False
    assert post(logout_token(idp)).status_code == 404


# --- the round trip through the real HelseID stand-in (dho/dev/helseid.py) ----------------------------


@pytest.fixture
def standin_login(standins, settings):
    """The platform's login pointed at the stand-in with the demo client, whose registered redirect
    URI is make run's address: the test client calls itself that."""
    from tenants import oidc

    login_at_standin(settings, standins)
    yield standins
    oidc.cache_clear()


def test_a_logout_at_the_standin_ends_the_platform_session(world, standin_login, standin_backchannel):
    import re
    from urllib.parse import urlsplit

    import requests
    from jwskate import Jwt

    from dho.demo_persons import PERSONS
    from tenants import helseid_login

    env = standin_login
    person = next({"pid": row[0], "hpr": row[1]} for row in PERSONS if row[4] == "sykepleier.ullensaker")
    bind(world.u.nurse, person)
    client = Client(HTTP_HOST="127.0.0.1:8000")
    location = client.post("/innlogging/helseid/")["Location"]
    picker = requests.get(location, verify=str(env.ca_file), timeout=10)
    transaction = re.search(r'name="transaction" value="([^"]+)"', picker.text).group(1)
    back = requests.post(f"{env.helseid_issuer}/connect/authorize", data={"transaction": transaction,
                         "pid": person["pid"]}, allow_redirects=False, verify=str(env.ca_file), timeout=10)  # fmt: skip
    parts = urlsplit(back.headers["Location"])
    assert client.get(f"{parts.path}?{parts.query}").status_code == 302
    assert client.get("/worklist/").status_code == 200
    kept = client.session["dho_helseid_session"]
    assert kept["iss"] == env.helseid_issuer and kept["sid"] and kept["sub"]

    # The person logs out at HelseID (here: another service's logout, the stand-in's end_session).
    before = len(standin_backchannel.received)
    id_token = helseid_login.id_token_kept(client.session)
    ended = requests.get(f"{env.helseid_issuer}/connect/endsession", params={"id_token_hint": id_token},
                         verify=str(env.ca_file), timeout=10)  # fmt: skip
    assert ended.status_code == 200
    assert client.get("/worklist/").status_code == 200  # nothing has reached the platform yet
    (form,) = standin_backchannel.received[before:]  # the stand-in POSTed one logout token
    sent = requests.get(f"{env.helseid_issuer}/_standin/backchannel", verify=str(env.ca_file), timeout=10).json()
    assert sent["sent"][-1]["sid"] == Jwt(id_token).claims["sid"] and sent["sent"][-1]["status"] == 200
    response = Client(enforce_csrf_checks=True).post(URL, {"logout_token": form["logout_token"][0]})
    assert response.status_code == 200, response.content
    assert client.get("/worklist/")["Location"].startswith("/login/")
    assert user_session_keys(world.u.nurse) == []
    # HelseID sends each logout once; the same token again is a replay.
    again = Client().post(URL, {"logout_token": form["logout_token"][0]})
    assert again.status_code == 400 and "jti" in again.json()["error_description"]


def test_a_new_signing_key_is_fetched_but_not_for_every_unknown_kid(world, idp):
    client = logged_in(world, idp)
    fetched = idp.requests.count(("GET", "/jwks"))
    refused(post(logout_token(idp, key=oidc_provider.rsa_key("ukjent-1"))), "nøkler")
    refused(post(logout_token(idp, key=oidc_provider.rsa_key("ukjent-2"))), "nøkler")
    assert idp.requests.count(("GET", "/jwks")) == fetched  # the set is fresh: no fetch per bogus kid
    assert client.get("/worklist/").status_code == 200
