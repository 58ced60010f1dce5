"""Recovery without a person (docs/operations.md): a Celery worker killed with SIGKILL under `make
run`'s supervision comes back, and so does a killed embedded Redis, and what was queued is scored
once; a Redis outage is one log line each way; page requests survive PostgreSQL dropping every kept
connection (a restart).

The supervised worker runs as `make run` runs its servers, minus migrate and the demo: the wrapper
(`dho.embedded with-services`, embedded Redis in a var dir of its own, the test database) around
`dho.supervise` around a Celery worker."""

import logging
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
import redis
from django.db import close_old_connections, connection

from dho import embedded
from measurements.models import Reading
from measurements.services import enqueue_scoring
from tests.conftest import _reset_producers, _worker_env
from tests.dho.test_run import _proc_table
from tests.triage.test_pipeline import scored, setup, spo2, wait_for  # noqa: F401 - setup is a fixture

ROOT = Path(__file__).resolve().parents[2]


class Supervised:
    """The wrapper + supervisor + worker, its output in a log file."""

    def __init__(self, settings, var: Path):
        self.var, self.log = var, var / "run.log"
        queue = f"test-{os.urandom(4).hex()}"
        env = {k: v for k, v in _worker_env(settings, queue, "").items() if k != "REDIS_URL"}
        worker = [sys.executable, "-m", "celery", "-A", "dho", "worker", "-l", "info", "--concurrency", "1",
                  "-Q", queue, "--without-gossip", "--without-mingle", "-n", f"{queue}@%h"]  # fmt: skip
        self.process = subprocess.Popen(
            [sys.executable, "-m", "dho.embedded", "with-services", "--",
             sys.executable, "-m", "dho.supervise", "Celery-worker", "--", *worker],
            cwd=ROOT, env={**env, "DHO_VAR_DIR": str(var)}, stdout=self.log.open("w"), stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        self.queue = queue

    def redis_url(self) -> str:
        wait_for(lambda: embedded._redis_answers(self._port()), what="the embedded Redis")
        return f"redis://127.0.0.1:{self._port()}/0"

    def _port(self) -> int | None:
        try:
            return int((self.var / "redis" / "port").read_text())
        except (FileNotFoundError, ValueError):
            return None

    def redis_pid(self) -> int:
        return int((self.var / "redis" / "redis.pid").read_text())

    def worker_pid(self) -> int | None:
        """The Celery worker's main process: the supervisor's child."""
        table = _proc_table()
        supervisor = [pid for pid, (ppid, _) in table.items() if ppid == self.process.pid]
        workers = [pid for pid, (ppid, state) in table.items() if ppid in supervisor and state != "Z"]
        return workers[0] if workers else None

    def text(self) -> str:
        return self.log.read_text()

    def scored_by_tasks(self) -> int:
        """Rows the worker's scoring tasks said they scored, summed over its log."""
        done = re.findall(r"triage\.score_readings\[[^]]+\] succeeded in [\d.]+s: (\d+)", self.text())
        return sum(int(n) for n in done)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=20)


@pytest.fixture
def supervised(transactional_db, settings, tmp_path):
    from dho.celery import app

    run = Supervised(settings, tmp_path)
    previous = app.conf.task_default_queue, app.conf.broker_url
    app.conf.task_default_queue, app.conf.broker_url = run.queue, run.redis_url()
    _reset_producers(app)
    yield run
    run.stop()
    app.conf.task_default_queue, app.conf.broker_url = previous
    _reset_producers(app)
    assert not embedded._redis_answers(run._port()), "the embedded Redis is stopped with the rest"


def _came_back(run: Supervised, what, condition, since: float) -> float:
    try:
        wait_for(condition, timeout=30, what=what)
    except AssertionError as missing:
        raise AssertionError(f"{missing}; the log:\n{run.text()[-4000:]}") from None
    return time.monotonic() - since


@pytest.mark.celery_worker
def test_a_killed_worker_and_a_killed_redis_come_back_and_what_was_queued_is_scored_once(setup, supervised):  # noqa: F811
    first = setup.post(spo2(setup.patient, "before", 93))["results"][0]["id"]
    _came_back(supervised, "the first worker to score", scored(first), time.monotonic())
    worker = supervised.worker_pid()

    killed = time.monotonic()
    os.kill(worker, signal.SIGKILL)
    # Queued while no worker runs: kept in Redis, and Redis (append-only file) is killed too.
    queued = [setup.post(spo2(setup.patient, f"queued-{n}", 91))["results"][0]["id"] for n in range(3)]
    # Kill Redis once it has written them to its append-only file: with appendfsync everysec a busy
    # disk may hold a write back for a second or two, and what this test checks is the restart.
    client = redis.Redis.from_url(supervised.redis_url())
    wait_for(lambda: client.info("persistence").get("aof_buffer_length", 0) == 0, what="the AOF written")
    redis_before = supervised.redis_pid()
    os.kill(redis_before, signal.SIGKILL)
    answers = lambda: embedded._redis_answers(supervised._port())  # noqa: E731
    redis_back = _came_back(supervised, "Redis to answer again", answers, killed)
    assert supervised.redis_pid() != redis_before
    scored_again = _came_back(supervised, "the queued readings to be scored", scored(*queued), killed)
    assert supervised.worker_pid() not in (None, worker)

    log = supervised.text()
    assert "Celery-worker stoppet (signal 9); startes igjen om 1 s." in log
    assert "Innebygd Redis stoppet (prosessen er borte); startes igjen om 1 s." in log
    assert supervised.scored_by_tasks() == 4, "each reading scored once"
    assert Reading.objects.filter(scored_at__isnull=True).count() == 0
    print(f"Redis back after {redis_back:.1f} s, the queued readings scored {scored_again:.1f} s after the kill")


def test_a_redis_outage_is_one_log_line_when_it_begins_and_one_when_it_ends(private_redis, caplog):
    private_redis.stop()
    with caplog.at_level(logging.WARNING):
        for _ in range(5):
            enqueue_scoring("reading", [1])
        private_redis.start()
        enqueue_scoring("reading", [1])
        enqueue_scoring("reading", [2])
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2, lines
    assert lines[0].startswith("Redis svarer ikke (OperationalError") and "sweeperen vurderer dem" in lines[0]
    assert re.fullmatch(r"Redis svarer igjen etter \d+ s \(5 forsøk feilet i mellomtiden\)\.", lines[1])


def _kept_connection_drop(kept_pid: int, behind_pooler) -> None:
    """What a restart does to the process's kept connection. To PostgreSQL itself: its backend goes.
    Behind a pooler (`make test-pooler`) the kept connection is the pooler's client connection (its
    "pid" a key of the pooler's own) and a server restart only takes the pooler's server connections;
    what drops the client connection is the pooler going: KILL on its admin console (dho/pooler.py lets
    DATABASE_URL's owner in), then RESUME, as a pooler that came back."""
    name = connection.settings_dict["NAME"]
    if behind_pooler is None:
        with psycopg.connect(os.environ["DATABASE_URL"], dbname=name, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", [kept_pid])
        return
    # The admin console speaks the simple query protocol only (a client-side-bound cursor uses it).
    console = psycopg.connect(
        os.environ["DATABASE_URL"], dbname="pgbouncer", autocommit=True, cursor_factory=psycopg.ClientCursor
    )
    with console:
        console.execute(f"KILL {name}")
        console.execute(f"RESUME {name}")


def test_a_page_request_after_postgresql_dropped_its_kept_connection_is_no_500(transactional_db, client, settings):
    settings.DHO_HEALTH_TOKEN = "t" * 20
    assert settings.DATABASES["default"]["CONN_HEALTH_CHECKS"] and settings.DATABASES["default"]["CONN_MAX_AGE"]

    def database_ok() -> bool:
        close_old_connections()  # what Django does at the start of every request (request_started)
        body = client.get("/healthz", HTTP_X_HEALTH_TOKEN=settings.DHO_HEALTH_TOKEN).json()
        return body["checks"]["database"]["ok"]

    assert database_ok()
    kept = connection.connection.info.backend_pid
    _kept_connection_drop(kept, settings.DHO_DB_DIRECT)
    assert database_ok(), "the dead kept connection is replaced before the request uses it"
    assert connection.connection.info.backend_pid != kept


def test_the_embedded_redis_port_is_read_whole_or_not_at_all(tmp_path, monkeypatch):
    """A restarted Redis's port is put in place as a whole new file; a reader meeting an empty one (as
    one written in place could be, mid-write) reads no port rather than failing: the restart loop
    and a manage.py beside `make run` read it while Redis comes back."""
    monkeypatch.setattr(embedded, "REDIS_DIR", tmp_path)
    assert embedded._redis_port() is None
    (tmp_path / "port").write_text("")
    assert embedded._redis_port() is None
    try:
        assert embedded.redis_start()  # an empty port file: a new port, written whole
        assert embedded._redis_answers(embedded._redis_port())
        assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("port")) == ["port"]
    finally:
        embedded.redis_stop()
