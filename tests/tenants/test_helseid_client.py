"""The HelseID machine client (tenants/helseid.py) against the HelseID stand-in as a real HTTPS
server in its own process (the `standins` fixture): it gets a DPoP-bound token for a kommune after
the nonce round, caches it until shortly before it expires (the server counts its requests), makes
resource requests with the right proof, and tells a refusal of its configuration from a failure
worth retrying."""

import json
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from jwskate import Jwk, Jwt

from tenants.helseid import ORGNR_PARENT_CLAIM, HelseIdClient, HelseIdError, HelseIdSettings, load_private_jwk
from tests.conftest import STANDIN_TWO_KOMMUNER

ORGNR = "312229544"


class Clock:
    def __init__(self):
        import time

        self.now = time.time()

    def __call__(self):
        return self.now


def counts(env):
    return requests.get(f"{env.helseid_issuer}/_standin/requests", verify=str(env.ca_file), timeout=10).json()


def client(env, clock=None, **environ):
    return HelseIdClient.from_environ(env.environ() | environ, **({"clock": clock} if clock else {}))


def test_it_gets_a_dpop_bound_token_for_the_kommune_after_the_nonce_round(standins):
    helseid = client(standins)
    before = counts(standins)
    token = helseid.access_token(orgnr=ORGNR)
    after = counts(standins)
    assert token.token_type == "DPoP"
    claims = Jwt(token.access_token).claims
    assert claims["cnf"]["jkt"] == helseid.dpop_key.private_key.thumbprint()
    assert claims[ORGNR_PARENT_CLAIM] == ORGNR
    assert claims["scope"] == ["nhn:jft/api"] and claims["client_id"] == "dho-demo-maskin"
    # The first request without a nonce, told to use one, the second with it.
    assert after["/connect/token"] - before.get("/connect/token", 0) == 2
    assert after["refused:use_dpop_nonce"] - before.get("refused:use_dpop_nonce", 0) == 1
    assert after["tokens_issued"] - before.get("tokens_issued", 0) == 1


def test_it_caches_the_token_until_a_minute_before_it_expires(standins):
    clock = Clock()
    helseid = client(standins, clock)
    first = helseid.access_token(orgnr=ORGNR)
    before = counts(standins)
    assert helseid.access_token(orgnr=ORGNR) is first
    clock.now += 600 - 61  # the token lives 600 s; renewed 60 s before
    assert helseid.access_token(orgnr=ORGNR) is first
    after = counts(standins)
    assert after.get("/connect/token") == before.get("/connect/token")  # not one request more
    assert after.get("/.well-known/openid-configuration") == before.get("/.well-known/openid-configuration")
    clock.now += 2
    renewed = helseid.access_token(orgnr=ORGNR)
    assert renewed is not first and renewed.access_token != first.access_token
    again = counts(standins)
    assert again["tokens_issued"] - after["tokens_issued"] == 1
    assert again["/connect/token"] - after["/connect/token"] == 1  # the nonce is remembered: no second round


def test_it_keeps_a_token_per_organisation_and_scope(standins):
    rsa = next(c for c in standins.clients if c.client_id == "dho-test-rsa")
    helseid = client(standins, DHO_HELSEID_CLIENT_ID=rsa.client_id, DHO_HELSEID_KEY_FILE=str(rsa.key_file))
    first, second = (helseid.access_token(orgnr=n) for n in STANDIN_TWO_KOMMUNER)
    other_scope = helseid.access_token(orgnr=STANDIN_TWO_KOMMUNER[0], scope="nhn:test/other")
    assert Jwt(first.access_token).claims[ORGNR_PARENT_CLAIM] == STANDIN_TWO_KOMMUNER[0]
    assert Jwt(second.access_token).claims[ORGNR_PARENT_CLAIM] == STANDIN_TWO_KOMMUNER[1]
    assert Jwt(other_scope.access_token).claims["scope"] == ["nhn:test/other"]
    assert helseid.access_token(orgnr=STANDIN_TWO_KOMMUNER[0]) is first
    assert helseid.access_token(orgnr=STANDIN_TWO_KOMMUNER[1]) is second


def test_it_makes_resource_requests_with_the_proof_and_follows_the_resource_nonce(standins):
    helseid = client(standins)
    url = f"{standins.helseid_issuer}/_standin/resource"
    before = counts(standins)
    response = helseid.request("POST", url, orgnr=ORGNR, json={"note": "x"})
    assert response.status_code == 200, response.text
    assert response.json()["claims"][ORGNR_PARENT_CLAIM] == ORGNR
    after = counts(standins)
    assert after["resource_refused:use_dpop_nonce"] - before.get("resource_refused:use_dpop_nonce", 0) == 1
    assert after["/_standin/resource"] - before.get("/_standin/resource", 0) == 2
    # From now on the nonce is sent at once; a GET gets its own proof (htm, htu, ath).
    assert helseid.request("GET", url + "?page=2", orgnr=ORGNR).status_code == 200
    assert counts(standins)["/_standin/resource"] - after["/_standin/resource"] == 1


def test_a_token_the_resource_refuses_is_replaced_once(standins):
    """A cached token the API no longer takes (revoked, or the issuer's keys rolled): dropped,
    and the request made once more with a new one."""
    from requests_oauth2client import DPoPToken

    helseid = client(standins)
    url = f"{standins.helseid_issuer}/_standin/resource"
    good = helseid.access_token(orgnr=ORGNR)
    header, claims = Jwt(good.access_token).headers, Jwt(good.access_token).claims
    stale = str(Jwt.sign(claims, key=Jwk.generate(alg="RS256", kid=header["kid"]), alg="RS256", typ="at+jwt"))
    helseid._tokens[next(iter(helseid._tokens))].token = DPoPToken(stale, _dpop_key=helseid.dpop_key, expires_in=600)
    before = counts(standins)
    response = helseid.request("GET", url, orgnr=ORGNR)
    assert response.status_code == 200, response.text
    after = counts(standins)
    assert after["resource_refused:invalid_token"] - before.get("resource_refused:invalid_token", 0) == 1
    assert after["tokens_issued"] - before["tokens_issued"] == 1
    assert helseid.access_token(orgnr=ORGNR).access_token not in (stale, good.access_token)


def test_the_headers_bind_the_proof_to_the_request_and_token(standins):
    helseid = client(standins)
    token = helseid.access_token(orgnr=ORGNR)
    headers = helseid.dpop_headers("post", "https://jft.example.test/api/notater?x=1", token)
    assert headers["Authorization"] == f"DPoP {token.access_token}"
    proof = Jwt(headers["DPoP"])
    assert proof.headers["typ"] == "dpop+jwt" and "d" not in proof.headers["jwk"]
    assert proof.claims["htm"] == "POST" and proof.claims["htu"] == "https://jft.example.test/api/notater"
    from dho.dev.helseid import b64url_sha256

    assert proof.claims["ath"] == b64url_sha256(token.access_token)


# --- what goes wrong, and whether trying again may help ---------------------------------------


def refused(call, error):
    with pytest.raises(HelseIdError) as caught:
        call()
    assert caught.value.error == error
    assert caught.value.transient is False
    return caught.value


def test_a_wrong_key_is_a_configuration_error(standins, tmp_path):
    from dho.dev.standins import private_jwk_file

    private_jwk_file(tmp_path / "wrong.json", "EC")
    helseid = client(standins, DHO_HELSEID_KEY_FILE=str(tmp_path / "wrong.json"))
    error = refused(lambda: helseid.access_token(orgnr=ORGNR), "invalid_client")
    assert "nøkkel" in error.reason


def test_an_unknown_client_is_a_configuration_error(standins):
    refused(lambda: client(standins, DHO_HELSEID_CLIENT_ID="ukjent").access_token(orgnr=ORGNR), "invalid_client")


def test_an_unknown_scope_or_kommune_is_a_configuration_error(standins):
    helseid = client(standins)
    refused(lambda: helseid.access_token(orgnr=ORGNR, scope="nhn:kjernejournal/api"), "invalid_scope")
    error = refused(lambda: helseid.access_token(orgnr="974600951"), "invalid_authorization_details")
    assert "organisasjonsnummer" in error.reason
    with pytest.raises(HelseIdError, match="ni siffer"):
        helseid.access_token(orgnr="3122")


def test_an_unreachable_helseid_is_transient(standins):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens once it is closed
    helseid = client(standins, DHO_HELSEID_ISSUER=f"https://127.0.0.1:{port}")
    with pytest.raises(HelseIdError) as caught:
        helseid.access_token(orgnr=ORGNR)
    assert caught.value.transient is True and "kunne ikke nås" in caught.value.reason


def test_a_5xx_from_the_token_endpoint_is_transient(standins):
    """A HelseID having a bad moment: its discovery answers, its token endpoint says 503."""

    class Failing(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def _json(self, status, body):
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            issuer = f"https://127.0.0.1:{self.server.server_address[1]}"
            self._json(200, {"issuer": issuer, "token_endpoint": f"{issuer}/connect/token"})

        def do_POST(self):
            self.rfile.read(int(self.headers["Content-Length"]))
            self._json(503, {"error": "temporarily_unavailable"})

    server = ThreadingHTTPServer(("127.0.0.1", 0), Failing)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(standins.directory / "tls-cert.pem", standins.directory / "tls-key.pem")
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        helseid = client(standins, DHO_HELSEID_ISSUER=f"https://127.0.0.1:{server.server_address[1]}")
        with pytest.raises(HelseIdError) as caught:
            helseid.access_token(orgnr=ORGNR)
        assert caught.value.transient is True and caught.value.error == "temporarily_unavailable"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_it_refuses_a_discovery_document_of_another_issuer(standins):
    helseid = client(standins, DHO_HELSEID_ISSUER=standins.helseid_issuer.replace("127.0.0.1", "localhost"))
    with pytest.raises(HelseIdError, match="annen utsteder") as caught:
        helseid.access_token(orgnr=ORGNR)
    assert caught.value.transient is False


def test_the_key_is_read_from_a_file_or_a_secret_and_must_be_private(standins):
    text = standins.client.key_file.read_text()
    assert load_private_jwk(value=text) == load_private_jwk(path=str(standins.client.key_file))
    settings = HelseIdSettings.from_environ(
        {k: v for k, v in standins.environ().items() if k != "DHO_HELSEID_KEY_FILE"} | {"DHO_HELSEID_KEY": text}
    )
    assert settings.private_key.is_private and settings.private_key["d"] not in repr(settings)  # never logged
    public = json.dumps(dict(Jwk(json.loads(text)).public_jwk()))
    with pytest.raises(HelseIdError, match="privat"):
        load_private_jwk(value=public)
    with pytest.raises(HelseIdError, match="enten som fil eller som verdi"):
        load_private_jwk()
    with pytest.raises(HelseIdError, match="DHO_HELSEID_ISSUER"):
        HelseIdSettings.from_environ({"DHO_HELSEID_CLIENT_ID": "x", "DHO_HELSEID_KEY": text})


def test_it_sends_the_newest_nonce_a_successful_answer_gave(standins):
    """RFC 9449 §8/§9: a server may give a new `DPoP-Nonce` with any answer, a success too, and the
    client uses the newest. The stand-in gives a new one with each success and counts a proof that
    still carries one it has replaced (`stale_nonce`, `resource_stale_nonce`)."""
    helseid = client(standins)
    url = f"{standins.helseid_issuer}/_standin/resource"
    assert helseid.request("GET", url, orgnr=ORGNR).status_code == 200  # the nonce rounds, both sides
    before = counts(standins)
    for _ in range(3):
        response = helseid.request("GET", url, orgnr=ORGNR)
        assert response.status_code == 200, response.text
        assert helseid._rs_nonces[standins.helseid_issuer] == response.headers["DPoP-Nonce"]
        helseid.forget_token(orgnr=ORGNR)  # the next request fetches a token: the token endpoint's nonce
    after = counts(standins)
    assert after.get("resource_stale_nonce", 0) == before.get("resource_stale_nonce", 0)
    assert after.get("stale_nonce", 0) == before.get("stale_nonce", 0)
    assert after["tokens_issued"] - before["tokens_issued"] == 2
