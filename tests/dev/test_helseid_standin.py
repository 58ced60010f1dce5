"""The HelseID stand-in refuses what HelseID refuses, each with the exact OAuth error code, over real
HTTPS to its own process (the `standins` fixture, tests/conftest.py). Requests are made by hand here
(signed with jwskate, the client's library; the stand-in verifies with joserfc) so that every claim
can be got wrong on purpose. And `verify_dpop_request`, the resource side, refuses a token used
with another key, a wrong `ath`, an expired or forged token."""

import json
import time
import uuid

import pytest
import requests
from jwskate import Jwk, Jwt

from dho.dev.helseid import (
    ORGNR_PARENT_CLAIM,
    DPoPRequestRefused,
    NonceStore,
    ReplayCache,
    b64url_sha256,
    sign_access_token,
    verify_dpop_request,
)
from tests.conftest import STANDIN_TWO_KOMMUNER

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
    assert [k["kid"] for k in jwks["keys"]] == [k["kid"] for k in standins.issuer_jwks()["keys"]]
    assert not {"d", "p", "q"} & set(jwks["keys"][0])


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
    refused(post(standins, client_assertion=assertion(standins), dpop=dpop), "invalid_dpop_proof")


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


def test_the_resource_side_refuses_the_wrong_method_url_scope_or_a_replay(standins, bound):
    token, key = bound
    refusal(standins, resource_headers(token, key, htm="GET"), "invalid_dpop_proof")
    refusal(standins, resource_headers(token, key, url=RESOURCE + "/other"), "invalid_dpop_proof")
    refusal(standins, resource_headers(token, key), "insufficient_scope", status=403, scope="nhn:kjernejournal/api")
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
