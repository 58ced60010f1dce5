"""Starting the stand-ins of national services, as `dho.embedded` starts PostgreSQL and Redis.

    with standins.running(var_dir) as env:
        os.environ.update(env.environ())   # DHO_HELSEID_ISSUER, …_CLIENT_ID, …_KEY_FILE, …_CA_FILE,
        …                                  # DHO_JFT_BASE_URL, DHO_JFT_CA_FILE

`running` writes, under `var_dir/standins/`: a TLS certificate for 127.0.0.1 (the stand-ins speak
HTTPS, so the client needs no «insecure» switch; `DHO_HELSEID_CA_FILE` trusts this certificate
only), the HelseID stand-in's signing keys (the one it signs with and the next one, for rotation),
the demo client's private key (a JWK, 0600, generated here on every start: no key is kept in the
repository or the database) and the registry of demo clients and test persons (dho/demo_persons.py).
It then starts each server in its own process on a free port — HelseID (dho/dev/helseid.py), then
the journaling service (dho/dev/jft.py), which verifies tokens against HelseID's keys — waits
until it answers and stops it on the way out, also when this process gets SIGTERM; a server whose
launcher died without stopping it notices and stops itself.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import ipaddress
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from joserfc.jwk import ECKey, RSAKey

from dho.demo_persons import PERSONS
from dho.dev import refuse_outside_development

refuse_outside_development()

DEMO_CLIENT_ID = "dho-demo-maskin"
DEMO_SCOPE = "nhn:jft/api"
# A synthetic kommune from NHN's test data: the organisation the demo client has a delegation from.
DEMO_ORGNR = "312229544"
# Where the demo (`make run`, on port 8000) receives codes and returns after a logout: exact matches.
DEMO_REDIRECT_URIS = (
    "http://127.0.0.1:8000/innlogging/helseid/callback/",
    "http://localhost:8000/innlogging/helseid/callback/",
)
DEMO_POST_LOGOUT_REDIRECT_URIS = ("http://127.0.0.1:8000/", "http://localhost:8000/")
# `make run`'s platform: where a logout at the stand-in is told (OpenID Connect Back-Channel Logout).
DEMO_BACKCHANNEL_LOGOUT_URI = "http://127.0.0.1:8000/innlogging/helseid/backchannel-logout/"
START_TIMEOUT = 20
STOP_TIMEOUT = 5


@dataclass(frozen=True)
class DemoClient:
    """A client the stand-in registers. `key_file` holds its private JWK. A client with
    `redirect_uris` may log users in; `loopback_any_port` (for test clients only: a test server's
    port is random) accepts a loopback redirect URI that differs from a registered one in its port."""

    client_id: str
    key_file: Path
    scopes: tuple[str, ...]
    organisations: tuple[str, ...]
    multi_tenant: bool = True
    redirect_uris: tuple[str, ...] = ()
    post_logout_redirect_uris: tuple[str, ...] = ()
    loopback_any_port: bool = False
    backchannel_logout_uri: str | None = None


@dataclass(frozen=True)
class StandinEnv:
    helseid_issuer: str
    ca_file: Path
    client: DemoClient
    signing_key_file: Path  # the HelseID stand-in's private key: tests sign tokens of their own with it
    directory: Path
    helseid_pid: int
    clients: tuple[DemoClient, ...] = field(default=())
    jft_base_url: str = ""  # the journaling service's stand-in (JFT, and VKP's /epj/r4/<orgnr>/…)
    jft_pid: int = 0
    next_signing_key_file: Path | None = None  # the key it signs with after a rotation (/_standin/keys)

    def environ(self) -> dict[str, str]:
        """The settings a process needs to use the stand-ins as the real services."""
        return {
            "DHO_HELSEID_ISSUER": self.helseid_issuer,
            "DHO_HELSEID_CLIENT_ID": self.client.client_id,
            "DHO_HELSEID_KEY_FILE": str(self.client.key_file),
            "DHO_HELSEID_CA_FILE": str(self.ca_file),
            "DHO_HELSEID_SCOPE": DEMO_SCOPE,
            "DHO_JFT_BASE_URL": self.jft_base_url,
            "DHO_JFT_CA_FILE": str(self.ca_file),
        }

    def issuer_jwks(self) -> dict[str, Any]:
        """The public keys the HelseID stand-in may sign with: the first (published from the start),
        then the next (published on rotation). A resource server that knows both takes tokens from
        either side of a rotation."""
        files = [self.signing_key_file, *([self.next_signing_key_file] if self.next_signing_key_file else [])]
        return {"keys": [RSAKey.import_key(json.loads(f.read_text())).as_dict(private=False) for f in files]}


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_text(text)


def tls_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and localhost, valid for a day: the CA file the
    clients trust is this certificate itself."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "DHO stand-in 127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "tls-cert.pem", directory / "tls-key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    _write_private(
        key_file,
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode(),
    )
    return cert_file, key_file


def private_jwk_file(path: Path, kind: str = "EC", *, with_alg: bool = True) -> None:
    """A new private key (EC P-256 or RSA 2048) as a JWK in `path`, with its `kid` and, unless
    `with_alg` is false, the one `alg` it may sign with (RS256 / ES256)."""
    key: RSAKey | ECKey = RSAKey.generate_key(2048) if kind == "RSA" else ECKey.generate_key("P-256")
    key.ensure_kid()
    private = key.as_dict(private=True)
    if with_alg:
        private["alg"] = "RS256" if kind == "RSA" else "ES256"
    _write_private(path, json.dumps(private))


def _registry_entry(client: DemoClient) -> dict[str, Any]:
    private = json.loads(client.key_file.read_text())
    public = {k: v for k, v in private.items() if k in ("kty", "crv", "x", "y", "n", "e", "kid", "alg")}
    return {
        "client_id": client.client_id,
        "jwks": {"keys": [public]},
        "scopes": list(client.scopes),
        "organisations": list(client.organisations),
        "multi_tenant": client.multi_tenant,
        "redirect_uris": list(client.redirect_uris),
        "post_logout_redirect_uris": list(client.post_logout_redirect_uris),
        "loopback_any_port": client.loopback_any_port,
        "backchannel_logout_uri": client.backchannel_logout_uri,
    }


def _person_entry(row: tuple[str, ...]) -> dict[str, str]:
    names = ("pid", "hpr_number", "security_level", "name", "username", "label")
    return dict(zip(names, row, strict=True))


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@contextlib.contextmanager
def _stopped_on_sigterm() -> Iterator[None]:
    """SIGTERM raises SystemExit while the stand-ins run, so the `finally` that stops them runs
    (Python's default for SIGTERM is to die on the spot). Only the main thread may set handlers."""
    if threading.current_thread() is threading.main_thread():
        previous = signal.getsignal(signal.SIGTERM)

        def handler(signum: int, frame: Any) -> None:
            raise SystemExit(128 + signum)

        signal.signal(signal.SIGTERM, handler)
        try:
            yield
        finally:
            signal.signal(signal.SIGTERM, previous)
    else:
        yield


def _start(module: str, config_file: Path, ready: Path) -> subprocess.Popen[bytes]:
    ready.unlink(missing_ok=True)
    return subprocess.Popen(
        [sys.executable, "-m", module, "--config", str(config_file), "--ready-file", str(ready),
         "--parent-pid", str(os.getpid())],
        cwd=Path(__file__).resolve().parents[2],
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        start_new_session=True,  # its own process group: stopped whole, never by our terminal's Ctrl-C twice
    )  # fmt: skip


@contextlib.contextmanager
def running(
    var_dir: Path | str,
    *,
    extra_clients: tuple[DemoClient, ...] = (),
    token_lifetime: int = 600,
    jft_ack_delay: float = 3.0,
    demo_organisations: tuple[str, ...] = (DEMO_ORGNR,),
    redirect_uris: tuple[str, ...] = (),
    post_logout_redirect_uris: tuple[str, ...] = (),
    loopback_any_port: bool = False,
    extra_persons: tuple[tuple[str, ...], ...] = (),
    backchannel_logout_uri: str | None = DEMO_BACKCHANNEL_LOGOUT_URI,
) -> Iterator[StandinEnv]:
    """Starts the stand-ins (HelseID, the journaling service) with fresh demo keys under
    `var_dir/standins/`, yields where they are, and stops them. `jft_ack_delay`: seconds until the
    journaling stand-in's simulated EPJ acknowledges an event. `demo_organisations`: the kommuner the
    demo client has a delegation from (and the JFT stand-in receives for); `make run` gives the
    numbers of the demo kommuner (dho/demo_orgnr.py). `redirect_uris`, `post_logout_redirect_uris`:
    more for the demo client, beside the demo's (`DEMO_REDIRECT_URIS`, …); `loopback_any_port` lets
    the demo client's loopback URIs take any port (the tests' live servers; never `make run`).
    `backchannel_logout_uri`: where the stand-in tells the demo client of a logout (`make run`'s
    platform by default; the tests name a server of their own, None for none).
    `extra_persons`: test persons beside the demo's, rows as in dho/demo_persons.py."""
    refuse_outside_development()
    directory = Path(var_dir) / "standins"
    directory.mkdir(parents=True, exist_ok=True)
    cert, tls_key = tls_certificate(directory)
    signing_key_file = directory / "helseid-signing-key.json"
    next_signing_key_file = directory / "helseid-signing-key-next.json"
    private_jwk_file(signing_key_file, "RSA")
    private_jwk_file(next_signing_key_file, "RSA")
    demo = DemoClient(
        client_id=DEMO_CLIENT_ID,
        key_file=directory / "helseid-client-key.json",
        scopes=(DEMO_SCOPE,),
        organisations=tuple(demo_organisations),
        redirect_uris=(*DEMO_REDIRECT_URIS, *redirect_uris),
        post_logout_redirect_uris=(*DEMO_POST_LOGOUT_REDIRECT_URIS, *post_logout_redirect_uris),
        loopback_any_port=loopback_any_port,
        backchannel_logout_uri=backchannel_logout_uri,
    )
    private_jwk_file(demo.key_file, "EC")
    clients = (demo, *extra_clients)
    config = {
        "tls_cert": str(cert),
        "tls_key": str(tls_key),
        "signing_key_file": str(signing_key_file),
        "next_signing_key_file": str(next_signing_key_file),
        "token_lifetime": token_lifetime,
        "clients": [_registry_entry(c) for c in clients],
        "persons": [_person_entry(row) for row in (*PERSONS, *extra_persons)],
    }
    config_file = directory / "helseid-registry.json"
    config_file.write_text(json.dumps(config, indent=2))
    ready = directory / "helseid.ready"
    jft_ready = directory / "jft.ready"
    processes: list[subprocess.Popen[bytes]] = []
    with _stopped_on_sigterm():
        try:
            process = _start("dho.dev.helseid", config_file, ready)
            processes.append(process)
            issuer = _wait_until_answering(process, ready, cert)
            env = StandinEnv(
                helseid_issuer=issuer,
                helseid_pid=process.pid,
                ca_file=cert,
                client=demo,
                signing_key_file=signing_key_file,
                next_signing_key_file=next_signing_key_file,
                directory=directory,
                clients=clients,
            )
            jft_config = directory / "jft-config.json"
            jft_config.write_text(json.dumps({
                "tls_cert": str(cert),
                "tls_key": str(tls_key),
                "issuer": issuer,
                "issuer_jwks": env.issuer_jwks(),  # public: the resource server verifies with it
                "receivers": sorted({o for c in clients for o in c.organisations}),
                "ack_delay": jft_ack_delay,
                "events_file": str(directory / "jft-events.sqlite3"),  # kept across restarts (dho/dev/jft.py)
            }, indent=2))  # fmt: skip
            jft = _start("dho.dev.jft", jft_config, jft_ready)
            processes.append(jft)
            base = _wait_ready(jft, jft_ready, cert, key="base", probe="/_standin/requests", name="JFT")
            yield dataclasses.replace(env, jft_base_url=base, jft_pid=jft.pid)
        finally:
            for started in reversed(processes):
                _stop(started)
            ready.unlink(missing_ok=True)
            jft_ready.unlink(missing_ok=True)


def _wait_until_answering(process: subprocess.Popen[bytes], ready: Path, ca_file: Path) -> str:
    return _wait_ready(process, ready, ca_file, key="issuer", probe="/.well-known/openid-configuration", name="HelseID")


def _wait_ready(
    process: subprocess.Popen[bytes], ready: Path, ca_file: Path, *, key: str, probe: str, name: str
) -> str:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name}-stand-in stoppet under oppstart (kode {process.returncode}).")
        if ready.exists():
            address: str = json.loads(ready.read_text())[key]
            try:
                response = requests.get(f"{address}{probe}", verify=str(ca_file), timeout=2)
                if response.status_code == 200:
                    return address
            except requests.RequestException:
                pass
        time.sleep(0.05)
    raise RuntimeError(f"{name}-stand-in svarte ikke innen {START_TIMEOUT} s.")


def main() -> None:
    """`python -m dho.dev.standins`: run the stand-ins until Ctrl-C, printing their settings."""
    var = Path(os.environ.get("DHO_VAR_DIR", Path(__file__).resolve().parents[2] / "var"))
    with running(var) as env:
        for name, value in env.environ().items():
            print(f"{name}={value}")
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(1)


if __name__ == "__main__":
    main()
