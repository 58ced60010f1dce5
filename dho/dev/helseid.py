"""A HelseID stand-in: a real HTTPS server with the discovery document, the JWKS, the token endpoint
(machine tokens, and codes for user login), the user login of FAPI 2.0 (PAR, the authorization
endpoint with a «pick a test person» page, RP-initiated logout), verifying as strictly as HelseID
does; and `verify_dpop_request`, the resource-server side of DPoP for the NHN API stand-ins.

It runs in a process of its own (`python -m dho.dev.helseid --config … --ready-file …`), started by
`dho.dev.standins.running`, which writes the configuration: the server's signing keys, its TLS
certificate, the registered clients with their public keys, scopes, organisations and redirect URIs,
and the test persons. The user login's checks are in docs/helseid.md and on `par`, `authorize`,
`choose`, `_code_grant` and `end_session`; its server-free parts in dho/dev/helseid_login.py.
A logout at `end_session` is told to every client the login session gave an ID token to and that
registered a `backchannel_logout_uri` (OpenID Connect Back-Channel Logout 1.0, `backchannel_logout`).

What the token endpoint checks for client credentials, in HelseID's order (client authentication
first, then DPoP):
- the client assertion (RFC 7523, `private_key_jwt`): type `jwt-bearer`, signed (RS256/PS256/ES256)
  by a key registered for the client, `iss` = `sub` = the client id (and = the form's `client_id`),
  `aud` = the issuer (FAPI 2.0), `exp` in the future, at most `ASSERTION_MAX_LIFETIME` after `iat`,
  `iat`/`nbf` not in the future, a `jti` never seen before → else 400 `invalid_client`;
- `grant_type` is `client_credentials` (or `authorization_code`) → else `unsupported_grant_type`;
- the DPoP proof (RFC 9449): one `DPoP` header, `typ` `dpop+jwt`, an asymmetric `alg`, a public `jwk`
  (no private members) that verifies the signature, `htm` POST, `htu` the token endpoint, `iat`
  within `PROOF_MAX_AGE`, a new `jti` → else `invalid_dpop_proof`; and a `nonce` this server
  issued → else `use_dpop_nonce` with a fresh `DPoP-Nonce` header (so a client's first request
  always gets one); a DPoP-bound token's answer carries a new `DPoP-Nonce` (the nonce rotates;
  a proof still carrying a replaced one is counted as `stale_nonce`);
- every requested scope registered for the client → else `invalid_scope`;
- the assertion's `authorization_details` (NHN's `helseid_authorization`): for a multi-tenant client
  `urn:oid:1.0.6523` / `ENH` / `NO:ORGNR:<parent>[:<child>]` with a parent the client has a
  delegation from → else `invalid_authorization_details`.
It issues an `at+jwt` signed with its own key: `iss`, `aud`, `client_id`, `scope`, `iat`, `nbf`,
`exp`, `jti`, `cnf.jkt` (the RFC 7638 thumbprint of the proof's key), and the organisation claims.

The verification uses joserfc, a JOSE implementation apart from the client's (jwskate), so a mistake
in one (a thumbprint, a hash) cannot be mirrored in the other and pass.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.error import URLError
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit
from urllib.request import Request, urlopen

from joserfc import jws
from joserfc import jwt as jose_jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, JWKRegistry, Key, KeySet, RSAKey

from dho.dev import refuse_outside_development, serving
from dho.dev.helseid_login import (
    ACR_LEVELS,
    ALWAYS_CLAIMS,
    CODE_CHALLENGE,
    CODE_VERIFIER,
    IDENTITY_SCOPES,
    MAX_PARAMETER,
    PAGE_HEADERS,
    Grant,
    Login,
    OneUse,
    Person,
    PushedRequest,
    Spent,
    error_page,
    identity_claims,
    logged_out_page,
    picker_page,
    redirect_uri_allowed,
    registrable_uri,
    required_level,
    s256,
    with_query,
)
from dho.dev.serving import StandinServer

refuse_outside_development()

ASSERTION_ALGS = ("RS256", "PS256", "ES256")
DPOP_ALGS = ("ES256", "PS256", "RS256")
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ASSERTION_MAX_LIFETIME = 120  # seconds from iat to exp
PROOF_MAX_AGE = 60  # a proof's iat may be this far from the server's clock, either way
CLOCK_SKEW = 10
NONCE_LIFETIME = 300
TOKEN_LIFETIME = 600
TOKEN_PATH = "/connect/token"  # noqa: S105 (a path, not a secret)
DISCOVERY_PATH = "/.well-known/openid-configuration"
JWKS_PATH = "/.well-known/openid-configuration/jwks"
STATS_PATH = "/_standin/requests"
KEYS_PATH = "/_standin/keys"  # test hook: key rotation
PAR_PATH = "/connect/par"
AUTHORIZE_PATH = "/connect/authorize"
END_SESSION_PATH = "/connect/endsession"
BACKCHANNEL_PATH = "/_standin/backchannel"  # test hook: the logout tokens sent, and how each went
BACKCHANNEL_LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"
LOGOUT_TOKEN_LIFETIME = 120  # seconds (Back-Channel Logout 1.0 §4: at most two minutes, preferably)
BACKCHANNEL_TIMEOUT = 5  # seconds a client's back-channel endpoint has to answer
REQUEST_URI_PREFIX = "urn:ietf:params:oauth:request_uri:"
REQUEST_URI_LIFETIME = 60  # seconds a pushed request waits for the browser
PICKER_LIFETIME = 600  # seconds the picker's form is good for (a person choosing)
CODE_LIFETIME = 60
ID_TOKEN_LIFETIME = 300
PROMPTS = {"none", "login", "consent", "select_account"}
SPENT_REQUEST_URI = {
    "unknown": "ukjent request_uri",
    "used": "request_uri er brukt før (den kan brukes én gang)",
    "expired": f"request_uri er utløpt (gyldig i {REQUEST_URI_LIFETIME} s)",
}
IDP = "helseid-standin"  # the `idp` claim: which identity provider the person used
MAX_BODY = 65536
# A DPoP-protected demo resource (scope `RESOURCE_SCOPE`, nonce required): what a client's resource
# requests are tried against until the journaling service's stand-in stands.
RESOURCE_PATH = "/_standin/resource"
RESOURCE_SCOPE = "nhn:jft/api"
ORGNR_PARENT_CLAIM = "helseid://claims/client/claims/orgnr_parent"
ORGNR_CHILD_CLAIM = "helseid://claims/client/claims/orgnr_child"
MULTI_TENANT_SYSTEM = "urn:oid:1.0.6523"
SINGLE_TENANT_SYSTEM = "urn:oid:2.16.578.1.12.4.1.4.101"
MULTI_TENANT_VALUE = re.compile(r"NO:ORGNR:(\d{9})(?::(\d{9}))?")
ORGNR = re.compile(r"\d{9}")
PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}


class OAuthRefusal(Exception):
    """A token endpoint error answer (RFC 6749 §5.2): 400 with `error` and `error_description`."""

    def __init__(self, error: str, description: str, *, status: int = 400, nonce: str | None = None) -> None:
        super().__init__(f"{error}: {description}")
        self.error, self.description, self.status, self.nonce = error, description, status, nonce


class DPoPRequestRefused(Exception):
    """What a DPoP-protected resource answers to a request it refuses (RFC 9449 §7.1, RFC 6750 §3):
    `status` (401, or 403 for `insufficient_scope`) and the headers to send with it."""

    def __init__(self, error: str, description: str, *, status: int = 401, nonce: str | None = None) -> None:
        super().__init__(f"{error}: {description}")
        self.error, self.description, self.status, self.nonce = error, description, status, nonce

    @property
    def headers(self) -> dict[str, str]:
        description = self.description.replace('"', "'")
        challenge = f'DPoP error="{self.error}", error_description="{description}", algs="{" ".join(DPOP_ALGS)}"'
        headers = {"WWW-Authenticate": challenge}
        if self.nonce:
            headers["DPoP-Nonce"] = self.nonce
        return headers


class _ProofProblem(Exception):
    def __init__(self, error: str, description: str, nonce: str | None = None) -> None:
        super().__init__(description)
        self.error, self.description, self.nonce = error, description, nonce


# --- replay and nonce memory --------------------------------------------------------------------


class ReplayCache:
    """The `jti`s seen, each kept until it could no longer be accepted anyway."""

    def __init__(self) -> None:
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()

    def first_use(self, jti: str, *, until: float) -> bool:
        now = time.time()
        with self._lock:
            self._seen = {k: v for k, v in self._seen.items() if v > now} if len(self._seen) > 10000 else self._seen
            if jti in self._seen and self._seen[jti] > now:
                return False
            self._seen[jti] = until
            return True


class NonceStore:
    """DPoP nonces this server handed out (RFC 9449 §8), each valid for NONCE_LIFETIME."""

    def __init__(self, lifetime: int = NONCE_LIFETIME) -> None:
        self._issued: dict[str, float] = {}
        self._replaced: set[str] = set()  # given out again by `rotate`: a newer one followed
        self._lifetime = lifetime
        self._lock = threading.Lock()

    def issue(self) -> str:
        nonce = secrets.token_urlsafe(24)
        with self._lock:
            now = time.time()
            self._issued = {k: v for k, v in self._issued.items() if v > now}
            self._issued[nonce] = now + self._lifetime
        return nonce

    def valid(self, nonce: object) -> bool:
        with self._lock:
            return isinstance(nonce, str) and self._issued.get(nonce, 0) > time.time()

    def rotate(self, used: object) -> tuple[str, bool]:
        """A new nonce for a successful answer's `DPoP-Nonce` (RFC 9449 §8/§9: a server may give one
        with any answer, and the client uses the newest), and whether `used` had been replaced so
        already. The replaced one stays good for its lifetime (a client racing itself is not
        refused), but a client sending it again did not take the newer one: the server counts that."""
        with self._lock:
            stale = isinstance(used, str) and used in self._replaced
            if isinstance(used, str) and used in self._issued:
                self._replaced.add(used)
            self._replaced &= set(self._issued)
        return self.issue(), stale


def proof_nonce(headers: Mapping[str, Any] | Message) -> object:
    """The `nonce` of a request's (already verified) DPoP proof, or None."""
    proofs = headers.get_all("DPoP") if isinstance(headers, Message) else headers.get("dpop")
    if not proofs:
        return None
    try:
        return _unverified(proofs[0])[1].get("nonce")
    except ValueError:
        return None


# --- helpers ------------------------------------------------------------------------------------


def b64url_sha256(value: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(value.encode("ascii")).digest()).rstrip(b"=").decode()


def normalized_url(url: str) -> str:
    """An `htu` as RFC 9449 §4.3 compares it: no query or fragment, scheme and host lower-case,
    the default port left out."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    default = {"https": 443, "http": 80}.get(parts.scheme.lower())
    netloc = host if parts.port in (None, default) else f"{host}:{parts.port}"
    if ":" in host:  # an IPv6 literal keeps its brackets
        netloc = f"[{host}]" if parts.port in (None, default) else f"[{host}]:{parts.port}"
    return urlunsplit((parts.scheme.lower(), netloc, parts.path or "/", "", ""))


def _unverified(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Header and claims of a compact JWS before its signature is checked (to find the key)."""
    try:
        obj = jws.extract_compact(token.encode("ascii"))
        claims = json.loads(obj.payload)
    except (JoseError, ValueError, UnicodeError) as exc:
        raise ValueError(f"not a compact JWS: {exc}") from exc
    if not isinstance(claims, dict):
        raise ValueError("the payload is not a JSON object")
    return obj.headers(), claims


def _verifies(token: str, key: Key, alg: str) -> bool:
    try:
        jws.deserialize_compact(token, key, algorithms=[alg])
    except (JoseError, ValueError):
        return False
    return True


def _number(claims: Mapping[str, Any], name: str) -> float:
    value = claims.get(name)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"«{name}» mangler eller er ikke et tall")
    return float(value)


def verify_proof(
    proof: str | None,
    *,
    htm: str,
    htu: str,
    replay: ReplayCache,
    nonces: NonceStore | None,
    ath: str | None = None,
) -> tuple[dict[str, Any], str]:
    """A DPoP proof's claims and its key's thumbprint, or `_ProofProblem`. `nonces`: when given, a
    proof must carry a nonce from it (`use_dpop_nonce` otherwise)."""
    if not proof:
        raise _ProofProblem("invalid_dpop_proof", "DPoP-bevis mangler")
    try:
        header, claims = _unverified(proof)
    except ValueError as exc:
        raise _ProofProblem("invalid_dpop_proof", str(exc)) from exc
    if header.get("typ") != "dpop+jwt":
        raise _ProofProblem("invalid_dpop_proof", "typ må være dpop+jwt")
    alg = header.get("alg")
    if alg not in DPOP_ALGS:
        raise _ProofProblem("invalid_dpop_proof", f"alg {alg!r} er ikke tillatt")
    jwk = header.get("jwk")
    if not isinstance(jwk, dict) or jwk.get("kty") not in ("RSA", "EC"):
        raise _ProofProblem("invalid_dpop_proof", "jwk mangler eller er ikke en offentlig RSA- eller EC-nøkkel")
    if PRIVATE_MEMBERS & set(jwk):
        raise _ProofProblem("invalid_dpop_proof", "jwk inneholder privat nøkkelmateriale")
    try:
        key = JWKRegistry.import_key(jwk)
    except (JoseError, ValueError, TypeError, KeyError) as exc:  # KeyError: a curve joserfc does not know
        raise _ProofProblem("invalid_dpop_proof", f"jwk kan ikke leses: {exc}") from exc
    if not _verifies(proof, key, alg):
        raise _ProofProblem("invalid_dpop_proof", "signaturen stemmer ikke med jwk")
    if claims.get("htm") != htm:
        raise _ProofProblem("invalid_dpop_proof", f"htm må være {htm}")
    if not isinstance(claims.get("htu"), str) or normalized_url(claims["htu"]) != normalized_url(htu):
        raise _ProofProblem("invalid_dpop_proof", f"htu må være {normalized_url(htu)}")
    now = time.time()
    try:
        iat = _number(claims, "iat")
    except ValueError as exc:
        raise _ProofProblem("invalid_dpop_proof", str(exc)) from exc
    if abs(now - iat) > PROOF_MAX_AGE:
        raise _ProofProblem("invalid_dpop_proof", "iat er for gammel eller i fremtiden")
    jti = claims.get("jti")
    if not isinstance(jti, str) or not jti:
        raise _ProofProblem("invalid_dpop_proof", "jti mangler")
    if ath is not None and claims.get("ath") != ath:
        raise _ProofProblem("invalid_dpop_proof", "ath stemmer ikke med access-tokenet")
    if nonces is not None and not nonces.valid(claims.get("nonce")):
        raise _ProofProblem("use_dpop_nonce", "DPoP-beviset må ha en nonce fra serveren", nonce=nonces.issue())
    # A proof refused for its nonce may be signed again with the nonce; only a used one is spent.
    if not replay.first_use(f"{key.thumbprint()}:{jti}", until=iat + PROOF_MAX_AGE + CLOCK_SKEW):
        raise _ProofProblem("invalid_dpop_proof", "jti er brukt før")
    return claims, key.thumbprint()


# --- the authorization server -------------------------------------------------------------------


@dataclass
class RegisteredClient:
    client_id: str
    keys: list[Key]
    scopes: set[str]
    organisations: set[str]  # parents with a delegation to the supplier (multi-tenant) or its own
    multi_tenant: bool = True
    # User login: where codes may go, where a logout may return; `loopback_any_port` (test clients
    # only) lets a loopback redirect URI differ from a registered one in its port (RFC 8252 §7.3).
    redirect_uris: tuple[str, ...] = ()
    post_logout_redirect_uris: tuple[str, ...] = ()
    loopback_any_port: bool = False
    # OpenID Connect Back-Channel Logout 1.0: where a logout at the stand-in is told to the client.
    backchannel_logout_uri: str | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RegisteredClient:
        keys = [JWKRegistry.import_key(k) for k in data["jwks"]["keys"]]
        if any(k.is_private for k in keys):
            raise ValueError(f"the registry holds a private key for {data['client_id']}")
        backchannel = data.get("backchannel_logout_uri") or None
        uris = (*data.get("redirect_uris", ()), *data.get("post_logout_redirect_uris", ()),
                *([backchannel] if backchannel else []))  # fmt: skip
        if bad := [uri for uri in uris if not registrable_uri(uri)]:
            raise ValueError(f"{data['client_id']}: redirect URIs a client may not register: {bad}")
        return cls(
            client_id=data["client_id"],
            keys=keys,
            scopes=set(data["scopes"]),
            organisations=set(data["organisations"]),
            multi_tenant=data.get("multi_tenant", True),
            redirect_uris=tuple(data.get("redirect_uris", ())),
            post_logout_redirect_uris=tuple(data.get("post_logout_redirect_uris", ())),
            loopback_any_port=bool(data.get("loopback_any_port", False)),
            backchannel_logout_uri=backchannel,
        )

    @property
    def logs_users_in(self) -> bool:
        return bool(self.redirect_uris)


class PageRefusal(Exception):
    """An authorization or logout request the server refuses on a page of its own (400): it cannot
    trust the redirect URI, so it sends the user nowhere (RFC 6749 §4.1.2.1)."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(f"{error}: {description}")
        self.error, self.description = error, description


@dataclass(frozen=True)
class PageAnswer:
    """What the browser-facing endpoints answer: a page (`status`, `body`) or a redirect (`location`)."""

    status: int
    body: str = ""
    location: str | None = None


def _single(values: Mapping[str, list[str]], *, page: bool = False) -> Callable[[str], str | None]:
    """A reader of one-valued parameters: a parameter given twice is refused (`invalid_request`)."""

    def one(name: str) -> str | None:
        found = values.get(name, [])
        if len(found) > 1:
            if page:
                raise PageRefusal("invalid_request", f"{name} er oppgitt flere ganger")
            raise OAuthRefusal("invalid_request", f"{name} er oppgitt flere ganger")
        return found[0] if found else None

    return one


@dataclass
class HelseIdStandin:
    issuer: str
    signing_key: RSAKey | ECKey
    clients: dict[str, RegisteredClient]
    token_lifetime: int = TOKEN_LIFETIME
    # Key rotation: `keys` are the keys it has (the first; the next, when configured), `published`
    # those in the JWKS, `signing_key` the one it signs with (`use_keys`, the /_standin/keys hook).
    keys: list[RSAKey | ECKey] = field(default_factory=list)
    published: list[RSAKey | ECKey] = field(default_factory=list)
    persons: dict[str, Person] = field(default_factory=dict)
    assertion_replay: ReplayCache = field(default_factory=ReplayCache)
    proof_replay: ReplayCache = field(default_factory=ReplayCache)
    nonces: NonceStore = field(default_factory=NonceStore)
    resource_nonces: NonceStore = field(default_factory=NonceStore)
    resource_replay: ReplayCache = field(default_factory=ReplayCache)
    pushed: OneUse[PushedRequest] = field(default_factory=lambda: OneUse(REQUEST_URI_LIFETIME, REQUEST_URI_PREFIX))
    pickers: OneUse[PushedRequest] = field(default_factory=lambda: OneUse(PICKER_LIFETIME))
    codes: OneUse[Grant] = field(default_factory=lambda: OneUse(CODE_LIFETIME))
    revoked: set[str] = field(default_factory=set)  # the `jti`s of access tokens revoked
    ended_sessions: set[str] = field(default_factory=set)
    # sid → {client_id: sub}: the clients a login session gave ID tokens to, told of its logout.
    session_clients: dict[str, dict[str, str]] = field(default_factory=dict)
    backchannel_sent: list[dict[str, Any]] = field(default_factory=list)  # what `BACKCHANNEL_PATH` shows
    counts: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.keys = self.keys or [self.signing_key]
        self.published = self.published or [self.signing_key]

    @property
    def token_endpoint(self) -> str:
        return self.issuer + TOKEN_PATH

    def count(self, name: str) -> None:
        with self._lock:
            self.counts[name] = self.counts.get(name, 0) + 1

    def discovery(self) -> dict[str, Any]:
        api_scopes = {s for c in self.clients.values() for s in c.scopes}
        claims = {c for scope_claims in IDENTITY_SCOPES.values() for c in scope_claims}
        return {
            "issuer": self.issuer,
            "jwks_uri": self.issuer + JWKS_PATH,
            "authorization_endpoint": self.issuer + AUTHORIZE_PATH,
            "pushed_authorization_request_endpoint": self.issuer + PAR_PATH,
            "require_pushed_authorization_requests": True,
            "token_endpoint": self.token_endpoint,
            "end_session_endpoint": self.issuer + END_SESSION_PATH,
            "backchannel_logout_supported": True,
            "backchannel_logout_session_supported": True,
            "grant_types_supported": ["authorization_code", "client_credentials"],
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["private_key_jwt"],
            "token_endpoint_auth_signing_alg_values_supported": list(ASSERTION_ALGS),
            "dpop_signing_alg_values_supported": list(DPOP_ALGS),
            "authorization_details_types_supported": ["helseid_authorization"],
            "authorization_response_iss_parameter_supported": True,
            "request_parameter_supported": False,
            "acr_values_supported": list(ACR_LEVELS),
            "prompt_values_supported": sorted(PROMPTS),
            "scopes_supported": sorted(set(IDENTITY_SCOPES) | api_scopes),
            "claims_supported": sorted(claims | set(ALWAYS_CLAIMS) | {ORGNR_PARENT_CLAIM, ORGNR_CHILD_CLAIM}),
        }

    def jwks(self) -> dict[str, Any]:
        with self._lock:
            published = list(self.published)
        return {"keys": [{**k.as_dict(private=False, use="sig"), "alg": _alg(k)} for k in published]}

    def use_keys(self, sign_with: str, publish_next: bool) -> dict[str, Any]:
        """The rotation hook: sign with the first or the next key; publish the next or not (signing
        with an unpublished key is allowed on purpose: a client must refuse what it cannot verify)."""
        if sign_with not in ("first", "next") or (sign_with == "next" and len(self.keys) < 2):
            raise ValueError("sign_with må være first eller next (next bare når en neste nøkkel er satt opp)")
        if publish_next and len(self.keys) < 2:
            raise ValueError("ingen neste nøkkel er satt opp")
        with self._lock:
            self.signing_key = self.keys[0] if sign_with == "first" else self.keys[1]
            self.published = self.keys[:2] if publish_next else self.keys[:1]
            return {"signing": self.signing_key.kid, "published": [k.kid for k in self.published]}

    def sign(self, claims: dict[str, Any], typ: str) -> str:
        key = self.signing_key
        return jose_jwt.encode({"alg": _alg(key), "kid": key.kid, "typ": typ}, claims, key, algorithms=[_alg(key)])

    # The token endpoint ---------------------------------------------------------------------------

    def token(self, form: Mapping[str, list[str]], headers: Mapping[str, list[str]]) -> dict[str, Any]:
        """The token endpoint's answer to one request, or `OAuthRefusal`."""
        one = _single(form)
        client, assertion = self._authenticate(one)
        grant_type = one("grant_type")
        if grant_type == "authorization_code":
            return self._code_grant(client, assertion, one, headers)
        if grant_type != "client_credentials":
            raise OAuthRefusal("unsupported_grant_type", "bare client_credentials og authorization_code er satt opp")
        jkt = self._proof(headers, self.token_endpoint, required=True)
        assert jkt is not None
        scopes = (one("scope") or "").split()
        if not scopes:
            raise OAuthRefusal("invalid_scope", "scope mangler")
        unknown = [s for s in scopes if s not in client.scopes]
        if unknown:
            raise OAuthRefusal("invalid_scope", f"klienten har ikke scope {' '.join(unknown)}")
        parent, child = self._organisation(client, _assertion_details(assertion))
        return self._issue(client, scopes, jkt, parent, child)

    def _proof(self, headers: Mapping[str, list[str]], htu: str, *, required: bool) -> str | None:
        """The thumbprint of the request's DPoP key (None without a proof, where one is optional)."""
        proofs = headers.get("dpop", [])
        if len(proofs) > 1:
            raise OAuthRefusal("invalid_dpop_proof", "mer enn ett DPoP-bevis")
        if not proofs and not required:
            return None
        try:
            _, jkt = verify_proof(
                proofs[0] if proofs else None, htm="POST", htu=htu, replay=self.proof_replay, nonces=self.nonces
            )
        except _ProofProblem as problem:
            raise OAuthRefusal(problem.error, problem.description, nonce=problem.nonce) from None
        return jkt

    def _authenticate(self, one: Any) -> tuple[RegisteredClient, dict[str, Any]]:
        if one("client_assertion_type") != ASSERTION_TYPE:
            raise OAuthRefusal("invalid_client", "client_assertion_type må være jwt-bearer (private_key_jwt)")
        assertion = one("client_assertion")
        if not assertion:
            raise OAuthRefusal("invalid_client", "client_assertion mangler")
        try:
            header, claims = _unverified(assertion)
        except ValueError as exc:
            raise OAuthRefusal("invalid_client", f"client_assertion: {exc}") from None
        alg = header.get("alg")
        if alg not in ASSERTION_ALGS:
            raise OAuthRefusal("invalid_client", f"alg {alg!r} er ikke tillatt i client_assertion")
        if str(header.get("typ", "JWT")).lower() not in ("jwt", "client-authentication+jwt"):
            raise OAuthRefusal("invalid_client", "client_assertion har feil typ")
        iss = claims.get("iss")
        client = self.clients.get(iss) if isinstance(iss, str) else None
        if client is None:
            raise OAuthRefusal("invalid_client", "ukjent klient")
        form_client = one("client_id")
        if form_client is not None and form_client != client.client_id:
            raise OAuthRefusal("invalid_client", "client_id stemmer ikke med client_assertion")
        kid = header.get("kid")
        candidates = [k for k in client.keys if kid is None or k.kid == kid]
        if not any(_verifies(assertion, key, alg) for key in candidates):
            raise OAuthRefusal("invalid_client", "signaturen på client_assertion stemmer ikke med klientens nøkler")
        if claims.get("sub") != client.client_id:
            raise OAuthRefusal("invalid_client", "sub må være klient-ID-en")
        aud = claims.get("aud")
        if aud != self.issuer and aud != [self.issuer]:
            raise OAuthRefusal("invalid_client", f"aud må være utstederen {self.issuer}")
        now = time.time()
        try:
            exp, iat = _number(claims, "exp"), _number(claims, "iat")
            nbf = _number(claims, "nbf") if "nbf" in claims else iat
        except ValueError as exc:
            raise OAuthRefusal("invalid_client", f"client_assertion: {exc}") from None
        if exp <= now:
            raise OAuthRefusal("invalid_client", "client_assertion er utløpt")
        if iat > now + CLOCK_SKEW or nbf > now + CLOCK_SKEW:
            raise OAuthRefusal("invalid_client", "client_assertion er ikke gyldig ennå")
        if exp - iat > ASSERTION_MAX_LIFETIME:
            raise OAuthRefusal("invalid_client", f"client_assertion kan leve høyst {ASSERTION_MAX_LIFETIME} s")
        jti = claims.get("jti")
        if not isinstance(jti, str) or not jti:
            raise OAuthRefusal("invalid_client", "jti mangler i client_assertion")
        if not self.assertion_replay.first_use(f"{client.client_id}:{jti}", until=exp + CLOCK_SKEW):
            raise OAuthRefusal("invalid_client", "client_assertion er brukt før (jti)")
        return client, claims

    def _organisation(
        self, client: RegisteredClient, details: Any, *, array: bool = False
    ) -> tuple[str | None, str | None]:
        """(parent, child) from an `authorization_details` (the client assertion's: NHN's object, or
        RFC 9396's array of one; the PAR parameter's: the array only, `array`), checked member by
        member against NHN's `helseid_authorization` and against the client's delegations."""

        def refuse(description: str) -> OAuthRefusal:
            return OAuthRefusal("invalid_authorization_details", description)

        if details is None:
            if client.multi_tenant:
                raise refuse("en multi-tenant-klient må oppgi organisasjonsnummer i authorization_details")
            return next(iter(sorted(client.organisations)), None), None
        if isinstance(details, list):  # RFC 9396's array form, with HelseID's one entry
            if len(details) != 1:
                raise refuse("authorization_details må ha nøyaktig én helseid_authorization")
            details = details[0]
        elif array:
            raise refuse("authorization_details må være en JSON-liste med ett objekt (RFC 9396)")
        system, value = _helseid_identifier(details, refuse)
        if client.multi_tenant:
            match = MULTI_TENANT_VALUE.fullmatch(value)
            if system != MULTI_TENANT_SYSTEM or not match:
                raise refuse(f"system {MULTI_TENANT_SYSTEM} med verdi NO:ORGNR:<overenhet>[:<underenhet>] kreves")
            parent, child = match.group(1), match.group(2)
        else:
            if system != SINGLE_TENANT_SYSTEM or not ORGNR.fullmatch(value):
                raise refuse(f"system {SINGLE_TENANT_SYSTEM} med et organisasjonsnummer for underenheten kreves")
            parent, child = next(iter(sorted(client.organisations))), value
        if parent not in client.organisations:
            raise refuse(f"klienten har ingen delegering fra organisasjonsnummer {parent}")
        return parent, child

    def _issue(
        self, client: RegisteredClient, scopes: list[str], jkt: str, parent: str | None, child: str | None
    ) -> dict[str, Any]:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": sorted({s.split("/")[0] for s in scopes}),
            "client_id": client.client_id,
            "scope": scopes,
            "iat": now,
            "nbf": now,
            "exp": now + self.token_lifetime,
            "jti": secrets.token_hex(16),
            "cnf": {"jkt": jkt},
        }
        if parent:
            claims[ORGNR_PARENT_CLAIM] = parent
        if child:
            claims[ORGNR_CHILD_CLAIM] = child
        token = self.sign(claims, "at+jwt")
        self.count("tokens_issued")
        return {
            "access_token": token,
            "token_type": "DPoP",
            "expires_in": self.token_lifetime,
            "scope": " ".join(scopes),
        }

    # User login: PAR ------------------------------------------------------------------------------

    def par(self, form: Mapping[str, list[str]], headers: Mapping[str, list[str]]) -> dict[str, Any]:
        """The PAR endpoint's answer (RFC 9126): a `request_uri` for one use within
        REQUEST_URI_LIFETIME seconds, or `OAuthRefusal`."""
        one = _single(form)
        client, assertion = self._authenticate(one)
        if one("client_id") is None:
            raise OAuthRefusal("invalid_request", "client_id mangler")
        if not client.logs_users_in:
            raise OAuthRefusal("unauthorized_client", "klienten er ikke satt opp for innlogging (ingen redirect_uri)")
        if "request" in form:
            raise OAuthRefusal("request_not_supported", "request-objekter tas ikke imot: send parameterne i skjemaet")
        if "request_uri" in form:
            raise OAuthRefusal("invalid_request", "request_uri kan ikke sendes til PAR-endepunktet")
        jkt = self._proof(headers, self.issuer + PAR_PATH, required=False)
        request = self._pushed_request(client, assertion, one, jkt)
        self.count("pushed_requests")
        return {"request_uri": self.pushed.add(request), "expires_in": REQUEST_URI_LIFETIME}

    def _pushed_request(
        self, client: RegisteredClient, assertion: Mapping[str, Any], one: Callable[[str], str | None],
        jkt: str | None,
    ) -> PushedRequest:  # fmt: skip
        if one("response_type") != "code":
            raise OAuthRefusal("unsupported_response_type", "response_type må være code")
        if one("response_mode") not in (None, "query"):
            raise OAuthRefusal("invalid_request", "response_mode kan bare være query")
        redirect_uri = one("redirect_uri")
        if not redirect_uri:
            raise OAuthRefusal("invalid_request", "redirect_uri mangler")
        if not redirect_uri_allowed(redirect_uri, client.redirect_uris, loopback_any_port=client.loopback_any_port):
            raise OAuthRefusal("invalid_request", f"redirect_uri {redirect_uri} er ikke registrert for klienten")
        scopes = tuple((one("scope") or "").split())
        if "openid" not in scopes:
            raise OAuthRefusal("invalid_scope", "scope må inneholde openid")
        if unknown := [s for s in scopes if s not in IDENTITY_SCOPES and s not in client.scopes]:
            raise OAuthRefusal("invalid_scope", f"klienten har ikke scope {' '.join(unknown)}")
        state, nonce = _required_value(one, "state"), _required_value(one, "nonce")
        method, challenge = one("code_challenge_method"), one("code_challenge")
        if method != "S256":
            raise OAuthRefusal(
                "invalid_request", f"code_challenge_method må være S256 (fikk {method!r}); plain tas ikke imot"
            )
        if not challenge or not CODE_CHALLENGE.fullmatch(challenge):
            raise OAuthRefusal("invalid_request", "code_challenge mangler eller er ikke base64url(SHA-256) (43 tegn)")
        try:
            level = required_level(one("acr_values"))
        except ValueError as exc:
            raise OAuthRefusal("invalid_request", str(exc)) from None
        prompt = tuple((one("prompt") or "").split())
        if set(prompt) - PROMPTS or ("none" in prompt and len(prompt) > 1):
            raise OAuthRefusal("invalid_request", f"prompt kan være én av {', '.join(sorted(PROMPTS))} (none alene)")
        dpop_jkt = one("dpop_jkt")
        if dpop_jkt and jkt and dpop_jkt != jkt:
            raise OAuthRefusal("invalid_dpop_proof", "dpop_jkt er ikke nøkkelen DPoP-beviset er signert med")
        parent, child = self._login_organisation(client, one("authorization_details"), assertion)
        return PushedRequest(
            client_id=client.client_id, redirect_uri=redirect_uri, scopes=scopes, state=state, nonce=nonce,
            code_challenge=challenge, required_level=level, prompt=prompt, parent=parent, child=child,
            dpop_jkt=dpop_jkt or jkt,
        )  # fmt: skip

    def _login_organisation(
        self, client: RegisteredClient, parameter: str | None, assertion: Mapping[str, Any]
    ) -> tuple[str | None, str | None]:
        """The organisation a login is for, named in `authorization_details` (the PAR parameter, RFC
        9396, or the client assertion): none is fine; two that differ are not."""
        named = []
        if parameter is not None:
            try:
                parsed = json.loads(parameter, object_pairs_hook=_no_repeated_members)
            except ValueError as exc:
                raise OAuthRefusal("invalid_authorization_details", f"authorization_details: {exc}") from None
            named.append(self._organisation(client, parsed, array=True))
        if (details := _assertion_details(assertion)) is not None:
            named.append(self._organisation(client, details))
        if len(set(named)) > 1:
            raise OAuthRefusal(
                "invalid_authorization_details", "ulike organisasjoner i parameteren og i client_assertion"
            )
        return named[0] if named else (None, None)

    # User login: the authorization endpoint -------------------------------------------------------

    def authorize(self, query: str) -> PageAnswer:
        """`GET /connect/authorize?client_id=…&request_uri=…`: the picker, or `PageRefusal`."""
        params = parse_qs(query, keep_blank_values=True)
        if extra := sorted(set(params) - {"client_id", "request_uri"}):
            raise PageRefusal(
                "invalid_request", f"PAR kreves: bare client_id og request_uri tas imot her, ikke {', '.join(extra)}"
            )
        one = _single(params, page=True)
        client_id, request_uri = one("client_id"), one("request_uri")
        if not request_uri:
            raise PageRefusal(
                "invalid_request", "request_uri mangler: send autorisasjonsforespørselen til /connect/par først"
            )
        client = self.clients.get(client_id or "")
        if client is None or not client.logs_users_in:
            raise PageRefusal("unauthorized_client", f"ukjent klient {client_id!r}, eller ikke satt opp for innlogging")

        def for_this_client(request: PushedRequest) -> None:
            if request.client_id != client_id:
                raise PageRefusal("invalid_request_uri", "request_uri ble laget for en annen klient")

        try:
            request = self.pushed.take(request_uri, for_this_client)
        except Spent as spent:
            raise PageRefusal("invalid_request_uri", SPENT_REQUEST_URI[spent.reason]) from None
        if "none" in request.prompt:  # no session here to log in silently with
            return self._redirect_error(request, "login_required", "prompt=none, men brukeren er ikke innlogget")
        transaction = self.pickers.add(request)
        page = picker_page(
            transaction, request.client_id, self.persons.values(), request.required_level, AUTHORIZE_PATH
        )
        return PageAnswer(200, page)

    def choose(self, form: Mapping[str, list[str]]) -> PageAnswer:
        """The picker's form: a person (`pid`) → the code to the redirect URI; `cancel` → access_denied.
        `below_level` (a person under the level `acr_values` asked for) → a code all the same: what
        HelseID does when someone gets through at a lower level, which the client must refuse."""
        one = _single(form, page=True)
        if one("cancel") is not None:
            request = self._take_picker(one("transaction"), None)
            return self._redirect_error(request, "access_denied", "brukeren avbrøt innloggingen")
        below = one("below_level")
        if below is not None and one("pid") is not None:
            raise PageRefusal("invalid_request", "pid og below_level kan ikke sendes sammen")
        person = self.persons.get((below if below is not None else one("pid")) or "")

        def eligible(request: PushedRequest) -> None:
            if person is None:
                raise PageRefusal("invalid_request", "ukjent testperson")
            under = bool(request.required_level and person.level < request.required_level)
            if under and below is None:
                needed = f"klienten krever {request.required_level}"
                raise PageRefusal("invalid_request", f"{person.name} har sikkerhetsnivå {person.level}; {needed}")
            if below is not None and not under:
                raise PageRefusal("invalid_request", "below_level gjelder bare en person under nivået klienten krever")

        request = self._take_picker(one("transaction"), eligible)
        assert person is not None
        login = Login(request=request, person=person, auth_time=int(time.time()), sid=secrets.token_hex(16))
        code = self.codes.add(Grant(login))
        self.count("logins")
        if below is not None:
            self.count("logins_below_level")
        return PageAnswer(
            302, location=with_query(request.redirect_uri, code=code, state=request.state, iss=self.issuer)
        )

    def _take_picker(self, transaction: str | None, check: Callable[[PushedRequest], None] | None) -> PushedRequest:
        try:
            return self.pickers.take(transaction, check)
        except Spent:
            raise PageRefusal("invalid_request", "skjemaet er brukt eller utløpt: start innloggingen på nytt") from None

    def _redirect_error(self, request: PushedRequest, error: str, description: str) -> PageAnswer:
        location = with_query(request.redirect_uri, error=error, error_description=description, state=request.state,
                              iss=self.issuer)  # fmt: skip
        return PageAnswer(302, location=location)

    # User login: the code at the token endpoint ---------------------------------------------------

    def _code_grant(
        self, client: RegisteredClient, assertion: Mapping[str, Any], one: Callable[[str], str | None],
        headers: Mapping[str, list[str]],
    ) -> dict[str, Any]:  # fmt: skip
        if not client.logs_users_in:
            raise OAuthRefusal("unauthorized_client", "klienten er ikke satt opp for innlogging")
        # The DPoP nonce round comes first: a client told to use a nonce still has its code.
        jkt = self._proof(headers, self.token_endpoint, required=False)
        code = one("code")
        if not code:
            raise OAuthRefusal("invalid_request", "code mangler")
        try:
            grant = self.codes.take(code)
        except Spent as spent:
            if spent.reason == "used":
                self._revoke(spent.item)
                raise OAuthRefusal(
                    "invalid_grant", "koden er brukt før; tokenene utstedt for den er trukket tilbake"
                ) from None
            raise OAuthRefusal(
                "invalid_grant", "koden er ukjent" if spent.reason == "unknown" else "koden er utløpt"
            ) from None
        request = grant.login.request
        if request.client_id != client.client_id:
            raise OAuthRefusal("invalid_grant", "koden ble utstedt til en annen klient")
        if one("redirect_uri") != request.redirect_uri:
            raise OAuthRefusal("invalid_grant", "redirect_uri er ikke den fra autorisasjonsforespørselen")
        verifier = one("code_verifier")
        if not verifier:
            raise OAuthRefusal("invalid_grant", "code_verifier mangler (PKCE)")
        if not CODE_VERIFIER.fullmatch(verifier) or s256(verifier) != request.code_challenge:
            raise OAuthRefusal("invalid_grant", "code_verifier stemmer ikke med code_challenge (S256)")
        if request.dpop_jkt and jkt != request.dpop_jkt:
            raise OAuthRefusal(
                "invalid_dpop_proof", "koden er bundet til en DPoP-nøkkel (dpop_jkt): bevis med den kreves"
            )
        parent, child = request.parent, request.child
        if (details := _assertion_details(assertion)) is not None:
            parent, child = self._organisation(client, details)
        return self._issue_login(client, grant, jkt, parent, child)

    def _revoke(self, grant: Grant) -> None:
        with self._lock:
            self.revoked.update(grant.token_ids)
        self.count("codes_replayed")

    def _issue_login(
        self, client: RegisteredClient, grant: Grant, jkt: str | None, parent: str | None, child: str | None
    ) -> dict[str, Any]:
        login, now = grant.login, int(time.time())
        request, person = login.request, login.person
        about = identity_claims(person, request.scopes)
        common = {"iss": self.issuer, "iat": now, "nbf": now, "auth_time": login.auth_time, "sub": person.subject,
                  "sid": login.sid, "idp": IDP, "amr": ["external"]}  # fmt: skip
        id_token = {**common, "aud": client.client_id, "exp": now + ID_TOKEN_LIFETIME, "nonce": request.nonce,
                    "acr": f"Level{person.security_level}", **about}  # fmt: skip
        api_scopes = [s for s in request.scopes if s not in IDENTITY_SCOPES]
        access: dict[str, Any] = {
            **common, **about,
            "aud": sorted({s.split("/")[0] for s in api_scopes}) or [f"{self.issuer}/resources"],
            "client_id": client.client_id, "scope": list(request.scopes), "exp": now + self.token_lifetime,
            "jti": secrets.token_hex(16),
        }  # fmt: skip
        if jkt:
            access["cnf"] = {"jkt": jkt}
        access.update({ORGNR_PARENT_CLAIM: parent} if parent else {})
        access.update({ORGNR_CHILD_CLAIM: child} if child else {})
        with self._lock:
            grant.token_ids.append(access["jti"])
            self.session_clients.setdefault(login.sid, {})[client.client_id] = person.subject
        self.count("tokens_issued")
        return {
            "access_token": self.sign(access, "at+jwt"),
            "id_token": self.sign(id_token, "JWT"),
            "token_type": "DPoP" if jkt else "Bearer",
            "expires_in": self.token_lifetime,
            "scope": " ".join(request.scopes),
        }

    # User logout ----------------------------------------------------------------------------------

    def end_session(self, params: Mapping[str, list[str]]) -> PageAnswer:
        """RP-initiated logout: back to a registered post-logout URI of the client the `id_token_hint`
        was issued to (with `state`), a «logged out» page without one; `PageRefusal` otherwise."""
        one = _single(params, page=True)
        hint, uri, state = one("id_token_hint"), one("post_logout_redirect_uri"), one("state")
        if hint is None:
            if uri is not None:
                raise PageRefusal("invalid_request", "post_logout_redirect_uri krever id_token_hint")
            return PageAnswer(200, logged_out_page())
        claims = self._id_token_hint(hint)
        client = self.clients.get(claims.get("aud"))  # type: ignore[arg-type]
        if client is None:
            raise PageRefusal("invalid_request", "id_token_hint er utstedt til en ukjent klient")
        if one("client_id") not in (None, client.client_id):
            raise PageRefusal("invalid_request", "client_id er ikke klienten id_token_hint ble utstedt til")
        if uri is not None and not redirect_uri_allowed(
            uri, client.post_logout_redirect_uris, loopback_any_port=client.loopback_any_port
        ):
            raise PageRefusal(
                "invalid_request", f"post_logout_redirect_uri {uri} er ikke registrert for {client.client_id}"
            )
        with self._lock:
            self.ended_sessions.add(str(claims.get("sid")))
            told = self.session_clients.pop(str(claims.get("sid")), {})
        self.count("sessions_ended")
        for client_id, subject in told.items():
            self.backchannel_logout(client_id, sid=str(claims.get("sid")), sub=subject)
        if uri is None:
            return PageAnswer(200, logged_out_page())
        return PageAnswer(302, location=with_query(uri, state=state))

    def logout_token(self, client_id: str, *, sid: str, sub: str) -> str:
        """A logout token (OpenID Connect Back-Channel Logout 1.0 §2.4) for the client: `typ`
        logout+jwt, signed as the ID tokens are, `iss`, `aud`, `iat`, `exp`, a new `jti`, `sub`,
        `sid`, the logout event, and never a `nonce`."""
        now = int(time.time())
        claims = {"iss": self.issuer, "aud": client_id, "iat": now, "exp": now + LOGOUT_TOKEN_LIFETIME,
                  "jti": secrets.token_urlsafe(16), "sub": sub, "sid": sid,
                  "events": {BACKCHANNEL_LOGOUT_EVENT: {}}}  # fmt: skip
        return self.sign(claims, "logout+jwt")

    def backchannel_logout(self, client_id: str, *, sid: str, sub: str) -> None:
        """Tells the client of a logout: POSTs a logout token (a form, `logout_token`) to its
        registered `backchannel_logout_uri`, once, as HelseID does; what happened is kept for
        `BACKCHANNEL_PATH` (the token too: a test may deliver it to a platform with no live server)."""
        client = self.clients.get(client_id)
        if client is None or not client.backchannel_logout_uri:
            return
        token = self.logout_token(client_id, sid=sid, sub=sub)
        sent: dict[str, Any] = {"client_id": client_id, "uri": client.backchannel_logout_uri, "sid": sid,
                                "sub": sub, "logout_token": token, "status": None}  # fmt: skip
        form = urlencode({"logout_token": token}).encode()
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        # The URI was registered as https, or http on loopback (`registrable_uri`): no other scheme.
        request = Request(client.backchannel_logout_uri, data=form, headers=headers, method="POST")  # noqa: S310
        try:
            with urlopen(request, timeout=BACKCHANNEL_TIMEOUT) as answer:  # noqa: S310 (a registered http(s) URI)
                sent["status"] = answer.status
        except URLError as exc:
            status = getattr(exc, "code", None)  # an HTTPError (a 4xx/5xx) has one
            sent["status"], sent["error"] = status, str(exc)
        except OSError as exc:  # a timeout, a reset
            sent["error"] = str(exc)
        self.count("backchannel_logout_sent" if sent["status"] == 200 else "backchannel_logout_failed")
        with self._lock:
            self.backchannel_sent.append(sent)

    def _id_token_hint(self, hint: str) -> dict[str, Any]:
        """The claims of an ID token this server signed (an expired one too, as OpenID Connect
        RP-Initiated Logout allows)."""
        try:
            header, claims = _unverified(hint)
        except ValueError:
            raise PageRefusal("invalid_request", "id_token_hint er ikke en JWT") from None
        keys = [k for k in self.keys if k.kid == header.get("kid")]
        if header.get("alg") != "RS256" or not any(_verifies(hint, k, "RS256") for k in keys):
            raise PageRefusal("invalid_request", "id_token_hint er ikke signert av denne utstederen")
        if claims.get("iss") != self.issuer or not isinstance(claims.get("aud"), str):
            raise PageRefusal("invalid_request", "id_token_hint er ikke et ID-token fra denne utstederen")
        return claims


def _required_value(one: Callable[[str], str | None], name: str) -> str:
    value = one(name)
    if not value:
        raise OAuthRefusal("invalid_request", f"{name} mangler")
    if len(value) > MAX_PARAMETER:
        raise OAuthRefusal("invalid_request", f"{name} er lengre enn {MAX_PARAMETER} tegn")
    return value


# NHN's `helseid_authorization` («Bruk av organisasjonsnumre», docs/helseid.md): every member it has,
# and no other (a misspelt member must not pass unnoticed).
HELSEID_AUTHORIZATION_MEMBERS = {"type", "practitioner_role"}
IDENTIFIER_MEMBERS = {"system", "type", "value"}


def _helseid_identifier(details: Any, refuse: Callable[[str], OAuthRefusal]) -> tuple[str, str]:
    """(system, value) of a `helseid_authorization`'s `practitioner_role.organization.identifier`,
    whose `type` must be ENH; `refuse(why)` for anything else."""
    if not isinstance(details, dict) or details.get("type") != "helseid_authorization":
        raise refuse("type må være helseid_authorization")
    path = "helseid_authorization"
    for name, members in (("", HELSEID_AUTHORIZATION_MEMBERS), ("practitioner_role", {"organization"}),
                          ("organization", {"identifier"}), ("identifier", IDENTIFIER_MEMBERS)):  # fmt: skip
        if name:
            details, path = details[name], f"{path}.{name}"
        if not isinstance(details, dict):
            raise refuse(f"{path} må være et JSON-objekt")
        if set(details) != members:
            problems = []
            if missing := sorted(members - set(details)):
                problems.append(f"mangler {', '.join(missing)}")
            if unknown := sorted(set(details) - members):
                problems.append(f"ukjent {', '.join(unknown)}")
            raise refuse(f"{path}: {'; '.join(problems)} (skal ha {', '.join(sorted(members))})")
    if not all(isinstance(details[member], str) for member in IDENTIFIER_MEMBERS):
        raise refuse(f"{path}: system, type og value må være tekst")
    if details["type"] != "ENH":
        raise refuse(f"{path}.type må være ENH (Enhetsregisteret)")
    return details["system"], details["value"]


def _no_repeated_members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object whose members are named once each (json.loads would keep the last silently)."""
    names = [name for name, _value in pairs]
    if len(set(names)) != len(names):
        raise ValueError(f"et JSON-objekt har samme medlem flere ganger ({', '.join(sorted(set(names)))})")
    return dict(pairs)


def _assertion_details(claims: Mapping[str, Any]) -> Any:
    """The organisation structure of a client assertion: `authorization_details`, or HelseID's newer
    name for it there, `assertion_details` — never both."""
    if "authorization_details" in claims and "assertion_details" in claims:
        raise OAuthRefusal(
            "invalid_request", "client_assertion kan ikke ha både authorization_details og assertion_details"
        )
    return claims.get("assertion_details", claims.get("authorization_details"))


def _alg(key: Key) -> str:
    return "RS256" if isinstance(key, RSAKey) else "ES256"


def sign_access_token(key: RSAKey | ECKey, claims: dict[str, Any]) -> str:
    alg = "RS256" if isinstance(key, RSAKey) else "ES256"
    return jose_jwt.encode({"alg": alg, "kid": key.kid, "typ": "at+jwt"}, claims, key, algorithms=[alg])


# --- the resource server's side -----------------------------------------------------------------


def verify_dpop_request(
    headers: Mapping[str, str] | Message,
    method: str,
    url: str,
    *,
    issuer_jwks: Mapping[str, Any],
    required_scope: str,
    issuer: str | None = None,
    audience: str | None = None,
    replay: ReplayCache | None = None,
    nonces: NonceStore | None = None,
) -> dict[str, Any]:
    """What an NHN API checks before it serves a request: one `Authorization` and one `DPoP`
    header (give the request's own headers, an `email.message.Message`, so a repeated one is seen),
    the access token's `typ` (`at+jwt`, RFC 9068) and signature by the issuer's key, `iss` (when
    given), `aud` naming this API (`audience`; by default the required scope's API, `nhn:jft` for
    `nhn:jft/api`, as HelseID names it), `exp`/`nbf`, the scope, and the DPoP proof (signature,
    `htm`, `htu`, `iat`, a new `jti`, `ath` = the token's hash, its key = the token's `cnf.jkt`, and
    a nonce from `nonces` when given). Returns the token's claims, or raises `DPoPRequestRefused`
    with the status and headers the service would answer."""
    lower: dict[str, str] = {}
    for name, value in headers.items():
        if name.lower() in lower and name.lower() in ("authorization", "dpop"):
            error = "invalid_dpop_proof" if name.lower() == "dpop" else "invalid_request"
            raise DPoPRequestRefused(error, f"{name} er oppgitt mer enn én gang")
        lower[name.lower()] = value
    scheme, _, token = lower.get("authorization", "").partition(" ")
    if scheme.lower() != "dpop" or not token:
        raise DPoPRequestRefused("invalid_token" if scheme else "invalid_request", "Authorization: DPoP <token> kreves")
    try:
        header, claims = _unverified(token)
    except ValueError as exc:
        raise DPoPRequestRefused("invalid_token", str(exc)) from None
    alg = header.get("alg")
    keys = KeySet.import_key_set(issuer_jwks)  # type: ignore[arg-type]
    try:
        key = keys.get_by_kid(header.get("kid"))
    except (JoseError, ValueError):
        raise DPoPRequestRefused("invalid_token", "tokenet er ikke signert av utstederen") from None
    if alg not in ("RS256", "PS256", "ES256") or not _verifies(token, key, alg):
        raise DPoPRequestRefused("invalid_token", "tokenet er ikke signert av utstederen")
    if str(header.get("typ", "")).lower() not in ("at+jwt", "application/at+jwt"):
        raise DPoPRequestRefused("invalid_token", "tokenet er ikke et access token (typ må være at+jwt)")
    now = time.time()
    if issuer is not None and claims.get("iss") != issuer:
        raise DPoPRequestRefused("invalid_token", "tokenet er fra en annen utsteder")
    audience = audience or required_scope.split("/")[0]
    aud = claims.get("aud")
    if audience != aud and not (isinstance(aud, list) and audience in aud):
        raise DPoPRequestRefused("invalid_token", f"tokenet er ikke utstedt til {audience} (aud)")
    try:
        exp = _number(claims, "exp")
        nbf = _number(claims, "nbf") if "nbf" in claims else 0
    except ValueError as exc:
        raise DPoPRequestRefused("invalid_token", str(exc)) from None
    if exp <= now:
        raise DPoPRequestRefused("invalid_token", "tokenet er utløpt")
    if nbf > now + CLOCK_SKEW:
        raise DPoPRequestRefused("invalid_token", "tokenet er ikke gyldig ennå")
    jkt = (claims.get("cnf") or {}).get("jkt")
    if not isinstance(jkt, str):
        raise DPoPRequestRefused("invalid_token", "tokenet er ikke bundet til en DPoP-nøkkel (cnf.jkt)")
    scope = claims.get("scope")
    granted = set(scope.split() if isinstance(scope, str) else scope or [])
    if required_scope not in granted:
        raise DPoPRequestRefused("insufficient_scope", f"tokenet mangler scope {required_scope}", status=403)
    try:
        _, proof_jkt = verify_proof(
            lower.get("dpop"),
            htm=method.upper(),
            htu=url,
            replay=replay if replay is not None else _RESOURCE_REPLAY,
            nonces=nonces,
            ath=b64url_sha256(token),
        )
    except _ProofProblem as problem:
        raise DPoPRequestRefused(problem.error, problem.description, nonce=problem.nonce) from None
    if proof_jkt != jkt:
        raise DPoPRequestRefused(
            "invalid_dpop_proof", "DPoP-beviset er signert med en annen nøkkel enn den tokenet er bundet til"
        )
    return claims


_RESOURCE_REPLAY = ReplayCache()


# --- HTTP ---------------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: the tests read the answers, not a log

    def _answer(self, status: int, body: dict[str, Any], headers: Mapping[str, str] | None = None) -> None:
        self._send(status, json.dumps(body).encode(), {"Content-Type": "application/json", "Cache-Control": "no-store",
                                                       **(headers or {})})  # fmt: skip

    def _send(self, status: int, data: bytes, headers: Mapping[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _page(self, produce: Callable[[], PageAnswer]) -> None:
        """A browser-facing endpoint's answer: its page, its redirect, or its refusal's page."""
        try:
            answer = produce()
        except PageRefusal as refusal:
            self.server.standin.count(f"refused:{refusal.error}")
            answer = PageAnswer(400, error_page(refusal.error, refusal.description))
        if answer.location is not None:
            self._send(answer.status, b"", {"Location": answer.location, "Cache-Control": "no-store"})
        else:
            self._send(answer.status, answer.body.encode(), PAGE_HEADERS)

    def _resource(self) -> None:
        standin = self.server.standin
        try:
            claims = verify_dpop_request(
                self.headers,
                self.command,
                f"{standin.issuer}{self.path}",
                issuer_jwks=standin.jwks(),
                required_scope=RESOURCE_SCOPE,
                issuer=standin.issuer,
                replay=standin.resource_replay,
                nonces=standin.resource_nonces,
            )
            if claims.get("jti") in standin.revoked:
                raise DPoPRequestRefused("invalid_token", "tokenet er trukket tilbake")
        except DPoPRequestRefused as refusal:
            standin.count(f"resource_refused:{refusal.error}")
            self._answer(refusal.status, {"error": refusal.error, "error_description": refusal.description},
                         refusal.headers)  # fmt: skip
            return
        fresh, stale = standin.resource_nonces.rotate(proof_nonce(self.headers))
        if stale:
            standin.count("resource_stale_nonce")
        self._answer(200, {"claims": claims}, {"DPoP-Nonce": fresh})

    def do_GET(self) -> None:
        standin = self.server.standin
        parts = urlsplit(self.path)
        standin.count(parts.path)
        if parts.path == RESOURCE_PATH:
            self._resource()
        elif parts.path == DISCOVERY_PATH:
            self._answer(200, standin.discovery())
        elif parts.path == JWKS_PATH:
            self._answer(200, standin.jwks())
        elif parts.path == AUTHORIZE_PATH:
            self._page(lambda: standin.authorize(parts.query))
        elif parts.path == END_SESSION_PATH:
            self._page(lambda: standin.end_session(parse_qs(parts.query, keep_blank_values=True)))
        elif parts.path == STATS_PATH:
            with standin._lock:
                self._answer(200, dict(standin.counts))
        elif parts.path == BACKCHANNEL_PATH:
            with standin._lock:
                self._answer(200, {"sent": list(standin.backchannel_sent)})
        else:
            self._answer(404, {"error": "not_found"})

    def do_POST(self) -> None:
        standin = self.server.standin
        path = urlsplit(self.path).path
        standin.count(path)
        try:
            length = serving.body_length(self.headers)
        except serving.BodyRefused as refused:
            self.close_connection = True  # the body stays unread
            self._answer(refused.status, {"error": "invalid_request", "error_description": refused.description})
            return
        if length > MAX_BODY:
            self.close_connection = True  # the body stays unread
            self._answer(413, {"error": "invalid_request", "error_description": f"høyst {MAX_BODY} byte"})
            return
        body = self.rfile.read(length).decode("utf-8", "replace") if length else ""
        if path == RESOURCE_PATH:
            self._resource()
        elif path == KEYS_PATH:
            self._keys(body)
        elif path in (AUTHORIZE_PATH, END_SESSION_PATH):
            self._page(lambda: self._form_page(path, body))
        elif path in (TOKEN_PATH, PAR_PATH):
            self._oauth(path, body)
        else:
            self._answer(404, {"error": "not_found"})

    def _form_page(self, path: str, body: str) -> PageAnswer:
        if self.headers.get_content_type() != "application/x-www-form-urlencoded":
            raise PageRefusal("invalid_request", "skjemadata kreves")
        form = parse_qs(body, keep_blank_values=True)
        standin = self.server.standin
        return standin.choose(form) if path == AUTHORIZE_PATH else standin.end_session(form)

    def _oauth(self, path: str, body: str) -> None:
        """The token and PAR endpoints: form in, JSON out, errors the OAuth way."""
        standin = self.server.standin
        if self.headers.get_content_type() != "application/x-www-form-urlencoded":
            self._answer(400, {"error": "invalid_request", "error_description": "skjemadata kreves"})
            return
        form = parse_qs(body, keep_blank_values=True)
        headers: dict[str, list[str]] = {}
        for name, value in self.headers.items():
            headers.setdefault(name.lower(), []).append(value)
        try:
            answer = standin.token(form, headers) if path == TOKEN_PATH else standin.par(form, headers)
        except OAuthRefusal as refusal:
            extra = {"DPoP-Nonce": refusal.nonce} if refusal.nonce else {}
            standin.count(f"refused:{refusal.error}")
            self._answer(refusal.status, {"error": refusal.error, "error_description": refusal.description}, extra)
            return
        fresh: dict[str, str] = {}
        if path == TOKEN_PATH and headers.get("dpop"):  # a DPoP-bound token: the nonce rotates
            nonce, stale = standin.nonces.rotate(proof_nonce(headers))
            fresh = {"DPoP-Nonce": nonce}
            if stale:
                standin.count("stale_nonce")
        self._answer(200 if path == TOKEN_PATH else 201, answer, fresh)

    def _keys(self, body: str) -> None:
        """Test hook: `{"sign_with": "first" | "next", "publish_next": bool}` (see `use_keys`)."""
        try:
            wanted = json.loads(body or "{}")
            sign_with = wanted.get("sign_with", "first")
            answer = self.server.standin.use_keys(sign_with, bool(wanted.get("publish_next", sign_with == "next")))
        except (ValueError, AttributeError) as exc:
            self._answer(400, {"error": "invalid_request", "error_description": str(exc)})
            return
        self._answer(200, answer)


class _Server(StandinServer):
    standin: HelseIdStandin


def _key(path: str) -> RSAKey | ECKey:
    key = JWKRegistry.import_key(json.loads(Path(path).read_text()))
    assert isinstance(key, (RSAKey, ECKey))
    return key


def standin_from_config(config: Mapping[str, Any], issuer: str) -> HelseIdStandin:
    """The stand-in a registry (what `dho.dev.standins.running` writes) describes, at `issuer`."""
    keys = [_key(config["signing_key_file"])]
    if config.get("next_signing_key_file"):
        keys.append(_key(config["next_signing_key_file"]))
    persons = config.get("persons")
    if persons is None:
        from dho.demo_persons import PERSONS

        persons = [Person.from_row(row).__dict__ for row in PERSONS]
    return HelseIdStandin(
        issuer=issuer,
        signing_key=keys[0],
        keys=keys,
        clients={c["client_id"]: RegisteredClient.from_dict(c) for c in config["clients"]},
        token_lifetime=int(config.get("token_lifetime", TOKEN_LIFETIME)),
        persons={p["pid"]: Person.from_dict(p) for p in persons},
    )


def serve(config: Mapping[str, Any], ready_file: Path, parent_pid: int | None = None) -> None:
    """Binds a free localhost port, writes `{"issuer": …, "pid": …}` to `ready_file` when it
    answers, and serves until SIGTERM/SIGINT or until the process that started it is gone."""
    serving.serve(
        _Server,
        _Handler,
        config,
        ready_file,
        parent_pid,
        build=lambda base: standin_from_config(config, base),
        ready=lambda standin: {"issuer": standin.issuer},
    )


def main(argv: list[str] | None = None) -> None:
    serving.main("HelseID stand-in (development and tests only)", serve, argv)


if __name__ == "__main__":
    main(sys.argv[1:])
