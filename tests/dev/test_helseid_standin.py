"""The HelseID stand-in refuses what HelseID refuses, each with the exact OAuth error code, over real
HTTPS to its own process (the `standins` fixture, tests/conftest.py). Requests are made by hand here
(signed with jwskate, the client's library; the stand-in verifies with joserfc) so that every claim
can be got wrong on purpose. And `verify_dpop_request`, the resource side, refuses a token used
with another key, a wrong `ath`, an expired or forged token. The user login (PAR, the picker, the
code, logout) likewise: the whole flow gives a verifiable ID token, and each refusal its code."""

import json
import re
import secrets
import time
import uuid
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
import requests
from joserfc import jwt as jose_jwt
from joserfc.jwk import RSAKey
from jwskate import Jwk, Jwt

from dho.dev.helseid import (
    ORGNR_PARENT_CLAIM,
    DPoPRequestRefused,
    NonceStore,
    OAuthRefusal,
    PageRefusal,
    ReplayCache,
    b64url_sha256,
    sign_access_token,
    standin_from_config,
    verify_dpop_request,
)
from dho.dev.helseid_login import OneUse, redirect_uri_allowed
from tests.conftest import STANDIN_TWO_KOMMUNER
from tests.dev.raw_http import raw_request

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ORGNR = "312229544"


def details(orgnr=ORGNR, system="urn:oid:1.0.6523", value=None):
    return {
        "type": "helseid_authorization",
        "practitioner_role": {
            "organization": {"identifier": {"system": system, "type": "ENH", "value": value or f"NO:ORGNR:{orgnr}"}}
        },
    }


def client_key(env, client_id="dho-demo-maskin"):
    client = next(c for c in env.clients if c.client_id == client_id)
    return Jwk(json.loads(client.key_file.read_text()))


def assertion(env, key=None, *, client_id="dho-demo-maskin", lifetime=60, iat=None, **overrides):
    key = key or client_key(env, client_id)
    iat = int(time.time()) if iat is None else iat
    claims = {"iss": client_id, "sub": client_id, "aud": env.helseid_issuer, "iat": iat, "exp": iat + lifetime,
              "jti": str(uuid.uuid4()), "authorization_details": details()}  # fmt: skip
    claims.update(overrides)
    claims = {k: v for k, v in claims.items() if v is not None}
    return str(Jwt.sign(claims, key=key, alg=key.alg))


def proof(dpop_key, url, *, htm="POST", nonce=None, ath=None, iat=None, jti=None, jwk=None):
    claims = {"htm": htm, "htu": url, "iat": int(time.time()) if iat is None else iat, "jti": jti or str(uuid.uuid4())}
    if nonce:
        claims["nonce"] = nonce
    if ath:
        claims["ath"] = ath
    header_jwk = jwk if jwk is not None else dpop_key.public_jwk()
    return str(Jwt.sign(claims, key=dpop_key, alg="ES256", typ="dpop+jwt", extra_headers={"jwk": dict(header_jwk)}))


def token_url(env):
    return f"{env.helseid_issuer}/connect/token"


def post(env, *, client_assertion, dpop, scope="nhn:jft/api", grant_type="client_credentials", client_id=None):
    form = {"grant_type": grant_type, "scope": scope, "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": client_assertion}  # fmt: skip
    if client_id:
        form["client_id"] = client_id
    headers = {"DPoP": dpop} if dpop else {}
    return requests.post(token_url(env), data=form, headers=headers, verify=str(env.ca_file), timeout=10)


@pytest.fixture
def dpop_key():
    return Jwk.generate(alg="ES256")


@pytest.fixture
def nonce(standins, dpop_key):
    """A nonce from the stand-in: what a first request without one is told to use."""
    response = post(standins, client_assertion=assertion(standins), dpop=proof(dpop_key, token_url(standins)))
    assert response.status_code == 400 and response.json()["error"] == "use_dpop_nonce"
    return response.headers["DPoP-Nonce"]


def refused(response, error):
    assert response.status_code == 400, response.text
    assert response.json()["error"] == error, response.json()
    assert "access_token" not in response.json()
    return response.json()


# --- the token endpoint -----------------------------------------------------------------------


def test_it_publishes_discovery_and_its_keys(standins):
    document = requests.get(f"{standins.helseid_issuer}/.well-known/openid-configuration",
                            verify=str(standins.ca_file), timeout=10).json()  # fmt: skip
    assert document["issuer"] == standins.helseid_issuer
    assert document["token_endpoint"] == token_url(standins)
    assert document["token_endpoint_auth_methods_supported"] == ["private_key_jwt"]
    jwks = requests.get(document["jwks_uri"], verify=str(standins.ca_file), timeout=10).json()
    # The first key only: the next is published on rotation (test_a_rotated_key_signs_and_is_published).
    first, following = standins.issuer_jwks()["keys"]
    assert [k["kid"] for k in jwks["keys"]] == [first["kid"]] != [following["kid"]]
    assert not {"d", "p", "q"} & set(jwks["keys"][0])


def test_a_body_of_no_declared_length_is_refused_unread_never_read_to_its_end(standins, dpop_key):
    """`Content-Length: -1` was read as «to the end of the connection» (past the 64 KiB limit, for as
    long as the client kept sending), a malformed one ended the connection unanswered: both 400, a
    chunked body 411, the body unread and the connection closed."""
    form = urlencode({"grant_type": "client_credentials", "scope": "nhn:jft/api",
                      "client_assertion_type": ASSERTION_TYPE, "client_assertion": assertion(standins)})  # fmt: skip
    body = form.encode() + b"&padding=" + b"x" * 20_000
    for length, status in (("-1", 400), ("12abc", 400), ("10\r\nContent-Length: 20", 400), (None, 411)):
        head = "Content-Type: application/x-www-form-urlencoded\r\nConnection: close\r\n"
        head += f"DPoP: {proof(dpop_key, token_url(standins))}\r\n"
        head += f"Content-Length: {length}\r\n" if length else "Transfer-Encoding: chunked\r\n"
        answer = raw_request(token_url(standins), str(standins.ca_file), head, body)
        assert answer[0] == status, (length, answer[1][:300])


def test_it_issues_a_dpop_bound_token_for_a_delegated_kommune(standins, dpop_key, nonce):
    response = post(
        standins, client_assertion=assertion(standins), dpop=proof(dpop_key, token_url(standins), nonce=nonce)
    )
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["token_type"] == "DPoP" and answer["expires_in"] == 600
    token = Jwt(answer["access_token"])
    assert token.headers["typ"] == "at+jwt"
    assert token.verify_signature(Jwk(standins.issuer_jwks()["keys"][0]), alg="RS256")
    assert token.claims["cnf"] == {"jkt": dpop_key.thumbprint()}
    assert token.claims[ORGNR_PARENT_CLAIM] == ORGNR
    assert token.claims["client_id"] == "dho-demo-maskin" and token.claims["scope"] == ["nhn:jft/api"]
    assert token.claims["iss"] == standins.helseid_issuer and token.claims["aud"] == ["nhn:jft"]


def test_it_asks_for_a_nonce_first_and_again_when_the_proof_has_none(standins, dpop_key, nonce):
    # Told once (the nonce fixture), the client sends a proof without the nonce: told again, no token.
    body = refused(post(standins, client_assertion=assertion(standins), dpop=proof(dpop_key, token_url(standins))),
                   "use_dpop_nonce")  # fmt: skip
    assert body["error_description"]
    # A nonce it never gave is no better.
    response = post(standins, client_assertion=assertion(standins),
                    dpop=proof(dpop_key, token_url(standins), nonce="made-up"))  # fmt: skip
    refused(response, "use_dpop_nonce")
    assert response.headers["DPoP-Nonce"] and response.headers["DPoP-Nonce"] != "made-up"


def test_it_takes_a_child_unit_and_the_single_tenant_form(standins, dpop_key, nonce):
    multi = assertion(standins, authorization_details=[details(value=f"NO:ORGNR:{ORGNR}:974600951")])
    response = post(standins, client_assertion=multi, dpop=proof(dpop_key, token_url(standins), nonce=nonce))
    claims = Jwt(response.json()["access_token"]).claims
    assert claims[ORGNR_PARENT_CLAIM] == ORGNR
    assert claims["helseid://claims/client/claims/orgnr_child"] == "974600951"
    child_only = details(system="urn:oid:2.16.578.1.12.4.1.4.101", value="974600951")
    single = assertion(standins, client_id="dho-test-single", authorization_details=child_only)
    response = post(standins, client_assertion=single, dpop=proof(dpop_key, token_url(standins), nonce=nonce))
    assert Jwt(response.json()["access_token"]).claims[ORGNR_PARENT_CLAIM] == "312229546"


def test_it_verifies_rsa_client_assertions(standins, dpop_key, nonce):
    key = client_key(standins, "dho-test-rsa")
    for alg in ("RS256", "PS256"):
        claims = {"iss": "dho-test-rsa", "sub": "dho-test-rsa", "aud": standins.helseid_issuer, "iat": int(time.time()),
                  "exp": int(time.time()) + 60, "jti": str(uuid.uuid4()),
                  "authorization_details": details(STANDIN_TWO_KOMMUNER[1])}  # fmt: skip
        signed = str(Jwt.sign(claims, key=key, alg=alg))
        response = post(standins, client_assertion=signed, dpop=proof(dpop_key, token_url(standins), nonce=nonce))
        assert response.status_code == 200, (alg, response.text)


def _other_key():
    key = Jwk.generate(alg="ES256")
    return Jwk({**key, "kid": "not-registered"})


ASSERTION_REFUSALS = {
    # name: (assertion overrides, error)
    "signed with a key the client does not have": ({"key": "other"}, "invalid_client"),
    "expired": ({"age": 200, "lifetime": 100}, "invalid_client"),
    "too long-lived": ({"lifetime": 600}, "invalid_client"),
    "issued in the future": ({"age": -120}, "invalid_client"),
    "aud the token endpoint, not the issuer": ({"aud": "token endpoint"}, "invalid_client"),
    "unknown client": ({"client_id": "nobody"}, "invalid_client"),
    "sub not the client": ({"sub": "someone-else"}, "invalid_client"),
    "no jti": ({"jti": None}, "invalid_client"),
    "no exp": ({"exp": None}, "invalid_client"),
}


@pytest.mark.parametrize("case", ASSERTION_REFUSALS)
def test_it_refuses_a_client_assertion(standins, dpop_key, nonce, case):
    overrides, error = ASSERTION_REFUSALS[case]
    overrides = dict(overrides)
    key = _other_key() if overrides.pop("key", None) else None
    if "age" in overrides:
        overrides["iat"] = int(time.time()) - overrides.pop("age")
    if overrides.get("aud") == "token endpoint":
        overrides["aud"] = token_url(standins)
    if overrides.get("client_id") == "nobody":
        key = client_key(standins)  # a real key, of another client
    signed = assertion(standins, key, **overrides)
    refused(post(standins, client_assertion=signed, dpop=proof(dpop_key, token_url(standins), nonce=nonce)), error)


def test_it_refuses_a_replayed_client_assertion(standins, dpop_key, nonce):
    signed = assertion(standins)
    first = post(standins, client_assertion=signed, dpop=proof(dpop_key, token_url(standins), nonce=nonce))
    assert first.status_code == 200, first.text
    again = post(standins, client_assertion=signed, dpop=proof(dpop_key, token_url(standins), nonce=nonce))
    assert "brukt før" in refused(again, "invalid_client")["error_description"]


def test_it_refuses_a_form_client_id_other_than_the_assertions(standins, dpop_key, nonce):
    response = post(standins, client_assertion=assertion(standins), client_id="dho-test-rsa",
                    dpop=proof(dpop_key, token_url(standins), nonce=nonce))  # fmt: skip
    refused(response, "invalid_client")


def test_it_refuses_another_grant_type(standins, dpop_key, nonce):
    response = post(standins, client_assertion=assertion(standins), grant_type="password",
                    dpop=proof(dpop_key, token_url(standins), nonce=nonce))  # fmt: skip
    refused(response, "unsupported_grant_type")


PROOF_REFUSALS = {
    "no proof at all": "missing",
    "htu another endpoint": "htu",
    "htm GET": "htm",
    "signed by another key than its jwk": "foreign jwk",
    "a private key in its jwk": "private jwk",
    "iat minutes old": "old",
    "jti used before": "replay",
    "typ JWT": "typ",
    "a jwk of an unknown curve": "curve",
}


@pytest.mark.parametrize("case", PROOF_REFUSALS)
def test_it_refuses_a_dpop_proof(standins, dpop_key, nonce, case):
    kind, url = PROOF_REFUSALS[case], token_url(standins)
    dpop = proof(dpop_key, url, nonce=nonce)
    if kind == "missing":
        dpop = None
    elif kind == "htu":
        dpop = proof(dpop_key, f"{standins.helseid_issuer}/connect/par", nonce=nonce)
    elif kind == "htm":
        dpop = proof(dpop_key, url, htm="GET", nonce=nonce)
    elif kind == "foreign jwk":
        dpop = proof(dpop_key, url, nonce=nonce, jwk=Jwk.generate(alg="ES256").public_jwk())
    elif kind == "private jwk":
        dpop = proof(dpop_key, url, nonce=nonce, jwk=dpop_key)
    elif kind == "old":
        dpop = proof(dpop_key, url, nonce=nonce, iat=int(time.time()) - 300)
    elif kind == "replay":
        first = post(standins, client_assertion=assertion(standins), dpop=dpop)
        assert first.status_code == 200, first.text
    elif kind == "typ":
        claims = {"htm": "POST", "htu": url, "iat": int(time.time()), "jti": str(uuid.uuid4()), "nonce": nonce}
        dpop = str(
            Jwt.sign(claims, key=dpop_key, alg="ES256", typ="JWT", extra_headers={"jwk": dict(dpop_key.public_jwk())})
        )
    elif kind == "curve":  # the key cannot be read: a refusal, not a dropped connection
        dpop = proof(dpop_key, url, nonce=nonce, jwk=dict(dpop_key.public_jwk()) | {"crv": "P-999"})
    refused(post(standins, client_assertion=assertion(standins), dpop=dpop), "invalid_dpop_proof")


def test_an_assertion_whose_iss_is_not_a_string_is_invalid_client(standins, dpop_key, nonce):
    """Not a dropped connection (the client would take that for HelseID being down and try again)."""
    for iss in (["dho-demo-maskin"], {"id": "dho-demo-maskin"}):
        response = post(standins, client_assertion=assertion(standins, iss=iss),
                        dpop=proof(dpop_key, token_url(standins), nonce=nonce))  # fmt: skip
        refused(response, "invalid_client")


def test_it_refuses_a_scope_the_client_does_not_have(standins, dpop_key, nonce):
    response = post(standins, client_assertion=assertion(standins), scope="nhn:jft/api nhn:kjernejournal/api",
                    dpop=proof(dpop_key, token_url(standins), nonce=nonce))  # fmt: skip
    assert "nhn:kjernejournal/api" in refused(response, "invalid_scope")["error_description"]
    response = post(standins, client_assertion=assertion(standins), scope="",
                    dpop=proof(dpop_key, token_url(standins), nonce=nonce))  # fmt: skip
    refused(response, "invalid_scope")


@pytest.mark.parametrize(
    "authorization",
    [
        details("974600951"),  # a kommune that gave the supplier no delegation
        details(value="312229544"),  # the number without NO:ORGNR: in the multi-tenant system
        details(system="urn:oid:2.16.578.1.12.4.1.4.101"),  # the single-tenant system
        {"type": "something_else"},
        [details(), details()],
        None,  # a multi-tenant client must name the organisation
    ],
    ids=["not-delegated", "bare-number", "single-tenant-system", "wrong-type", "two-entries", "missing"],
)
def test_it_refuses_an_organisation_the_client_is_not_registered_for(standins, dpop_key, nonce, authorization):
    signed = assertion(standins, authorization_details=authorization)
    response = post(standins, client_assertion=signed, dpop=proof(dpop_key, token_url(standins), nonce=nonce))
    refused(response, "invalid_authorization_details")


# --- the resource side ------------------------------------------------------------------------

RESOURCE = "https://jft.example.test/api/journalnotater"


@pytest.fixture
def bound(standins, dpop_key, nonce):
    """(token, its DPoP key) from the stand-in."""
    response = post(
        standins, client_assertion=assertion(standins), dpop=proof(dpop_key, token_url(standins), nonce=nonce)
    )
    return response.json()["access_token"], dpop_key


def resource_headers(token, key, *, url=RESOURCE, htm="POST", ath=None, nonce=None):
    return {"Authorization": f"DPoP {token}",
            "DPoP": proof(key, url, htm=htm, ath=ath or b64url_sha256(token), nonce=nonce)}  # fmt: skip


def verify(standins, headers, *, method="POST", scope="nhn:jft/api", **kwargs):
    return verify_dpop_request(headers, method, RESOURCE, issuer_jwks=standins.issuer_jwks(), required_scope=scope,
                               issuer=standins.helseid_issuer, replay=ReplayCache(), **kwargs)  # fmt: skip


def test_the_resource_side_accepts_a_bound_token_with_its_proof(standins, bound):
    token, key = bound
    claims = verify(standins, resource_headers(token, key))
    assert claims[ORGNR_PARENT_CLAIM] == ORGNR


def refusal(standins, headers, error, status=401, **kwargs):
    with pytest.raises(DPoPRequestRefused) as caught:
        verify(standins, headers, **kwargs)
    assert (caught.value.error, caught.value.status) == (error, status)
    assert caught.value.headers["WWW-Authenticate"].startswith(f'DPoP error="{error}"')
    return caught.value


def test_the_resource_side_refuses_a_token_used_with_another_dpop_key(standins, bound):
    token, _ = bound
    refusal(standins, resource_headers(token, Jwk.generate(alg="ES256")), "invalid_dpop_proof")


def test_the_resource_side_refuses_a_wrong_ath(standins, bound):
    token, key = bound
    refusal(standins, resource_headers(token, key, ath=b64url_sha256("another token")), "invalid_dpop_proof")


def test_the_resource_side_refuses_an_expired_or_forged_token(standins, bound):
    token, key = bound
    claims = Jwt(token).claims | {"iat": int(time.time()) - 700, "nbf": int(time.time()) - 700,
                                  "exp": int(time.time()) - 100}  # fmt: skip
    from joserfc.jwk import RSAKey

    signing = RSAKey.import_key(json.loads(standins.signing_key_file.read_text()))
    expired = sign_access_token(signing, claims)
    assert "utløpt" in refusal(standins, resource_headers(expired, key), "invalid_token").description
    forger = RSAKey.generate_key(2048, parameters={"kid": signing.kid})
    forged = sign_access_token(forger, Jwt(token).claims)
    refusal(standins, resource_headers(forged, key), "invalid_token")
    refusal(standins, {"Authorization": f"Bearer {token}", "DPoP": resource_headers(token, key)["DPoP"]},
            "invalid_token")  # fmt: skip


def test_the_resource_side_refuses_a_token_for_another_api_or_not_an_access_token(standins, bound):
    """Signed by the issuer, bound to the key, with the scope: still refused when its `aud` is another
    API's, or its `typ` is not `at+jwt` (RFC 9068: an ID token or another JWT of the issuer's)."""
    token, key = bound
    from joserfc.jwk import RSAKey

    signing = RSAKey.import_key(json.loads(standins.signing_key_file.read_text()))
    other_api = sign_access_token(signing, Jwt(token).claims | {"aud": ["nhn:kjernejournal"]})
    assert "aud" in refusal(standins, resource_headers(other_api, key), "invalid_token").description
    as_jwt = jose_jwt.encode({"alg": "RS256", "kid": signing.kid, "typ": "JWT"}, Jwt(token).claims, signing,
                             algorithms=["RS256"])  # fmt: skip
    assert "at+jwt" in refusal(standins, resource_headers(as_jwt, key), "invalid_token").description
    assert verify(standins, resource_headers(sign_access_token(signing, Jwt(token).claims), key))


def test_the_resource_side_refuses_a_second_dpop_or_authorization_header(standins, bound):
    """RFC 9449 §4.3: one DPoP header. The request's own headers are given, so a second is not lost
    in a dict (where the last one would be checked alone)."""
    from email.message import Message

    token, key = bound
    for name, error in (("DPoP", "invalid_dpop_proof"), ("Authorization", "invalid_request")):
        headers = Message()
        for header, value in resource_headers(token, key).items():
            headers[header] = value
        headers[name] = resource_headers(token, key)[name]
        refusal(standins, headers, error)


def test_the_resource_side_refuses_the_wrong_method_url_scope_or_a_replay(standins, bound):
    token, key = bound
    refusal(standins, resource_headers(token, key, htm="GET"), "invalid_dpop_proof")
    refusal(standins, resource_headers(token, key, url=RESOURCE + "/other"), "invalid_dpop_proof")
    refusal(standins, resource_headers(token, key), "insufficient_scope", status=403, scope="nhn:jft/other")
    refusal(standins, resource_headers(token, key), "invalid_token", scope="nhn:kjernejournal/api")  # its aud
    headers, replay = resource_headers(token, key), ReplayCache()
    kwargs = {"issuer_jwks": standins.issuer_jwks(), "required_scope": "nhn:jft/api", "replay": replay}
    verify_dpop_request(headers, "POST", RESOURCE, **kwargs)
    with pytest.raises(DPoPRequestRefused) as caught:
        verify_dpop_request(headers, "POST", RESOURCE, **kwargs)
    assert caught.value.error == "invalid_dpop_proof"


def test_the_resource_side_asks_for_its_nonce(standins, bound):
    token, key = bound
    nonces = NonceStore()
    asked = refusal(standins, resource_headers(token, key), "use_dpop_nonce", nonces=nonces)
    assert asked.headers["DPoP-Nonce"]
    verify(standins, resource_headers(token, key, nonce=asked.headers["DPoP-Nonce"]), nonces=nonces)


# --- user login: PAR, the picker, the code, logout --------------------------------------------

DEMO = "dho-demo-maskin"
CALLBACK = "http://127.0.0.1:8000/innlogging/helseid/callback/"
LOGIN_SCOPES = ("openid profile helseid://scopes/identity/pid helseid://scopes/identity/security_level "
                "helseid://scopes/identity/assurance_level helseid://scopes/hpr/hpr_number")  # fmt: skip
ERIK = "23866121036"  # dho/demo_persons.py: level 4, HPR number
LISE = "05898321020"  # level 4, no HPR number
ANDERS = "28847521033"  # level 3
TRANSACTION = re.compile(r'name="transaction" value="([^"]+)"')


def login_assertion(env, **overrides):
    """A client assertion for the login endpoints: no organisation unless a test names one."""
    return assertion(env, **{"authorization_details": None, **overrides})


def pkce():
    verifier = secrets.token_urlsafe(48)
    return verifier, b64url_sha256(verifier)


def issuer_url(env, path):
    return f"{env.helseid_issuer}{path}"


def par(env, *, client_id=DEMO, client_assertion=None, dpop=None, **params):
    """POST /connect/par with a well-formed request, `params` overriding (None drops one)."""
    form = {"client_assertion_type": ASSERTION_TYPE, "client_id": client_id, "response_type": "code",
            "redirect_uri": CALLBACK, "scope": LOGIN_SCOPES, "state": secrets.token_urlsafe(16),
            "nonce": secrets.token_urlsafe(16), "code_challenge": pkce()[1], "code_challenge_method": "S256",
            "client_assertion": client_assertion or login_assertion(env, client_id=client_id or DEMO)}  # fmt: skip
    form.update(params)
    form = {k: v for k, v in form.items() if v is not None}
    headers = {"DPoP": dpop} if dpop else {}
    return requests.post(issuer_url(env, "/connect/par"), data=form, headers=headers, verify=str(env.ca_file),
                         timeout=10)  # fmt: skip


def authorize(env, params):
    return requests.get(issuer_url(env, "/connect/authorize"), params=params, allow_redirects=False,
                        verify=str(env.ca_file), timeout=10)  # fmt: skip


def picker(env, request_uri, client_id=DEMO):
    page = authorize(env, {"client_id": client_id, "request_uri": request_uri})
    assert page.status_code == 200, page.text
    return page


def choose(env, page, **form):
    """Submits the picker's form as a browser would: its hidden transaction and the button pressed."""
    data = {"transaction": TRANSACTION.search(page.text).group(1), **form}
    return requests.post(issuer_url(env, "/connect/authorize"), data=data, allow_redirects=False,
                         verify=str(env.ca_file), timeout=10)  # fmt: skip


def front_channel(env, pid=ERIK, **par_params):
    """PAR → the picker → a person chosen: the callback's parameters, with what the client kept."""
    verifier, challenge = pkce()
    state, nonce = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
    pushed = par(env, state=state, nonce=nonce, code_challenge=challenge, **par_params)
    assert pushed.status_code == 201, pushed.text
    redirect = choose(env, picker(env, pushed.json()["request_uri"]), pid=pid)
    assert redirect.status_code == 302, redirect.text
    location = urlsplit(redirect.headers["Location"])
    callback = dict(parse_qsl(location.query))
    assert callback["state"] == state and callback["iss"] == env.helseid_issuer
    return {"code": callback["code"], "verifier": verifier, "nonce": nonce, "location": location}


def exchange(env, code, verifier, *, redirect_uri=CALLBACK, client_assertion=None, dpop=None, **extra):
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri,
            "code_verifier": verifier, "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": client_assertion or login_assertion(env)}  # fmt: skip
    form.update(extra)
    form = {k: v for k, v in form.items() if v is not None}
    headers = {"DPoP": dpop} if dpop else {}
    return requests.post(token_url(env), data=form, headers=headers, verify=str(env.ca_file), timeout=10)


def published_keys(env):
    return requests.get(issuer_url(env, "/.well-known/openid-configuration/jwks"), verify=str(env.ca_file),
                        timeout=10).json()["keys"]  # fmt: skip


def verified_id_token(env, id_token):
    """The ID token's claims, its signature checked as a client does: the key its `kid` names, from
    the JWKS."""
    token = Jwt(id_token)
    key = next(k for k in published_keys(env) if k["kid"] == token.headers["kid"])
    assert token.headers["alg"] == "RS256"
    assert token.verify_signature(Jwk(key), alg="RS256")
    return token.claims


def stats(env):
    return requests.get(issuer_url(env, "/_standin/requests"), verify=str(env.ca_file), timeout=10).json()


def page_error(response):
    """The error code on the stand-in's own error page (it redirects nowhere it cannot trust)."""
    assert response.status_code == 400, response.text
    assert "Location" not in response.headers
    return re.search(r'data-error="([^"]+)"', response.text).group(1)


def test_discovery_publishes_the_login_endpoints(standins):
    document = requests.get(issuer_url(standins, "/.well-known/openid-configuration"),
                            verify=str(standins.ca_file), timeout=10).json()  # fmt: skip
    issuer = standins.helseid_issuer
    assert document["authorization_endpoint"] == f"{issuer}/connect/authorize"
    assert document["pushed_authorization_request_endpoint"] == f"{issuer}/connect/par"
    assert document["require_pushed_authorization_requests"] is True
    assert document["end_session_endpoint"] == f"{issuer}/connect/endsession"
    assert document["jwks_uri"] == f"{issuer}/.well-known/openid-configuration/jwks"
    assert document["code_challenge_methods_supported"] == ["S256"]
    assert document["id_token_signing_alg_values_supported"] == ["RS256"]
    assert document["authorization_response_iss_parameter_supported"] is True
    assert set(document["acr_values_supported"]) == {"Level3", "Level4"}
    assert {"openid", "helseid://scopes/identity/pid", "helseid://scopes/hpr/hpr_number"} <= set(
        document["scopes_supported"]
    )
    assert {"helseid://claims/identity/pid", "helseid://claims/identity/security_level", "sub", "nonce"} <= set(
        document["claims_supported"]
    )


def test_a_whole_login_gives_a_verifiable_id_token_with_the_persons_claims(standins):
    verifier, challenge = pkce()
    pushed = par(standins, state="tilstand-1", nonce="nonce-1", code_challenge=challenge)
    assert pushed.status_code == 201, pushed.text
    assert pushed.json()["request_uri"].startswith("urn:ietf:params:oauth:request_uri:")
    assert pushed.json()["expires_in"] == 60
    page = picker(standins, pushed.json()["request_uri"])
    assert "Velg testperson" in page.text and "Erik Berg" in page.text and "Tora Testesen" in page.text
    assert "<script" not in page.text and "style" not in page.text
    assert "default-src 'none'" in page.headers["Content-Security-Policy"]
    redirect = choose(standins, page, pid=ERIK)
    assert redirect.status_code == 302
    location = urlsplit(redirect.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == CALLBACK
    callback = dict(parse_qsl(location.query))
    assert callback["state"] == "tilstand-1" and callback["iss"] == standins.helseid_issuer
    before = int(time.time())
    response = exchange(standins, callback["code"], verifier)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["token_type"] == "Bearer" and answer["expires_in"] == 600 and answer["access_token"]
    claims = verified_id_token(standins, answer["id_token"])
    assert claims["iss"] == standins.helseid_issuer and claims["aud"] == DEMO
    assert claims["nonce"] == "nonce-1"
    assert before - 5 <= claims["iat"] <= claims["auth_time"] + 5 and claims["exp"] > time.time()
    assert claims["helseid://claims/identity/pid"] == ERIK
    assert claims["helseid://claims/identity/security_level"] == "4"
    assert claims["helseid://claims/identity/assurance_level"] == "high"
    assert claims["helseid://claims/hpr/hpr_number"] == "9144891"
    assert (claims["name"], claims["given_name"], claims["family_name"]) == ("Erik Berg", "Erik", "Berg")
    assert claims["acr"] == "Level4" and claims["sid"]
    # `sub` is the person's, the same at every login, and another person's is another.
    second = front_channel(standins, ERIK)
    second_claims = verified_id_token(
        standins, exchange(standins, second["code"], second["verifier"]).json()["id_token"]
    )
    assert second_claims["sub"] == claims["sub"] and second_claims["sid"] != claims["sid"]
    other = front_channel(standins, LISE)
    other_claims = verified_id_token(standins, exchange(standins, other["code"], other["verifier"]).json()["id_token"])
    assert other_claims["sub"] != claims["sub"]


def test_the_id_token_carries_the_claims_its_scopes_release_and_hpr_only_for_who_has_one(standins):
    bare = front_channel(standins, ERIK, scope="openid")
    claims = verified_id_token(standins, exchange(standins, bare["code"], bare["verifier"]).json()["id_token"])
    assert claims["sub"] and claims["nonce"] == bare["nonce"]
    assert not {"helseid://claims/identity/pid", "name", "helseid://claims/hpr/hpr_number"} & set(claims)
    lise = front_channel(standins, LISE)
    claims = verified_id_token(standins, exchange(standins, lise["code"], lise["verifier"]).json()["id_token"])
    assert claims["helseid://claims/identity/pid"] == LISE
    assert "helseid://claims/hpr/hpr_number" not in claims
    level3 = front_channel(standins, ANDERS)
    claims = verified_id_token(standins, exchange(standins, level3["code"], level3["verifier"]).json()["id_token"])
    assert claims["helseid://claims/identity/security_level"] == "3" and claims["acr"] == "Level3"
    assert claims["helseid://claims/identity/assurance_level"] == "substantial"


def test_acr_values_level4_leaves_level3_persons_out(standins):
    pushed = par(standins, acr_values="Level4")
    page = picker(standins, pushed.json()["request_uri"])
    assert f'name="pid" value="{ERIK}"' in page.text and f'name="pid" value="{ANDERS}"' not in page.text
    assert "Anders Moen" in page.text and "krever nivå 4" in page.text
    assert page_error(choose(standins, page, pid=ANDERS)) == "invalid_request"
    # The form refused for the person is still good for another.
    assert choose(standins, page, pid=ERIK).status_code == 302
    assert par(standins, acr_values="Level9").json()["error"] == "invalid_request"


def test_someone_at_level_3_gets_through_a_level_4_request_only_by_their_own_button(standins):
    # HelseID may let a person in at level 3 (MinID) although the client asked for Level4: the picker's
    # «… likevel» button does that, and the ID token says level 3, validly signed. The client must refuse.
    verifier, challenge = pkce()
    pushed = par(standins, acr_values="Level4", code_challenge=challenge)
    page = picker(standins, pushed.json()["request_uri"])
    assert f'name="below_level" value="{ANDERS}"' in page.text
    assert "Logg inn som Anders Moen på nivå 3 likevel" in page.text
    assert f'name="below_level" value="{ERIK}"' not in page.text  # only those under the level
    assert page_error(choose(standins, page, below_level=ERIK)) == "invalid_request"
    assert page_error(choose(standins, page, below_level=ANDERS, pid=ANDERS)) == "invalid_request"
    assert page_error(choose(standins, page, below_level="00000000000")) == "invalid_request"
    before = stats(standins).get("logins_below_level", 0)
    redirect = choose(standins, page, below_level=ANDERS)
    assert redirect.status_code == 302, redirect.text
    code = dict(parse_qsl(urlsplit(redirect.headers["Location"]).query))["code"]
    claims = verified_id_token(standins, exchange(standins, code, verifier).json()["id_token"])
    assert claims["helseid://claims/identity/security_level"] == "3" and claims["acr"] == "Level3"
    assert claims["helseid://claims/identity/pid"] == ANDERS
    assert stats(standins)["logins_below_level"] == before + 1


def test_cancel_and_prompt_none_go_back_to_the_client_with_the_error(standins):
    pushed = par(standins, state="s-avbryt")
    redirect = choose(standins, picker(standins, pushed.json()["request_uri"]), cancel="1")
    assert redirect.status_code == 302
    callback = dict(parse_qsl(urlsplit(redirect.headers["Location"]).query))
    assert callback["error"] == "access_denied" and callback["state"] == "s-avbryt" and "code" not in callback
    assert callback["iss"] == standins.helseid_issuer
    silent = par(standins, prompt="none")
    redirect = authorize(standins, {"client_id": DEMO, "request_uri": silent.json()["request_uri"]})
    assert dict(parse_qsl(urlsplit(redirect.headers["Location"]).query))["error"] == "login_required"


def test_the_authorization_endpoint_takes_only_a_pushed_request(standins):
    challenge = pkce()[1]
    raw = {"client_id": DEMO, "response_type": "code", "redirect_uri": CALLBACK, "scope": "openid",
           "state": "s", "nonce": "n", "code_challenge": challenge, "code_challenge_method": "S256"}  # fmt: skip
    assert page_error(authorize(standins, raw)) == "invalid_request"
    pushed = par(standins).json()["request_uri"]
    assert page_error(authorize(standins, {"client_id": DEMO, "request_uri": pushed, "scope": "openid"})) == (
        "invalid_request"
    )
    assert page_error(authorize(standins, {"client_id": DEMO})) == "invalid_request"
    # The request_uri was not spent by the refusals: it still works, once.
    picker(standins, pushed)
    assert page_error(authorize(standins, {"client_id": DEMO, "request_uri": pushed})) == "invalid_request_uri"
    made_up = "urn:ietf:params:oauth:request_uri:" + secrets.token_urlsafe(32)
    assert page_error(authorize(standins, {"client_id": DEMO, "request_uri": made_up})) == "invalid_request_uri"
    # Another client's request_uri is not this one's.
    theirs = par(standins).json()["request_uri"]
    assert page_error(authorize(standins, {"client_id": "dho-test-login", "request_uri": theirs})) == (
        "invalid_request_uri"
    )
    assert page_error(authorize(standins, {"client_id": "nobody", "request_uri": theirs})) == "unauthorized_client"


def test_the_pickers_form_takes_a_known_person_once(standins):
    page = picker(standins, par(standins).json()["request_uri"])
    assert page_error(choose(standins, page, pid="00000000000")) == "invalid_request"
    assert page_error(choose(standins, page)) == "invalid_request"  # no button pressed
    assert choose(standins, page, pid=ERIK).status_code == 302
    assert page_error(choose(standins, page, pid=ERIK)) == "invalid_request"
    assert page_error(choose(standins, page, cancel="1")) == "invalid_request"


@pytest.mark.parametrize(
    "params, error",
    [
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"code_challenge_method": None}, "invalid_request"),  # RFC 7636's default is plain: refused
        ({"code_challenge": None}, "invalid_request"),
        ({"code_challenge": "kort"}, "invalid_request"),
        ({"redirect_uri": "http://127.0.0.1:8000/annen/sti/"}, "invalid_request"),
        ({"redirect_uri": "https://angriper.example/innlogging/helseid/callback/"}, "invalid_request"),
        ({"redirect_uri": None}, "invalid_request"),
        ({"state": None}, "invalid_request"),
        ({"nonce": None}, "invalid_request"),
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"response_mode": "fragment"}, "invalid_request"),
        ({"scope": "profile"}, "invalid_scope"),
        ({"scope": "openid nhn:kjernejournal/api"}, "invalid_scope"),
        ({"prompt": "none login"}, "invalid_request"),
        ({"request": "eyJ.eyJ.sig"}, "request_not_supported"),
        ({"request_uri": "urn:ietf:params:oauth:request_uri:x"}, "invalid_request"),
        ({"client_id": None}, "invalid_request"),
        ({"authorization_details": json.dumps([details("974600951")])}, "invalid_authorization_details"),
        ({"authorization_details": "ikke json"}, "invalid_authorization_details"),
    ],
    ids=[
        "plain-pkce",
        "no-method",
        "no-challenge",
        "short-challenge",
        "unregistered-path",
        "foreign-host",
        "no-redirect",
        "no-state",
        "no-nonce",
        "implicit",
        "fragment",
        "no-openid",
        "unknown-scope",
        "prompt-none-and-more",
        "request-object",
        "request-uri-to-par",
        "no-client-id",
        "not-delegated",
        "details-not-json",
    ],
)
def test_par_refuses(standins, params, error):
    response = par(standins, **params)
    assert response.status_code == 400, response.text
    assert response.json()["error"] == error, response.json()
    assert "request_uri" not in response.json()


def test_par_authenticates_the_client_strictly(standins):
    stale = login_assertion(standins, iat=int(time.time()) - 200, lifetime=100)
    assert par(standins, client_assertion=stale).json()["error"] == "invalid_client"
    signed = login_assertion(standins)
    assert par(standins, client_assertion=signed).status_code == 201
    assert par(standins, client_assertion=signed).json()["error"] == "invalid_client"  # replayed jti
    nobody = login_assertion(standins, iss="nobody", sub="nobody", key=client_key(standins))
    assert par(standins, client_id="nobody", client_assertion=nobody).json()["error"] == "invalid_client"
    token_aud = login_assertion(standins, aud=token_url(standins))
    assert par(standins, client_assertion=token_aud).json()["error"] == "invalid_client"
    no_type = par(standins, client_assertion_type=None)
    assert no_type.json()["error"] == "invalid_client"
    # A machine client, registered with no redirect URI, does not log users in.
    rsa_key = Jwk({**client_key(standins, "dho-test-rsa"), "alg": "RS256"})
    machine = assertion(standins, rsa_key, client_id="dho-test-rsa", authorization_details=None)
    rsa = par(standins, client_id="dho-test-rsa", client_assertion=machine)
    assert rsa.json()["error"] == "unauthorized_client"


def _malformed(change):
    """A well-formed `helseid_authorization` for the delegated kommune, `change`d in place."""
    entry = details()
    change(entry)
    return entry


def _organization(entry):
    return entry["practitioner_role"]["organization"]


def _identifier(entry):
    return _organization(entry)["identifier"]


def _misspelt_identifier(entry):
    _organization(entry)["identify"] = _organization(entry).pop("identifier")


def _listed(change):
    return json.dumps([_malformed(change)])


MALFORMED_DETAILS = {
    "an-object-not-a-list": json.dumps(details()),
    "an-empty-list": "[]",
    "two-entries": json.dumps([details(), details()]),
    "a-string": json.dumps("helseid_authorization"),
    "type-misspelt": _listed(lambda d: d.update(type="helseid_autorization")),
    "unknown-member": _listed(lambda d: d.update(locations=["https://jft.example"])),
    "role-a-string": _listed(lambda d: d.update(practitioner_role="312229544")),
    "organization-a-list": _listed(lambda d: d["practitioner_role"].update(organization=[])),
    "identify-for-identifier": _listed(_misspelt_identifier),
    "no-system": _listed(lambda d: _identifier(d).pop("system")),
    "value-a-number": _listed(lambda d: _identifier(d).update(value=312229544)),
    "type-not-enh": _listed(lambda d: _identifier(d).update(type="HER")),
    "system-of-a-single-tenant": json.dumps([details(system="urn:oid:2.16.578.1.12.4.1.4.101")]),
    "bare-number": json.dumps([details(value="312229544")]),
    "eight-digits": json.dumps([details(value="NO:ORGNR:31222954")]),
    "child-without-parent": json.dumps([details(value="NO:ORGNR::974600951")]),
    "repeated-member": '[{"type":"helseid_authorization","type":"helseid_authorization","practitioner_role":'
    + json.dumps(details()["practitioner_role"])
    + "}]",
}


@pytest.mark.parametrize("authorization_details", MALFORMED_DETAILS.values(), ids=MALFORMED_DETAILS.keys())
def test_par_refuses_a_malformed_helseid_authorization(standins, authorization_details):
    # NHN's structure («Bruk av organisasjonsnumre», docs/helseid.md), as RFC 9396 carries it at PAR:
    # a JSON array with the one object, objects all the way down, no member NHN does not define.
    response = par(standins, authorization_details=authorization_details)
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_authorization_details", response.json()
    well_formed = par(standins, authorization_details=json.dumps([details()]))
    assert well_formed.status_code == 201, well_formed.text


@pytest.mark.parametrize(
    "authorization",
    [
        _malformed(lambda d: d.update(practitioner_role="312229544")),
        _malformed(lambda d: _identifier(d).update(extra="x")),
        _malformed(lambda d: _identifier(d).update(value=None)),
    ],
    ids=["role-a-string", "unknown-identifier-member", "value-null"],
)
def test_the_token_endpoint_refuses_a_malformed_helseid_authorization_in_the_assertion(
    standins, dpop_key, nonce, authorization
):
    signed = assertion(standins, authorization_details=authorization)
    response = post(standins, client_assertion=signed, dpop=proof(dpop_key, token_url(standins), nonce=nonce))
    refused(response, "invalid_authorization_details")


def test_par_takes_a_delegated_organisation_into_the_access_token(standins):
    login = front_channel(
        standins, ERIK, authorization_details=json.dumps([details(value=f"NO:ORGNR:{ORGNR}:974600951")])
    )
    access = Jwt(exchange(standins, login["code"], login["verifier"]).json()["access_token"]).claims
    assert access[ORGNR_PARENT_CLAIM] == ORGNR
    assert access["helseid://claims/client/claims/orgnr_child"] == "974600951"
    assert access["helseid://claims/identity/pid"] == ERIK and access["client_id"] == DEMO


def test_a_loopback_redirect_uri_may_take_any_port_for_a_test_client_only(standins):
    # The demo client is registered with loopback_any_port in the tests (tests/conftest.py).
    live = "http://localhost:51234/innlogging/helseid/callback/"
    login = front_channel(standins, ERIK, redirect_uri=live)
    assert login["location"].netloc == "localhost:51234"
    assert exchange(standins, login["code"], login["verifier"], redirect_uri=live).status_code == 200
    assert par(standins, redirect_uri="http://localhost:51234/innlogging/helseid/annet/").status_code == 400
    assert par(standins, redirect_uri="https://localhost:51234/innlogging/helseid/callback/").status_code == 400
    # Exact match, port and all, where the registration says nothing of loopback ports.
    registered = ["http://127.0.0.1:8000/cb/"]
    assert redirect_uri_allowed("http://127.0.0.1:8000/cb/", registered, loopback_any_port=False)
    assert not redirect_uri_allowed("http://127.0.0.1:8001/cb/", registered, loopback_any_port=False)
    assert redirect_uri_allowed("http://127.0.0.1:8001/cb/", registered, loopback_any_port=True)
    assert not redirect_uri_allowed("http://localhost:8001/cb/", registered, loopback_any_port=True)
    assert not redirect_uri_allowed("http://127.0.0.1:8001/cb/?x=1", registered, loopback_any_port=True)


# --- the code at the token endpoint -----------------------------------------------------------


def test_the_code_needs_its_verifier(standins):
    login = front_channel(standins)
    wrong = exchange(standins, login["code"], pkce()[0])
    assert wrong.json()["error"] == "invalid_grant" and "id_token" not in wrong.json()
    # A code tried with a wrong verifier is spent: the right one is too late.
    assert exchange(standins, login["code"], login["verifier"]).json()["error"] == "invalid_grant"
    login = front_channel(standins)
    assert exchange(standins, login["code"], None).json()["error"] == "invalid_grant"
    login = front_channel(standins)
    assert exchange(standins, login["code"], "för-kort").json()["error"] == "invalid_grant"


def test_the_code_is_bound_to_its_redirect_uri_and_client(standins):
    login = front_channel(standins)
    other_registered = "http://localhost:8000/innlogging/helseid/callback/"
    assert exchange(standins, login["code"], login["verifier"], redirect_uri=other_registered).json()["error"] == (
        "invalid_grant"
    )
    login = front_channel(standins)
    assert exchange(standins, login["code"], login["verifier"], redirect_uri=None).json()["error"] == "invalid_grant"
    login = front_channel(standins)
    theirs = assertion(standins, client_id="dho-test-login", authorization_details=None)
    response = exchange(standins, login["code"], login["verifier"], client_assertion=theirs)
    assert response.json()["error"] == "invalid_grant"
    assert exchange(standins, "en-kode-som-aldri-ble-gitt", login["verifier"]).json()["error"] == "invalid_grant"


def test_a_stale_or_replayed_assertion_leaves_the_code_unspent(standins):
    login = front_channel(standins)
    stale = login_assertion(standins, iat=int(time.time()) - 200, lifetime=100)
    assert exchange(standins, login["code"], login["verifier"], client_assertion=stale).json()["error"] == (
        "invalid_client"
    )
    signed = login_assertion(standins)
    par(standins, client_assertion=signed)  # used once at PAR
    assert exchange(standins, login["code"], login["verifier"], client_assertion=signed).json()["error"] == (
        "invalid_client"
    )
    assert exchange(standins, login["code"], login["verifier"]).status_code == 200


def test_a_code_used_twice_is_refused_and_its_token_revoked(standins, dpop_key, nonce):
    login = front_channel(standins, scope=f"{LOGIN_SCOPES} nhn:jft/api", dpop_jkt=dpop_key.thumbprint())
    first = exchange(standins, login["code"], login["verifier"], dpop=proof(dpop_key, token_url(standins), nonce=nonce))
    assert first.status_code == 200, first.text
    token = first.json()["access_token"]
    assert first.json()["token_type"] == "DPoP" and Jwt(token).claims["cnf"] == {"jkt": dpop_key.thumbprint()}
    assert use_resource(standins, token, dpop_key).status_code == 200
    again = exchange(standins, login["code"], login["verifier"], dpop=proof(dpop_key, token_url(standins), nonce=nonce))
    assert again.json()["error"] == "invalid_grant" and "trukket tilbake" in again.json()["error_description"]
    refused_use = use_resource(standins, token, dpop_key)
    assert refused_use.status_code == 401 and refused_use.json()["error"] == "invalid_token"


def use_resource(env, token, key):
    """GET the stand-in's DPoP-protected demo resource, with its nonce round."""
    url = issuer_url(env, "/_standin/resource")

    def attempt(nonce=None):
        headers = {"Authorization": f"DPoP {token}",
                   "DPoP": proof(key, url, htm="GET", ath=b64url_sha256(token), nonce=nonce)}  # fmt: skip
        return requests.get(url, headers=headers, verify=str(env.ca_file), timeout=10)

    response = attempt()
    if response.status_code == 401 and response.headers.get("DPoP-Nonce"):
        response = attempt(response.headers["DPoP-Nonce"])
    return response


def test_a_code_bound_to_a_dpop_key_needs_a_proof_with_it(standins, dpop_key, nonce):
    # The nonce round does not spend the code: the client is told, signs again, and gets its tokens.
    login = front_channel(standins, dpop_jkt=dpop_key.thumbprint())
    told = exchange(standins, login["code"], login["verifier"], dpop=proof(dpop_key, token_url(standins)))
    assert told.json()["error"] == "use_dpop_nonce"
    with_nonce = proof(dpop_key, token_url(standins), nonce=told.headers["DPoP-Nonce"])
    assert exchange(standins, login["code"], login["verifier"], dpop=with_nonce).status_code == 200
    login = front_channel(standins, dpop_jkt=dpop_key.thumbprint())
    assert exchange(standins, login["code"], login["verifier"]).json()["error"] == "invalid_dpop_proof"
    login = front_channel(standins, dpop_jkt=dpop_key.thumbprint())
    another = Jwk.generate(alg="ES256")
    response = exchange(
        standins, login["code"], login["verifier"], dpop=proof(another, token_url(standins), nonce=nonce)
    )
    assert response.json()["error"] == "invalid_dpop_proof"


def test_request_uris_and_codes_expire(standins):
    """In the process (a minute's wait is too long for a test): the same stand-in, short lifetimes."""
    config = json.loads((standins.directory / "helseid-registry.json").read_text())
    local = standin_from_config(config, standins.helseid_issuer)
    local.pushed, local.codes = OneUse(0.3, "urn:ietf:params:oauth:request_uri:"), OneUse(0.3)

    def pushed(challenge):
        form = {"client_assertion_type": [ASSERTION_TYPE], "client_assertion": [login_assertion(standins)],
                "client_id": [DEMO], "response_type": ["code"], "redirect_uri": [CALLBACK], "scope": ["openid"],
                "state": ["s"], "nonce": ["n"], "code_challenge": [challenge],
                "code_challenge_method": ["S256"]}  # fmt: skip
        return local.par(form, {})["request_uri"]

    late = pushed(pkce()[1])
    time.sleep(0.4)
    with pytest.raises(PageRefusal) as caught:
        local.authorize(urlencode({"client_id": DEMO, "request_uri": late}))
    assert caught.value.error == "invalid_request_uri" and "utløpt" in caught.value.description
    verifier, challenge = pkce()
    page = local.authorize(urlencode({"client_id": DEMO, "request_uri": pushed(challenge)}))
    answer = local.choose({"transaction": [TRANSACTION.search(page.body).group(1)], "pid": [ERIK]})
    code = dict(parse_qsl(urlsplit(answer.location).query))["code"]
    time.sleep(0.4)
    form = {"grant_type": ["authorization_code"], "code": [code], "redirect_uri": [CALLBACK],
            "code_verifier": [verifier], "client_assertion_type": [ASSERTION_TYPE],
            "client_assertion": [login_assertion(standins)]}  # fmt: skip
    with pytest.raises(OAuthRefusal) as refused_late:
        local.token(form, {})
    assert (refused_late.value.error, refused_late.value.description) == ("invalid_grant", "koden er utløpt")


# --- keys, logout -----------------------------------------------------------------------------


def test_a_rotated_key_signs_and_is_published(standins):
    def keys(**body):
        response = requests.post(issuer_url(standins, "/_standin/keys"), json=body, verify=str(standins.ca_file),
                                 timeout=10)  # fmt: skip
        assert response.status_code == 200, response.text
        return response.json()

    first, following = (k["kid"] for k in standins.issuer_jwks()["keys"])
    try:
        assert keys(sign_with="next") == {"signing": following, "published": [first, following]}
        assert [k["kid"] for k in published_keys(standins)] == [first, following]
        login = front_channel(standins)
        id_token = exchange(standins, login["code"], login["verifier"]).json()["id_token"]
        assert Jwt(id_token).headers["kid"] == following
        assert verified_id_token(standins, id_token)["nonce"] == login["nonce"]
        # Signing with a key not (yet) published: what a client must refuse to trust.
        assert keys(sign_with="next", publish_next=False)["published"] == [first]
        login = front_channel(standins)
        id_token = exchange(standins, login["code"], login["verifier"]).json()["id_token"]
        assert Jwt(id_token).headers["kid"] not in [k["kid"] for k in published_keys(standins)]
    finally:
        assert keys(sign_with="first") == {"signing": first, "published": [first]}


def logged_in(env):
    login = front_channel(env)
    return exchange(env, login["code"], login["verifier"]).json()["id_token"]


def end_session(env, **params):
    return requests.get(issuer_url(env, "/connect/endsession"), params=params, allow_redirects=False,
                        verify=str(env.ca_file), timeout=10)  # fmt: skip


def test_logout_returns_to_the_clients_registered_uri(standins):
    hint = logged_in(standins)
    response = end_session(standins, id_token_hint=hint, post_logout_redirect_uri="http://127.0.0.1:8000/",
                           state="ut-1")  # fmt: skip
    assert response.status_code == 302
    assert response.headers["Location"] == "http://127.0.0.1:8000/?state=ut-1"
    assert end_session(standins, id_token_hint=hint).status_code == 200  # no URI: the «logged out» page
    assert "logget ut" in end_session(standins).text


def test_logout_refuses_a_foreign_hint_or_an_unregistered_uri(standins):
    hint = logged_in(standins)
    # Signed by another key under this issuer's kid: not this issuer's token.
    signing = RSAKey.import_key(json.loads(standins.signing_key_file.read_text()))
    forger = RSAKey.generate_key(2048, parameters={"kid": signing.kid})
    forged = jose_jwt.encode({"alg": "RS256", "kid": signing.kid}, Jwt(hint).claims, forger, algorithms=["RS256"])
    assert page_error(
        end_session(standins, id_token_hint=forged, post_logout_redirect_uri="http://127.0.0.1:8000/")
    ) == ("invalid_request")
    # This issuer's hint for the demo client, and another client's post-logout URI.
    other = "https://annen-tjeneste.example.test/"
    assert page_error(end_session(standins, id_token_hint=hint, post_logout_redirect_uri=other)) == "invalid_request"
    assert page_error(
        end_session(standins, id_token_hint=hint, post_logout_redirect_uri="http://127.0.0.1:8000/x")
    ) == ("invalid_request")
    assert page_error(end_session(standins, id_token_hint=hint, client_id="dho-test-login")) == "invalid_request"
    assert page_error(end_session(standins, post_logout_redirect_uri="http://127.0.0.1:8000/")) == "invalid_request"
    assert page_error(end_session(standins, id_token_hint="ikke-en-jwt")) == "invalid_request"
