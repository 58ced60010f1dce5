"""A stand-in for Norsk helsenett's journaling service (Journalføringstjenesten, JFT), and a VKP
knutepunkt's EPJ endpoint: a real HTTPS server in its own process, started by
`dho.dev.standins.running` beside the HelseID stand-in, refusing what the real service refuses.

The sender's side (what the platform uses):
- `POST /v1/Bundle` — a FHIR R4 document Bundle, `Content-Type: application/fhir+json`, at most
  `MAX_BODY` bytes (413 over). Authorization: a HelseID access token bound to a DPoP key
  (`Authorization: DPoP <token>` + a `DPoP` proof), verified by `dho.dev.helseid.verify_dpop_request`
  against the HelseID stand-in's JWKS: its issuer, `aud` `nhn:jft`, scope `nhn:jft/api`, a proof
  with this server's DPoP nonce (401 `use_dpop_nonce` + `DPoP-Nonce` first, as NHN's APIs answer),
  and an organisation (`orgnr_parent`) that is a receiver here (403 otherwise). The body is parsed strictly
  (fhir.resources, the Bundle and each entry's resource), must be a `document` keeping R4's
  invariants (an identifier with system and value, a timestamp, a Composition first, no fullUrl
  twice) with a Patient identified by fødselsnummer or D-nummer; the test environment takes synthetic
  national ids only (`patients.national_id`). A refusal is 400 with an OperationOutcome naming the
  problem. Accepted: 202 with `Location`, the event's status URL (`/v1/Bundle/<guid>/$status`).
- `GET /v1/Bundle/<id>/$status` → `{"status": "registered" | "read" | "journaled" | "failed"}`, for
  the organisation that sent it (404 for another).

The EPJ's side: `GET /v1/Bundle?_count=&after=` (keyset pages of the organisation's events, oldest
first, marked read) and `POST /v1/Bundle/<id>/$journaling-acknowledged` (journaled). A simulated EPJ
thread does both for every event `ack_delay` seconds after it arrived (default `ACK_DELAY`).

VKP: `POST /epj/r4/<orgnr>/Bundle` with the same checks, the path's organisation the token's → 201
Created with `Location`.

Test hooks, only here (`/_standin/…`): `POST /_standin/faults {"status": 503, "count": 2}` makes the
next POSTs of a document answer that status (after authentication, before the body is read);
`POST /_standin/config {"ack_delay": 0, "epj": false}`; `GET /_standin/events` lists what arrived
(id, organisation, Bundle.identifier, status, the body's SHA-256); `GET /_standin/requests` counts.

The events are kept in a SQLite file (`EventStore`, the launcher's `var/standins/jft-events.sqlite3`),
so a restarted stand-in (`make run` again) still answers the `$status` of what arrived before and its
EPJ acknowledges what was waiting; without a file (no `events_file` in the config) they are in memory.
"""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
import sys
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.bundle import Bundle
from pydantic import ValidationError

from dho.dev import refuse_outside_development, serving
from dho.dev.helseid import ORGNR_PARENT_CLAIM, DPoPRequestRefused, NonceStore, ReplayCache, verify_dpop_request
from dho.dev.serving import StandinServer
from patients.national_id import IdKind, InvalidNationalId, parse

refuse_outside_development()

SCOPE = "nhn:jft/api"
MAX_BODY = 1_000_000  # ≈ 1 MB per request, as the service documents
ACK_DELAY = 3.0  # seconds from arrival until the simulated EPJ reads and acknowledges an event
FNR_SYSTEM = "urn:oid:2.16.578.1.12.4.1.4.1"
DNR_SYSTEM = "urn:oid:2.16.578.1.12.4.1.4.2"
FHIR_TYPES = {"application/fhir+json", "application/json"}
EVENT = re.compile(r"^/v1/Bundle/([0-9a-f-]{36})/(\$status|\$journaling-acknowledged)$")
VKP = re.compile(r"^/epj/r4/(\d{9})/Bundle$")
PAGE_MAX = 100


class Refusal(Exception):
    """An answer other than success: status, an OperationOutcome (or an OAuth error body), headers."""

    def __init__(self, status: int, body: dict[str, Any], headers: Mapping[str, str] | None = None) -> None:
        super().__init__(status)
        self.status, self.body, self.headers = status, body, dict(headers or {})


def outcome(code: str, *diagnostics: str) -> dict[str, Any]:
    return {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": code, "diagnostics": text} for text in diagnostics],
    }


def _refuse(status: int, code: str, *diagnostics: str) -> Refusal:
    return Refusal(status, outcome(code, *diagnostics))


@dataclass
class Event:
    id: str
    orgnr: str
    channel: str  # "jft" or "vkp"
    identifier: str
    body: bytes = field(repr=False)
    status: str = "registered"
    received_at: float = field(default_factory=time.time)
    seq: int = 0

    def summary(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "orgnr": self.orgnr,
            "channel": self.channel,
            "identifier": self.identifier,
            "status": self.status,
            "sha256": hashlib.sha256(self.body).hexdigest(),
        }


class EventStore:
    """The stand-in's events on disk: one SQLite row per event, written as it arrives and at each
    change of status (under the stand-in's lock), read back whole when the stand-in starts. `path`
    None: nothing is kept (the events live in memory only, and a restart forgets them)."""

    SELECT = "SELECT id, orgnr, channel, identifier, body, status, received_at, seq FROM event ORDER BY seq"
    UPSERT = (
        "INSERT OR REPLACE INTO event (id, orgnr, channel, identifier, body, status, received_at, seq)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
    )

    def __init__(self, path: Path | None = None) -> None:
        self.db: sqlite3.Connection | None = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            # One connection for the server's threads: every write happens under JftStandin.lock.
            self.db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute(
                "CREATE TABLE IF NOT EXISTS event (id TEXT PRIMARY KEY, orgnr TEXT NOT NULL, channel TEXT NOT NULL,"
                " identifier TEXT NOT NULL, body BLOB NOT NULL, status TEXT NOT NULL, received_at REAL NOT NULL,"
                " seq INTEGER NOT NULL)"
            )

    def load(self) -> dict[str, Event]:
        if self.db is None:
            return {}
        events = {}
        for id_, orgnr, channel, identifier, body, status, received_at, seq in self.db.execute(self.SELECT):
            events[id_] = Event(id=id_, orgnr=orgnr, channel=channel, identifier=identifier, body=bytes(body),
                                status=status, received_at=received_at, seq=seq)  # fmt: skip
        return events

    def save(self, *events: Event) -> None:
        if self.db is None or not events:
            return
        self.db.executemany(
            self.UPSERT,
            [(e.id, e.orgnr, e.channel, e.identifier, e.body, e.status, e.received_at, e.seq) for e in events],
        )


def _parse_errors(error: ValidationError, prefix: str) -> list[str]:
    return [f"{prefix}.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors()[:10]]


def _document_invariants(data: dict[str, Any]) -> list[str]:
    """FHIR R4's invariants on a document Bundle, which the models do not check (they read no
    FHIRPath): bdl-9 an identifier with system and value, bdl-10 a timestamp, bdl-11 a Composition
    first, bdl-7 no fullUrl twice (for the same version)."""
    problems = []
    identifier = data.get("identifier") or {}
    if not (identifier.get("system") and identifier.get("value")):
        problems.append("Bundle.identifier: et dokument må ha identifier med system og value (bdl-9)")
    if not data.get("timestamp"):
        problems.append("Bundle.timestamp: et dokument må ha et tidspunkt (bdl-10)")
    entries = data.get("entry") or []
    if not entries or (entries[0].get("resource") or {}).get("resourceType") != "Composition":
        problems.append("Bundle.entry[0].resource: et dokument må ha en Composition først (bdl-11)")
    seen = set()
    for i, entry in enumerate(entries):
        if entry.get("fullUrl") is None:
            continue
        version = ((entry.get("resource") or {}).get("meta") or {}).get("versionId")
        if (entry["fullUrl"], version) in seen:
            problems.append(f"Bundle.entry[{i}].fullUrl: {entry['fullUrl']} finnes alt i Bundle (bdl-7)")
        seen.add((entry["fullUrl"], version))
    return problems


def document_problems(data: Any) -> list[str]:
    """What the service refuses in a body: not a strictly valid FHIR R4 document Bundle (its
    invariants too: an identifier with system and value, a timestamp, a Composition first) with a
    Patient identified by a synthetic fødselsnummer or D-nummer (the test environment's rule). Empty
    when it is acceptable."""
    if not isinstance(data, dict) or data.get("resourceType") != "Bundle":
        return ["Bundle: forventet en FHIR-ressurs av typen Bundle"]
    try:
        Bundle.model_validate(data)
    except ValidationError as exc:
        return _parse_errors(exc, "Bundle")
    problems: list[str] = []
    for i, entry in enumerate(data.get("entry") or []):
        resource = entry.get("resource") or {}
        try:
            get_fhir_model_class(resource.get("resourceType", "")).model_validate(resource)
        except (ValidationError, KeyError, ValueError) as exc:
            where = f"Bundle.entry[{i}].resource"
            problems += _parse_errors(exc, where) if isinstance(exc, ValidationError) else [f"{where}: {exc}"]
    if data.get("type") != "document":
        problems.append("Bundle.type: må være document")
    problems += _document_invariants(data)
    ids = [
        identifier.get("value", "")
        for entry in data.get("entry") or []
        if (entry.get("resource") or {}).get("resourceType") == "Patient"
        for identifier in entry["resource"].get("identifier") or []
        if identifier.get("system") in (FNR_SYSTEM, DNR_SYSTEM)
    ]
    if not ids:
        problems.append("Bundle.entry: ingen Patient med fødselsnummer eller D-nummer")
    for value in ids:
        try:
            kind = parse(value, allow_synthetic=True).kind
        except InvalidNationalId as exc:
            problems.append(f"Patient.identifier: {exc}")
            continue
        if kind is not IdKind.SYNTHETIC:
            problems.append("Patient.identifier: testmiljøet tar bare imot syntetiske fødselsnumre")
    return problems


@dataclass
class JftStandin:
    base: str
    issuer: str
    issuer_jwks: dict[str, Any]
    receivers: set[str]
    ack_delay: float = ACK_DELAY
    epj: bool = True
    events: dict[str, Event] = field(default_factory=dict)
    faults: list[int] = field(default_factory=list)  # statuses for the next document POSTs
    counts: dict[str, int] = field(default_factory=dict)
    replay: ReplayCache = field(default_factory=ReplayCache)
    nonces: NonceStore = field(default_factory=NonceStore)  # the DPoP nonces it asks proofs to carry
    lock: threading.Lock = field(default_factory=threading.Lock)
    store: EventStore = field(default_factory=EventStore)

    def __post_init__(self) -> None:
        self.events.update(self.store.load())  # what arrived before a restart

    def count(self, name: str) -> None:
        with self.lock:
            self.counts[name] = self.counts.get(name, 0) + 1

    def authorize(self, headers: Mapping[str, str] | Message, method: str, path: str) -> str:
        """The organisation the request is for, from a verified DPoP-bound token; or a Refusal."""
        try:
            claims = verify_dpop_request(
                headers, method, f"{self.base}{path}", issuer_jwks=self.issuer_jwks, required_scope=SCOPE,
                issuer=self.issuer, replay=self.replay, nonces=self.nonces,
            )  # fmt: skip
        except DPoPRequestRefused as refusal:
            self.count(f"refused:{refusal.error}")
            raise Refusal(refusal.status, {"error": refusal.error, "error_description": refusal.description},
                          refusal.headers) from None  # fmt: skip
        orgnr = claims.get(ORGNR_PARENT_CLAIM)
        if orgnr not in self.receivers:
            self.count("refused:unknown_organisation")
            raise _refuse(403, "forbidden", f"Organisasjonsnummer {orgnr} er ikke koblet til journalføringstjenesten.")
        return str(orgnr)

    def fault(self) -> int | None:
        with self.lock:
            return self.faults.pop(0) if self.faults else None

    def receive(self, orgnr: str, channel: str, body: bytes) -> Event:
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise _refuse(400, "invalid", f"Innholdet er ikke gyldig JSON: {exc}") from None
        problems = document_problems(data)
        if problems:
            self.count("refused:invalid_document")
            raise _refuse(400, "invalid", *problems)
        event = Event(id=str(uuid.uuid4()), orgnr=orgnr, channel=channel, identifier=data["identifier"]["value"],
                      body=body)  # fmt: skip
        with self.lock:
            event.seq = len(self.events) + 1
            self.events[event.id] = event
            self.store.save(event)
            self.counts["accepted"] = self.counts.get("accepted", 0) + 1
        return event

    def event_for(self, orgnr: str, event_id: str) -> Event:
        with self.lock:
            event = self.events.get(event_id)
        if event is None or event.orgnr != orgnr:
            raise _refuse(404, "not-found", "Ukjent hendelse.")
        return event

    def read_page(self, orgnr: str, count: int, after: str | None) -> list[Event]:
        """The EPJ's ReadAPI: the organisation's JFT events after `after` (keyset), oldest first; read."""
        with self.lock:
            start = self.events[after].seq if after in self.events else 0
            page = sorted(
                (e for e in self.events.values() if e.orgnr == orgnr and e.channel == "jft" and e.seq > start),
                key=lambda e: e.seq,
            )[:count]
            read = [event for event in page if event.status == "registered"]
            for event in read:
                event.status = "read"
            self.store.save(*read)
        return page

    def acknowledge(self, orgnr: str, event_id: str) -> Event:
        event = self.event_for(orgnr, event_id)
        with self.lock:
            if event.status in ("registered", "read"):
                event.status = "journaled"
                self.store.save(event)
        return event

    def epj_step(self) -> None:
        """The simulated EPJ: reads and acknowledges every event older than `ack_delay`."""
        if not self.epj:
            return
        now = time.time()
        with self.lock:
            due = [
                e
                for e in self.events.values()
                if e.channel == "jft" and e.status == "registered" and e.received_at + self.ack_delay <= now
            ]
        for event in due:  # as the ReadAPI would hand it over, then acknowledged
            with self.lock:
                event.status = "read" if event.status == "registered" else event.status
            self.acknowledge(event.orgnr, event.id)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    body_read = False
    length = 0  # the request's Content-Length (`serving.body_length`)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _answer(self, status: int, body: Any, headers: Mapping[str, str] | None = None,
                content_type: str = "application/fhir+json") -> None:  # fmt: skip
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _headers(self) -> Message:
        return self.headers  # as they came: a repeated Authorization or DPoP is seen, not collapsed

    def _body(self, limit: int = MAX_BODY) -> bytes:
        length = self.length
        self.body_read = True
        if length > limit:
            self._discard(length)
            raise _refuse(413, "too-costly", f"Innholdet er {length} byte; høyst {limit} tas imot.")
        return self.rfile.read(length) if length else b""

    def _discard(self, length: int) -> None:
        # A body refused unread is read and thrown away: left on the connection, its bytes would be
        # taken for the next request on it.
        while length > 0 and (chunk := self.rfile.read(min(length, 65536))):
            length -= len(chunk)

    def _handle(self, method: str) -> None:
        standin = self.server.standin
        parts = urlsplit(self.path)
        path = parts.path
        label = EVENT.sub(r"/v1/Bundle/{id}/\2", path)
        standin.count(f"{method} {label}")
        self.body_read = False
        try:
            self.length = serving.body_length(self.headers)
        except serving.BodyRefused as refused:
            self.close_connection = True  # the body stays unread
            self._answer(refused.status, outcome("invalid", refused.description))
            return
        try:
            if path.startswith("/_standin/"):
                self._hook(method, path)
            elif method == "POST" and (path == "/v1/Bundle" or VKP.match(path)):
                self._document(path)
            elif method == "GET" and path == "/v1/Bundle":
                self._read(path, parse_qs(parts.query))
            elif match := EVENT.match(path):
                self._event(method, path, match.group(1), match.group(2))
            else:
                raise _refuse(404, "not-found", "Ukjent adresse.")
        except Refusal as refusal:
            if not self.body_read:
                self._discard(self.length)
            self._answer(refusal.status, refusal.body, refusal.headers)

    def _document(self, path: str) -> None:
        standin = self.server.standin
        orgnr = standin.authorize(self._headers(), "POST", path)
        vkp = VKP.match(path)
        if vkp and vkp.group(1) != orgnr:
            raise _refuse(403, "forbidden", "Organisasjonsnummeret i adressen er ikke tokenets.")
        fault = standin.fault()
        if fault is not None:
            self._body()  # the connection's bytes consumed before the simulated answer
            raise _refuse(fault, "transient" if fault >= 500 else "invalid", f"Simulert feil fra stand-in ({fault}).")
        if self.headers.get_content_type() not in FHIR_TYPES:
            raise _refuse(415, "not-supported", "Content-Type må være application/fhir+json.")
        event = standin.receive(orgnr, "vkp" if vkp else "jft", self._body())
        if vkp:
            location = f"{standin.base}/epj/r4/{orgnr}/Bundle/{event.id}"
            self._answer(201, outcome("informational", "Opprettet"), {"Location": location})
        else:
            location = f"{standin.base}/v1/Bundle/{event.id}/$status"
            self._answer(202, {"id": event.id}, {"Location": location}, "application/json")

    def _read(self, path: str, query: dict[str, list[str]]) -> None:
        standin = self.server.standin
        orgnr = standin.authorize(self._headers(), "GET", path)
        try:
            count = min(int((query.get("_count") or ["20"])[0]), PAGE_MAX)
        except ValueError:
            raise _refuse(400, "invalid", "_count må være et tall.") from None
        if count < 1:
            raise _refuse(400, "invalid", f"_count må være fra 1 til {PAGE_MAX}.")
        after = query.get("after")
        page = standin.read_page(orgnr, count, after[0] if after else None)
        bundle: dict[str, Any] = {
            "resourceType": "Bundle",
            "type": "searchset",
            "entry": [{"fullUrl": f"{standin.base}/v1/Bundle/{e.id}", "resource": json.loads(e.body)} for e in page],
        }
        if len(page) == count:
            bundle["link"] = [
                {"relation": "next", "url": f"{standin.base}/v1/Bundle?_count={count}&after={page[-1].id}"}
            ]
        self._answer(200, bundle)

    def _event(self, method: str, path: str, event_id: str, operation: str) -> None:
        standin = self.server.standin
        if (method, operation) not in (("GET", "$status"), ("POST", "$journaling-acknowledged")):
            raise _refuse(405, "not-supported", "Metoden støttes ikke her.")
        orgnr = standin.authorize(self._headers(), method, path)
        if method == "POST":
            self._body()
            event = standin.acknowledge(orgnr, event_id)
        else:
            event = standin.event_for(orgnr, event_id)
        self._answer(200, {"id": event.id, "status": event.status}, content_type="application/json")

    def _hook(self, method: str, path: str) -> None:
        standin = self.server.standin
        if method == "GET" and path == "/_standin/requests":
            with standin.lock:
                self._answer(200, dict(standin.counts), content_type="application/json")
        elif method == "GET" and path == "/_standin/events":
            with standin.lock:
                events = [e.summary() for e in sorted(standin.events.values(), key=lambda e: e.seq)]
            self._answer(200, events, content_type="application/json")
        elif method == "POST" and path == "/_standin/faults":
            body = json.loads(self._body() or b"{}")
            with standin.lock:
                standin.faults = [int(body["status"])] * int(body.get("count", 1)) if body.get("status") else []
            self._answer(200, {"faults": standin.faults}, content_type="application/json")
        elif method == "POST" and path == "/_standin/config":
            body = json.loads(self._body() or b"{}")
            if "ack_delay" in body:
                standin.ack_delay = float(body["ack_delay"])
            if "epj" in body:
                standin.epj = bool(body["epj"])
            self._answer(200, {"ack_delay": standin.ack_delay, "epj": standin.epj}, content_type="application/json")
        else:
            raise _refuse(404, "not-found", "Ukjent adresse.")

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")


class _Server(StandinServer):
    standin: JftStandin


def _simulated_epj(standin: JftStandin, stopping: threading.Event) -> None:
    while not stopping.is_set():
        standin.epj_step()
        stopping.wait(0.05)


def serve(config: Mapping[str, Any], ready_file: Path, parent_pid: int | None = None) -> None:
    """Binds a free localhost port, writes `{"base": …, "pid": …}` to `ready_file`, runs the simulated
    EPJ, and serves until SIGTERM/SIGINT or until the process that started it is gone."""
    serving.serve(
        _Server,
        _Handler,
        config,
        ready_file,
        parent_pid,
        build=lambda base: JftStandin(
            base=base,
            issuer=config["issuer"],
            issuer_jwks=config["issuer_jwks"],
            receivers=set(config["receivers"]),
            ack_delay=float(config.get("ack_delay", ACK_DELAY)),
            store=EventStore(Path(config["events_file"]) if config.get("events_file") else None),
        ),
        ready=lambda standin: {"base": standin.base},
        background=_simulated_epj,
    )


def main(argv: list[str] | None = None) -> None:
    serving.main("JFT stand-in (development and tests only)", serve, argv)


if __name__ == "__main__":
    main(sys.argv[1:])
