"""The wire to the kommune's EPJ: Norsk helsenett's journaling service (JFT) or a VKP knutepunkt,
both FHIR R4 over HTTPS with a HelseID token bound to a DPoP key (tenants/helseid.py).

- JFT: `POST {base}/v1/Bundle` → 202 Accepted, `Location` the event's status URL; the sender then
  follows `GET {status_url}` → `{"status": "registered" | "read" | "journaled" | "failed"}`.
- VKP: `POST {base}/epj/r4/<orgnr>/Bundle` (FHIR create) → 201/200, or 202 with a status URL.

A route names its HelseID client and where its private key is (a file, or an environment variable
holding the JWK); the issuer and its CA come from the environment as for every HelseID client
(`DHO_HELSEID_ISSUER`, `DHO_HELSEID_CA_FILE`, docs/helseid.md). One `HelseIdClient` per client and
key is kept in the process: its token cache and DPoP key live in it. Nothing here touches the
database; journaling/services.py reads the route and records the answer.
"""

from __future__ import annotations

import os
import re
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin

from tenants.helseid import HelseIdClient, HelseIdError, HelseIdSettings, load_private_jwk

from .models import ENV_NAME, Route, RouteKind

CONNECT_TIMEOUT = 5
READ_TIMEOUT = 30
TIMEOUT = (CONNECT_TIMEOUT, READ_TIMEOUT)
FHIR_JSON = "application/fhir+json"
SOURCE_SYSTEM = "dho"

__all__ = ["Answer", "document_post", "helseid_client", "post_url", "status_get"]


@dataclass(frozen=True)
class Answer:
    """What the receiver said: the status, the absolute `Location` (empty when none) and the body as
    JSON when it was JSON (None otherwise), with the first characters of the text for the record."""

    status: int
    location: str
    body: Any
    text: str
    challenge: str = ""  # the `error` of a 401's WWW-Authenticate (RFC 6750/9449), e.g. invalid_dpop_proof


_CHALLENGE_ERROR = re.compile(r'\berror="([^"]*)"')
_clients: dict[tuple[str, str, str, str | None], HelseIdClient] = {}
_clients_lock = threading.Lock()


def _private_key(route: Route):
    reference = route.key_reference
    if ENV_NAME.fullmatch(reference or ""):
        value = os.environ.get(reference)
        if not value:
            raise HelseIdError(f"Miljøvariabelen {reference} med HelseID-nøkkelen er ikke satt.", transient=False)
        return load_private_jwk(value=value)
    if not reference:
        raise HelseIdError("Ruten mangler referanse til HelseID-nøkkelen.", transient=False)
    return load_private_jwk(path=reference)


def helseid_client(route: Route) -> HelseIdClient:
    """The route's HelseID client, kept per (issuer, client, key): a changed key file gives a new
    client (and new tokens) at once, the same key keeps its cached tokens."""
    issuer = (os.environ.get("DHO_HELSEID_ISSUER") or "").rstrip("/")
    if not issuer:
        raise HelseIdError("HelseID er ikke satt opp: DHO_HELSEID_ISSUER mangler.", transient=False)
    if not route.client_id:
        raise HelseIdError("Ruten mangler HelseID-klient.", transient=False)
    key = _private_key(route)
    ca_file = os.environ.get("DHO_HELSEID_CA_FILE") or None
    cache_key = (issuer, route.client_id, key.thumbprint(), ca_file)
    with _clients_lock:
        client = _clients.get(cache_key)
        if client is None:
            settings = HelseIdSettings(
                issuer=issuer, client_id=route.client_id, private_key=key, scope=route.scope, ca_file=ca_file
            )
            client = _clients[cache_key] = HelseIdClient(settings)
        return client


def post_url(route: Route) -> str:
    base = route.base_url.rstrip("/")
    if route.kind == RouteKind.VKP:
        return f"{base}/epj/r4/{route.orgnr}/Bundle"
    return f"{base}/v1/Bundle"


def _verify() -> str | bool | None:
    # The receiver's certificate: the system store, or a CA file where it is not there (the stand-in's).
    return os.environ.get("DHO_JFT_CA_FILE") or None


def _request(route: Route, method: str, url: str, **kwargs: Any) -> Answer:
    client = helseid_client(route)
    verify = _verify()
    if verify:
        kwargs["verify"] = verify
    response = client.request(
        method, url, orgnr=route.orgnr, scope=route.scope, timeout=TIMEOUT, allow_redirects=False, **kwargs
    )
    try:
        body = response.json()
    except ValueError:
        body = None
    location = response.headers.get("Location", "")
    return Answer(
        status=response.status_code,
        location=urljoin(url, location) if location else "",
        body=body,
        text=response.text[:500],
        challenge=challenge_error(response.headers.get("WWW-Authenticate", "")),
    )


def challenge_error(header: str) -> str:
    """The `error` parameter of a WWW-Authenticate challenge («DPoP error="invalid_dpop_proof", …»)."""
    found = _CHALLENGE_ERROR.search(header)
    return found.group(1) if found else ""


def document_post(route: Route, data: bytes) -> Answer:
    """Sends the document's bytes as they are. Raises `HelseIdError` (no token) and requests'
    exceptions (time-out, connection) for the caller to sort."""
    headers = {"Content-Type": FHIR_JSON, "Accept": FHIR_JSON, "nhn-source-system": SOURCE_SYSTEM}
    return _request(route, "POST", post_url(route), data=data, headers=headers)


def status_get(route: Route, status_url: str) -> Answer:
    """The event's status (JFT's `$status`)."""
    headers = {"Accept": "application/json", "nhn-source-system": SOURCE_SYSTEM}
    return _request(route, "GET", status_url, headers=headers)
