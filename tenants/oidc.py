"""OpenID Connect login against a FAPI 2.0 provider: HelseID for health personnel
(tenants/helseid_login.py), and ID-porten the same way should patients ever log in.

The protocol is requests-oauth2client's (the library the machine client in tenants/helseid.py uses
already), its JOSE is jwskate; this module only holds the pieces together and says in Norwegian what
went wrong:

- `authorization_start`: a pushed authorization request (RFC 9126) to the discovery document's
  `pushed_authorization_request_endpoint`, authenticated with a fresh `private_key_jwt` assertion
  (RFC 7523, `aud` the issuer, a new `jti` every time), with PKCE S256, `state`, `nonce`, `acr_values`
  and `max_age` and whatever the provider adds (HelseID's `authorization_details`). The browser is
  sent to the authorization endpoint with `client_id` and `request_uri` only. What the callback needs
  (state, nonce, code verifier, redirect URI) is returned to be kept in the session, never sent out.
- `authorization_finish`: the callback's `state` and `iss` (RFC 9207) against what was kept, the code
  exchanged at the token endpoint with another fresh assertion and the code verifier, and the ID
  token validated in full: its signature by a key of the issuer's JWKS (from discovery; a `kid` not
  in the cached set makes us fetch the set once more, which is how a provider's key rotation looks),
  the `alg` we expect, `iss`, `aud` (present, and naming our client), `azp`, `exp`, `iat`, `nonce`
  and `auth_time` (present, not in the future, within `max_age`). requests-oauth2client's
  `validate_id_token` checks the signature, `alg`, `aud`, `azp`, `exp` and `nonce`; it compares `iss`
  only with an `iss` the callback brought, lets a token without `aud` or `iat` pass, and checks `acr`
  against `acr_values` literally (HelseID names the level in a claim of its own, which
  tenants/helseid_login.py checks), so `iss`, `aud`'s presence, `iat` and `auth_time` are checked here.

Discovery documents and JWKS are cached per process for an hour. A refusal raises `OidcError` with
a Norwegian `reason` for the person at the browser and a short `code` for the log and the tests.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

import requests
from jwskate import InvalidJwt, InvalidSignature, JwkSet, SignedJwt
from jwskate import Jwk as JwskateJwk
from requests_oauth2client import AuthorizationRequest, OAuth2Client, PrivateKeyJwt
from requests_oauth2client.authorization_request import AuthorizationResponse
from requests_oauth2client.exceptions import (
    AuthorizationResponseError,
    EndpointError,
    InvalidAuthResponse,
    MismatchingIssuer,
    MismatchingState,
    MissingAuthCode,
    MissingIssuer,
    OAuth2Error,
)
from requests_oauth2client.tokens import (
    BearerToken,
    ExpiredIdToken,
    IdToken,
    InvalidIdToken,
    MismatchingIdTokenAlg,
    MismatchingIdTokenAudience,
    MismatchingIdTokenAzp,
    MismatchingIdTokenIssuer,
    MismatchingIdTokenNonce,
    MissingIdToken,
)

__all__ = [
    "OidcError",
    "OidcProvider",
    "Pending",
    "authorization_finish",
    "authorization_start",
    "end_session_url",
    "logout_token_validated",
]

TIMEOUT = 10
CACHE_SECONDS = 3600
ASSERTION_LIFETIME = 60  # seconds; FAPI 2.0 providers refuse long-lived client assertions
LEEWAY = 30  # seconds of clock difference allowed for exp, iat and auth_time
# OpenID Connect Back-Channel Logout 1.0: the event a logout token names, and how old it may be.
BACKCHANNEL_LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"
LOGOUT_TOKEN_MAX_AGE = 300  # seconds from its iat: a logout is delivered at once, not later
LOGOUT_JWKS_REFETCH_SECONDS = 60  # an unknown `kid` in a logout token fetches the JWKS again at most this often
LOGOUT_TOKEN_TYPES = {"logout+jwt", "jwt"}  # `typ` (§2.4: logout+jwt recommended); absent is taken too


class OidcError(Exception):
    """The login could not be completed. `reason` is Norwegian and safe to show; `code` names the
    check that failed (`state`, `iss`, `aud`, `nonce`, `exp`, `signature`, …)."""

    def __init__(self, reason: str, *, code: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code


@dataclass(frozen=True)
class OidcProvider:
    """One configured identity provider and our client at it."""

    name: str  # "helseid": the login method the session and the audit log record
    label: str  # "HelseID": how the messages name it
    issuer: str
    client_id: str
    private_key: JwskateJwk = field(repr=False)
    scope: str
    acr_values: str = ""
    max_age: int | None = None
    id_token_alg: str = "RS256"  # noqa: S105 – an algorithm's name
    ca_file: str | None = None

    @property
    def verify(self) -> str | bool:
        return self.ca_file or True


@dataclass(frozen=True)
class Pending:
    """What the callback needs from the start of a login: kept in the session, never sent out."""

    provider: str
    state: str
    nonce: str
    code_verifier: str
    redirect_uri: str
    started_at: float
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "state": self.state,
            "nonce": self.nonce,
            "code_verifier": self.code_verifier,
            "redirect_uri": self.redirect_uri,
            "started_at": self.started_at,
            "extra": self.extra,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Pending:
        return cls(
            provider=str(data.get("provider") or ""),
            state=str(data.get("state") or ""),
            nonce=str(data.get("nonce") or ""),
            code_verifier=str(data.get("code_verifier") or ""),
            redirect_uri=str(data.get("redirect_uri") or ""),
            started_at=float(data.get("started_at") or 0),
            extra=dict(data.get("extra") or {}),
        )


# --- discovery and keys ---------------------------------------------------------------------------

_lock = threading.Lock()
_discovery: dict[str, tuple[float, dict[str, Any]]] = {}
_jwks: dict[str, tuple[float, JwkSet]] = {}


def cache_clear() -> None:
    """Forgets every discovery document and key set (the tests' providers come and go)."""
    with _lock:
        _discovery.clear()
        _jwks.clear()


def _get_json(provider: OidcProvider, url: str, what: str, session: requests.Session | None) -> dict[str, Any]:
    try:
        response = (session or requests).get(url, timeout=TIMEOUT, verify=provider.verify)
    except requests.RequestException as exc:
        raise OidcError(f"{provider.label} kunne ikke nås ({what}). Prøv igjen om litt.", code="unreachable") from exc
    if response.status_code != 200:
        raise OidcError(f"{provider.label} svarte {response.status_code} på {what}. Prøv igjen om litt.",
                        code="unreachable")  # fmt: skip
    try:
        document = response.json()
    except ValueError as exc:
        raise OidcError(f"{provider.label}s {what} kunne ikke leses.", code="discovery") from exc
    if not isinstance(document, dict):
        raise OidcError(f"{provider.label}s {what} kunne ikke leses.", code="discovery")
    return document


def discovery(provider: OidcProvider, session: requests.Session | None = None) -> dict[str, Any]:
    """The issuer's discovery document (cached an hour), checked to be the issuer's own and to have
    what a FAPI 2.0 login needs."""
    with _lock:
        cached = _discovery.get(provider.issuer)
        if cached and time.time() - cached[0] < CACHE_SECONDS:
            return cached[1]
    url = f"{provider.issuer}/.well-known/openid-configuration"
    document = _get_json(provider, url, "discovery-dokumentet", session)
    if str(document.get("issuer", "")).rstrip("/") != provider.issuer.rstrip("/"):
        raise OidcError(f"Discovery-dokumentet på {url} gjelder en annen utsteder.", code="discovery")
    needed = ("authorization_endpoint", "token_endpoint", "jwks_uri", "pushed_authorization_request_endpoint")
    missing = [name for name in needed if not document.get(name)]
    if missing:
        raise OidcError(f"{provider.label}s discovery-dokument mangler {', '.join(missing)}.", code="discovery")
    methods = document.get("code_challenge_methods_supported")
    if methods is not None and "S256" not in methods:
        raise OidcError(f"{provider.label} støtter ikke PKCE med S256.", code="discovery")
    with _lock:
        _discovery[provider.issuer] = (time.time(), document)
    return document


def _key_set(provider: OidcProvider, document: dict[str, Any], session, *, fresh: bool = False) -> JwkSet:
    """The issuer's signing keys (cached an hour; `fresh` fetches them again)."""
    with _lock:
        cached = _jwks.get(provider.issuer)
        if cached and not fresh and time.time() - cached[0] < CACHE_SECONDS:
            return cached[1]
    keys = _get_json(provider, document["jwks_uri"], "nøkkelsettet (JWKS)", session)
    try:
        key_set = JwkSet(keys)
    except (ValueError, TypeError, KeyError) as exc:
        raise OidcError(f"{provider.label}s nøkkelsett (JWKS) kunne ikke leses.", code="jwks") from exc
    with _lock:
        _jwks[provider.issuer] = (time.time(), key_set)
    return key_set


def _has_kid(key_set: JwkSet, kid: str | None) -> bool:
    return kid is not None and any(key.get("kid") == kid for key in key_set.jwks)


def _client(provider: OidcProvider, document: dict[str, Any], session, key_set: JwkSet | None = None) -> OAuth2Client:
    # aud = the issuer (FAPI 2.0), not the endpoint; the library makes a new assertion (new jti, iat)
    # for every request it authenticates.
    auth = PrivateKeyJwt(provider.client_id, provider.private_key, aud=document["issuer"],
                         lifetime=ASSERTION_LIFETIME)  # fmt: skip
    return OAuth2Client(
        token_endpoint=document["token_endpoint"],
        auth=auth,
        authorization_endpoint=document["authorization_endpoint"],
        pushed_authorization_request_endpoint=document["pushed_authorization_request_endpoint"],
        issuer=document["issuer"],
        authorization_server_jwks=key_set,
        id_token_signed_response_alg=provider.id_token_alg,
        session=session or requests.Session(),
    )


# --- the start --------------------------------------------------------------------------------------


def authorization_start(
    provider: OidcProvider,
    *,
    redirect_uri: str,
    extra: dict[str, str] | None = None,
    session: requests.Session | None = None,
) -> tuple[str, Pending]:
    """Pushes the authorization request and returns (the URL to send the browser to, what to keep)."""
    document = discovery(provider, session)
    client = _client(provider, document, session)
    parameters: dict[str, Any] = dict(extra or {})  # the provider's own (HelseID's authorization_details)
    request = AuthorizationRequest(
        document["authorization_endpoint"],
        client_id=provider.client_id,
        redirect_uri=redirect_uri,
        scope=provider.scope,
        code_challenge_method="S256",
        acr_values=provider.acr_values or None,
        max_age=provider.max_age,
        issuer=document["issuer"],
        **parameters,
    )
    try:
        pushed = client.pushed_authorization_request(request, requests_kwargs=_request_kwargs(provider))
    except requests.RequestException as exc:
        raise OidcError(f"{provider.label} kunne ikke nås. Prøv igjen om litt.", code="unreachable") from exc
    except OAuth2Error as exc:
        raise OidcError(
            f"{provider.label} avviste innloggingsforespørselen ({_error_code(exc)}). Kontakt administratoren: "
            "klientens oppsett hos " + provider.label + " stemmer ikke med plattformens.",
            code="par",
        ) from exc
    if not pushed.request_uri:
        raise OidcError(f"{provider.label} svarte uten request_uri på innloggingsforespørselen.", code="par")
    assert request.state and request.nonce and request.code_verifier  # the library made them
    pending = Pending(
        provider=provider.name,
        state=request.state,
        nonce=request.nonce,
        code_verifier=request.code_verifier,
        redirect_uri=redirect_uri,
        started_at=time.time(),
    )
    return pushed.uri, pending


def _request_kwargs(provider: OidcProvider) -> dict[str, Any]:
    # `verify` with every request: requests lets REQUESTS_CA_BUNDLE win over a session's own.
    return {"timeout": TIMEOUT, "verify": provider.verify}


def _error_code(exc: OAuth2Error) -> str:
    if isinstance(exc, EndpointError) and exc.error:
        return exc.error
    return f"HTTP {exc.response.status_code}"


# --- the callback -----------------------------------------------------------------------------------


def authorization_finish(
    provider: OidcProvider,
    pending: Pending,
    callback_url: str,
    *,
    session: requests.Session | None = None,
) -> tuple[dict[str, Any], str]:
    """The callback's answer checked, the code exchanged, the ID token validated: (its claims, the
    raw ID token, for the logout's `id_token_hint`). Raises OidcError."""
    if not pending.code_verifier:
        raise OidcError(
            "Innloggingen mangler PKCE-verifikatoren (code_verifier) fra starten og kan ikke fullføres. "
            "Start innloggingen på nytt.",
            code="code_verifier",
        )
    document = discovery(provider, session)
    response = _callback_checked(provider, pending, document, callback_url)
    key_set = _key_set(provider, document, session)
    token = _code_exchanged(provider, document, session, response)
    id_token = token.id_token
    if not isinstance(id_token, IdToken):
        raise OidcError(f"{provider.label} svarte uten ID-token.", code="id_token")
    kid = id_token.get_header("kid")
    if not _has_kid(key_set, kid):
        key_set = _key_set(provider, document, session, fresh=True)  # a new key: rotation, fetched once
        if not _has_kid(key_set, kid):
            raise OidcError(
                f"ID-tokenet er signert med en nøkkel {provider.label} ikke har (kid «{kid or '–'}»).", code="kid"
            )
    claims = _id_token_validated(provider, document, session, key_set, token, response)
    return claims, str(id_token)


def _callback_checked(provider, pending: Pending, document, callback_url: str) -> AuthorizationResponse:
    # acr_values and max_age are left out on purpose: the library would compare the token's `acr`
    # with the former, and HelseID names the security level in a claim of its own (tenants/
    # helseid_login.py checks it); `auth_time` against max_age is checked in `_required_claims`.
    request = AuthorizationRequest(
        document["authorization_endpoint"],
        client_id=provider.client_id,
        redirect_uri=pending.redirect_uri,
        scope=provider.scope,
        state=pending.state,
        nonce=pending.nonce,
        code_verifier=pending.code_verifier,
        code_challenge_method="S256",
        issuer=document["issuer"],
        # RFC 9207: where the provider says it sends `iss`, its absence is a refusal too.
        authorization_response_iss_parameter_supported=bool(
            document.get("authorization_response_iss_parameter_supported")
        ),
    )
    try:
        return request.validate_callback(callback_url)
    except MismatchingState as exc:
        raise OidcError(
            "Svaret hører ikke til innloggingen som ble startet i denne nettleseren (state). Start innloggingen "
            "på nytt.",
            code="state",
        ) from exc
    except (MismatchingIssuer, MissingIssuer) as exc:
        raise OidcError(
            f"Svaret kom ikke fra {provider.label} (iss stemmer ikke). Innloggingen er avbrutt.", code="iss"
        ) from exc
    except MissingAuthCode as exc:
        raise OidcError(f"{provider.label} svarte uten kode. Start innloggingen på nytt.", code="code") from exc
    except AuthorizationResponseError as exc:
        described = f": {exc.description}" if exc.description else ""
        raise OidcError(
            f"{provider.label} avbrøt innloggingen ({exc.error}{described}). Start innloggingen på nytt.",
            code="authorization_error",
        ) from exc
    except InvalidAuthResponse as exc:
        raise OidcError(f"Svaret fra {provider.label} kunne ikke leses. Start innloggingen på nytt.",
                        code="callback") from exc  # fmt: skip


def _code_exchanged(provider, document, session, response: AuthorizationResponse) -> BearerToken:
    client = _client(provider, document, session)
    try:
        token = client.authorization_code(response, validate=False, requests_kwargs=_request_kwargs(provider))
    except requests.RequestException as exc:
        raise OidcError(f"{provider.label} kunne ikke nås. Prøv igjen om litt.", code="unreachable") from exc
    except OAuth2Error as exc:
        raise OidcError(
            f"{provider.label} ville ikke gi ut tokenet for innloggingen ({_error_code(exc)}). Start innloggingen "
            "på nytt.",
            code="token",
        ) from exc
    except (InvalidJwt, ValueError) as exc:  # an answer the library could not take as tokens
        raise OidcError(f"{provider.label} svarte med et ID-token som ikke kan leses.", code="id_token") from exc
    if not isinstance(token, BearerToken):
        raise OidcError(f"{provider.label} svarte uten token.", code="token")
    return token


ID_TOKEN_REFUSALS = (
    (MissingIdToken, "id_token", "{label} svarte uten ID-token."),
    (MismatchingIdTokenAlg, "alg", "ID-tokenet er signert med en annen algoritme enn {label} bruker."),
    (MismatchingIdTokenIssuer, "iss", "ID-tokenet er ikke utstedt av {label} (iss)."),
    (MismatchingIdTokenAudience, "aud", "ID-tokenet er utstedt til en annen klient enn plattformen (aud)."),
    (MismatchingIdTokenAzp, "aud", "ID-tokenet er utstedt til en annen klient enn plattformen (azp)."),
    (ExpiredIdToken, "exp",
     "ID-tokenet er utløpt (exp). Sjekk at klokken på serveren går riktig, og logg inn på nytt."),
    (MismatchingIdTokenNonce, "nonce",
     "ID-tokenet hører ikke til denne innloggingen (nonce). Start innloggingen på nytt."),
)  # fmt: skip


def _id_token_validated(provider, document, session, key_set: JwkSet, token: BearerToken, response) -> dict:
    client = _client(provider, document, session, key_set)
    try:
        token.validate_id_token(client, response, exp_leeway=LEEWAY, auth_time_leeway=LEEWAY)
    except InvalidSignature as exc:
        raise OidcError(f"ID-tokenets signatur stemmer ikke med {provider.label}s nøkler.", code="signature") from exc
    except InvalidIdToken as exc:
        for kind, code, reason in ID_TOKEN_REFUSALS:
            if isinstance(exc, kind):
                raise OidcError(reason.format(label=provider.label), code=code) from exc
        raise OidcError(f"ID-tokenet fra {provider.label} ble ikke godtatt: {exc}".strip(), code="id_token") from exc
    except (AttributeError, ValueError, TypeError) as exc:  # a claim of the wrong type (auth_time "x")
        raise OidcError(f"ID-tokenet fra {provider.label} har et ugyldig felt: {exc}", code="id_token") from exc
    id_token = token.id_token
    assert isinstance(id_token, IdToken)
    claims = dict(id_token.claims)
    _required_claims(provider, claims, issuer=document["issuer"])
    return claims


def _timestamp(claims: dict, name: str) -> int | None:
    value = claims.get(name)
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def _required_claims(provider: OidcProvider, claims: dict, *, issuer: str) -> None:
    """What the library lets pass: a token must come from the issuer exactly (the library compares it
    only with an `iss` the callback brought), name its audience, say when it was issued, when it
    expires and when the person logged in (within `max_age`), and none of those may be in the future."""
    now = time.time()
    if claims.get("iss") != issuer:
        raise OidcError(f"ID-tokenet er ikke utstedt av {provider.label} (iss).", code="iss")
    if not claims.get("aud"):
        raise OidcError("ID-tokenet sier ikke hvem det er utstedt til (aud mangler).", code="aud")
    if not claims.get("sub"):
        raise OidcError("ID-tokenet mangler sub.", code="sub")
    iat = _timestamp(claims, "iat")
    if iat is None:
        raise OidcError("ID-tokenet sier ikke når det ble utstedt (iat mangler eller er ugyldig).", code="iat")
    if iat > now + LEEWAY:
        raise OidcError("ID-tokenet er utstedt fram i tid (iat). Sjekk at klokken på serveren går riktig.", code="iat")
    if _timestamp(claims, "exp") is None:  # the library checks an `exp` it finds, and passes one missing
        raise OidcError("ID-tokenet sier ikke når det utløper (exp mangler eller er ugyldig).", code="exp")
    auth_time = _timestamp(claims, "auth_time")
    if auth_time is None:
        raise OidcError("ID-tokenet sier ikke når du logget inn (auth_time mangler).", code="auth_time")
    if auth_time > now + LEEWAY:
        raise OidcError("ID-tokenet sier at du logget inn fram i tid (auth_time).", code="auth_time")
    if provider.max_age is not None and now - auth_time > provider.max_age + LEEWAY:
        raise OidcError(
            f"Innloggingen hos {provider.label} er for gammel (auth_time). Logg inn på nytt.", code="auth_time"
        )


# --- the end ----------------------------------------------------------------------------------------


def end_session_url(
    provider: OidcProvider, *, id_token: str, post_logout_redirect_uri: str, session: requests.Session | None = None
) -> str | None:
    """Where to send the browser so the provider ends its session too (OpenID Connect RP-Initiated
    Logout), or None when the provider has no end_session_endpoint or cannot be reached: the
    platform's own logout has happened either way."""
    try:
        document = discovery(provider, session)
    except OidcError:
        return None
    endpoint = document.get("end_session_endpoint")
    if not endpoint:
        return None
    request = requests.Request(
        "GET", endpoint, params={"id_token_hint": id_token, "post_logout_redirect_uri": post_logout_redirect_uri}
    ).prepare()
    return request.url


def logout_token_validated(
    provider: OidcProvider, logout_token: str, *, session: requests.Session | None = None
) -> dict:
    """A logout token (OpenID Connect Back-Channel Logout 1.0 §2.6) checked as the ID token is: its
    signature by a key of the issuer's JWKS (a `kid` not cached fetches the set once more, at most
    once a minute: anyone may post to the endpoint), the provider's `alg`, `iss` exactly, `aud`
    naming our client, `iat` present, not in the future and at most LOGOUT_TOKEN_MAX_AGE old, `exp`
    (when given) not past; then what makes it a logout token: a `typ` of logout+jwt (or JWT, or
    none), a `jti`, `events` with the back-channel logout event, a `sid` or a `sub`, and no `nonce`
    (an ID token is not a logout token). Its claims, or OidcError (`code` for the log and the
    tests; `reason` Norwegian). Whether the `jti` was seen before is the caller's (it has the store)."""
    try:
        token = SignedJwt(logout_token.strip())
    except (InvalidJwt, ValueError, TypeError) as exc:
        raise OidcError("logout_token er ikke en signert JWT.", code="logout_token") from exc
    typ = token.headers.get("typ")
    if typ is not None and str(typ).lower() not in LOGOUT_TOKEN_TYPES:
        raise OidcError(f"logout_token har typ «{typ}», ikke logout+jwt.", code="typ")
    if token.alg != provider.id_token_alg:
        raise OidcError(f"logout_token er signert med {token.alg}, ikke {provider.id_token_alg}.", code="alg")
    document = discovery(provider, session)
    kid = token.headers.get("kid")
    key_set = _key_set(provider, document, session)
    if not _has_kid(key_set, kid) and _key_set_age(provider) > LOGOUT_JWKS_REFETCH_SECONDS:
        # A new key (rotation), fetched again; at most once a minute, since anyone may post here.
        key_set = _key_set(provider, document, session, fresh=True)
    keys = [key for key in key_set.jwks if key.get("kid") == kid] if kid else list(key_set.jwks)
    try:
        verified = any(token.verify_signature(key, alg=provider.id_token_alg) for key in keys)
    except (ValueError, TypeError):
        verified = False
    if not verified:
        raise OidcError(f"logout_token er ikke signert med en av {provider.label}s nøkler.", code="signature")
    claims = dict(token.claims)
    _logout_claims_checked(provider, claims, issuer=document["issuer"])
    return claims


def _key_set_age(provider: OidcProvider) -> float:
    with _lock:
        cached = _jwks.get(provider.issuer)
    return time.time() - cached[0] if cached else float("inf")


def _logout_claims_checked(provider: OidcProvider, claims: dict, *, issuer: str) -> None:
    now = time.time()
    if claims.get("iss") != issuer:
        raise OidcError(f"logout_token er ikke utstedt av {provider.label} (iss).", code="iss")
    audience = claims.get("aud")
    audiences = audience if isinstance(audience, list) else [audience]
    if provider.client_id not in audiences:
        raise OidcError("logout_token er utstedt til en annen klient enn plattformen (aud).", code="aud")
    iat = _timestamp(claims, "iat")
    if iat is None:
        raise OidcError("logout_token sier ikke når det ble utstedt (iat).", code="iat")
    if iat > now + LEEWAY or iat < now - LOGOUT_TOKEN_MAX_AGE - LEEWAY:
        raise OidcError("logout_token er utstedt fram i tid eller for lenge siden (iat).", code="iat")
    if "exp" in claims:
        exp = _timestamp(claims, "exp")
        if exp is None or exp < now - LEEWAY:
            raise OidcError("logout_token er utløpt (exp).", code="exp")
    jti = claims.get("jti")
    if not isinstance(jti, str) or not jti or len(jti) > 200:
        raise OidcError("logout_token mangler jti.", code="jti")
    events = claims.get("events")
    if not isinstance(events, dict) or not isinstance(events.get(BACKCHANNEL_LOGOUT_EVENT), dict):
        raise OidcError(f"logout_token har ikke hendelsen {BACKCHANNEL_LOGOUT_EVENT} (events).", code="events")
    if "nonce" in claims:
        raise OidcError("logout_token har nonce: det er et ID-token, ikke et utloggingstoken.", code="nonce")
    sid, sub = claims.get("sid"), claims.get("sub")
    if sid is not None and (not isinstance(sid, str) or not sid):
        raise OidcError("logout_token har en ugyldig sid.", code="sid")
    if sub is not None and (not isinstance(sub, str) or not sub):
        raise OidcError("logout_token har en ugyldig sub.", code="sub")
    if sid is None and sub is None:
        raise OidcError("logout_token sier ikke hvem som logget ut (verken sid eller sub).", code="sid")
