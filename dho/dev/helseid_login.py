"""The parts of the HelseID stand-in's user login that need no server: the test persons, which
claims each scope releases, redirect URI matching, PKCE, one-use stores (request URIs, the picker's
form, codes) and the pages (the «pick a test person» page, errors, «logged out»).

The endpoints that use them (`/connect/par`, `/connect/authorize`, the `authorization_code` grant,
`/connect/endsession`) are `HelseIdStandin`'s, in dho/dev/helseid.py; docs/helseid.md describes them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from dho.dev import refuse_outside_development

refuse_outside_development()

PID_CLAIM = "helseid://claims/identity/pid"
PID_PSEUDONYM_CLAIM = "helseid://claims/identity/pid_pseudonym"
SECURITY_LEVEL_CLAIM = "helseid://claims/identity/security_level"
ASSURANCE_LEVEL_CLAIM = "helseid://claims/identity/assurance_level"
NETWORK_CLAIM = "helseid://claims/identity/network"
HPR_NUMBER_CLAIM = "helseid://claims/hpr/hpr_number"

# HelseID's identity scopes and the claims each one releases (NHN's «Scopes»): a claim the client did
# not ask for is not in the token, as at HelseID, so a client that forgets a scope finds out here.
IDENTITY_SCOPES: dict[str, tuple[str, ...]] = {
    "openid": (),
    "profile": ("name", "given_name", "middle_name", "family_name"),
    "helseid://scopes/identity/pid": (PID_CLAIM,),
    "helseid://scopes/identity/pid_pseudonym": (PID_PSEUDONYM_CLAIM,),
    "helseid://scopes/identity/security_level": (SECURITY_LEVEL_CLAIM,),
    "helseid://scopes/identity/assurance_level": (ASSURANCE_LEVEL_CLAIM,),
    "helseid://scopes/identity/network": (NETWORK_CLAIM,),
    "helseid://scopes/hpr/hpr_number": (HPR_NUMBER_CLAIM,),
}
# Always in the ID token, whatever the scopes.
ALWAYS_CLAIMS = ("iss", "aud", "exp", "iat", "nbf", "auth_time", "nonce", "sub", "sid", "acr", "amr", "idp")
ACR_LEVELS = {"Level3": 3, "Level4": 4}  # acr_values: the lowest security level the client accepts
ASSURANCE = {"3": "substantial", "4": "high"}
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}
CODE_VERIFIER = re.compile(r"[A-Za-z0-9\-._~]{43,128}")  # RFC 7636 §4.1
CODE_CHALLENGE = re.compile(r"[A-Za-z0-9_-]{43}")  # base64url(SHA-256), no padding
MAX_PARAMETER = 512  # characters of state, nonce and the like
# The key of the subject pseudonym: fixed, so a person's `sub` is the same on every start (HelseID's
# is an HMAC of the personal id too; its key is HelseID's secret).
SUBJECT_KEY = b"dho-helseid-standin-subject"


@dataclass(frozen=True)
class Person:
    """A test person on the picker: a row of dho/demo_persons.py, or one a test registers."""

    pid: str
    hpr_number: str
    security_level: str
    name: str
    username: str = ""
    label: str = ""

    @classmethod
    def from_row(cls, row: Iterable[str]) -> Person:
        return cls(*row)

    @classmethod
    def from_dict(cls, data: Mapping[str, str]) -> Person:
        return cls(**data)

    @property
    def level(self) -> int:
        return int(self.security_level)

    @property
    def given_name(self) -> str:
        return self.name.rsplit(" ", 1)[0]

    @property
    def family_name(self) -> str:
        return self.name.rsplit(" ", 1)[-1]

    @property
    def subject(self) -> str:
        digest = hmac.new(SUBJECT_KEY, self.pid.encode(), hashlib.sha256).digest()
        return base64.b64encode(digest).decode()


def identity_claims(person: Person, scopes: Iterable[str]) -> dict[str, Any]:
    """The claims about the person that the scopes release (HPR number only for someone who has one)."""
    values: dict[str, Any] = {
        "name": person.name,
        "given_name": person.given_name,
        "middle_name": "",
        "family_name": person.family_name,
        PID_CLAIM: person.pid,
        PID_PSEUDONYM_CLAIM: person.subject,
        SECURITY_LEVEL_CLAIM: person.security_level,
        ASSURANCE_LEVEL_CLAIM: ASSURANCE.get(person.security_level, "low"),
        NETWORK_CLAIM: "internett",
    }
    if person.hpr_number:
        values[HPR_NUMBER_CLAIM] = person.hpr_number
    released = {claim for scope in scopes for claim in IDENTITY_SCOPES.get(scope, ())}
    return {claim: value for claim, value in values.items() if claim in released}


def required_level(acr_values: str | None) -> int | None:
    """The lowest security level `acr_values` accepts (None: any); ValueError for an unknown value."""
    if acr_values is None:
        return None
    values = acr_values.split()
    unknown = [v for v in values if v not in ACR_LEVELS]
    if unknown or not values:
        raise ValueError(f"acr_values kan bare være {', '.join(ACR_LEVELS)} (fikk {acr_values!r})")
    return min(ACR_LEVELS[v] for v in values)


def s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).rstrip(b"=").decode()


# --- redirect URIs --------------------------------------------------------------------------------


def registrable_uri(uri: str) -> bool:
    """A redirect URI a client may register: absolute, no fragment, no user info; https, or http to
    a loopback host."""
    parts = urlsplit(uri)
    if parts.fragment or parts.username or parts.password or not parts.hostname:
        return False
    return parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS)


def redirect_uri_allowed(uri: str, registered: Iterable[str], *, loopback_any_port: bool) -> bool:
    """Exact string match with a registered URI; for a client registered with `loopback_any_port`
    also a loopback URI that differs from a registered one in its port only (RFC 8252 §7.3)."""
    registered = list(registered)
    if uri in registered:
        return True
    if not loopback_any_port:
        return False
    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018 (a malformed port raises here)
    except ValueError:
        return False
    if parts.scheme != "http" or parts.hostname not in LOOPBACK_HOSTS or parts.fragment or parts.username:
        return False
    for known in map(urlsplit, registered):
        same = (known.scheme, known.hostname, known.path, known.query) == ("http", parts.hostname, parts.path,
                                                                           parts.query)  # fmt: skip
        if same:
            return True
    return False


def with_query(uri: str, **params: str | None) -> str:
    """`uri` with `params` added to its query (the ones it has kept)."""
    parts = urlsplit(uri)
    query = parse_qsl(parts.query, keep_blank_values=True) + [(k, v) for k, v in params.items() if v is not None]
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), ""))


# --- one-use things -------------------------------------------------------------------------------

T = TypeVar("T")


class Spent(Exception):
    """A key `OneUse.take` refuses: `reason` is unknown, expired or used; `item` the thing it named
    (None when unknown)."""

    def __init__(self, reason: str, item: Any = None) -> None:
        super().__init__(reason)
        self.reason, self.item = reason, item


@dataclass
class _Entry(Generic[T]):
    item: T
    expires_at: float
    used: bool = False


@dataclass
class OneUse(Generic[T]):
    """Things handed out under a random key, each good for one `take` within `lifetime` seconds.
    A spent key is remembered a while (`memory`), so its second use is told apart from a made-up one."""

    lifetime: float
    prefix: str = ""
    memory: float = 900
    _entries: dict[str, _Entry[T]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, item: T) -> str:
        key = self.prefix + secrets.token_urlsafe(32)
        now = time.time()
        with self._lock:
            self._entries = {k: e for k, e in self._entries.items() if e.expires_at + self.memory > now}
            self._entries[key] = _Entry(item, now + self.lifetime)
        return key

    def peek(self, key: str | None) -> T:
        """The item while its key may still be taken; `Spent` otherwise."""
        with self._lock:
            return self._usable(key).item

    def take(self, key: str | None, check: Callable[[T], None] | None = None) -> T:
        """The item, its key spent. `check(item)` runs first: what it raises leaves the key unspent."""
        with self._lock:
            entry = self._usable(key)
            if check is not None:
                check(entry.item)
            entry.used = True
            return entry.item

    def _usable(self, key: str | None) -> _Entry[T]:
        entry = self._entries.get(key or "")
        if entry is None:
            raise Spent("unknown")
        if entry.used:
            raise Spent("used", entry.item)
        if entry.expires_at <= time.time():
            raise Spent("expired", entry.item)
        return entry


@dataclass(frozen=True)
class PushedRequest:
    """An authorization request as the PAR endpoint accepted it."""

    client_id: str
    redirect_uri: str
    scopes: tuple[str, ...]
    state: str
    nonce: str
    code_challenge: str
    required_level: int | None
    prompt: tuple[str, ...]
    parent: str | None
    child: str | None
    dpop_jkt: str | None


@dataclass(frozen=True)
class Login:
    """A person picked for a pushed request: what the code stands for."""

    request: PushedRequest
    person: Person
    auth_time: int
    sid: str


@dataclass
class Grant:
    """A code's history: the access tokens issued for it (revoked if the code comes back)."""

    login: Login
    token_ids: list[str] = field(default_factory=list)


# --- pages ------------------------------------------------------------------------------------------

PAGE_HEADERS = {
    "Content-Type": "text/html; charset=utf-8",
    "Cache-Control": "no-store",
    # No scripts, no styles, no frames: plain forms. (No form-action: a browser applies it to the
    # redirect after the form, which goes to the client.)
    "Content-Security-Policy": "default-src 'none'; base-uri 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def _page(title: str, body: str) -> str:
    return (
        '<!doctype html>\n<html lang="nb">\n<head><meta charset="utf-8">'
        f"<title>{html.escape(title)} – HelseID (stand-in)</title></head>\n"
        f"<body>\n<main>\n{body}\n</main>\n</body>\n</html>\n"
    )


def picker_page(transaction: str, client_id: str, persons: Iterable[Person], level: int | None, action: str) -> str:
    """«Velg testperson»: one button per person (`pid`), «Avbryt» (`cancel`), the transaction hidden.
    A person below the level the client asked for has no `pid` button, but one of its own
    (`below_level`): HelseID may still let someone through at a lower level (MinID at level 3 when
    level 4 was asked for), and a client must refuse that itself."""
    e = html.escape
    rows = []
    for person in persons:
        details = f"fødselsnummer {person.pid}, nivå {person.security_level}"
        details += f", HPR {person.hpr_number}" if person.hpr_number else ", uten HPR-nummer"
        details += f", demobruker {person.username}" if person.username else ""
        text = f"{e(person.label)} ({e(details)})" if person.label else f"({e(details)})"
        if level is not None and person.level < level:
            rows.append(
                f"<li>{e(person.name)} – {text}: klienten krever nivå {level}. "
                f'<button type="submit" name="below_level" value="{e(person.pid)}">Logg inn som {e(person.name)} '
                f"på nivå {person.level} likevel</button></li>"
            )
        else:
            rows.append(
                f'<li><button type="submit" name="pid" value="{e(person.pid)}">{e(person.name)}</button> – {text}</li>'
            )
    requirement = (
        f" Klienten krever sikkerhetsnivå {level}. HelseID kan likevel slippe en person gjennom på et lavere "
        "nivå (MinID på nivå 3): knappene «… likevel» gjør det, og klienten skal da avvise innloggingen selv."
        if level
        else ""
    )
    body = (
        "<h1>Logg inn med HelseID</h1>\n"
        "<p>Dette er en stand-in for HelseID til utvikling og test. Ingen ekte innlogging skjer: velg "
        f"testpersonen du vil logge inn som.{requirement}</p>\n"
        f"<p>Klient: <code>{e(client_id)}</code></p>\n"
        f'<form method="post" action="{e(action)}">\n'
        f'<input type="hidden" name="transaction" value="{e(transaction)}">\n'
        f"<ul>\n{chr(10).join(rows)}\n</ul>\n"
        '<p><button type="submit" name="cancel" value="1">Avbryt innloggingen</button></p>\n'
        "</form>"
    )
    return _page("Velg testperson", body)


def error_page(error: str, description: str) -> str:
    """An error the authorization server shows itself (it cannot trust where to send the user)."""
    body = (
        "<h1>Innloggingen kan ikke fortsette</h1>\n"
        f'<p id="error-description">{html.escape(description)}</p>\n'
        f'<p>Feilkode: <code id="error" data-error="{html.escape(error)}">{html.escape(error)}</code></p>'
    )
    return _page("Feil", body)


def logged_out_page() -> str:
    return _page("Logget ut", "<h1>Du er logget ut av HelseID</h1>\n<p>Du kan lukke dette vinduet.</p>")
