"""Ingest benchmark against a real running stack: gunicorn, a real Celery worker, PostgreSQL, Redis.

    make bench-ingest
    (= .venv/bin/python -m dho.embedded with-services -- .venv/bin/python bench/ingest.py)

It uses its own database (`<db>_bench`, created and migrated here) so demo and test data are never
touched, seeds a centre with PATIENTS patients (half with an approved plan), starts gunicorn and a
worker on a free port and a private queue, and runs two phases:

1. throughput: batches of 1,000 from CLIENTS clients as fast as the server takes them → accepted
   readings per second through POST /api/v1/readings;
2. latency at the target load: batches paced to LOAD_RATE readings/s (2,000) for LOAD_SECONDS while
   single-reading POSTs are timed (p50/p95) and red readings are timed from POST until the alert is
   visible in GET /api/v1/alerts/?patient=… as a nurse (p50/p95);

and last
measures the machine's raw PostgreSQL COPY rate into an identical table and prints our rate as a
fraction of it.

Beside wall time it prints the CPU seconds of the web and worker processes per phase and the load
average (the machine may be shared; PostgreSQL's own CPU is not counted). Where the server runs with
autovacuum off (a CI machine's setting), the tables the run writes are analyzed every 15 s as
autovacuum would: the readings are truncated at the start, and statistics of empty tables would have
PostgreSQL scan whole partitions for what an index finds.

Every request goes from one gateway token (and the alert probes from one nurse's), many times faster
than any real gateway sends: the API's throttles (dho/throttling.py) stay in the path, counting in
Redis as in production, but with rates this run never reaches, so the figures are the server's.
"""

from __future__ import annotations

import datetime
import http.client
import itertools
import json
import multiprocessing
import os
import random
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PATIENTS = int(os.environ.get("BENCH_PATIENTS", "3000"))
BATCHES = int(os.environ.get("BENCH_BATCHES", "60"))
BATCH_SIZE = 1000
CLIENTS = int(os.environ.get("BENCH_CLIENTS", "3"))
SINGLES = int(os.environ.get("BENCH_SINGLES", "300"))
ALERT_PROBES = int(os.environ.get("BENCH_ALERT_PROBES", "60"))
WEB_WORKERS = os.environ.get("BENCH_WEB_WORKERS", "4")
LOAD_RATE = int(os.environ.get("BENCH_LOAD_RATE", "2000"))
LOAD_SECONDS = int(os.environ.get("BENCH_LOAD_SECONDS", "30"))
COPY_ROWS = 200_000


def _bench_database_url() -> str:
    base = os.environ["DATABASE_URL"]
    parts = urlsplit(base)
    name = parts.path.lstrip("/") or "dho"
    return urlunsplit(parts._replace(path=f"/{name}_bench"))


def _ensure_database(url: str) -> None:
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(_libpq(admin), autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def _libpq(url: str) -> str:
    import dj_database_url

    cfg = dj_database_url.parse(url)
    pieces = {
        "dbname": cfg["NAME"],
        "user": cfg["USER"],
        "password": cfg["PASSWORD"],
        "host": cfg["HOST"],
        "port": cfg["PORT"],
    }
    return " ".join(f"{k}={v}" for k, v in pieces.items() if v)


# What this run writes. Autovacuum analyzes a table once a tenth of it has changed (PostgreSQL's
# defaults); a server with autovacuum off (a CI machine's setting) would plan the whole run on the
# statistics of the tables' empty start (the readings are truncated), which no production server does.
WRITTEN = ("measurements_reading", "triage_alert", "triage_alertevent", "tenants_auditevent")
ANALYZE_EVERY = 15.0


def autovacuum_standin(url: str, stop: threading.Event) -> None:
    """ANALYZE the tables the run writes every ANALYZE_EVERY seconds, where autovacuum is off."""
    import psycopg

    with psycopg.connect(_libpq(url), autocommit=True) as conn:
        if conn.execute("SHOW autovacuum").fetchone()[0] == "on":
            return
        while not stop.wait(ANALYZE_EVERY):
            for table in WRITTEN:
                conn.execute(f"ANALYZE {table}")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _tree_cpu(pid: int) -> float:
    """CPU seconds (user + system) of a process and its descendants, reaped children included: the
    machine is shared, so the server's own work is quoted beside wall time."""
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(entry)] = int(fields[1])
        times[int(entry)] = sum(int(v) for v in fields[11:15]) / os.sysconf("SC_CLK_TCK")
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        total += times.get(current, 0.0)
        todo += [child for child, parent in parents.items() if parent == current]
    return total


def _usage(procs) -> dict:
    web, worker = procs
    return {"web": _tree_cpu(web.pid), "worker": _tree_cpu(worker.pid), "load": os.getloadavg()[0]}


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


# --- setup (Django in this process, on the bench database) ---------------------------------------


def setup_django(env: dict) -> None:
    os.environ.update(env)
    # This process migrates, seeds and watches as the tables' owner; the web and worker processes
    # measured run as the app role, under row-level security (their env lacks this).
    os.environ["DHO_DB_AS_OWNER"] = "1"
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", "--no-input", verbosity=0)


def seed() -> dict:
    """A centre, one municipality, PATIENTS patients (half with an approved plan), a gateway, a nurse."""
    from django.contrib.auth import get_user_model
    from django.db import connection
    from knox.models import AuthToken

    from ebp.content import dump, parse_content
    from ebp.defaults import TEMPLATES
    from ebp.models import Plan, PlanVersion
    from measurements.services import integration_create
    from patients import national_id
    from patients.models import Patient
    from tenants.models import Centre, Membership, Municipality
    from tenants.tokens import token_create

    # A fresh start on every run: the last run's readings, alerts and their events (which protect them).
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE triage_alertevent, triage_alert, measurements_reading CASCADE")
        for table in WRITTEN:
            cursor.execute(f"ANALYZE {table}")  # statistics of the empty start, not of the last run
    municipality, _ = Municipality.objects.get_or_create(
        number="3209", defaults={"name": "Ullensaker", "population": 42500}
    )
    centre, _ = Centre.objects.get_or_create(slug="bench", defaults={"name": "Benk", "host": municipality})
    nurse, _ = get_user_model().objects.get_or_create(username="bench-nurse")
    Membership.objects.get_or_create(user=nurse, role="nurse", centre=centre)
    gp, _ = get_user_model().objects.get_or_create(username="bench-gp")
    have = Patient.objects.filter(municipality=municipality).count()
    rng = random.Random(7)
    new = []
    taken = set(Patient.objects.values_list("national_id", flat=True))
    while have + len(new) < PATIENTS:
        birth = datetime.date(rng.randint(1930, 1979), rng.randint(1, 12), rng.randint(1, 28))
        value = national_id.synthetic(birth, rng.randint(100, 499))
        if value and value not in taken:
            taken.add(value)
            new.append(
                Patient(municipality=municipality, name=f"Benk {len(new)}", national_id=value, birth_date=birth, gp=gp)
            )
    Patient.objects.bulk_create(new, batch_size=1000)
    patients = list(Patient.objects.filter(municipality=municipality).order_by("id").values_list("id", flat=True))
    content = dump(parse_content(TEMPLATES["kols"]["content"]))
    planned = patients[: len(patients) // 2]
    missing = set(planned) - set(Plan.objects.filter(patient_id__in=planned).values_list("patient_id", flat=True))
    plans = Plan.objects.bulk_create([Plan(patient_id=p, municipality=municipality) for p in missing])
    PlanVersion.objects.bulk_create(
        [
            PlanVersion(plan=plan, municipality=municipality, number=1, status="active", content=content, created_by=gp)
            for plan in plans
        ]
    )
    centre.integrations.filter(name="bench").delete()
    _, token = integration_create(centre=centre, name="bench")
    AuthToken.objects.filter(user=nurse).delete()  # the last run's
    _nurse_token, nurse_secret = token_create(user=nurse)  # hashed and expiring: a new one per run
    return {"patients": [str(p) for p in patients], "gateway": token, "nurse": nurse_secret}


# --- the running stack -------------------------------------------------------------------------


def start_stack(env: dict, port: int) -> list[subprocess.Popen]:
    python = sys.executable
    web = subprocess.Popen(
        [python, "-m", "gunicorn", "-c", "dho/gunicorn_conf.py", "--bind", f"127.0.0.1:{port}",
         "--workers", WEB_WORKERS, "--access-logfile", "/dev/null", "dho.wsgi:application"],
        cwd=ROOT, env=env,
    )  # fmt: skip
    worker = subprocess.Popen(
        [python, "-m", "celery", "-A", "dho", "worker", "-l", "warning", "--concurrency", "2",
         "-Q", env["DHO_CELERY_QUEUE"], "--without-gossip", "--without-mingle"],
        cwd=ROOT, env=env,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status in (200, 503):
                return [web, worker]
        except OSError:
            time.sleep(0.3)
    raise RuntimeError("gunicorn did not start")


class Client:
    def __init__(self, port: int, auth: str):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.headers = {"Authorization": auth, "Content-Type": "application/json"}

    def post(self, path: str, body) -> tuple[int, dict]:
        """`body`: an object, or JSON already made (batch_bodies)."""
        return self._send("POST", path, body if isinstance(body, str) else json.dumps(body))

    def get(self, path: str) -> tuple[int, dict]:
        return self._send("GET", path, None)

    def _send(self, method: str, path: str, body) -> tuple[int, dict]:
        # gunicorn closes a keep-alive connection idle past its keepalive: open a new one and resend
        # once (a probe thread that died here measured nothing for the rest of the run).
        for attempt in (1, 2):
            try:
                self.conn.request(method, path, body, self.headers)
                response = self.conn.getresponse()
                return response.status, json.loads(response.read())
            except (BrokenPipeError, ConnectionResetError, http.client.RemoteDisconnected):
                self.conn.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")


def _reading(patient: str, rng: random.Random, value: float | None = None) -> dict:
    at = datetime.datetime.now(datetime.UTC) - datetime.timedelta(seconds=rng.randint(1, 3600))
    kind = rng.random()
    if value is not None:
        item = {"type": "spo2", "value": value, "unit": "%"}
    elif kind < 0.5:
        item = {"type": "spo2", "value": rng.choice([97, 96, 95, 94, 93, 91]), "unit": "%"}
    elif kind < 0.8:
        item = {"type": "pulse", "value": rng.randint(55, 105), "unit": "/min"}
    else:
        item = {
            "type": "blood_pressure",
            "systolic": rng.randint(110, 165),
            "diastolic": rng.randint(60, 95),
            "unit": "mm[Hg]",
        }
    return {"external_id": uuid.uuid4().hex, "patient_id": patient, "measured_at": at.isoformat(), **item}


def batch_bodies(patients, n_batches: int) -> list[str]:
    """n_batches of BATCH_SIZE random readings as JSON, made before the clock starts: making a
    thousand readings and their JSON (about 9 ms a batch) is the gateway's work, and done during the
    run it took the two cores from the server being measured."""
    rng = random.Random()
    return [
        json.dumps({"readings": [_reading(rng.choice(patients), rng) for _ in range(BATCH_SIZE)]})
        for _ in range(n_batches)
    ]


def run_batches(port, token, bodies: list[str], accepted: list, errors: list, interval: float = 0) -> None:
    """POST the batches; with an interval, one every `interval` seconds (paced load)."""
    client = Client(port, f"Bearer {token}")
    started = time.perf_counter()
    for n, batch in enumerate(bodies):
        if interval:
            time.sleep(max(0.0, started + n * interval - time.perf_counter()))
        status, body = client.post("/api/v1/readings", batch)
        if status != 200:
            errors.append(status)
            continue
        accepted.append(body["created"])


def run_singles(port, token, patients, stop: threading.Event, latencies: list) -> None:
    client = Client(port, f"Bearer {token}")
    rng = random.Random()
    while not stop.is_set() and len(latencies) < SINGLES:
        started = time.perf_counter()
        status, _ = client.post("/api/v1/readings", {"readings": [_reading(rng.choice(patients), rng)]})
        if status == 200:
            latencies.append((time.perf_counter() - started) * 1000)
        time.sleep(0.02)


def run_alert_probes(port, gateway, nurse, probe_patients, stop: threading.Event, latencies: list) -> None:
    """Red readings for patients the batches never touch, timed until the alert is in the API."""
    sender, reader = Client(port, f"Bearer {gateway}"), Client(port, f"Token {nurse}")
    rng = random.Random()
    for patient in probe_patients:
        if stop.is_set():
            break
        started = time.perf_counter()
        sender.post("/api/v1/readings", {"readings": [_reading(patient, rng, value=80)]})
        while time.perf_counter() - started < 30:
            _, body = reader.get(f"/api/v1/alerts/?status=open&patient={patient}")
            if body.get("results"):
                latencies.append((time.perf_counter() - started) * 1000)
                break
            time.sleep(0.02)
        time.sleep(0.2)


def _measure_beside(port, gateway, nurse, load_patients, probe_patients, stop, out) -> None:
    """The single POSTs and the alert probes, in a process of their own (paced_load), until `stop`:
    → (singles, alerts) latencies in ms through `out`."""
    singles: list[float] = []
    alerts: list[float] = []
    done = threading.Event()
    side = [
        threading.Thread(target=run_singles, args=(port, gateway, load_patients, done, singles)),
        threading.Thread(target=run_alert_probes, args=(port, gateway, nurse, probe_patients, done, alerts)),
    ]
    for t in side:
        t.start()
    stop.wait()
    done.set()
    for t in side:
        t.join()
    out.send((singles, alerts))


def paced_load(port, gateway, nurse, load_patients, probe_patients, rate: int, seconds: int) -> dict:
    """`rate` readings/s in batches from two pacing clients for `seconds`, and meanwhile single POSTs
    and red-reading probes (bench/national.py runs the same load): → the readings accepted per batch
    (`paced`), the batches' errors, the single POSTs' and the probes' latencies (ms), the seconds taken.

    The timed requests go from a process of their own, as a gateway's do from a machine of its own:
    as threads beside the pacing clients they waited for this interpreter's lock while a pacer read
    a 1,000-item answer, and timed the load generator as much as the server."""
    paced, errors = [], []
    n_batches = rate * seconds // BATCH_SIZE
    interval = BATCH_SIZE / rate * 2  # two pacing clients
    bodies = [batch_bodies(load_patients, n_batches // 2) for _ in range(2)]
    pacers = [
        threading.Thread(target=run_batches, args=(port, gateway, own, paced, errors, interval)) for own in bodies
    ]
    context = multiprocessing.get_context("fork")  # the child uses only http.client and json
    stop = context.Event()
    results, sent = context.Pipe(duplex=False)
    side = context.Process(
        target=_measure_beside, args=(port, gateway, nurse, load_patients, probe_patients, stop, sent)
    )
    started = time.perf_counter()
    side.start()
    for t in pacers:
        t.start()
    for t in pacers:
        t.join()
    taken = time.perf_counter() - started
    stop.set()
    singles, alerts = results.recv()
    side.join()
    return {"paced": paced, "errors": errors, "singles": singles, "alerts": alerts, "seconds": taken}


def copy_rate() -> float:
    """Rows per second of a plain COPY into a table shaped like measurements_reading."""
    from django.db import connection
    from django.utils import timezone

    from measurements.models import Reading

    sample = Reading.objects.values_list("patient_id", "municipality_id", "integration_id").first()
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_copy")
        cursor.execute("CREATE TABLE bench_copy (LIKE measurements_reading INCLUDING ALL)")
        columns = (
            "patient_id, municipality_id, integration_id, external_id, type, value, original, measured_at, "
            "received_at, colour, reason"
        )
        started = time.perf_counter()
        with cursor.copy(f"COPY bench_copy ({columns}) FROM STDIN") as copy:
            for i in range(COPY_ROWS):
                copy.write_row((sample[0], sample[1], sample[2], f"c{i}", "spo2", 95.0, "", now, now, "", ""))
        elapsed = time.perf_counter() - started
        cursor.execute("DROP TABLE bench_copy")
    return COPY_ROWS / elapsed


def main() -> int:
    from bench._seed import cpu_yardstick

    yardstick = cpu_yardstick()  # before anything of the stack runs
    url = _bench_database_url()
    _ensure_database(url)
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "DHO_DEBUG": "0",
        "DHO_TESTING": "0",
        "SECRET_KEY": "bench-" + uuid.uuid4().hex * 2,
        "ALLOWED_HOSTS": "127.0.0.1",
        "DHO_SSL_REDIRECT": "0",
        "DHO_SECURE_COOKIES": "0",
        "DHO_CELERY_QUEUE": f"bench-{uuid.uuid4().hex[:6]}",
        "DHO_LOG_LEVEL": "WARNING",
        "DHO_DB_APP_PASSWORD": "bench-app-role",  # the role the web and worker processes connect as
        # The throttles still count (their Redis round trip is measured), but never refuse this load.
        "DHO_THROTTLE_GATEWAY": "1000000/min",
        "DHO_THROTTLE_USER": "1000000/min",
        "DJANGO_SETTINGS_MODULE": "dho.settings",
    }
    setup_django(env)
    data = seed()
    patients = data["patients"]
    probe_patients, load_patients = patients[:ALERT_PROBES], patients[ALERT_PROBES:]
    port = _free_port()
    procs = start_stack(env, port)
    stop_analyze = threading.Event()
    analyzer = threading.Thread(target=autovacuum_standin, args=(url, stop_analyze), daemon=True)
    analyzer.start()
    try:
        time.sleep(3)  # let the worker connect
        figures = measure(port, data, probe_patients, load_patients, procs)
        figures["copy"] = copy_rate()
        figures["yardstick"] = yardstick
    finally:
        stop_analyze.set()
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=30)
    report(figures, len(patients))
    return 0


def _drain(timeout: float = 300) -> float:
    from measurements.models import Reading

    started = time.perf_counter()
    while Reading.objects.filter(scored_at__isnull=True).exists() and time.perf_counter() - started < timeout:
        time.sleep(0.5)
    return time.perf_counter() - started


def measure(port, data, probe_patients, load_patients, procs) -> dict:
    gateway = data["gateway"]
    # Phase 0: single POSTs on a quiet server (a gateway forwarding one measurement as it is taken).
    idle: list[float] = []
    run_singles(port, gateway, load_patients, threading.Event(), idle)
    _drain()
    # Phase 1: throughput.
    accepted, errors = [], []
    loaders = [
        threading.Thread(
            target=run_batches, args=(port, gateway, batch_bodies(load_patients, BATCHES // CLIENTS), accepted, errors)
        )
        for _ in range(CLIENTS)
    ]
    usage = [_usage(procs)]
    started = time.perf_counter()
    for t in loaders:
        t.start()
    for t in loaders:
        t.join()
    seconds = time.perf_counter() - started
    usage.append(_usage(procs))
    drain_after_burst = _drain()
    usage.append(_usage(procs))
    # Phase 2: latency under a paced load of LOAD_RATE readings/s.
    load = paced_load(port, gateway, data["nurse"], load_patients, probe_patients, LOAD_RATE, LOAD_SECONDS)
    usage.append(_usage(procs))
    drain_after_load = _drain()
    usage.append(_usage(procs))
    return {
        "usage": usage,
        "idle_singles": idle,
        "accepted": sum(accepted),
        "seconds": seconds,
        "errors": errors + load["errors"],
        "drain_after_burst": drain_after_burst,
        "paced_rate": sum(load["paced"]) / load["seconds"],
        "singles": load["singles"],
        "alerts": load["alerts"],
        "drain_after_load": drain_after_load,
    }


def report(f: dict, n_patients: int) -> None:
    rate = f["accepted"] / f["seconds"]
    stack = f"gunicorn ({WEB_WORKERS} workers × 4 threads) + 1 Celery worker (2 processes)"
    print(f"\nIngest benchmark: {n_patients} patients, {os.cpu_count()} cores, {stack}")
    print(f"  the cores' speed: a fixed Python loop (bench/_seed.py, cpu_yardstick) took {f['yardstick']:.2f} s")
    s = f["idle_singles"]
    print(f"  0. single POST, quiet server (n={len(s)}): p50 {_pct(s, 50):.1f} ms, p95 {_pct(s, 95):.1f} ms")
    print(f"  1. throughput: {f['accepted']} readings in {f['seconds']:.1f} s = {rate:,.0f} readings/s (goal ≥ 2,000)")
    print(f"     scoring backlog after the burst drained in {f['drain_after_burst']:.1f} s")
    print(f"  2. paced load: {f['paced_rate']:,.0f} readings/s for {LOAD_SECONDS} s, meanwhile:")
    if f["singles"]:
        s = f["singles"]
        print(f"     single POST, loaded (n={len(s)}): p50 {_pct(s, 50):.1f} ms, p95 {_pct(s, 95):.1f} ms (goal < 20)")
    if f["alerts"]:
        a = f["alerts"]
        print(f"     reading → alert (n={len(a)}): p50 {_pct(a, 50):.0f} ms, p95 {_pct(a, 95):.0f} ms (goal p95 < 250)")
    print(f"     scoring backlog after the load drained in {f['drain_after_load']:.1f} s")
    if f["errors"]:
        print(f"  responses not 200: {len(f['errors'])} ({sorted(set(f['errors']))})")
    u = f["usage"]
    phases = ("burst", "its drain", "paced load", "its drain")
    print("  server CPU seconds (web / worker) and load average at the end of each phase:")
    for name, (before, after) in zip(phases, itertools.pairwise(u), strict=True):
        print(
            f"     {name}: web {after['web'] - before['web']:.1f} s, worker {after['worker'] - before['worker']:.1f} s,"
            f" load {after['load']:.1f}"
        )
    accepted_cpu = (u[1]["web"] - u[0]["web"]) / max(f["accepted"], 1) * 1e6
    scored_cpu = (u[2]["worker"] - u[0]["worker"]) / max(f["accepted"], 1) * 1e6
    print(f"     per reading of the burst: ingest {accepted_cpu:.0f} µs, scoring {scored_cpu:.0f} µs of CPU")
    share = rate / f["copy"]
    print(f"  raw PostgreSQL COPY: {f['copy']:,.0f} rows/s; the batch API reaches {share:.1%} of it (goal ≥ 20 %)")


if __name__ == "__main__":
    sys.exit(main())
