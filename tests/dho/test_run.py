"""`make run` as a newcomer meets it: the README's `manage.py` commands in a second terminal, and
Ctrl-C / SIGTERM leaving nothing behind.

Every test works in a copy of the project under /tmp (the `dho` package, manage.py and the Makefile
copied, everything else linked), so its var/ is private without setting DHO_VAR_DIR and the
commands run exactly as the README writes them: `.venv/bin/python manage.py …` in a shell that
exports nothing but HOME and PATH.

The tests marked celery_worker start the real platform (`make run`: embedded PostgreSQL and Redis,
migrate, demo data, gunicorn, Celery worker and beat) three times: slow, about a minute in all.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from contextlib import contextmanager, suppress
from pathlib import Path
from urllib.parse import quote

import pytest

ROOT = Path(__file__).resolve().parents[2]
COPIED = {"dho", "manage.py", "Makefile"}  # what decides where var/ is
NOT_LINKED = {"var", "staticfiles", ".git", ".pytest_cache", ".ruff_cache"}
README_COMMAND = [".venv/bin/python", "manage.py", "create_integration", "ovre-romerike", "Dignio-gateway"]
STOP_WITHIN = 10  # seconds, the embedded servers included


def _bare_env(**extra) -> dict:
    """A fresh terminal that exports nothing: `env -i HOME=$HOME PATH=$PATH`."""
    return {"HOME": os.environ.get("HOME", "/root"), "PATH": os.environ["PATH"], **extra}


def _copy_project() -> Path:
    # Not under pytest's basetemp: pgserver opens the path's prefix to its own user, and a parallel
    # pytest session would close it again under a running server.
    project = Path(tempfile.mkdtemp(prefix="dho-run-")) / "proj"
    project.mkdir()
    for entry in ROOT.iterdir():
        if entry.name in COPIED and entry.is_dir():
            shutil.copytree(entry, project / entry.name, ignore=shutil.ignore_patterns("__pycache__"))
        elif entry.name in COPIED:
            shutil.copy2(entry, project / entry.name)
        elif entry.name not in NOT_LINKED:
            (project / entry.name).symlink_to(entry)
    return project


def _manage(project: Path, args: list[str], **env) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=project, env=_bare_env(**env), capture_output=True, text=True, timeout=120)


# --- the rules, beside a recorded state (fast) ------------------------------------------------------


@pytest.fixture
def project():
    project = _copy_project()
    yield project
    shutil.rmtree(project.parent, ignore_errors=True)


def _test_database_url() -> str:
    from django.db import connection

    db = connection.settings_dict
    password = quote(db["PASSWORD"] or "", safe="")
    return f"postgres://{quote(db['USER'])}:{password}@{quote(db['HOST'], safe='')}:{db['PORT'] or 5432}/{db['NAME']}"


@contextmanager
def _recorded(project: Path, facts: dict):
    """Hold the project's run record as a live `make run` does, through the project's own code."""
    holder = subprocess.Popen(
        [sys.executable, "-c", "import json, sys\nfrom dho import embedded\n"
         "with embedded.recorded_run(json.loads(sys.argv[1])) as ok:\n    print(ok, flush=True)\n    sys.stdin.read()",
         json.dumps(facts)],
        cwd=project, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "True"
        yield
    finally:
        holder.stdin.close()
        holder.wait(timeout=10)


@pytest.fixture
def live_record(project, settings):
    """The record of a debug `make run` whose database is this test's database."""
    facts = {
        "pid": 1,
        "address": "127.0.0.1:8000",
        "DHO_DEBUG": "1",
        "DATABASE_URL": _test_database_url(),
        "REDIS_URL": settings.REDIS_URL,
    }
    with _recorded(project, facts):
        yield facts


def test_it_runs_the_readmes_create_integration_with_the_running_platforms_settings(
    project, live_record, transactional_db
):
    from measurements.services import integration_for_token
    from tests.factories import CentreFactory

    centre = CentreFactory(slug="ovre-romerike")
    result = _manage(project, README_COMMAND)
    assert result.returncode == 0, result.stderr
    assert "bruker innstillingene til `make run`" in result.stderr
    integration = integration_for_token(result.stdout.strip())
    assert (integration.centre, integration.name) == (centre, "Dignio-gateway")


PRINT_DEBUG = "from django.conf import settings; print(settings.DEBUG)"
DEBUG_OF_SETTINGS = [".venv/bin/python", "manage.py", "shell", "-v", "0", "-c", PRINT_DEBUG]


def test_it_never_lends_debug_to_a_terminal_with_a_secret_key(project, live_record):
    # A production shell on the same machine keeps its own settings, make run or not.
    urls = {name: live_record[name] for name in ("DATABASE_URL", "REDIS_URL")}
    result = _manage(project, DEBUG_OF_SETTINGS, SECRET_KEY="x" * 50, **urls)
    assert (result.returncode, result.stdout.strip()) == (0, "False"), result.stderr
    assert "make run" not in result.stderr


def test_it_keeps_an_explicit_debug_off(project, live_record):
    result = _manage(project, DEBUG_OF_SETTINGS, DHO_DEBUG="0")
    assert result.returncode != 0
    assert "SECRET_KEY må settes" in result.stderr


def test_it_refuses_to_mix_another_database_with_the_platforms_debug(project, live_record):
    result = _manage(project, README_COMMAND, DATABASE_URL="postgres://postgres@127.0.0.1:5432/elsewhere")
    assert result.returncode == 1
    assert "DATABASE_URL/REDIS_URL" in result.stderr and "Traceback" not in result.stderr


def test_it_says_what_to_do_beside_a_record_that_a_killed_run_left(project):
    (project / "var").mkdir()
    (project / "var/run.json").write_text(json.dumps({"pid": 1, "DHO_DEBUG": "1"}))  # nobody holds it
    result = _manage(project, README_COMMAND)
    assert result.returncode == 1
    assert "`make run` kjører ikke" in result.stderr and "Traceback" not in result.stderr
    assert "DHO_DEBUG=1 .venv/bin/python manage.py" in result.stderr  # the way without the platform
    assert "with-services" in result.stderr
    assert not (project / "var/pg").exists()  # and no server started behind the user's back


def _processes_under(path: Path) -> set[int]:
    """Live processes working in or started from a file under path: the embedded PostgreSQL runs in
    its data directory and Redis in its `dir`, both under var/."""
    return _processes_in(path / "var")


def _processes_in(directory: Path) -> set[int]:
    found = set()
    for proc in Path("/proc").glob("[0-9]*"):
        with suppress(OSError):
            cwd = os.readlink(proc / "cwd")
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            if (cwd.startswith(str(directory)) or str(directory) in cmdline) and int(proc.name) != os.getpid():
                found.add(int(proc.name))
    return _alive(found)


def test_a_one_off_command_with_nothing_running_stops_the_servers_it_started(project):
    # No make run, no DATABASE_URL/REDIS_URL: the command gets embedded servers of its own, and
    # they are gone when it returns (before, the settings started them and left them running).
    result = _manage(project, [".venv/bin/python", "manage.py", "check"], DHO_DEBUG="1")
    assert result.returncode == 0, result.stderr
    assert "Innebygd PostgreSQL" in result.stderr and "Innebygd Redis" in result.stderr  # it did start them
    assert result.stdout.strip() == "System check identified no issues (0 silenced)."  # the command's own output
    assert (project / "var/pg").is_dir() and (project / "var/redis").is_dir()
    assert not (project / "var/pg/postmaster.pid").exists()
    assert not (project / "var/redis/redis.pid").exists()
    assert not _processes_under(project), "left running"


def test_a_one_off_command_stops_its_servers_when_var_is_a_link(project):
    # var/ a symlink to another disk (or another checkout's var/): PostgreSQL runs with the resolved
    # data directory, and the stop must know it for ours (before, the server was left running).
    elsewhere = project.parent / "var-elsewhere"
    elsewhere.mkdir()
    (project / "var").symlink_to(elsewhere)
    result = _manage(project, [".venv/bin/python", "manage.py", "check"], DHO_DEBUG="1")
    assert result.returncode == 0, result.stderr
    assert "Innebygd PostgreSQL" in result.stderr  # it did start one
    assert (elsewhere / "pg").is_dir() and not (elsewhere / "pg/postmaster.pid").exists()
    assert not _processes_under(project) and not _processes_in(elsewhere), "left running"


def test_a_bare_settings_import_with_nothing_running_starts_nothing_and_says_what_to_do(project):
    # Any other process (celery, a script, a bare pytest) that imports the settings with nothing
    # configured: a clear refusal instead of a server that outlives it.
    code = "import django, os; os.environ['DJANGO_SETTINGS_MODULE'] = 'dho.settings'; django.setup()"
    result = _manage(project, [".venv/bin/python", "-c", code], DHO_DEBUG="1")
    assert result.returncode != 0
    assert "DATABASE_URL er ikke satt" in result.stderr and "with-services" in result.stderr
    assert not (project / "var/pg").exists() and not (project / "var/redis").exists()


# --- the stand-ins of national services: `make run` starts them, nothing else does ----------------------

STANDIN_ENV = (
    "import json, os, requests\n"
    "env = {k: v for k, v in os.environ.items() if k.startswith(('DHO_HELSEID_', 'DHO_JFT_'))}\n"
    "issuer = env.get('DHO_HELSEID_ISSUER', '')\n"
    "answer = requests.get(issuer + '/.well-known/openid-configuration', verify=env['DHO_HELSEID_CA_FILE'],\n"
    "                      timeout=10).status_code if issuer.startswith('https://127.0.0.1') else None\n"
    "print(json.dumps({'env': env, 'answer': answer}))"
)


UNUSED_DATABASE = "postgres://postgres@127.0.0.1:5432/unused"


def _with_services(project: Path, flags: list[str], settings, **env) -> dict:
    """The wrapper around a command that prints the HelseID/JFT settings it got, with a database and
    Redis configured (so it starts no PostgreSQL or Redis of its own)."""
    command = [".venv/bin/python", "-m", "dho.embedded", "with-services", *flags, "--",
               ".venv/bin/python", "-c", STANDIN_ENV]  # fmt: skip
    # Any address will do: the command connects to nothing, and the wrapper starts no PostgreSQL beside it.
    result = _manage(project, command, DATABASE_URL=UNUSED_DATABASE, REDIS_URL=settings.REDIS_URL, **env)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr and "DHO_DEBUG eller DHO_TESTING" not in result.stderr
    return json.loads(result.stdout)


def test_make_runs_wrapper_starts_the_standins_gives_every_child_their_settings_and_stops_them(project, settings):
    from dho.demo_orgnr import DEMO_ORGNR

    got = _with_services(project, ["--standins"], settings, DHO_DEBUG="1")
    standins = project / "var" / "standins"
    assert got["answer"] == 200, "the child reached the HelseID stand-in with the CA file it was given"
    assert set(got["env"]) == {"DHO_HELSEID_ISSUER", "DHO_HELSEID_CLIENT_ID", "DHO_HELSEID_KEY_FILE",
                               "DHO_HELSEID_CA_FILE", "DHO_HELSEID_SCOPE", "DHO_JFT_BASE_URL",
                               "DHO_JFT_CA_FILE"}  # fmt: skip
    assert got["env"]["DHO_HELSEID_KEY_FILE"] == str(standins / "helseid-client-key.json")
    assert got["env"]["DHO_JFT_BASE_URL"].startswith("https://127.0.0.1:")
    registry = json.loads((standins / "helseid-registry.json").read_text())
    demo = next(c for c in registry["clients"] if c["client_id"] == got["env"]["DHO_HELSEID_CLIENT_ID"])
    assert demo["organisations"] == sorted(DEMO_ORGNR.values()), "the demo client acts for every demo kommune"
    assert json.loads((standins / "jft-config.json").read_text())["receivers"] == sorted(DEMO_ORGNR.values())
    assert not _processes_under(project), "the stand-ins are gone with the command"
    with pytest.raises(OSError):
        urllib.request.urlopen(got["env"]["DHO_HELSEID_ISSUER"], timeout=2)  # noqa: S310


@pytest.mark.parametrize(
    ("flags", "env", "given"),
    [
        (["--standins"], {"SECRET_KEY": "x" * 50}, {}),  # production settings: no debug
        (["--standins"], {"SECRET_KEY": "x" * 50, "DHO_DEBUG": "0"}, {}),
        (["--standins"], {"DHO_DEBUG": "1", "DHO_TESTING": "1"}, {}),  # the suite starts its own
        (["--standins"], {"DHO_DEBUG": "1", "DHO_HELSEID_ISSUER": "https://helseid-sts.test.nhn.no"},
         {"DHO_HELSEID_ISSUER": "https://helseid-sts.test.nhn.no"}),  # a real one configured
        (["--standins"], {"DHO_DEBUG": "1", "DHO_JFT_BASE_URL": "https://jft.test.nhn.no"},
         {"DHO_JFT_BASE_URL": "https://jft.test.nhn.no"}),
        ([], {"DHO_DEBUG": "1"}, {}),  # a one-off command (manage.py, a benchmark) is not make run
    ],
    ids=["production", "debug-off", "test-mode", "real-helseid", "real-jft", "not-make-run"],
)  # fmt: skip
def test_the_wrapper_starts_no_standin_outside_make_runs_debug_mode(project, settings, flags, env, given):
    got = _with_services(project, flags, settings, **env)
    assert got == {"env": given, "answer": None}
    assert not (project / "var" / "standins").exists()
    assert not _processes_under(project)


# --- the real platform (slow) -------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _proc_table() -> dict[int, tuple[int, str]]:
    """pid → (parent pid, state) for every process."""
    table = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            table[int(stat.parent.name)] = (int(fields[1]), fields[0])
    return table


def _with_descendants(roots: set[int]) -> set[int]:
    table, found = _proc_table(), set(roots)
    while grown := {pid for pid, (ppid, _) in table.items() if ppid in found} - found:
        found |= grown
    return found


def _alive(pids: set[int]) -> set[int]:
    table = _proc_table()
    return {pid for pid in pids if pid in table and table[pid][1] != "Z"}


class MakeRun:
    """`make run` in its own session, as a terminal's foreground job: its pid is its process group."""

    def __init__(self, project: Path):
        self.project, self.port = project, _free_port()
        self.make: subprocess.Popen | None = None
        self.seen: set[int] = set()
        self.standins: set[int] = set()

    def start(self) -> None:
        log = (self.project / "make-run.log").open("a")
        env = _bare_env(DHO_RUN_ADDRESS=f"127.0.0.1:{self.port}")
        # start_new_session: make leads its own process group, as a terminal's foreground job does.
        self.make = subprocess.Popen(
            ["make", "run"],  # noqa: S607 - the README's command, found on PATH as a user's shell does
            cwd=self.project,
            env=env,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
        deadline = time.monotonic() + 300
        while not self._healthy():
            assert self.make.poll() is None, f"make run stopped: {self._log_tail()}"
            assert time.monotonic() < deadline, f"make run did not serve: {self._log_tail()}"
            time.sleep(0.5)
        self.seen = self.processes()
        # The HelseID and JFT stand-ins, started by the wrapper for make run (dho.embedded.standins_start).
        self.standins = {
            pid for pid in self.seen if any(f"-m dho.dev.{name} " in _cmdline(pid) for name in ("helseid", "jft"))
        }
        assert len(self.standins) == 2, f"the stand-ins must run beside make run: {self._log_tail()}"

    def _healthy(self) -> bool:
        return _http(f"{self.url}/healthz") == 200

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def processes(self) -> set[int]:
        """make and everything under it, and the embedded servers (daemons: not under make)."""
        servers = {int(path.read_text().split()[0]) for path in self._server_pid_files() if path.exists()}
        assert len(servers) == 2, "the platform must run on its embedded PostgreSQL and Redis"
        return _with_descendants({self.make.pid, *servers})

    def _server_pid_files(self) -> list[Path]:
        return [self.project / "var/pg/postmaster.pid", self.project / "var/redis/redis.pid"]

    def stop(self, sig: int, *, group: bool) -> float:
        """Send sig to make's process group (Ctrl-C, kill -- -pgid) or to make alone; seconds until
        every process seen is gone."""
        started = time.monotonic()
        (os.killpg if group else os.kill)(self.make.pid, sig)
        while (_alive(self.seen) or self.make.poll() is None) and time.monotonic() - started < STOP_WITHIN + 5:
            time.sleep(0.1)
        return time.monotonic() - started

    def port_is_free(self) -> bool:
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gunicorn binds
            try:
                sock.bind(("127.0.0.1", self.port))
            except OSError:
                return False
            return True

    def kill_leftovers(self) -> None:
        for pid in _alive(self.seen):
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def _log_tail(self) -> str:
        return (self.project / "make-run.log").read_text()[-3000:]


@pytest.fixture(scope="module")
def make_run():
    project = _copy_project()
    run = MakeRun(project)
    yield run
    if run.make is not None and run.make.poll() is None:
        os.killpg(run.make.pid, signal.SIGKILL)
    run.kill_leftovers()
    shutil.rmtree(project.parent, ignore_errors=True)


def _cmdline(pid: int) -> str:
    with suppress(OSError):
        return (Path(f"/proc/{pid}/cmdline")).read_bytes().replace(b"\0", b" ").decode(errors="replace")
    return ""


def _assert_all_gone(run: MakeRun, seconds: float) -> None:
    assert not _alive(run.standins), "the HelseID and JFT stand-ins are stopped with the rest"
    left = _alive(run.seen)
    assert not left, f"still running after {seconds:.1f} s: {left}\n{run._log_tail()}"
    assert seconds < STOP_WITHIN, f"took {seconds:.1f} s"
    assert run.make.returncode is not None
    assert run.port_is_free()
    assert not (run.project / "var/run.json").exists()


def _http(url: str, body: dict | None = None, token: str = "") -> int | None:
    """The status of a GET (or a JSON POST), None when nothing answers."""
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"} if body else {}
    data = json.dumps(body).encode() if body else None
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data, headers), timeout=5) as response:  # noqa: S310
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return None


def _post_reading(run: MakeRun, token: str) -> int | None:
    reading = {"external_id": "gw-1", "patient_id": str(uuid.uuid4()), "type": "spo2", "value": 93, "unit": "%",
               "measured_at": "2026-11-23T08:01:00+01:00"}  # fmt: skip
    return _http(f"{run.url}/api/v1/readings", {"readings": [reading]}, token)


@pytest.mark.celery_worker
def test_it_runs_the_readmes_manage_py_beside_make_run_and_stops_on_ctrl_c(make_run):
    make_run.start()
    result = _manage(make_run.project, README_COMMAND)
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip()
    # The token works against the running platform: the command used its database.
    assert _post_reading(make_run, token) == 200
    assert _post_reading(make_run, token + "x") == 401

    seconds = make_run.stop(signal.SIGINT, group=True)  # Ctrl-C
    _assert_all_gone(make_run, seconds)

    result = _manage(make_run.project, README_COMMAND)
    assert result.returncode == 1 and "`make run` kjører ikke" in result.stderr, result.stderr
    assert not (make_run.project / "var/pg/postmaster.pid").exists()


@pytest.mark.celery_worker
@pytest.mark.parametrize("group", [True, False], ids=["sigterm-to-the-group", "sigterm-to-make-alone"])
def test_it_serves_again_and_stops_everything_on_sigterm(make_run, group):
    make_run.start()  # right after the previous test stopped it
    seconds = make_run.stop(signal.SIGTERM, group=group)
    _assert_all_gone(make_run, seconds)


def test_it_gives_the_web_server_worker_and_beat_the_app_roles_address_and_not_the_owners():
    import dj_database_url

    from dho.run import server_env

    owner = "postgres://postgres:owner-secret@%2Fvar%2Fdho-pg/dho"
    env = server_env({"DATABASE_URL": owner, "REDIS_URL": "redis://127.0.0.1:6379/0", "DHO_DEBUG": "1"})
    assert "DATABASE_URL" not in env
    assert not [name for name, value in env.items() if "owner-secret" in value or "//postgres:" in value]
    app = dj_database_url.parse(env["DATABASE_APP_URL"])
    assert (app["USER"], app["PASSWORD"], app["HOST"], app["NAME"]) == (
        "dho_app", "dho-app-development-only", "/var/dho-pg", "dho"
    )  # fmt: skip
    given = server_env({"DATABASE_URL": owner, "DATABASE_APP_URL": "postgres://app:pw@db/dho"})
    assert given == {"DATABASE_APP_URL": "postgres://app:pw@db/dho"}
