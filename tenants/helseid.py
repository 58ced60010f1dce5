"""HelseID machine client: DPoP-bound access tokens for Norsk helsenett's APIs, and requests with them.

HelseID (NHN's OpenID Connect provider, FAPI 2.0 profile) knows confidential clients only. A client
authenticates with `private_key_jwt` (RFC 7523: a short-lived JWT signed with its private key, `aud`
the issuer), machine tokens come from the client credentials grant, and NHN's APIs take DPoP-bound
tokens only (RFC 9449: every request carries a proof signed with a key the token is bound to). The
protocol itself is requests-oauth2client's (client assertion, DPoP proofs, the token endpoint's
`use_dpop_nonce` round); what is HelseID's is here:

- the organisation the token is for. The platform is a multi-tenant supplier: which kommune a token
  speaks for is named in an `authorization_details` claim inside the client assertion (NHN's
  «Bruk av organisasjonsnumre»: in the client credentials flow the structure travels in the client
  assertion), as `NO:ORGNR:<parent>[:<child>]` in system `urn:oid:1.0.6523`; HelseID checks the
  delegation and puts the number in the token's `helseid://claims/client/claims/orgnr_parent`;
- a cache: a token per (client, scope, organisation) until `REFRESH_MARGIN` before it expires, per
  process (the DPoP key it is bound to lives in this process's memory and nowhere else);
- `request()`: a resource request with `Authorization: DPoP …` and a fresh proof (`htm`, `htu`,
  `ath`), answering the resource server's `use_dpop_nonce` once;
- `HelseIdError` with a Norwegian reason and `transient`: a refusal of our configuration (unknown
  client, wrong key, a scope or organisation not granted) is final until someone changes it, a
  network failure or a 5xx is worth retrying. The outbox reads `transient`.

Configuration (`HelseIdSettings.from_environ`): `DHO_HELSEID_ISSUER`, `DHO_HELSEID_CLIENT_ID`, the
private key as a JWK in `DHO_HELSEID_KEY_FILE` (a path) or `DHO_HELSEID_KEY` (the JSON itself, from a
secret store), `DHO_HELSEID_SCOPE` (default `nhn:jft/api`) and `DHO_HELSEID_CA_FILE` (a CA bundle,
only where the issuer's certificate is not in the system store: the stand-in's). The key is never
stored in the database or the repository. docs/helseid.md has the whole picture.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests
from attrs import field as attrs_field
from attrs import frozen
from binapy import BinaPy
from jwskate import Jwk, Jwt
from requests_oauth2client import DPoPKey, DPoPToken, OAuth2Client, PrivateKeyJwt
from requests_oauth2client.exceptions import EndpointError, OAuth2Error

__all__ = [
    "DEFAULT_SCOPE",
    "ORGNR_PARENT_CLAIM",
    "REFRESH_MARGIN",
    "HelseIdClient",
    "HelseIdError",
    "HelseIdSettings",
    "authorization_details",
    "load_private_jwk",
]

DEFAULT_SCOPE = "nhn:jft/api"
# Renewed this long before it expires, so a token is never sent in its last seconds.
REFRESH_MARGIN = 60
DISCOVERY_MAX_AGE = 3600
ASSERTION_LIFETIME = 60  # seconds; HelseID refuses long-lived client assertions
TIMEOUT = 10
ORGNR_PARENT_CLAIM = "helseid://claims/client/claims/orgnr_parent"
ORGNR_CHILD_CLAIM = "helseid://claims/client/claims/orgnr_child"
# NHN's multi-tenant structure: ISO 6523 with the Norwegian organisation number prefix.
MULTI_TENANT_SYSTEM = "urn:oid:1.0.6523"
ORGNR = re.compile(r"\d{9}")
SIGNING_ALGS = {"RSA": "RS256", "EC": "ES256"}
# OAuth errors (RFC 6749 §5.2, RFC 9396, RFC 9449) that only a change of configuration mends.
CONFIGURATION_ERRORS = {
    "invalid_client": "HelseID kjenner ikke klienten, eller klientens nøkkel er feil (invalid_client).",
    "unauthorized_client": "Klienten har ikke lov til å hente maskintokener i HelseID (unauthorized_client).",
    "invalid_scope": "HelseID gir ikke klienten dette scopet (invalid_scope).",
    "invalid_authorization_details": (
        "HelseID godtar ikke organisasjonsnummeret: klienten har ingen delegering fra denne virksomheten "
        "(invalid_authorization_details)."
    ),
    "invalid_grant": "HelseID avviste tilgangen (invalid_grant).",
    "unsupported_grant_type": "HelseID tillater ikke client credentials for klienten (unsupported_grant_type).",
    "invalid_request": "HelseID avviste forespørselen som ugyldig (invalid_request).",
    "invalid_dpop_proof": "HelseID avviste DPoP-beviset; sjekk maskinens klokke (invalid_dpop_proof).",
}
TRANSIENT_ERRORS = {"server_error", "temporarily_unavailable", "use_dpop_nonce"}


class HelseIdError(Exception):
    """A token could not be had. `reason` is Norwegian, for a person reading the outbox; `transient`
    tells whether trying again later may help (network, 5xx) or not (a refusal of our configuration);
    `error` is the OAuth error code when HelseID gave one."""

    def __init__(self, reason: str, *, transient: bool, error: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.transient = transient
        self.error = error


def _configuration_error(reason: str, error: str | None = None) -> HelseIdError:
    return HelseIdError(reason, transient=False, error=error)


def load_private_jwk(*, path: str | None = None, value: str | None = None) -> Jwk:
    """The client's private key, as a JWK from a file or from a secret's value. A private asymmetric
    key with a `kid` (HelseID finds the registered public key by it); `alg` defaults by key type."""
    if bool(path) == bool(value):
        raise _configuration_error("HelseID-nøkkelen må oppgis enten som fil eller som verdi, ikke begge eller ingen.")
    try:
        text = Path(path).read_text() if path else str(value)
        jwk = Jwk(json.loads(text))
    except (OSError, ValueError, TypeError) as exc:
        raise _configuration_error(f"HelseID-nøkkelen kunne ikke leses som JWK: {exc}") from exc
    if not jwk.is_private or jwk.is_symmetric:
        raise _configuration_error("HelseID-nøkkelen må være en privat RSA- eller EC-nøkkel (JWK med «d»).")
    if not jwk.get("kid"):
        raise _configuration_error("HelseID-nøkkelen mangler «kid».")
    if not jwk.alg:
        alg = SIGNING_ALGS.get(jwk.kty)
        if alg is None:
            raise _configuration_error(f"HelseID-nøkkelen har en nøkkeltype som ikke støttes: {jwk.kty}.")
        jwk = Jwk({**jwk, "alg": alg})
    return jwk


@dataclass(frozen=True)
class HelseIdSettings:
    issuer: str
    client_id: str
    private_key: Jwk = field(repr=False)
    scope: str = DEFAULT_SCOPE
    ca_file: str | None = None

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> HelseIdSettings:
        env = os.environ if environ is None else environ
        missing = [name for name in ("DHO_HELSEID_ISSUER", "DHO_HELSEID_CLIENT_ID") if not env.get(name)]
        if missing:
            raise _configuration_error(f"HelseID er ikke satt opp: {', '.join(missing)} mangler.")
        key = load_private_jwk(path=env.get("DHO_HELSEID_KEY_FILE") or None, value=env.get("DHO_HELSEID_KEY") or None)
        return cls(
            issuer=env["DHO_HELSEID_ISSUER"].rstrip("/"),
            client_id=env["DHO_HELSEID_CLIENT_ID"],
            private_key=key,
            scope=env.get("DHO_HELSEID_SCOPE") or DEFAULT_SCOPE,
            ca_file=env.get("DHO_HELSEID_CA_FILE") or None,
        )


def authorization_details(orgnr: str, child_orgnr: str | None = None) -> dict[str, Any]:
    """NHN's structure naming the organisation a multi-tenant client acts for (parent, and the child
    unit when there is one)."""
    for number in (orgnr, child_orgnr):
        if number is not None and not ORGNR.fullmatch(number):
            raise _configuration_error(f"Organisasjonsnummeret «{number}» er ikke ni siffer.")
    value = f"NO:ORGNR:{orgnr}" + (f":{child_orgnr}" if child_orgnr else "")
    return {
        "type": "helseid_authorization",
        "practitioner_role": {
            "organization": {"identifier": {"system": MULTI_TENANT_SYSTEM, "type": "ENH", "value": value}}
        },
    }


@frozen(init=False)
class _HelseIdAssertion(PrivateKeyJwt):
    """requests-oauth2client's `private_key_jwt`, with the organisation in the assertion (where NHN
    wants it in the client credentials flow)."""

    authorization_details: dict[str, Any] | None = attrs_field(default=None)

    def __init__(self, client_id: str, private_jwk: Jwk, *, aud: str, details: dict[str, Any] | None) -> None:
        super().__init__(client_id, private_jwk, aud=aud, lifetime=ASSERTION_LIFETIME)
        object.__setattr__(self, "authorization_details", details)  # frozen after the parent's init

    def client_assertion(self, audience: str) -> str:
        iat = Jwt.timestamp()
        claims: dict[str, Any] = {
            "iss": self.client_id,
            "sub": self.client_id,
            "aud": audience,
            "iat": iat,
            "nbf": iat,
            "exp": iat + self.lifetime,
            "jti": self.jti_gen(),
        }
        if self.authorization_details is not None:
            claims["authorization_details"] = self.authorization_details
        return str(Jwt.sign(claims, key=self.private_jwk, alg=self.alg))


@dataclass
class _Cached:
    token: DPoPToken
    expires_at: float


class HelseIdClient:
    """One configured HelseID client. Thread-safe; make one per process and keep it (the token cache
    and the DPoP key live in it)."""

    def __init__(
        self,
        settings: HelseIdSettings,
        *,
        session: requests.Session | None = None,
        clock: Callable[[], float] = time.time,
        refresh_margin: int = REFRESH_MARGIN,
    ) -> None:
        self.settings = settings
        self.session = session or requests.Session()
        # Given with every request: requests lets REQUESTS_CA_BUNDLE from the environment win over a
        # session's `verify`, and the stand-in's certificate is in no system bundle.
        self._verify: str | bool = settings.ca_file or True
        self._clock = clock
        self._refresh_margin = refresh_margin
        # One DPoP key per client object: every token it caches is bound to it. Never stored.
        self.dpop_key = DPoPKey.generate(alg="ES256")
        self._lock = threading.Lock()
        self._fetching = threading.Lock()
        self._discovery: tuple[float, dict[str, Any]] | None = None
        self._tokens: dict[tuple[str, str, str, str | None], _Cached] = {}
        self._rs_nonces: dict[str, str] = {}

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None, **kwargs: Any) -> HelseIdClient:
        return cls(HelseIdSettings.from_environ(environ), **kwargs)

    # --- discovery ------------------------------------------------------------------------------

    def discovery(self) -> dict[str, Any]:
        """The issuer's discovery document, fetched once an hour at most."""
        with self._lock:
            if self._discovery and self._clock() - self._discovery[0] < DISCOVERY_MAX_AGE:
                return self._discovery[1]
        url = f"{self.settings.issuer}/.well-known/openid-configuration"
        response = self._send("GET", url, what="discovery-dokumentet")
        if response.status_code >= 500:
            raise HelseIdError(f"HelseID svarte {response.status_code} på discovery-dokumentet.", transient=True)
        try:
            document = response.json()
            response.raise_for_status()
        except (ValueError, requests.HTTPError) as exc:
            raise _configuration_error(f"HelseIDs discovery-dokument på {url} kunne ikke leses: {exc}") from exc
        if not isinstance(document, dict) or document.get("issuer", "").rstrip("/") != self.settings.issuer:
            raise _configuration_error(f"Discovery-dokumentet på {url} gjelder en annen utsteder.")
        if not document.get("token_endpoint"):
            raise _configuration_error("HelseIDs discovery-dokument mangler token_endpoint.")
        with self._lock:
            self._discovery = (self._clock(), document)
        return document

    # --- tokens ---------------------------------------------------------------------------------

    def access_token(self, *, orgnr: str, child_orgnr: str | None = None, scope: str | None = None) -> DPoPToken:
        """A DPoP-bound access token for the organisation, from the cache while it has more than
        the refresh margin left."""
        scope = scope or self.settings.scope
        key = (self.settings.client_id, scope, orgnr, child_orgnr)
        with self._fetching:  # threads that miss together fetch once
            with self._lock:
                cached = self._tokens.get(key)
                if cached and cached.expires_at - self._refresh_margin > self._clock():
                    return cached.token
            token = self._token_request(scope=scope, orgnr=orgnr, child_orgnr=child_orgnr)
            expires_in = token.expires_in if token.expires_in is not None else 0
            with self._lock:
                self._tokens[key] = _Cached(token, self._clock() + expires_in)
            return token

    def forget_token(self, *, orgnr: str, child_orgnr: str | None = None, scope: str | None = None) -> None:
        with self._lock:
            self._tokens.pop((self.settings.client_id, scope or self.settings.scope, orgnr, child_orgnr), None)

    def _token_request(self, *, scope: str, orgnr: str, child_orgnr: str | None) -> DPoPToken:
        document = self.discovery()
        issuer = document["issuer"]
        auth = _HelseIdAssertion(
            self.settings.client_id,
            self.settings.private_key,
            aud=issuer,  # FAPI 2.0: the assertion's audience is the issuer, not the token endpoint
            details=authorization_details(orgnr, child_orgnr),
        )
        oauth = OAuth2Client(
            token_endpoint=document["token_endpoint"],
            auth=auth,
            session=self.session,
            dpop_bound_access_tokens=True,
        )
        try:
            token = oauth.client_credentials(
                scope=scope,
                dpop_key=self.dpop_key,
                requests_kwargs={
                    "timeout": TIMEOUT,
                    "verify": self._verify,
                    "hooks": {"response": self._remember_token_endpoint_nonce},
                },
            )
        except requests.RequestException as exc:
            raise HelseIdError(f"HelseID kunne ikke nås: {exc}", transient=True) from exc
        except OAuth2Error as exc:
            raise self._token_error(exc) from exc
        except ValueError as exc:  # an answer the library could not take as a token
            raise _configuration_error(f"HelseID svarte med et token som ikke kan brukes: {exc}") from exc
        if not isinstance(token, DPoPToken) or token.token_type.lower() != "dpop":
            raise _configuration_error(f"HelseID ga et token av typen «{token.token_type}», ikke et DPoP-token.")
        return token

    def _remember_token_endpoint_nonce(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        """RFC 9449 §8: a server may give a new nonce with any answer, and the client uses the newest.
        The library takes one from a `use_dpop_nonce` refusal only; this takes one from a token."""
        nonce = response.headers.get("DPoP-Nonce")
        if nonce and response.ok:
            self.dpop_key.as_nonce = nonce

    @staticmethod
    def _token_error(exc: OAuth2Error) -> HelseIdError:
        status = exc.response.status_code
        error = exc.error if isinstance(exc, EndpointError) else None
        if error is None:  # the library's own refusal of an answer (a third nonce in a row, say)
            try:
                error = exc.response.json().get("error")
            except (ValueError, AttributeError):
                error = None
        described = f" {exc.description}" if exc.description else ""
        if status >= 500 or error in TRANSIENT_ERRORS:
            return HelseIdError(f"HelseID svarte {status} ({error or 'ukjent feil'}).{described}", transient=True,
                                error=error)  # fmt: skip
        if error in CONFIGURATION_ERRORS:
            return _configuration_error(CONFIGURATION_ERRORS[error] + described, error)
        return _configuration_error(f"HelseID avviste tokenforespørselen ({status}, {error or 'uten feilkode'}).",
                                    error)  # fmt: skip

    # --- resource requests ----------------------------------------------------------------------

    def dpop_headers(self, method: str, url: str, token: DPoPToken, nonce: str | None = None) -> dict[str, str]:
        """`Authorization` and `DPoP` for one request: a new proof each time, with the token's hash."""
        ath = BinaPy(token.access_token).to("sha256").to("b64u").ascii()
        proof = self.dpop_key.proof(htm=method.upper(), htu=url, ath=ath, nonce=nonce)
        return {"Authorization": f"DPoP {token.access_token}", "DPoP": str(proof)}

    def request(
        self,
        method: str,
        url: str,
        *,
        orgnr: str,
        child_orgnr: str | None = None,
        scope: str | None = None,
        **kwargs: Any,
    ) -> requests.Response:
        """A request to an NHN API on behalf of the organisation. A `use_dpop_nonce` answer is
        followed once with the nonce the server gave (and the newest nonce it gave, with any answer,
        is used from then on); an
        `invalid_token` answer drops the cached token and tries once with a new one. The answer is
        returned as it came; network errors to the API are the caller's (requests' exceptions)."""
        origin = "{0.scheme}://{0.netloc}".format(urlsplit(url))
        headers = dict(kwargs.pop("headers", None) or {})
        kwargs.setdefault("timeout", TIMEOUT)
        kwargs.setdefault("verify", self._verify)
        token = self.access_token(orgnr=orgnr, child_orgnr=child_orgnr, scope=scope)
        renewed = nonce_followed = False
        while True:
            sent = headers | self.dpop_headers(method, url, token, self._rs_nonces.get(origin))
            response = self.session.request(method, url, headers=sent, **kwargs)
            nonce = response.headers.get("DPoP-Nonce")
            if nonce:  # RFC 9449 §9: the API may give a new nonce with any answer; the newest is used
                self._rs_nonces[origin] = nonce
            if response.status_code != 401:
                return response
            challenge = response.headers.get("WWW-Authenticate", "")
            if 'error="use_dpop_nonce"' in challenge and nonce and not nonce_followed:
                nonce_followed = True
                continue
            if 'error="invalid_token"' in challenge and not renewed:
                self.forget_token(orgnr=orgnr, child_orgnr=child_orgnr, scope=scope)
                token = self.access_token(orgnr=orgnr, child_orgnr=child_orgnr, scope=scope)
                renewed = True
                continue
            return response

    def _send(self, method: str, url: str, *, what: str) -> requests.Response:
        try:
            return self.session.request(method, url, timeout=TIMEOUT, verify=self._verify)
        except requests.RequestException as exc:
            raise HelseIdError(f"HelseID kunne ikke nås ({what}): {exc}", transient=True) from exc
