"""A HelseID stand-in: a real HTTPS server with the discovery document, the JWKS and the token
endpoint, verifying as strictly as HelseID does; and `verify_dpop_request`, the resource-server side
of DPoP for the NHN API stand-ins (the journaling service's comes next).

It runs in a process of its own (`python -m dho.dev.helseid --config … --ready-file …`), started by
`dho.dev.standins.running`, which writes the configuration: the server's signing key, its TLS
certificate, and the registered clients with their public keys, scopes and organisations.

What the token endpoint checks, in HelseID's order (client authentication first, then DPoP):
- the client assertion (RFC 7523, `private_key_jwt`): type `jwt-bearer`, signed (RS256/PS256/ES256)
  by a key registered for the client, `iss` = `sub` = the client id (and = the form's `client_id`),
  `aud` = the issuer (FAPI 2.0), `exp` in the future, at most `ASSERTION_MAX_LIFETIME` after `iat`,
  `iat`/`nbf` not in the future, a `jti` never seen before → else 400 `invalid_client`;
- `grant_type` is `client_credentials` → else `unsupported_grant_type`;
- the DPoP proof (RFC 9449): one `DPoP` header, `typ` `dpop+jwt`, an asymmetric `alg`, a public `jwk`
  (no private members) that verifies the signature, `htm` POST, `htu` the token endpoint, `iat`
  within `PROOF_MAX_AGE`, a new `jti` → else `invalid_dpop_proof`; and a `nonce` this server
  issued → else `use_dpop_nonce` with a fresh `DPoP-Nonce` header (so a client's first request
  always gets one);
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

import argparse
import base64
import hashlib
import json
import os
import re
import secrets
import signal
import ssl
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit, urlunsplit

from joserfc import jws
from joserfc import jwt as jose_jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, JWKRegistry, Key, KeySet, RSAKey

from dho.dev import refuse_outside_development

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
    except (JoseError, ValueError, TypeError) as exc:
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

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RegisteredClient:
        keys = [JWKRegistry.import_key(k) for k in data["jwks"]["keys"]]
        if any(k.is_private for k in keys):
            raise ValueError(f"the registry holds a private key for {data['client_id']}")
        return cls(
            client_id=data["client_id"],
            keys=keys,
            scopes=set(data["scopes"]),
            organisations=set(data["organisations"]),
            multi_tenant=data.get("multi_tenant", True),
        )


@dataclass
class HelseIdStandin:
    issuer: str
    signing_key: RSAKey | ECKey
    clients: dict[str, RegisteredClient]
    token_lifetime: int = TOKEN_LIFETIME
    assertion_replay: ReplayCache = field(default_factory=ReplayCache)
    proof_replay: ReplayCache = field(default_factory=ReplayCache)
    nonces: NonceStore = field(default_factory=NonceStore)
    resource_nonces: NonceStore = field(default_factory=NonceStore)
    resource_replay: ReplayCache = field(default_factory=ReplayCache)
    counts: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def token_endpoint(self) -> str:
        return self.issuer + TOKEN_PATH

    def count(self, name: str) -> None:
        with self._lock:
            self.counts[name] = self.counts.get(name, 0) + 1

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "jwks_uri": self.issuer + JWKS_PATH,
            "token_endpoint": self.token_endpoint,
            "grant_types_supported": ["client_credentials", "authorization_code", "refresh_token"],
            "token_endpoint_auth_methods_supported": ["private_key_jwt"],
            "token_endpoint_auth_signing_alg_values_supported": list(ASSERTION_ALGS),
            "dpop_signing_alg_values_supported": list(DPOP_ALGS),
            "authorization_details_types_supported": ["helseid_authorization"],
            "scopes_supported": sorted({s for c in self.clients.values() for s in c.scopes}),
        }

    def jwks(self) -> dict[str, Any]:
        return {"keys": [self.signing_key.as_dict(private=False, use="sig")]}

    # The token endpoint ---------------------------------------------------------------------------

    def token(self, form: Mapping[str, list[str]], headers: Mapping[str, list[str]]) -> dict[str, Any]:
        """The token endpoint's answer to one request, or `OAuthRefusal`."""

        def one(name: str) -> str | None:
            values = form.get(name, [])
            if len(values) > 1:
                raise OAuthRefusal("invalid_request", f"{name} er oppgitt flere ganger")
            return values[0] if values else None

        client, assertion = self._authenticate(one)
        if one("grant_type") != "client_credentials":
            raise OAuthRefusal("unsupported_grant_type", "bare client_credentials er satt opp for denne klienten")
        proofs = headers.get("dpop", [])
        if len(proofs) > 1:
            raise OAuthRefusal("invalid_dpop_proof", "mer enn ett DPoP-bevis")
        try:
            _, jkt = verify_proof(
                proofs[0] if proofs else None,
                htm="POST",
                htu=self.token_endpoint,
                replay=self.proof_replay,
                nonces=self.nonces,
            )
        except _ProofProblem as problem:
            raise OAuthRefusal(problem.error, problem.description, nonce=problem.nonce) from None
        scopes = (one("scope") or "").split()
        if not scopes:
            raise OAuthRefusal("invalid_scope", "scope mangler")
        unknown = [s for s in scopes if s not in client.scopes]
        if unknown:
            raise OAuthRefusal("invalid_scope", f"klienten har ikke scope {' '.join(unknown)}")
        parent, child = self._organisation(client, assertion.get("authorization_details"))
        return self._issue(client, scopes, jkt, parent, child)

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
        client = self.clients.get(claims.get("iss"))  # type: ignore[arg-type]
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

    def _organisation(self, client: RegisteredClient, details: Any) -> tuple[str | None, str | None]:
        """(parent, child) from the assertion's `authorization_details`, checked against the
        client's delegations."""

        def refuse(description: str) -> OAuthRefusal:
            return OAuthRefusal("invalid_authorization_details", description)

        if isinstance(details, list):  # RFC 9396's array form, with HelseID's one entry
            if len(details) != 1:
                raise refuse("authorization_details må ha nøyaktig én helseid_authorization")
            details = details[0]
        if details is None:
            if client.multi_tenant:
                raise refuse("en multi-tenant-klient må oppgi organisasjonsnummer i authorization_details")
            return next(iter(sorted(client.organisations)), None), None
        if not isinstance(details, dict) or details.get("type") != "helseid_authorization":
            raise refuse("type må være helseid_authorization")
        identifier = ((details.get("practitioner_role") or {}).get("organization") or {}).get("identifier")
        if not isinstance(identifier, dict) or identifier.get("type") != "ENH":
            raise refuse("practitioner_role.organization.identifier med type ENH mangler")
        value, system = identifier.get("value"), identifier.get("system")
        if not isinstance(value, str):
            raise refuse("identifier.value mangler")
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
        token = sign_access_token(self.signing_key, claims)
        self.count("tokens_issued")
        return {
            "access_token": token,
            "token_type": "DPoP",
            "expires_in": self.token_lifetime,
            "scope": " ".join(scopes),
        }


def sign_access_token(key: RSAKey | ECKey, claims: dict[str, Any]) -> str:
    alg = "RS256" if isinstance(key, RSAKey) else "ES256"
    return jose_jwt.encode({"alg": alg, "kid": key.kid, "typ": "at+jwt"}, claims, key, algorithms=[alg])


# --- the resource server's side -----------------------------------------------------------------


def verify_dpop_request(
    headers: Mapping[str, str],
    method: str,
    url: str,
    *,
    issuer_jwks: Mapping[str, Any],
    required_scope: str,
    issuer: str | None = None,
    replay: ReplayCache | None = None,
    nonces: NonceStore | None = None,
) -> dict[str, Any]:
    """What an NHN API checks before it serves a request: the access token's signature by the
    issuer's key, `iss` (when given), `exp`/`nbf`, the scope, and the DPoP proof (signature, `htm`,
    `htu`, `iat`, a new `jti`, `ath` = the token's hash, its key = the token's `cnf.jkt`, and a
    nonce from `nonces` when given). Returns the token's claims, or raises `DPoPRequestRefused`
    with the status and headers the service would answer."""
    lower = {k.lower(): v for k, v in headers.items()}
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
    now = time.time()
    if issuer is not None and claims.get("iss") != issuer:
        raise DPoPRequestRefused("invalid_token", "tokenet er fra en annen utsteder")
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
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _resource(self) -> None:
        standin = self.server.standin
        try:
            claims = verify_dpop_request(
                dict(self.headers.items()),
                self.command,
                f"{standin.issuer}{self.path}",
                issuer_jwks=standin.jwks(),
                required_scope=RESOURCE_SCOPE,
                issuer=standin.issuer,
                replay=standin.resource_replay,
                nonces=standin.resource_nonces,
            )
        except DPoPRequestRefused as refusal:
            standin.count(f"resource_refused:{refusal.error}")
            self._answer(refusal.status, {"error": refusal.error, "error_description": refusal.description},
                         refusal.headers)  # fmt: skip
            return
        self._answer(200, {"claims": claims})

    def do_GET(self) -> None:
        standin = self.server.standin
        path = urlsplit(self.path).path
        standin.count(path)
        if path == RESOURCE_PATH:
            self._resource()
        elif path == DISCOVERY_PATH:
            self._answer(200, standin.discovery())
        elif path == JWKS_PATH:
            self._answer(200, standin.jwks())
        elif path == STATS_PATH:
            with standin._lock:
                self._answer(200, dict(standin.counts))
        else:
            self._answer(404, {"error": "not_found"})

    def do_POST(self) -> None:
        standin = self.server.standin
        path = urlsplit(self.path).path
        standin.count(path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode("utf-8", "replace") if length else ""
        if path == RESOURCE_PATH:
            self._resource()
            return
        if path != TOKEN_PATH:
            self._answer(404, {"error": "not_found"})
            return
        if self.headers.get_content_type() != "application/x-www-form-urlencoded":
            self._answer(400, {"error": "invalid_request", "error_description": "skjemadata kreves"})
            return
        form = parse_qs(body, keep_blank_values=True)
        headers: dict[str, list[str]] = {}
        for name, value in self.headers.items():
            headers.setdefault(name.lower(), []).append(value)
        try:
            answer = standin.token(form, headers)
        except OAuthRefusal as refusal:
            extra = {"DPoP-Nonce": refusal.nonce} if refusal.nonce else {}
            standin.count(f"refused:{refusal.error}")
            self._answer(refusal.status, {"error": refusal.error, "error_description": refusal.description}, extra)
            return
        self._answer(200, answer)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    standin: HelseIdStandin


def serve(config: Mapping[str, Any], ready_file: Path, parent_pid: int | None = None) -> None:
    """Binds a free localhost port, writes `{"issuer": …, "pid": …}` to `ready_file` when it
    answers, and serves until SIGTERM/SIGINT or until the process that started it is gone."""
    server = _Server(("127.0.0.1", 0), _Handler)
    port = server.server_address[1]
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(config["tls_cert"], config["tls_key"])
    server.socket = context.wrap_socket(server.socket, server_side=True)
    signing = JWKRegistry.import_key(json.loads(Path(config["signing_key_file"]).read_text()))
    assert isinstance(signing, (RSAKey, ECKey))
    server.standin = HelseIdStandin(
        issuer=f"https://127.0.0.1:{port}",
        signing_key=signing,
        clients={c["client_id"]: RegisteredClient.from_dict(c) for c in config["clients"]},
        token_lifetime=int(config.get("token_lifetime", TOKEN_LIFETIME)),
    )

    def stop(*_: Any) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if parent_pid:

        def watch_parent() -> None:
            # Orphaned (the launcher was killed and could not stop us): stop too.
            while os.getppid() == parent_pid:
                time.sleep(0.5)
            stop()

        threading.Thread(target=watch_parent, daemon=True).start()
    tmp = ready_file.with_suffix(".tmp")
    tmp.write_text(json.dumps({"issuer": server.standin.issuer, "pid": os.getpid()}))
    tmp.replace(ready_file)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="HelseID stand-in (development and tests only)")
    parser.add_argument("--config", required=True, type=Path)
    parser.add_argument("--ready-file", required=True, type=Path)
    parser.add_argument("--parent-pid", type=int)
    args = parser.parse_args(argv)
    serve(json.loads(args.config.read_text()), args.ready_file, args.parent_pid)


if __name__ == "__main__":
    main(sys.argv[1:])
