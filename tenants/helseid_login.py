"""«Logg inn med HelseID»: health personnel log in through HelseID (OpenID Connect, FAPI 2.0).

The protocol is tenants/oidc.py's (requests-oauth2client: PAR, PKCE S256, `private_key_jwt`, the ID
token validated in full); this module is what is HelseID's and the platform's own:

- the configuration (`provider`, from the settings: the issuer whose discovery document is read, the
  login client's id and private key, the organisation numbers the client may name);
- what the login asks for: security level 4 (`acr_values=Level4`, the scopes of the identity claims)
  and, when the login names an organisation, NHN's `authorization_details` with its number;
- the ID token's claims mapped to a person (`identity`) and the person to a user (tenants/persons.py):
  the fødselsnummer (`helseid://claims/identity/pid`, compared as a keyed hash), the HPR number, the
  security level (`helseid://claims/identity/security_level`, refused below 4 with a Norwegian
  message) and the name;
- refusals, each recorded for the centre admin (`LoginRefusal`, audited `login_refusal`): a person
  nobody bound to a user, a level below 4, a deactivated user.

A user logged in here has passed a multi-factor login at HelseID: the session is marked as a strong
login (`two_factor.mark_strong_login`, no TOTP step; its `auth_time` opens the step-up window in which
an API key needs no code, and «Bekreft med HelseID» logs in again with `prompt=login` to open it
anew), its login method is «HelseID» in the audit log,
and its raw ID token is kept encrypted in the session for the logout's `id_token_hint` (it names the
person's fødselsnummer, which the platform never stores in clear).

A logout at HelseID ends the platform's login too (OpenID Connect Back-Channel Logout 1.0,
`backchannel_logout`): HelseID POSTs a signed logout token naming the HelseID session (`sid`) and/or
the person (`sub`); the session keeps both from the ID token at login (`HELSEID_SESSION_KEY`), so the
platform finds the sessions HelseID means, and each of their users is logged out as by «Logg ut»:
every session and API token ends (`tokens.sign_out_everywhere`). The platform knows a `sub` only
from the sessions HelseID logged in: a user with none has nothing of HelseID's to end.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings
from django.contrib.auth import SESSION_KEY, get_user_model
from django.contrib.auth.backends import BaseBackend
from django.core.cache import cache
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext as _

from tenants import oidc, persons, tokens
from tenants.helseid import HelseIdError, authorization_details, load_private_jwk
from tenants.models import AuditAction, LoginMethod, LoginRefusal, LoginRefusalReason
from tenants.oidc import OidcError, OidcProvider
from tenants.selectors import user_by_id
from tenants.services import audit_record

PID_CLAIM = "helseid://claims/identity/pid"
SECURITY_LEVEL_CLAIM = "helseid://claims/identity/security_level"
HPR_CLAIM = "helseid://claims/hpr/hpr_number"
REQUIRED_LEVEL = 4
# Limits the choice of identity provider at HelseID to those of level 4 (BankID, Buypass, Commfides).
ACR_VALUES = "Level4"
DEFAULT_SCOPE = (
    "openid profile helseid://scopes/identity/pid helseid://scopes/identity/security_level "
    "helseid://scopes/hpr/hpr_number"
)
ORGNR = re.compile(r"\d{9}")
BACKEND = "tenants.helseid_login.HelseIdBackend"
# In the session: the ID token (encrypted), for the logout (RP-initiated logout).
ID_TOKEN_KEY = "dho_oidc_id_token"  # noqa: S105 – a session key's name, no secret
PENDING_KEY = "dho_oidc_pending"
# In the session: which HelseID session and person it came from ({"iss", "sid", "sub"}), for the
# back-channel logout.
HELSEID_SESSION_KEY = "dho_helseid_session"
LOGOUT_JTI_PREFIX = "dho:helseid:logout-jti:"  # the logout tokens' jti seen (Redis), refused once more
PENDING_KEPT = 3  # logins started in other tabs that may still come back
PENDING_SECONDS = 600  # a login not finished in ten minutes is started again


class LoginRefused(Exception):
    """HelseID logged the person in, but the platform will not: `reason` is Norwegian."""

    def __init__(self, reason: str, *, code: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code


class HelseIdBackend(BaseBackend):
    """The session's authentication backend after a HelseID login (settings.AUTHENTICATION_BACKENDS):
    it authenticates no credentials itself, only finds the session's user again, an active one."""

    def authenticate(self, request, **credentials):
        return None

    def get_user(self, user_id):
        user = user_by_id(user_id)
        return user if user is not None and user.is_active else None


# --- the configuration ----------------------------------------------------------------------------


def settings_missing() -> list[str]:
    """The settings a HelseID login still lacks (their names), [] when it has what it needs."""
    missing = []
    if not settings.DHO_HELSEID_ISSUER:
        missing.append("DHO_HELSEID_ISSUER")
    if not settings.DHO_HELSEID_LOGIN_CLIENT_ID:
        missing.append("DHO_HELSEID_CLIENT_ID (eller DHO_HELSEID_LOGIN_CLIENT_ID)")
    if not (settings.DHO_HELSEID_LOGIN_KEY_FILE or settings.DHO_HELSEID_LOGIN_KEY):
        missing.append("DHO_HELSEID_KEY_FILE (eller DHO_HELSEID_LOGIN_KEY_FILE / DHO_HELSEID_KEY)")
    return missing


def enabled() -> bool:
    """Is «Logg inn med HelseID» offered? Where switched on (DHO_HELSEID_LOGIN, on by default when an
    issuer is set) and configured."""
    return bool(settings.DHO_HELSEID_LOGIN) and not settings_missing()


_cached: dict[tuple, OidcProvider] = {}
_cache_lock = threading.Lock()


def _key_source() -> tuple[str | None, str | None, float]:
    path = settings.DHO_HELSEID_LOGIN_KEY_FILE or None
    value = None if path else (settings.DHO_HELSEID_LOGIN_KEY or None)
    try:
        mtime = Path(path).stat().st_mtime if path else 0.0
    except OSError:
        mtime = -1.0
    return path, value, mtime


def provider() -> OidcProvider:
    """The configured HelseID as an OIDC provider. The private key is read from its file (or the
    secret's value) and kept per process until the file changes. Raises HelseIdError with what is
    wrong when the configuration is incomplete."""
    missing = settings_missing()
    if missing:
        raise HelseIdError(_("HelseID-innlogging er ikke satt opp: {names} mangler.").format(names=", ".join(missing)),
                           transient=False)  # fmt: skip
    path, value, mtime = _key_source()
    cache_key = (
        settings.DHO_HELSEID_ISSUER, settings.DHO_HELSEID_LOGIN_CLIENT_ID, path, value, mtime,
        settings.DHO_HELSEID_CA_FILE, settings.DHO_HELSEID_LOGIN_SCOPE, settings.DHO_SESSION_MAX_SECONDS,
    )  # fmt: skip
    with _cache_lock:
        found = _cached.get(cache_key)
    if found is not None:
        return found
    found = OidcProvider(
        name=LoginMethod.HELSEID,
        label="HelseID",
        issuer=settings.DHO_HELSEID_ISSUER.rstrip("/"),
        client_id=settings.DHO_HELSEID_LOGIN_CLIENT_ID,
        private_key=load_private_jwk(path=path, value=value),
        scope=settings.DHO_HELSEID_LOGIN_SCOPE or DEFAULT_SCOPE,
        acr_values=ACR_VALUES,
        # A login at HelseID older than the platform's longest session is not a login for a new one.
        max_age=int(settings.DHO_SESSION_MAX_SECONDS),
        id_token_alg=settings.DHO_HELSEID_ID_TOKEN_ALG,
        ca_file=settings.DHO_HELSEID_CA_FILE or None,
    )
    with _cache_lock:
        _cached.clear()
        _cached[cache_key] = found
    return found


def issuer_origin() -> str:
    """scheme://host[:port] of the issuer: the login's and the logout's redirects go there, so the
    pages' form-action (CSP) must allow it (`FormActionMiddleware`)."""
    parts = urlsplit(settings.DHO_HELSEID_ISSUER)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""


def allowed_organisations() -> list[str]:
    return [number for number in settings.DHO_HELSEID_ORGNR if number]


def start_parameters(orgnr: str = "") -> dict[str, str]:
    """What HelseID's login adds to the pushed request: the organisation the person logs in for
    (NHN's multi-tenant `authorization_details`), when one is named or the platform serves just one.
    Raises LoginRefused for a number the platform may not name."""
    allowed = allowed_organisations()
    orgnr = (orgnr or "").strip()
    if not orgnr and len(allowed) == 1:
        orgnr = allowed[0]
    if not orgnr:
        return {}
    if not ORGNR.fullmatch(orgnr) or orgnr not in allowed:
        raise LoginRefused(
            _("Organisasjonsnummeret «{orgnr}» er ikke ett av dem plattformen logger inn for.").format(
                orgnr=orgnr[:20]
            ),
            code="orgnr",
        )
    return {"authorization_details": json.dumps([authorization_details(orgnr)], separators=(",", ":"))}


# --- the person -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Identity:
    """Who HelseID says logged in."""

    pid: str
    hpr_number: str
    security_level: str
    name: str

    @property
    def level(self) -> int:
        return int(self.security_level) if self.security_level.isdigit() else 0


def _text(claims: dict, name: str) -> str:
    value = claims.get(name)
    if isinstance(value, list):  # a claim HelseID may repeat: the HPR number of a person with several
        value = value[0] if value else ""
    return str(value).strip() if isinstance(value, str | int) and not isinstance(value, bool) else ""


def identity(claims: dict) -> Identity:
    """The person in the ID token's claims. Raises LoginRefused without a fødselsnummer."""
    pid = _text(claims, PID_CLAIM)
    if not re.fullmatch(r"\d{11}", pid):
        raise LoginRefused(_("HelseID sendte ikke fødselsnummeret ditt, så plattformen vet ikke hvem du er."),
                           code="pid")  # fmt: skip
    hpr = _text(claims, HPR_CLAIM)
    name = _text(claims, "name") or " ".join(filter(None, (_text(claims, "given_name"), _text(claims, "family_name"))))
    return Identity(pid=pid, hpr_number=hpr if persons.HPR.fullmatch(hpr) else "",
                    security_level=_text(claims, SECURITY_LEVEL_CLAIM), name=name[:200])  # fmt: skip


LEVEL_MESSAGE = (
    "Du logget inn på sikkerhetsnivå {level}. Plattformen viser helseopplysninger og krever nivå 4: logg inn "
    "på nytt med BankID, Buypass eller Commfides."
)
UNKNOWN_MESSAGE = (
    "Du er ikke registrert som bruker av plattformen. Administratoren ved oppfølgingssenteret må koble deg til "
    "en bruker (med fødselsnummer eller HPR-nummer) før du kan logge inn med HelseID. Administratoren har fått "
    "beskjed om forsøket."
)
INACTIVE_MESSAGE = "Brukeren din er deaktivert. Kontakt administratoren ved oppfølgingssenteret."


def user_for(person: Identity, *, issuer: str, request=None):
    """The active user this person logs in as, or LoginRefused (recorded for the centre admin)."""
    if person.level < REQUIRED_LEVEL:
        _refusal(person, LoginRefusalReason.LEVEL, issuer=issuer, request=request)
        raise LoginRefused(_(LEVEL_MESSAGE).format(level=person.security_level or _("ukjent")), code="level")
    found = persons.user_for_person(pid=person.pid, hpr_number=person.hpr_number)
    if found is None:
        _refusal(person, LoginRefusalReason.UNKNOWN, issuer=issuer, request=request)
        raise LoginRefused(_(UNKNOWN_MESSAGE), code="unknown")
    if not found.user.is_active:
        _refusal(person, LoginRefusalReason.INACTIVE, issuer=issuer, request=request, user=found.user)
        raise LoginRefused(_(INACTIVE_MESSAGE), code="inactive")
    return found.user


def _refusal(person: Identity, reason: str, *, issuer: str, request, user=None) -> LoginRefusal:
    """What the centre admin sees (Avviste HelseID-innlogginger) and the audit log records."""
    refusal = LoginRefusal.objects.create(
        reason=reason,
        issuer=issuer[:200],
        name=person.name,
        hpr_number=person.hpr_number,
        security_level=person.security_level[:5],
        pid_digest=persons.pid_digest(person.pid),
        user=user,
    )
    audit_record(action=AuditAction.CREATE, object_type="login_refusal", object_id=refusal.pk, request=request,
                 system="helseid")  # fmt: skip
    return refusal


# --- the ID token kept for the logout ---------------------------------------------------------------


def _fernet() -> Fernet:
    digest = hashlib.sha256(f"dho.tenants.helseid_login.id_token:{settings.SECRET_KEY}".encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def id_token_keep(session, id_token: str) -> None:
    session[ID_TOKEN_KEY] = _fernet().encrypt(id_token.encode()).decode()


def id_token_kept(session) -> str:
    stored = session.get(ID_TOKEN_KEY)
    if not stored:
        return ""
    try:
        return _fernet().decrypt(str(stored).encode()).decode()
    except (InvalidToken, ValueError):
        return ""


# --- the logout HelseID tells the platform of (back-channel) ----------------------------------------


def _digest(name: str, value: object) -> str:
    """A keyed hash of a `sid` or `sub` ("" for none): the session holds nothing that names the
    person in clear (a provider's `sub` may be derived from the fødselsnummer)."""
    if not isinstance(value, str) or not value:
        return ""
    return salted_hmac(f"dho.tenants.helseid_login.{name}", value, algorithm="sha256").hexdigest()


def helseid_session_keep(session, claims: dict) -> None:
    """The HelseID session (`sid`) and person (`sub`) this login came from, as keyed hashes, for the
    back-channel logout."""
    session[HELSEID_SESSION_KEY] = {
        "iss": str(claims.get("iss") or ""),
        "sid": _digest("sid", claims.get("sid")),
        "sub": _digest("sub", claims.get("sub")),
    }


def _named_by(kept: object, *, issuer: str, sid: str | None, sub: str | None) -> bool:
    if not isinstance(kept, dict) or kept.get("iss") != issuer:
        return False
    if sid is not None and (not kept.get("sid") or kept.get("sid") != _digest("sid", sid)):
        return False
    return sub is None or (bool(kept.get("sub")) and kept.get("sub") == _digest("sub", sub))


def users_of_helseid_session(*, issuer: str, sid: str | None, sub: str | None) -> list[int]:
    """The ids of the users whose live sessions came from this HelseID session and/or person (a logout
    token's `sid`, `sub`; both given, both must match). Reads every live session once, as
    `tokens.user_session_keys` does: only a logout asks."""
    store = tokens.session_store()
    decoder = store()
    rows = store.get_model_class().objects.filter(expire_date__gt=timezone.now())
    found: set[int] = set()
    for data in rows.values_list("session_data", flat=True).iterator():
        decoded = decoder.decode(data)
        if _named_by(decoded.get(HELSEID_SESSION_KEY), issuer=issuer, sid=sid, sub=sub):
            user_id = decoded.get(SESSION_KEY)
            if user_id is not None and str(user_id).isdigit():
                found.add(int(user_id))
    return sorted(found)


def backchannel_logout(logout_token: str, *, request=None, session=None) -> list[int]:
    """HelseID says a person logged out (OpenID Connect Back-Channel Logout 1.0): the logout token
    checked in full (`oidc.logout_token_validated`) and its `jti` refused the second time (kept in
    Redis as long as the token could be accepted); then every user whose session the token names is
    logged out everywhere, as by «Logg ut» (their sessions and API tokens end), each audited. The ids
    of the users logged out (none: they were already). Raises OidcError (or HelseIdError, when
    HelseID login is not configured)."""
    found = provider()
    claims = oidc.logout_token_validated(found, logout_token, session=session)
    digest = hashlib.sha256(f"{claims['iss']}\n{claims['jti']}".encode()).hexdigest()
    if not cache.add(LOGOUT_JTI_PREFIX + digest, 1, timeout=oidc.LOGOUT_TOKEN_MAX_AGE + 2 * oidc.LEEWAY):
        raise OidcError("logout_token er brukt før (jti).", code="jti")
    user_ids = users_of_helseid_session(issuer=claims["iss"], sid=claims.get("sid"), sub=claims.get("sub"))
    for user in get_user_model().objects.filter(pk__in=user_ids):
        tokens.sign_out_everywhere(user=user)
        audit_record(action=AuditAction.DELETE, object_type="helseid_backchannel_logout", object_id=user.pk,
                     request=request, system="helseid")  # fmt: skip
    if not user_ids:
        audit_record(action=AuditAction.DELETE, object_type="helseid_backchannel_logout", object_id="",
                     request=request, system="helseid")  # fmt: skip
    return user_ids


# --- CSP: the forms that lead to HelseID ----------------------------------------------------------------


class FormActionMiddleware:
    """With HelseID login on, the login's start and the logout are forms whose answer redirects to the
    issuer; browsers hold a form's redirects to CSP's form-action too, so every page allows the
    issuer's origin there (and nothing else is loosened). Inside django-csp's middleware."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if enabled() and getattr(response, "_csp_update", None) is None:
            origin = issuer_origin()
            if origin:
                response._csp_update = {"form-action": [origin]}
        return response


__all__ = [
    "ACR_VALUES",
    "BACKEND",
    "FormActionMiddleware",
    "HelseIdBackend",
    "Identity",
    "LoginRefused",
    "OidcError",
    "backchannel_logout",
    "enabled",
    "identity",
    "provider",
    "start_parameters",
    "user_for",
]
