"""A small OpenID provider for the login's unit tests: a real HTTP server on a free localhost port
(the platform's client talks to it as to HelseID), whose ID tokens the test shapes claim by claim
and signs with keys the test makes, to prove each refusal. It checks what HelseID checks of our
client: the `private_key_jwt` assertion (signature by the client's registered key, iss = sub = the
client, aud = the issuer, a `jti` never seen), PAR before the authorization, PKCE S256 and the
redirect URI. It signs with joserfc, apart from the client's jwskate. The end-to-end tests use the
real HelseID stand-in (dho/dev/helseid.py) instead."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import parse_qs, urlsplit

from joserfc import jwt
from joserfc.jwk import ECKey, KeySet, RSAKey

CLIENT_ID = "dho-test-login"


def rsa_key(kid: str) -> RSAKey:
    key = RSAKey.generate_key(2048)
    key.ensure_kid()
    data = key.as_dict(private=True)
    data["kid"] = kid
    return RSAKey.import_key(data)


def client_key() -> ECKey:
    key = ECKey.generate_key("P-256")
    key.ensure_kid()
    return key


class Provider:
    """The server's state; the test reads and changes it between requests."""

    def __init__(self):
        self.signing_key = rsa_key("sign-1")
        self.published = [self.signing_key]  # what /jwks serves
        self.client_key = client_key()
        self.client_id = CLIENT_ID
        self.pushed: dict[str, dict] = {}  # request_uri → the PAR's form
        self.codes: dict[str, dict] = {}  # code → the PAR's form
        self.jtis: set[str] = set()
        self.requests: list[tuple[str, str]] = []  # (method, path)
        self.assertions: list[dict] = []  # the client assertions' claims, in order
        self.token_forms: list[dict] = []
        self.claims: dict = {}  # merged into the next ID tokens (None deletes a claim)
        self.person: dict = {}
        self.header: dict = {}
        self.tamper = False
        self.issuer = ""
        self.ca_file: Path | None = None

    # --- what the test does as the person at the browser -------------------------------------------

    def authorize(self, authorize_url: str, *, person: dict) -> str:
        """The person logs in at the provider: → the URL the provider sends the browser back to."""
        query = parse_qs(urlsplit(authorize_url).query)
        assert set(query) == {"client_id", "request_uri"}, query
        pushed = self.pushed.pop(query["request_uri"][0])
        code = secrets.token_urlsafe(16)
        self.codes[code] = {**pushed, "person": person}
        return f"{pushed['redirect_uri']}?code={code}&state={pushed['state']}&iss={self.issuer}"

    # --- the ID token -----------------------------------------------------------------------------

    def id_token(self, pushed: dict) -> str:
        now = int(time.time())
        person = pushed["person"]
        claims = {
            "iss": self.issuer,
            "aud": self.client_id,
            "sub": "sub-" + person["pid"],
            "iat": now,
            "exp": now + 300,
            "auth_time": now - 5,
            "nonce": pushed["nonce"],
            "sid": "sid-1",
            "name": person.get("name", ""),
            "helseid://claims/identity/pid": person["pid"],
            "helseid://claims/identity/security_level": person.get("level", "4"),
            "helseid://claims/hpr/hpr_number": person.get("hpr", ""),
        }
        if not claims["helseid://claims/hpr/hpr_number"]:
            del claims["helseid://claims/hpr/hpr_number"]
        for name, value in self.claims.items():
            if value is None:
                claims.pop(name, None)
            else:
                claims[name] = value
        header = {"alg": "RS256", "kid": self.signing_key.kid, "typ": "JWT", **self.header}
        token = jwt.encode(header, claims, self.signing_key, algorithms=[header["alg"]])
        if self.tamper:  # another payload under the same signature
            head, _payload, signature = token.split(".")
            forged = base64.urlsafe_b64encode(json.dumps({**claims, "name": "Mallory"}).encode()).rstrip(b"=")
            token = f"{head}.{forged.decode()}.{signature}"
        return token

    # --- checks of the client ------------------------------------------------------------------------

    def client_authenticated(self, form: dict) -> str:
        """'' when the assertion is good, else the OAuth error."""
        if form.get("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer":
            return "invalid_client"
        try:
            token = jwt.decode(form.get("client_assertion", ""), KeySet([self.client_key]), algorithms=["ES256"])
        except Exception:
            return "invalid_client"
        claims = token.claims
        self.assertions.append(claims)
        now = time.time()
        if claims.get("iss") != self.client_id or claims.get("sub") != self.client_id:
            return "invalid_client"
        if claims.get("aud") != self.issuer or not (now - 5 < claims.get("exp", 0) <= now + 120):
            return "invalid_client"
        if claims.get("jti") in self.jtis:
            return "invalid_client"
        self.jtis.add(claims["jti"])
        return ""


def _handler(provider: Provider):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def _json(self, status: int, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _form(self) -> dict:
            length = int(self.headers.get("Content-Length") or 0)
            return {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}

        def do_GET(self):
            path = urlsplit(self.path).path
            provider.requests.append(("GET", path))
            issuer = provider.issuer
            if path == "/.well-known/openid-configuration":
                return self._json(200, {
                    "issuer": issuer,
                    "authorization_endpoint": f"{issuer}/connect/authorize",
                    "token_endpoint": f"{issuer}/connect/token",
                    "pushed_authorization_request_endpoint": f"{issuer}/connect/par",
                    "require_pushed_authorization_requests": True,
                    "end_session_endpoint": f"{issuer}/connect/endsession",
                    "jwks_uri": f"{issuer}/jwks",
                    "code_challenge_methods_supported": ["S256"],
                    "token_endpoint_auth_methods_supported": ["private_key_jwt"],
                    "authorization_response_iss_parameter_supported": True,
                    "id_token_signing_alg_values_supported": ["RS256"],
                })  # fmt: skip
            if path == "/jwks":
                return self._json(200, {"keys": [k.as_dict(private=False) for k in provider.published]})
            return self._json(404, {"error": "not_found"})

        def do_POST(self):
            path = urlsplit(self.path).path
            provider.requests.append(("POST", path))
            form = self._form()
            refusal = provider.client_authenticated(form)
            if refusal:
                return self._json(401, {"error": refusal})
            if path == "/connect/par":
                if form.get("code_challenge_method") != "S256" or not form.get("code_challenge"):
                    return self._json(400, {"error": "invalid_request", "error_description": "PKCE S256"})
                request_uri = f"urn:ietf:params:oauth:request_uri:{secrets.token_urlsafe(12)}"
                provider.pushed[request_uri] = form
                return self._json(201, {"request_uri": request_uri, "expires_in": 60})
            if path == "/connect/token":
                provider.token_forms.append(form)
                pushed = provider.codes.pop(form.get("code", ""), None)
                if form.get("grant_type") != "authorization_code" or pushed is None:
                    return self._json(400, {"error": "invalid_grant"})
                verifier = form.get("code_verifier", "")
                challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
                if not verifier or challenge != pushed["code_challenge"]:
                    return self._json(400, {"error": "invalid_grant", "error_description": "PKCE"})
                if form.get("redirect_uri") != pushed["redirect_uri"]:
                    return self._json(400, {"error": "invalid_grant", "error_description": "redirect_uri"})
                return self._json(200, {
                    "access_token": secrets.token_urlsafe(24), "token_type": "Bearer", "expires_in": 300,
                    "id_token": provider.id_token(pushed), "scope": pushed.get("scope", ""),
                })  # fmt: skip
            return self._json(404, {"error": "not_found"})

    return Handler


def running(directory: Path) -> tuple[Provider, ThreadingHTTPServer]:
    """The provider over HTTPS (the client refuses anything else) with a certificate for 127.0.0.1 in
    `directory`, which the settings name as the CA file."""
    from dho.dev.standins import tls_certificate

    provider = Provider()
    provider.ca_file, key_file = tls_certificate(directory)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(provider))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(provider.ca_file, key_file)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    provider.issuer = f"https://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return provider, server


def settings_for(provider: Provider) -> SimpleNamespace:
    """The settings that point the platform's login at this provider."""
    private = provider.client_key.as_dict(private=True)
    private["alg"] = "ES256"
    return SimpleNamespace(
        DHO_HELSEID_LOGIN=True,
        DHO_HELSEID_ISSUER=provider.issuer,
        DHO_HELSEID_LOGIN_CLIENT_ID=provider.client_id,
        DHO_HELSEID_LOGIN_KEY=json.dumps(private),
        DHO_HELSEID_LOGIN_KEY_FILE="",
        DHO_HELSEID_CA_FILE=str(provider.ca_file),
    )
